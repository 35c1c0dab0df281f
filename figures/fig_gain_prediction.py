"""Predicting the gain before the student is judged: misfit plus a k-label cross term, with an interval.

(a, b) the simulator (``weakstrong sim gain-prediction``, run through the runs layer): coverage of the
90 % interval, and the ratio of the predictor's RMSE to the naive k-label difference's (median over tasks,
uniform labels), against k, per strong-noise level (0: realizable). (c) the real ladder
(``weakstrong llm predict-eval`` → ``results/gain_prediction/results.json``): predicted against
measured gain of every probe point of the study, one k-label draw each with its interval; (d) when the study
has fine-tuned students, the same probe-level predictions against the fine-tuned gains. Without the JSON, (c)
is a "pending" panel.
"""

from __future__ import annotations

import numpy as np

from weakstrong.figures.plots import marker, plain_log_ticks
from weakstrong.figures.registry import FigureContext, FigureOutcome, FigureSpec, sim_run
from weakstrong.figures.sources import display_path
from weakstrong.figures.style import CYCLE, identity_line, new_figure, pending_panel, save_figure
from weakstrong.figures.tables import Table, fmt, pending_table
from weakstrong.io import read_json
from weakstrong.runs import RunData
from weakstrong.sim.gain_prediction import GainPredictionConfig

NAME = "gain_prediction"
EXPERIMENT = "gain_prediction"
COMMAND = "weakstrong llm predict-eval --out results/gain_prediction"
DESIGN_LABEL = {"uniform": "uniform labels", "misfit": "misfit-guided labels"}


def config(ctx: FigureContext) -> GainPredictionConfig:
    """The simulator run of panels (a, b); previews (--quick) use two worlds of two tasks and 100 draws."""
    return ctx.sized(GainPredictionConfig(seed=ctx.seed), worlds=2, tasks=2, draws=100)


def _sim_panels(ax_cov, ax_ratio, summary: dict) -> None:
    ks = np.array(summary["ks"], dtype=float)
    for i, (design, row) in enumerate(summary["overall"].items()):
        ax_cov.plot(ks, row["gain_coverage"], marker=marker(i), color=CYCLE[i],
                    label=f"predictor, {DESIGN_LABEL[design]}")
        ax_cov.plot(ks, row["naive_coverage"], marker=marker(i), color=CYCLE[i], ls=":", alpha=0.8,
                    label=f"naive, {DESIGN_LABEL[design]}")
    level = summary["config"]["level"]
    ax_cov.axhline(level, color="0.35", ls="--", lw=1.0, label=f"nominal {level:g}")
    ax_cov.set(xscale="log", xlabel="labelled points k", ylabel="coverage of the interval",
               title="(a) simulator: coverage")
    ax_cov.set_ylim(max(0.0, min(ax_cov.get_ylim()[0], level - 0.3)), 1.0)
    ax_cov.legend(loc="lower center", fontsize=6)
    for i, level_row in enumerate(summary["levels"]):
        ratio = level_row["by_k"]["uniform"]["rmse_ratio_median"]
        ax_ratio.plot(ks, ratio, marker=marker(i), color=CYCLE[i],
                      label=f"strong noise {level_row['strong_noise']:g}")
    ax_ratio.axhline(1.0, color="0.35", ls="--", lw=1.0)
    ax_ratio.set(xscale="log", xlabel="labelled points k", ylabel="RMSE predictor / naive (median task)",
                 title="(b) simulator: error vs naive")
    ax_ratio.legend(loc="best", fontsize=7)
    for ax in (ax_cov, ax_ratio):
        plain_log_ticks(ax, "x", summary["ks"])


def _real_panel(ax, rows: list[dict], measured_key: str, title: str, xlabel: str) -> None:
    """Predicted (one draw, with its interval) against measured gain, one colour per task."""
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    values = []
    for i, task in enumerate(tasks):
        sub = [r for r in rows if r["task"] == task]
        x = np.array([r[measured_key] for r in sub])
        y = np.array([r["example"]["gain"] for r in sub])
        lo, hi = np.array([r["example"]["ci"] for r in sub]).T
        ax.errorbar(x, y, yerr=[y - lo, hi - y], fmt=marker(i), color=CYCLE[i], ms=3.5, lw=0.7, capsize=0,
                    label=f"{task} ({len(sub)})", alpha=0.85)
        values += list(x) + list(y)
    identity_line(ax, values)
    ax.set(xlabel=xlabel, ylabel="predicted gain (squared error)")
    ax.set_title(title, fontsize=8)
    ax.legend(loc="upper left", fontsize=7)


