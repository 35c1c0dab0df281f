"""Gain against misfit in the three synthetic settings (realizable, pretrained, perturbed).

The analogue of Fig. 2(a–c) of Charikar, Pabbaraju & Shiragur (2024), "Quantifying the Gain in
Weak-to-Strong Generalization": one point per fine-tuning task, x = misfit d(f_sw, f_w), y = gain
err(weak) − err(w2s), with the line y = x that Theorem 1 makes exact when the strong class is a subspace
containing the truth. Data: ``weakstrong sim charikar --setting S --tasks N --seed S --out DIR`` →
``DIR/records.jsonl`` (one W2SRecord per task) and ``DIR/summary.json`` (slope, intercept, r2 of gain on misfit).
"""

from __future__ import annotations

from weakstrong.figures.plots import GAIN_LABEL, MISFIT_LABEL, gain_vs_misfit, marker, share_labels
from weakstrong.figures.registry import FigureContext, FigureOutcome, FigureSpec, sim_run
from weakstrong.figures.sources import display_path
from weakstrong.figures.style import CYCLE, new_figure, save_figure
from weakstrong.figures.tables import Table, fmt, stacked
from weakstrong.runs import RunData
from weakstrong.sim.charikar import CharikarConfig
from weakstrong.sim.worlds import SETTINGS, WorldConfig

NAME = "charikar"
QUICK_TASKS = 12


def configs(ctx: FigureContext) -> dict[str, CharikarConfig]:
    """The three runs this figure reads, one per setting (defaults: 100 tasks, the protocol's sizes)."""
    return {s: ctx.sized(CharikarConfig(world=WorldConfig(setting=s, seed=ctx.seed)), tasks=QUICK_TASKS)
            for s in SETTINGS}


def runs(ctx: FigureContext) -> dict[str, RunData]:
    """Run (or reuse) the three settings; ``{setting: run}``. Shared with the paper's table."""
    return {s: sim_run(ctx, "charikar", config) for s, config in configs(ctx).items()}


def draw(runs: list[RunData]):
    """One panel per run: gain against misfit per task with y = x, and the run's fitted slope and R^2."""
    fig, axes = new_figure(ncols=len(runs), height=2.75)
    for i, (ax, run) in enumerate(zip(axes, runs)):
        records, summary = run.records, run.summary
        gain_vs_misfit(ax, [r.misfit for r in records], [r.gain for r in records], color=CYCLE[i],
                       marker=marker(i), label=f"{len(records)} tasks")
        ax.set_title(f"({'abcdef'[i]}) {summary['config']['world']['setting']}")
        if summary["slope"] is not None:
            ax.text(0.04, 0.96, f"slope {summary['slope']:.3f}\n$R^2$ {summary['r2']:.3f}",
                    transform=ax.transAxes, va="top", ha="left", fontsize=9)
        ax.legend(loc="lower right")
    share_labels(fig, axes, MISFIT_LABEL.format(unit="squared error"), GAIN_LABEL.format(unit="squared error"))
    return fig


def build(ctx: FigureContext) -> FigureOutcome:
    found = runs(ctx)
    return FigureOutcome("ok", images=save_figure(draw(list(found.values())), NAME, ctx.images_dir),
                         data_files=[f for run in found.values() for f in run.files])


TABLE_COLUMNS = ("setting", "tasks", stacked("weak", "err."), stacked("w2s", "err."), "ceiling", "misfit", "slope",
                 "$R^2$", stacked("Thm.~1", "fresh"), stacked("Thm.~1", "own"), stacked("viol.", "fresh"),
                 stacked("viol.", "own"))


def table_rows(found: dict[str, RunData]) -> list[list[str]]:
    """One row per setting, every number from the run's summary.json (the ``_in_sample`` ones are the same
    checks on the student's own sample)."""
    rows = []
    for setting, run in found.items():
        summary, m = run.summary, run.summary["mean"]
        rows.append([setting, fmt(summary["tasks"]), fmt(m["weak_error"]), fmt(m["w2s_error"]),
                     fmt(m["strong_error"]), fmt(m["misfit"]), fmt(summary["slope"]), fmt(summary["r2"]),
                     fmt(summary["frac_theorem1_holds"]), fmt(summary["frac_theorem1_holds_in_sample"]),
                     fmt(summary["max_nonrealizable_violation"]),
                     fmt(summary["max_nonrealizable_violation_in_sample"])])
    return rows


def tables(ctx: FigureContext) -> dict[str, str]:
    """``charikar_table``: the numbers behind the figure, per setting."""
    found = runs(ctx)
    table = Table(
        columns=TABLE_COLUMNS, rows=table_rows(found), label="tab:charikar",
        caption=(r"Synthetic settings: mean squared errors over fine-tuning tasks on fresh samples, and the "
                 r"least-squares fit of gain on misfit. \emph{Thm.~1}: fraction of tasks with "
                 r"err(w2s) $\le$ err(weak) $-$ misfit; \emph{viol.}: largest excess of "
                 r"$|\text{gain}-\text{misfit}|$ over $2\sqrt{\varepsilon\cdot\text{misfit}}$ "
                 r"($\le 0$ when the non-realizable bound holds on every task); \emph{fresh}: measured on "
                 r"fresh samples, \emph{own}: on the student's own training sample, where the statements are "
                 r"exact."),
        sources=[display_path(run.path / "summary.json") for run in found.values()])
    return {"charikar_table": table.to_latex()}


SPEC = FigureSpec(
    name=NAME,
    kind="sim",
    shows="Gain vs misfit per fine-tuning task in the realizable, pretrained and perturbed settings, with y = x "
          "(Charikar et al. 2024, Fig. 2a–c analogue).",
    data="runs/charikar-<hash>/records.jsonl, summary.json (one run per setting)",
    command="weakstrong sim charikar --setting {realizable,pretrained,perturbed} --tasks 100 --seed 0 --out DIR",
    caption=(r"Gain $\mathrm{err}(f_w)-\mathrm{err}(f_{sw})$ against misfit $d(f_{sw},f_w)$, one point per "
             r"fine-tuning task, in the realizable, pretrained and perturbed settings, with $y=x$ "
             r"(the analogue of Fig.~2a--c of \cite{charikar2024}). Errors and misfit on fresh samples."),
    build=build,
    tables=tables,
)
