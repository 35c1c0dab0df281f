"""Weak-model selection: rank candidate weak models by (weak error − misfit), compare with the true ranking.

Theorem 1 makes err(w2s) ≤ err(weak) − misfit in the realizable case, so (weak error − misfit) is an
upper bound on the w2s error that needs only the weak model's error, never the student's (REFERENCE §1).
Reads ``weakstrong sim selection ... --out DIR``: one W2SRecord per (world, candidate weak model), the world
identified by ``(setting, seed, task)``. (a) the predicted score against the true w2s error; (b) the
Spearman ρ between the two rankings in each world, computed here from the records, beside the ρ of the
ranking by weak error alone.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from matplotlib.ticker import MaxNLocator
from scipy.stats import spearmanr

from weakstrong.figures.registry import FigureContext, FigureOutcome, FigureSpec
from weakstrong.figures.sources import DataUnavailable, ensure_sim_run, first_available, make_sim_run, read_records
from weakstrong.figures.style import CYCLE, identity_line, new_figure, save_figure

NAME = "selection"
EXPERIMENTS = ("selection", "weak-selection")


def worlds(records) -> dict[tuple, list]:
    """Records grouped by world; a world with fewer than three candidates cannot be ranked and is dropped."""
    groups = defaultdict(list)
    for r in records:
        groups[(r.setting, r.seed, r.task)].append(r)
    return {k: v for k, v in groups.items() if len(v) >= 3}


def world_spearman(records, score=lambda r: r.weak_error - r.misfit) -> np.ndarray:
    """Spearman ρ between ``score`` (default: weak error − misfit) and the w2s error, one value per world."""
    rhos = []
    for recs in worlds(records).values():
        rho = spearmanr([score(r) for r in recs], [r.w2s_error for r in recs]).statistic
        if np.isfinite(rho):
            rhos.append(rho)
    return np.asarray(rhos)


def build(ctx: FigureContext) -> FigureOutcome:
    experiment = first_available(*EXPERIMENTS)
    run_dir = ensure_sim_run(make_sim_run(experiment, sizes=ctx.sim_sizes(), seed=ctx.seed,
                                                 progress=False), ctx.runs_dir, ctx.force)
    records = read_records(run_dir)
    rhos = world_spearman(records)
    if rhos.size == 0:
        raise DataUnavailable(f"{run_dir}/records.jsonl has no world with >= 3 candidate weak models")
    fig, axes = new_figure(ncols=2, height=2.9)
    predicted = np.array([r.weak_error - r.misfit for r in records])
    true = np.array([r.w2s_error for r in records])
    axes[0].scatter(predicted, true, s=10, alpha=0.6, color=CYCLE[0], edgecolors="none", zorder=3,
                    label="candidate weak model")
    identity_line(axes[0], np.concatenate([predicted, true]))
    axes[0].set_xlabel("predicted: err(weak) − misfit (squared error)")
    axes[0].set_ylabel("true err(w2s) (squared error)")
    axes[0].set_title("(a) label-free score vs true w2s error")
    axes[0].legend(loc="lower right")
    # The baseline ranks by the weak error alone: the distance between the two shows what misfit adds.
    baseline = world_spearman(records, score=lambda r: r.weak_error)
    bins = np.linspace(-1, 1, 21)
    axes[1].hist(baseline, bins=bins, color=CYCLE[2], alpha=0.55, edgecolor="white",
                 label=f"err(weak) alone, median {np.median(baseline):.2f}")
    axes[1].hist(rhos, bins=bins, histtype="step", lw=1.8, color=CYCLE[1],
                 label=f"err(weak) − misfit, median {np.median(rhos):.2f}")
    axes[1].set_xlabel("Spearman ρ, predicted vs true ranking")
    axes[1].set_ylabel("worlds (count)")
    axes[1].yaxis.set_major_locator(MaxNLocator(integer=True))
    axes[1].set_title(f"(b) ranking agreement, {rhos.size} worlds")
    axes[1].legend(loc="upper left")
    return FigureOutcome("ok", images=save_figure(fig, NAME, ctx.images_dir),
                         data_files=[run_dir / "records.jsonl", run_dir / "summary.json"])


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
