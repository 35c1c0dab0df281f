"""Gain against misfit in the three synthetic settings (realizable, pretrained, perturbed).

The analogue of Fig. 2(a–c) of Charikar, Pabbaraju & Shiragur (2024), "Quantifying the Gain in
Weak-to-Strong Generalization": one point per fine-tuning task, x = misfit d(f_sw, f_w), y = gain
err(weak) − err(w2s), with the line y = x that Theorem 1 makes exact when the strong class is a subspace
containing the truth. Data: ``weakstrong sim charikar --setting S --tasks N --seed S --out DIR`` →
``DIR/records.jsonl`` (one W2SRecord per task) and ``DIR/summary.json`` (slope, intercept, r2 of gain on misfit).
"""

from __future__ import annotations

from pathlib import Path

from weakstrong.figures.plots import GAIN_LABEL, MISFIT_LABEL, gain_vs_misfit, marker, share_labels
from weakstrong.figures.registry import FigureContext, FigureOutcome, FigureSpec
from weakstrong.figures.sources import (
    SimRun,
    display_path,
    ensure_sim_run,
    make_sim_run,
    read_records,
    read_summary,
)
from weakstrong.figures.style import CYCLE, new_figure, save_figure
from weakstrong.figures.tables import Table, fmt, mean, stacked

NAME = "charikar"
SETTINGS = ("realizable", "pretrained", "perturbed")
TASKS, QUICK_TASKS = 100, 12


def runs(ctx: FigureContext) -> list[SimRun]:
    """The three ``weakstrong sim charikar`` runs this figure reads, one per setting."""
    tasks = QUICK_TASKS if ctx.quick else TASKS
    return [make_sim_run("charikar", label=s, setting=s, tasks=tasks, seed=ctx.seed, progress=False)
            for s in SETTINGS]


def run_dirs(ctx: FigureContext) -> dict[str, Path]:
    """Run (or reuse) the three settings; ``{setting: run folder}``. Shared with the paper's tables."""
    return {run.label: ensure_sim_run(run, ctx.runs_dir, ctx.force) for run in runs(ctx)}


def build(ctx: FigureContext) -> FigureOutcome:
    dirs = run_dirs(ctx)
    fig, axes = new_figure(ncols=len(SETTINGS), height=2.75)
    data_files = []
    for i, (ax, setting) in enumerate(zip(axes, SETTINGS)):
        records = read_records(dirs[setting])
        summary = read_summary(dirs[setting])
        data_files += [dirs[setting] / "records.jsonl", dirs[setting] / "summary.json"]
        gain_vs_misfit(ax, [r.misfit for r in records], [r.gain for r in records], color=CYCLE[i],
                       marker=marker(i), label=f"{len(records)} tasks")
        ax.set_title(f"({'abc'[i]}) {setting}")
        ax.text(0.04, 0.96, f"slope {summary['slope']:.3f}\n$R^2$ {summary['r2']:.3f}",
                transform=ax.transAxes, va="top", ha="left", fontsize=9)
        ax.legend(loc="lower right")
    share_labels(fig, axes, MISFIT_LABEL.format(unit="squared error"), GAIN_LABEL.format(unit="squared error"))
    return FigureOutcome("ok", images=save_figure(fig, NAME, ctx.images_dir), data_files=data_files)


TABLE_COLUMNS = ("setting", "tasks", stacked("weak", "err."), stacked("w2s", "err."), "ceiling", "misfit", "slope",
                 "$R^2$", stacked("Thm.~1", "fresh"), stacked("Thm.~1", "own"), stacked("viol.", "fresh"),
                 stacked("viol.", "own"))


def table_rows(dirs: dict[str, Path]) -> list[list[str]]:
    """One row per setting: mean errors over the tasks' records, then the run's summary.json statistics
    (the ``_in_sample`` ones are the same checks on the student's own sample; ``--`` when not reported)."""
    rows = []
    for setting in SETTINGS:
        records = read_records(dirs[setting])
        summary = read_summary(dirs[setting])
        rows.append([setting, fmt(len(records)),
                     fmt(mean([r.weak_error for r in records])), fmt(mean([r.w2s_error for r in records])),
                     fmt(mean([r.strong_error for r in records])), fmt(mean([r.misfit for r in records])),
                     fmt(summary["slope"]), fmt(summary["r2"]),
                     fmt(summary["frac_theorem1_holds"]), fmt(summary.get("frac_theorem1_holds_in_sample")),
                     fmt(summary["max_nonrealizable_violation"]),
                     fmt(summary.get("max_nonrealizable_violation_in_sample"))])
    return rows


def tables(ctx: FigureContext) -> dict[str, str]:
    """``charikar_table``: the numbers behind the figure, per setting."""
    dirs = run_dirs(ctx)
    table = Table(
        columns=TABLE_COLUMNS, rows=table_rows(dirs), label="tab:charikar",
        caption=(r"Synthetic settings: mean squared errors over fine-tuning tasks on fresh samples, and the "
                 r"least-squares fit of gain on misfit. \emph{Thm.~1}: fraction of tasks with "
                 r"err(w2s) $\le$ err(weak) $-$ misfit; \emph{viol.}: largest excess of "
                 r"$|\text{gain}-\text{misfit}|$ over $2\sqrt{\varepsilon\cdot\text{misfit}}$ "
                 r"($\le 0$ when the non-realizable bound holds on every task); \emph{fresh}: measured on "
                 r"fresh samples, \emph{own}: on the student's own training sample, where the statements are "
                 r"exact."),
        sources=[display_path(d / "summary.json") for d in dirs.values()])
    return {"charikar_table": table.to_latex()}


SPEC = FigureSpec(
    name=NAME,
    kind="sim",
    shows="Gain vs misfit per fine-tuning task in the realizable, pretrained and perturbed settings, with y = x "
          "(Charikar et al. 2024, Fig. 2a–c analogue).",
    data="runs/charikar-<setting>-<hash>/records.jsonl, summary.json",
    command="weakstrong sim charikar --setting {realizable,pretrained,perturbed} --tasks 100 --seed 0 --out DIR",
    caption=(r"Gain $\mathrm{err}(f_w)-\mathrm{err}(f_{sw})$ against misfit $d(f_{sw},f_w)$, one point per "
             r"fine-tuning task, in the realizable, pretrained and perturbed settings, with $y=x$ "
             r"(the analogue of Fig.~2a--c of \cite{charikar2024}). Errors and misfit on fresh samples."),
    build=build,
    tables=tables,
)
