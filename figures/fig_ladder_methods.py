"""Ensemble methods on the real ladder: does the Bayesian (evidential) ensemble beat the naive ones?

Data: ``results/ladder/results.json``'s ``comparison`` (``weakstrong llm misfit-study``): per (task, strong,
student) the test accuracy of each ensemble teacher's student at every seed (probe students at the main and
the extra seeds, fine-tuned students at the main seed), the best single-weak student, and bayes minus each
other method averaged over the seeds with a paired bootstrap 95 % CI over test examples.
"""

from __future__ import annotations

import numpy as np

from weakstrong.figures.plots import grouped_bars, results_figure
from weakstrong.figures.registry import FigureContext, FigureOutcome, FigureSpec
from weakstrong.figures.sources import display_path
from weakstrong.figures.style import new_figure
from weakstrong.figures.tables import Table, fmt, fmt_delta, latex_escape, pending_table
from weakstrong.io import read_json

NAME = "ladder_methods"
EXPERIMENT = "ladder"
METHODS = ("best single", "average", "vote", "logconf", "bayes")


def _group(row: dict) -> str:
    """A short two-line label: the strong model (``smollm2-135m-l16`` -> ``smol-l16``), then the student
    (probe, or FT: top-K fine-tuned)."""
    short = row["strong"].replace("smollm2-135m", "smol").replace("-270m", "").replace("minilm-", "")
    return f"{short}\n{'FT' if row['student'] == 'finetune' else 'probe'}"


def draw(data: dict):
    """Top: mean test accuracy of each method's student per (strong, student), whiskers the range over seeds;
    bottom: bayes minus average, vote and logconf with the paired bootstrap 95 % CI."""
    rows = data["comparison"]
    tasks = list(dict.fromkeys(r["task"] for r in rows if len(r["seeds"]) > 1 or r["student"] == "finetune"))
    fig, flat = new_figure(nrows=2, ncols=len(tasks), height=6.4)
    axes = [flat[:len(tasks)], flat[len(tasks):]]
    for j, task in enumerate(tasks):
        mine = [r for r in rows if r["task"] == task]
        groups = [_group(r) for r in mine]
        series, ranges = {}, {}
        for m in METHODS:
            runs = [r["best_single"] if m == "best single" else r["accuracy"].get(m, []) for r in mine]
            series[m] = [float(np.mean(v)) if v else None for v in runs]
            ranges[m] = [(min(v), max(v)) if len(v) > 1 else None for v in runs]
        grouped_bars(axes[0][j], groups, series, ranges, ylabel="test accuracy of the student")
        values = [v for s in series.values() for v in s if v is not None]
        axes[0][j].set_ylim(max(0.0, min(values) - 0.05), min(1.0, max(values) + 0.03))
        seeds = sorted({len(r["seeds"]) for r in mine if r["student"] == "probe"})
        axes[0][j].set_title(f"({'ab'[j]}) {task} (probe: {seeds[-1] if seeds else 0} seeds, FT: 1)", fontsize=8)
        others = ("average", "vote", "logconf")
        diff = {f"bayes − {o}": [r["bayes_minus"].get(o, {}).get("mean") for r in mine] for o in others}
        cis = {f"bayes − {o}": [tuple(r["bayes_minus"][o]["ci"]) if o in r["bayes_minus"] else None for r in mine]
               for o in others}
        grouped_bars(axes[1][j], groups, diff, cis, ylabel="accuracy difference")
        axes[1][j].axhline(0.0, color="0.3", lw=0.8)
        axes[1][j].set_title(f"({'cd'[j]}) {task}: bayes minus the others (95 % CI)", fontsize=8)
        for ax in (axes[0][j], axes[1][j]):
            ax.tick_params(axis="x", labelsize=6.5)
    axes[0][0].legend(fontsize=6.5, loc="upper right", ncols=2)
    axes[1][0].legend(fontsize=6.5, loc="lower left")
    return fig


def tables(ctx: FigureContext) -> dict[str, str]:
    """``ladder_methods_table``: per (task, strong, student) each method's mean accuracy over the seeds and
    bayes minus each naive method with its paired bootstrap CI."""
    path = ctx.results_dir / EXPERIMENT / "results.json"
    data = read_json(path) if path.is_file() else None
    if data is None or not data.get("comparison"):
        return {"ladder_methods_table": pending_table("tab:ladder-methods", "No ensemble comparison yet.",
                                                      SPEC.command)}
    body = []
    for r in data["comparison"]:
        acc = [fmt(float(np.mean(r["best_single"])))] + [fmt(float(np.mean(r["accuracy"][m])))
                                                          if m in r["accuracy"] else "--" for m in METHODS[1:]]
        diffs = [fmt_delta(d) for d in (r["bayes_minus"].get(o) for o in ("average", "vote", "logconf"))]
        body.append([latex_escape(r["task"]), latex_escape(r["strong"]), r["student"], str(len(r["seeds"]))]
                    + acc + diffs)
    table = Table(columns=["task", "strong", "student", "seeds", "best single", "average", "vote", "logconf",
                           "bayes", "bayes $-$ average", "bayes $-$ vote", "bayes $-$ logconf"],
                  rows=body, label="tab:ladder-methods", sources=[display_path(path)], align="lllr" + "r" * 8,
                  caption="Students of each ensemble teacher on the real ladder: mean test accuracy over the seeds "
                          "(best single: the best single-weak student at each seed), and the Bayesian ensemble "
                          "minus each naive one, averaged over the seeds, with a paired bootstrap 95\\% CI over "
                          "test examples.")
    return {"ladder_methods_table": table.to_latex()}


def build(ctx: FigureContext) -> FigureOutcome:
    return results_figure(ctx, NAME, EXPERIMENT, "ensemble methods on the real ladder", SPEC.command, draw,
                          needs="comparison")


SPEC = FigureSpec(
    name=NAME,
    kind="llm",
    shows="Real ladder, SciQ and SST-2: test accuracy of the student of each ensemble method (probe students over "
          "three seeds, top-K fine-tuned students at one) and the Bayesian ensemble minus the naive ones with "
          "paired bootstrap CIs.",
    data="results/ladder/results.json",
    command="weakstrong llm misfit-study --data-dir ../shared/data --threads 1 --out results/ladder",
    build=build,
    tables=tables,
)
