"""SciQ: accuracy and performance-gap recovered (PGR) of each weak-supervision method, with intervals.

Reads ``results/sciq*/results.json`` written by ``weakstrong llm classify --task sciq``. For each teacher
(a single weak model or an ensemble method) it shows the teacher's test accuracy and the accuracy of the
student trained on its labels, per student mode, against the strong ceiling; and PGR =
(acc_w2s − acc_weak) / (acc_ceiling − acc_weak) (Burns et al. 2023) with the run's percentile-bootstrap CI.
Accuracy intervals are the normal-approximation 95 % binomial interval on the run's ``n_test`` examples.
"""

from __future__ import annotations

import math

from weakstrong.figures.plots import grouped_bars, pending_figure, rotate_ticks
from weakstrong.figures.registry import FigureContext, FigureOutcome, FigureSpec
from weakstrong.figures.sources import LLMResult, display_path, primary_llm_result
from weakstrong.figures.style import PALETTE, new_figure, save_figure
from weakstrong.figures.tables import Table, fmt, latex_escape, pending_table

NAME = "sciq_methods"
PREFIX = "sciq"
COMMAND = ("weakstrong llm classify --task sciq --data-dir ../shared/data --methods "
           "single,average,vote,logconf,bayes --students probe,finetune --out results/sciq_<run>")


def binomial_ci(acc: float | None, n: int | None, z: float = 1.96) -> tuple[float, float] | None:
    """Normal-approximation interval acc ± z·sqrt(acc(1 − acc)/n), clipped to [0, 1]."""
    if acc is None or not n:
        return None
    half = z * math.sqrt(max(acc * (1 - acc), 0.0) / n)
    return max(0.0, acc - half), min(1.0, acc + half)


def method_rows(result: LLMResult) -> list[dict]:
    """One row per teacher: teacher accuracy, then accuracy and PGR of each student mode."""
    rows: dict[str, dict] = {}
    for student, summary in result.data["students"].items():
        for run in summary.get("runs", []):
            row = rows.setdefault(run["teacher"], {"teacher": run["teacher"], "method": run.get("method", ""),
                                                   "teacher_acc": run["teacher_test"]["accuracy"]})
            row[f"{student}_acc"] = run.get("accuracy")
            row[f"{student}_pgr"] = run.get("pgr", {}).get("pgr")
            row[f"{student}_pgr_ci"] = run.get("pgr", {}).get("ci")
    return list(rows.values())


def short_teacher(teacher: str) -> str:
    """``single(tfidf)`` → ``tfidf``; ``average(tfidf,minilm-l1,...)`` → ``average`` (members in the caption)."""
    method, sep, members = str(teacher).partition("(")
    if not sep:
        return str(teacher)
    return members.rstrip(")") if method == "single" else method


def ensemble_members(rows: list[dict]) -> str:
    """The members of the ensemble teachers, once, for captions (empty when there are none)."""
    found = [r["teacher"].partition("(")[2].rstrip(")") for r in rows
             if "(" in r["teacher"] and not r["teacher"].startswith("single(")]
    return found[0] if found else ""


# PGR is a ratio over a small accuracy gap; its bootstrap CI can span tens of units. The axis shows this range.
PGR_AXIS = (-2.0, 2.0)


def students_of(result: LLMResult) -> list[str]:
    return list(result.data["students"])


