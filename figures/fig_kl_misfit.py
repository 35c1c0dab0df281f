"""Classification: gain against misfit in KL, for a student that reverse-KL-projects its teacher.

Mulgund & Pabbaraju (2025): when the strong class is convex in probability space and the student minimises
KL(student ‖ teacher), E KL(g*‖f_sw) ≤ E KL(g*‖f_w) − E KL(f_sw‖f_w), i.e. gain ≥ misfit in KL.
Reads the records (``loss == "kl"``) of ``weakstrong sim classification ... --out DIR``.
"""

from __future__ import annotations

from weakstrong.figures.plots import gain_vs_misfit, marker
from weakstrong.figures.registry import FigureContext, FigureOutcome, FigureSpec
from weakstrong.figures.sources import DataUnavailable, ensure_sim_run, first_available, make_sim_run, read_records
from weakstrong.figures.style import COLUMN_WIDTH, CYCLE, identity_line, new_figure, save_figure

NAME = "kl_misfit"
EXPERIMENTS = ("classification", "kl", "kl-misfit")


def build(ctx: FigureContext) -> FigureOutcome:
    experiment = first_available(*EXPERIMENTS)
    run_dir = ensure_sim_run(make_sim_run(experiment, sizes=ctx.sim_sizes(), seed=ctx.seed,
                                                 progress=False), ctx.runs_dir, ctx.force)
    records = [r for r in read_records(run_dir) if r.loss == "kl"]
    if not records:
        raise DataUnavailable(f"{run_dir}/records.jsonl holds no loss='kl' records")
    fig, axes = new_figure(width=COLUMN_WIDTH + 0.6, height=3.0)
    groups = sorted({r.setting or r.method for r in records})
    for i, g in enumerate(groups):
        recs = [r for r in records if (r.setting or r.method) == g]
        gain_vs_misfit(axes[0], [r.misfit for r in recs], [r.gain for r in recs], color=CYCLE[i % len(CYCLE)],
                       marker=marker(i), label=f"{g} ({len(recs)})" if g else f"{len(recs)} tasks",
                       identity=False, unit="nats", short=True)
    identity_line(axes[0], [v for r in records for v in (r.misfit, r.gain)])
    axes[0].legend(loc="upper left")
    return FigureOutcome("ok", images=save_figure(fig, NAME, ctx.images_dir),
                         data_files=[run_dir / "records.jsonl", run_dir / "summary.json"])


SPEC = FigureSpec(
    name=NAME,
    kind="sim",
    shows="Classification: gain vs misfit in KL for the reverse-KL projection onto a convex hull of probability "
          "predictors (Mulgund and Pabbaraju 2025); points must lie on or above y = x.",
    data="runs/classification-<hash>/records.jsonl",
    command="weakstrong sim classification --seed 0 --out DIR",
    build=build,
    paper_width=0.55,
)
