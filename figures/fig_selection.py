"""Weak-model selection: rank candidate weak models by (weak error − misfit), compare with the true ranking.

Theorem 1 makes err(w2s) ≤ err(weak) − misfit in the realizable case, so (weak error − misfit) is an
upper bound on the w2s error that needs only the weak model's error, never the student's (REFERENCE §1).
Reads ``weakstrong sim selection ... --out DIR``: one W2SRecord per (world, candidate weak model), the world
identified by ``(setting, seed, task)``. (a) the predicted score against the true w2s error; (b) the
Spearman ρ between the two rankings in each world (from the run's summary), beside the ρ of the ranking by
weak error alone.
"""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import MaxNLocator

from weakstrong.figures.registry import FigureContext, FigureOutcome, FigureSpec, sim_run
from weakstrong.figures.style import CYCLE, identity_line, new_figure, save_figure
from weakstrong.runs import RunData
from weakstrong.sim.selection import SelectionConfig

NAME = "selection"


def config(ctx: FigureContext) -> SelectionConfig:
    """The run this figure reads; previews (--quick) use two worlds."""
    return ctx.sized(SelectionConfig(seed=ctx.seed), worlds=2)


def finite(values) -> np.ndarray:
    """The defined values (a world whose errors all tie has no Spearman rho)."""
    v = np.array([np.nan if x is None else x for x in values], dtype=float)
    return v[np.isfinite(v)]


def draw(runs: list[RunData]):
    """(a) each candidate's label-free score against its true w2s error; (b) the per-world Spearman rho of
    the score's ranking and of the weak error's, as the run computed them (``summary["worlds"]``)."""
    (run,) = runs
    records, worlds = run.records, run.summary["worlds"]
    fig, axes = new_figure(ncols=2, height=2.9)
    predicted = np.array([r.extra["score"] for r in records])
    true = np.array([r.w2s_error for r in records])
    axes[0].scatter(predicted, true, s=10, alpha=0.6, color=CYCLE[0], edgecolors="none", zorder=3,
                    label="candidate weak model")
    identity_line(axes[0], np.concatenate([predicted, true]))
    axes[0].set_xlabel("predicted: err(weak) − misfit (squared error)")
    axes[0].set_ylabel("true err(w2s) (squared error)")
    axes[0].set_title("(a) label-free score vs true w2s error")
    axes[0].legend(loc="lower right")
    # The baseline ranks by the weak error alone: the distance between the two shows what misfit adds.
    rhos, baseline = finite(w["spearman_score"] for w in worlds), finite(w["spearman_weak_error"] for w in worlds)
    bins = np.linspace(-1, 1, 21)
    axes[1].hist(baseline, bins=bins, color=CYCLE[2], alpha=0.55, edgecolor="white",
                 label=f"err(weak) alone, median {run.summary['spearman_weak_error']['median']:.2f}")
    axes[1].hist(rhos, bins=bins, histtype="step", lw=1.8, color=CYCLE[1],
                 label=f"err(weak) − misfit, median {run.summary['spearman_score']['median']:.2f}")
    axes[1].set_xlabel("Spearman ρ, predicted vs true ranking")
    axes[1].set_ylabel("worlds (count)")
    axes[1].yaxis.set_major_locator(MaxNLocator(integer=True))
    axes[1].set_title(f"(b) ranking agreement, {rhos.size} worlds")
    axes[1].legend(loc="upper left")
    return fig


def build(ctx: FigureContext) -> FigureOutcome:
    run = sim_run(ctx, "selection", config(ctx))
    return FigureOutcome("ok", images=save_figure(draw([run]), NAME, ctx.images_dir), data_files=run.files)


SPEC = FigureSpec(
    name=NAME,
    kind="sim",
    shows="Weak-model selection: the label-free score err(weak) - misfit against the true w2s error, and the "
          "Spearman correlation of the two rankings over many worlds.",
    data="runs/selection-<hash>/records.jsonl",
    command="weakstrong sim selection --seed 0 --out DIR",
    caption=(r"Weak-model selection: (a) the label-free score $\mathrm{err}(f_w)-\mathrm{misfit}$ against "
             r"the true weak-to-strong error of each candidate; (b) Spearman's $\rho$ between the score's "
             r"ranking and the true ranking in each world, beside the ranking by weak error alone."),
    build=build,
)