def build(ctx: FigureContext) -> FigureOutcome:
    result = primary_llm_result(PREFIX, "students", ctx.results_dir)
    if result is None:
        images = pending_figure(NAME, ctx.images_dir, [
            ("SciQ accuracy: results pending", f"No results/{PREFIX}*/results.json yet.\nWritten by: {COMMAND}"),
            ("SciQ PGR: results pending", "PGR with bootstrap CIs appears here once a SciQ run is committed.")])
        return FigureOutcome("pending", images=images, message=f"no results/{PREFIX}*/results.json")
    rows, students = method_rows(result), students_of(result)
    n_test = result.data.get("sizes", {}).get("n_test")
    groups = [short_teacher(r["teacher"]) for r in rows]
    fig, axes = new_figure(ncols=2, height=3.6)
    acc = {"teacher": [r["teacher_acc"] for r in rows]}
    acc |= {f"student ({s})": [r.get(f"{s}_acc") for r in rows] for s in students}
    grouped_bars(axes[0], groups, acc, {k: [binomial_ci(v, n_test) for v in vals] for k, vals in acc.items()},
                 ylabel="test accuracy (fraction correct)")
    for i, s in enumerate(students):
        ceiling = result.data["students"][s].get("ceiling", {}).get("accuracy")
        if ceiling is not None:
            axes[0].axhline(ceiling, ls=":", lw=1.2, color=(PALETTE["vermillion"], PALETTE["purple"])[i % 2],
                            label=f"ceiling ({s})")
    axes[0].axhline(0.5, color="0.5", lw=0.8, label="chance")
    lows = [v for vals in acc.values() for v in vals if v is not None]
    axes[0].set_ylim(max(0.0, min(lows) - 0.08), min(1.0, max(lows) + 0.12))
    axes[0].legend(ncols=2, loc="upper center", bbox_to_anchor=(0.5, -0.32))
    pgr = {s: [r.get(f"{s}_pgr") for r in rows] for s in students}
    ints = {s: [tuple(c) if c and None not in c else None for c in (r.get(f"{s}_pgr_ci") for r in rows)]
            for s in students}
    grouped_bars(axes[1], groups, pgr, ints, ylabel="PGR (fraction of gap recovered)")
    axes[1].axhline(0, color="0.3", lw=0.8)
    spans = [v for vals in ints.values() for c in vals if c for v in c]
    spans += [v for vals in pgr.values() for v in vals if v is not None]
    clipped = bool(spans) and (min(spans) < PGR_AXIS[0] or max(spans) > PGR_AXIS[1])
    if clipped:
        axes[1].set_ylim(*PGR_AXIS)
    axes[1].legend(title="student", ncols=2, loc="upper center", bbox_to_anchor=(0.5, -0.32))
    for ax in axes:
        rotate_ticks(ax)
    axes[0].set_title(f"(a) accuracy, {result.path.parent.name}")
    axes[1].set_title("(b) PGR, 95% bootstrap CI" + (f" (axis cut at ±{PGR_AXIS[1]:g})" if clipped else ""))
    return FigureOutcome("ok", images=save_figure(fig, NAME, ctx.images_dir), data_files=[result.path])


def tables(ctx: FigureContext) -> dict[str, str]:
    """``sciq_table``: per teacher, the teacher's accuracy and each student's accuracy and PGR [CI]."""
    result = primary_llm_result(PREFIX, "students", ctx.results_dir)
    if result is None:
        return {"sciq_table": pending_table("tab:sciq", "No SciQ classification results are committed yet.",
                                            COMMAND)}
    students = students_of(result)
    columns = ["teacher", "teacher acc."]
    for s in students:
        columns += [f"{s} acc.", f"{s} PGR", f"{s} PGR 95\\% CI"]
    body = []
    for r in method_rows(result):
        cells = [latex_escape(short_teacher(r["teacher"])), fmt(r["teacher_acc"])]
        for s in students:
            ci = r.get(f"{s}_pgr_ci") or [None, None]
            cells += [fmt(r.get(f"{s}_acc")), fmt(r.get(f"{s}_pgr")), f"[{fmt(ci[0])}, {fmt(ci[1])}]"]
        body.append(cells)
    members = ensemble_members(method_rows(result))
    ensembles = f" Ensembles combine {latex_escape(', '.join(members.split(',')))}." if members else ""
    ceilings = ", ".join(f"{s}: {fmt(result.data['students'][s].get('ceiling', {}).get('accuracy'))}"
                         for s in students)
    table = Table(columns=columns, rows=body, label="tab:sciq", sources=[display_path(result.path)],
                  caption=f"SciQ ({latex_escape(result.path.parent.name)}): test accuracy of each teacher and "
                          f"of the student trained on its labels, and PGR with its bootstrap CI. Strong "
                          f"ceiling accuracy: {ceilings}.{ensembles}")
    return {"sciq_table": table.to_latex()}


SPEC = FigureSpec(
    name=NAME,
    kind="llm",
    shows="SciQ: test accuracy of each teacher and its student (probe and fine-tuned) against the strong "
          "ceiling, and PGR with bootstrap CIs.",
    data="results/sciq*/results.json",
    command=COMMAND,
    build=build,
    tables=tables,
)
