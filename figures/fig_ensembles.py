"""Weak ensembles: does the ensemble's misfit predict its gain, and does the ensemble beat its best member?

Theorem 1 applies to any convex combination f̄ = Σ α_j f_j of weak models, with the ambiguity decomposition
d(f̄, f*) = Σ α_j d(f_j, f*) − Σ α_j d(f_j, f̄) (REFERENCE §5). Reads ``weakstrong sim ensembles ... --out
DIR``: records whose ``method`` names the combiner (naive average, inverse-error, Bayesian posterior
weights, stacked), each with its best member's w2s error (``members.best_member_w2s_error``), and the
summary's per-rule share of tasks where the ensemble beats that member.
"""

from __future__ import annotations

import numpy as np


from weakstrong.figures.plots import gain_vs_misfit, marker, plain_log_ticks
from weakstrong.figures.registry import FigureContext, FigureOutcome, FigureSpec, sim_run
from weakstrong.figures.style import CYCLE, identity_line, new_figure, save_figure
from weakstrong.runs import RunData
from weakstrong.sim.ensembles import COMBINERS, EnsembleConfig

NAME = "ensembles"


def config(ctx: FigureContext) -> EnsembleConfig:
    """The run this figure reads; previews (--quick) use two worlds of five tasks."""
    return ctx.sized(EnsembleConfig(seed=ctx.seed), worlds=2, tasks=5)


def draw(runs: list[RunData]):
    """(a) each combination rule's misfit against its gain; (b) its w2s error against the best member's, with
    the share of tasks where the ensemble wins from the run's summary (exact ties discounted)."""
    (run,) = runs
    methods = run.summary["methods"]
    combined = {rule: [r for r in run.records if r.method == rule] for rule in COMBINERS}
    fig, axes = new_figure(ncols=2, height=3.6)
    for i, (method, recs) in enumerate(sorted(combined.items())):
        color = CYCLE[i % len(CYCLE)]
        gain_vs_misfit(axes[0], [r.misfit for r in recs], [r.gain for r in recs], color=color, marker=marker(i),
                       label=method, identity=False, short=True)
        x, y = np.array([(r.members.best_member_w2s_error, r.w2s_error) for r in recs]).T
        axes[1].scatter(x, y, s=12, alpha=0.75, color=color, marker=marker(i), edgecolors="none", zorder=3,
                        label=f"{method}: {methods[method]['frac_beats_best_member']:.0%}")
    identity_line(axes[0], [v for recs in combined.values() for r in recs for v in (r.misfit, r.gain)])
    axes[0].set_title("(a) ensemble misfit vs gain")
    axes[0].legend(loc="upper left")
    offsets = np.concatenate([c.get_offsets().ravel() for c in axes[1].collections])
    identity_line(axes[1], offsets)
    if offsets.min() > 0:  # errors spread over decades across worlds
        axes[1].set_xscale("log")
        axes[1].set_yscale("log")
        plain_log_ticks(axes[1])
    axes[1].legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncols=2, title="better than best member in")
    axes[1].text(0.97, 0.03, "below y = x:\nensemble better", transform=axes[1].transAxes, ha="right",
                 va="bottom", fontsize=9, color="0.3", bbox={"fc": "white", "ec": "none", "alpha": 0.8})
    axes[1].set_xlabel("best member's w2s error (squared error)")
    axes[1].set_ylabel("ensemble's w2s error (squared error)")
    axes[1].set_title("(b) ensemble vs best member")
    return fig


def build(ctx: FigureContext) -> FigureOutcome:
    run = sim_run(ctx, "ensembles", config(ctx))
    return FigureOutcome("ok", images=save_figure(draw([run]), NAME, ctx.images_dir), data_files=run.files)


SPEC = FigureSpec(
    name=NAME,
    kind="sim",
    shows="Weak ensembles: misfit vs gain of each combination rule, and the ensemble's w2s error against its "
          "best member's.",
    data="runs/ensembles-<hash>/records.jsonl",
    command="weakstrong sim ensembles --seed 0 --out DIR",
    build=build,
)