def draw(runs: list[RunData], evaluation: dict | None = None):
    """(a, b) from the simulator run; (c) and, with fine-tuned points, (d) from the real-ladder evaluation
    (a "pending" panel when ``evaluation`` is None)."""
    (run,) = runs
    finetune = evaluation is not None and evaluation["finetune"]["status"] == "ok"
    fig, axes = new_figure(ncols=2, nrows=2, height=6.2)
    if not finetune:
        axes[3].set_axis_off()
    _sim_panels(axes[0], axes[1], run.summary)
    if evaluation is None:
        pending_panel(axes[2], "(c) real ladder: pending", f"No results/{EXPERIMENT}/results.json yet.\n"
                      f"Written by: {COMMAND}")
        return fig
    k = max(evaluation["ks"])
    rows = [{"task": p["task"], "measured": p["measured"]["gain"],
             "example": p["summary"][str(k)]["uniform"]["example"]}
            for p in evaluation["pairs"] if p["study_gain"] is not None]
    points = evaluation["probe"]["points"]
    stats = points["by_k"][str(k)]["uniform"]["predictor"] if "by_k" in points else {}
    _real_panel(axes[2], rows, "measured", f"(c) real probes, k = {k}\n$R^2$ {fmt(stats.get('r2'), 2)}, "
                f"coverage {fmt(stats.get('coverage'), 2)}", "measured gain on the test split")
    if finetune:
        ft = evaluation["finetune"]
        raw = ft["by_k"][str(k)]["raw"]
        _real_panel(axes[3], ft["pairs"], "gain", f"(d) probe-level vs fine-tuned\n$R^2$ {fmt(raw['r2'], 2)}",
                    "measured gain of the fine-tuned student")
    return fig


def build(ctx: FigureContext) -> FigureOutcome:
    run = sim_run(ctx, "gain-prediction", config(ctx))
    path = ctx.results_dir / EXPERIMENT / "results.json"
    evaluation = read_json(path) if path.is_file() else None
    images = save_figure(draw([run], evaluation), NAME, ctx.images_dir)
    if evaluation is None:
        return FigureOutcome("pending", images=images, data_files=run.files, message=f"{path} not committed")
    return FigureOutcome("ok", images=images, data_files=run.files + [path])


# (row label, selection rule, where its gain prediction comes from: (kind, name, design))
TABLE_ROWS = (
    ("misfit + cross, uniform labels", "predictor", ("draws", "predictor", "uniform")),
    ("misfit + cross, misfit-guided labels", "predictor", ("draws", "predictor", "misfit")),
    ("naive k-label difference, uniform", "naive", ("draws", "naive", "uniform")),
    ("naive k-label difference, misfit-guided", "naive", ("draws", "naive", "misfit")),
    ("misfit alone (label-free); selection: weak error $-$ misfit", "charikar", ("label_free", "misfit", None)),
    ("overlap score, calibrated (label-free)", "overlap", ("label_free", "overlap_calibrated", None)),
    ("weak error alone (selection only)", "weak_error", None),
)


def _table_rows(probe: dict) -> list[list[str]]:
    body = []
    for k, entry in probe["by_k"].items():
        for label, rule, source in TABLE_ROWS:
            design = source[2] if source and source[2] else "uniform"
            if source is None:
                stats = {}
            elif source[0] == "draws":
                stats = entry[design][source[1]]
            else:
                stats = probe["label_free"].get(source[1], {})
            sel = entry[design]["selection"].get(rule, {})
            body.append([label, k, fmt(stats.get("r2")), fmt(stats.get("median_abs_error_over_spread")),
                         fmt(stats.get("coverage")), fmt(sel.get("top1")), fmt(sel.get("regret"), 4)])
    return body


def tables(ctx: FigureContext) -> dict[str, str]:
    """``gain_prediction_table``: per k, each gain predictor's R^2, median |error| / spread and coverage over
    the study's probe points, with its weak-model selection; ``gain_prediction_finetune_table``: the
    probe-level prediction against fine-tuned students (a notice until the study has them)."""
    path = ctx.results_dir / EXPERIMENT / "results.json"
    stems = ("gain_prediction_table", "gain_prediction_finetune_table")
    if not path.is_file():
        return {stem: pending_table(f"tab:{stem}", "The gain-prediction evaluation is not committed yet.", COMMAND)
                for stem in stems}
    data = read_json(path)
    probe = data["probe"]["points"]
    if "by_k" not in probe:
        return {stem: pending_table(f"tab:{stem}", f"Too few probe points to evaluate ({probe['note']}).", COMMAND)
                for stem in stems}
    columns = ("gain predictor", "$k$", "$R^2$", "med.\\ $|$err$|$ / spread", "coverage", "top-1", "regret")
    main = Table(columns=columns, rows=_table_rows(probe), label="tab:gain_prediction", sources=[display_path(path)],
                 align="lrrrrrr",
                 caption=(f"Gain prediction on the {probe['n_pairs']} probe points of the real ladder "
                          f"({probe['n_groups']} (task, strong) groups; measured gains on the test split, spread "
                          f"= their SD {fmt(probe['gain_sd'], 4)}), from $k$ gold test labels drawn "
                          f"{data['draws']} times; {data['level'] * 100:.0f}\\,\\% $t$ intervals. Selection: per "
                          f"(task, strong), the weak model of least predicted w2s error (the $k$-label weak error "
                          f"minus the row's gain), top-1 accuracy and regret in w2s error. Label-free rows use no "
                          f"label of the group (the overlap score is calibrated on the other groups)."))
    ft = data["finetune"]
    if ft["status"] != "ok":
        tuned = pending_table("tab:gain_prediction_finetune", f"Fine-tuned students: {ft['status']}.",
                              "weakstrong llm misfit-study (fine-tuned students), then " + COMMAND)
    else:
        rows = []
        for k, e in ft["by_k"].items():
            for kind in ("raw", "calibrated"):
                if kind in e:
                    sel = e.get(f"selection_{kind}") or {}
                    rows.append([kind, k, fmt(e[kind]["r2"]), fmt(e[kind]["median_abs_error_over_spread"]),
                                 fmt(e[kind].get("coverage")), fmt(sel.get("top1")), fmt(sel.get("regret"), 4)])
        tuned = Table(columns=("probe-level prediction",) + columns[1:], rows=rows, align="lrrrrrr",
                      label="tab:gain_prediction_finetune", sources=[display_path(path)],
                      caption=(f"The probe-level prediction (frozen features, before fine-tuning) against the "
                               f"gain of {ft['n_pairs']} fine-tuned students in {ft['n_groups']} groups; "
                               f"calibrated: a line fitted leave-one-(task, strong)-group-out. Measured probe gain "
                               f"as the predictor: $R^2$ {fmt(ft['probe_measured_gain']['r2'])}.")).to_latex()
    return {stems[0]: main.to_latex(), stems[1]: tuned}


SPEC = FigureSpec(
    name=NAME,
    kind="llm",
    shows="Predicting the gain from the misfit and k gold labels: interval coverage and error against the naive "
          "k-label estimate in the simulator; predicted vs measured gain on the real ladder's probe pairs.",
    data="runs/gain-prediction-<hash>/summary.json, results/gain_prediction/results.json",
    command=COMMAND,
    caption=(r"Predicting the gain before the student is judged: $\mathrm{misfit} + $ a cross term estimated "
             r"from $k$ gold labels. (a) coverage of the 90\,\% interval and (b) RMSE relative to the naive "
             r"$k$-label difference (median over tasks), in the simulator, per strong-noise level "
             r"(0: realizable); (c) predicted (one draw, with its interval) against measured gain of the real "
             r"ladder's probe points."),
    build=build,
    tables=tables,
)
