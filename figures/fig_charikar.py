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
from weakstrong.figures.registry import FigureContext, FigureOutcome, FigureSpec, sim_run
from weakstrong.figures.sources import display_path
from weakstrong.figures.style import CYCLE, new_figure, save_figure
from weakstrong.figures.tables import Table, fmt, pending_table, stacked
from weakstrong.io import read_json
from weakstrong.runs import RunData
from weakstrong.sim.charikar import CharikarConfig
from weakstrong.sim.stats import seed_spread
from weakstrong.sim.worlds import SETTINGS

NAME = "charikar"
QUICK_TASKS = 12
SEEDS = 5          # seeds per setting: the figure and table report the median and quartiles over them
QUICK_SEEDS = 2


def seeds(ctx: FigureContext) -> list[int]:
    """The seeds of every setting: ``ctx.seed`` and the next ones."""
    return list(range(ctx.seed, ctx.seed + (QUICK_SEEDS if ctx.quick else SEEDS)))


def configs(ctx: FigureContext) -> dict[tuple[str, int], CharikarConfig]:
    """The runs this figure reads, one per (setting, seed) (defaults: 100 tasks, the protocol's sizes)."""
    return {(s, seed): ctx.sized(CharikarConfig(world=ctx.world(s, seed)), tasks=QUICK_TASKS)
            for s in SETTINGS for seed in seeds(ctx)}


def runs(ctx: FigureContext) -> dict[tuple[str, int], RunData]:
    """Run (or reuse) every setting and seed; ``{(setting, seed): run}``. Shared with the paper's table."""
    return {key: sim_run(ctx, "charikar", config) for key, config in configs(ctx).items()}


def by_setting(runs: list[RunData]) -> dict[str, list[RunData]]:
    """The runs grouped by setting, in order of first appearance, each group in seed order."""
    groups: dict[str, list[RunData]] = {}
    for run in runs:
        groups.setdefault(run.summary["config"]["world"]["setting"], []).append(run)
    return {s: sorted(g, key=lambda r: r.summary["config"]["world"]["seed"]) for s, g in groups.items()}


def spreads(runs: list[RunData]) -> dict[str, dict]:
    """Per setting, :func:`~weakstrong.sim.stats.seed_spread` of its runs' summaries."""
    return {s: seed_spread({r.summary["config"]["world"]["seed"]: r.summary for r in group})
            for s, group in by_setting(runs).items()}


def _fit_text(spread: dict) -> str:
    slope, r2 = spread["spread"]["slope"], spread["spread"]["r2"]
    if slope["n"] == 0:
        return ""
    if len(spread["seeds"]) == 1:
        return f"slope {slope['median']:.3f}\n$R^2$ {r2['median']:.3f}"
    return (f"slope {slope['median']:.2f} [{slope['q25']:.2f}, {slope['q75']:.2f}]\n"
            f"$R^2$ {r2['median']:.2f} [{r2['q25']:.2f}, {r2['q75']:.2f}]\n"
            f"median [IQR], {slope['n']} seeds")


def draw(runs: list[RunData]):
    """One panel per setting: gain against misfit per task (every seed's tasks) with y = x, and the fit of
    gain on misfit (one seed: its slope and R^2; several: their median and interquartile range)."""
    groups = by_setting(runs)
    fits = spreads(runs)
    fig, axes = new_figure(ncols=len(groups), height=2.75)
    for i, (ax, (setting, group)) in enumerate(zip(axes, groups.items())):
        misfit = [r.misfit for run in group for r in run.records]
        gain = [r.gain for run in group for r in run.records]
        label = f"{len(group[0].records)} tasks" + (f" x {len(group)} seeds" if len(group) > 1 else "")
        gain_vs_misfit(ax, misfit, gain, color=CYCLE[i], marker=marker(i), label=label)
        ax.set_title(f"({'abcdef'[i]}) {setting}")
        ax.text(0.04, 0.96, _fit_text(fits[setting]), transform=ax.transAxes, va="top", ha="left", fontsize=8)
        ax.legend(loc="lower right", fontsize=7)
    share_labels(fig, axes, MISFIT_LABEL.format(unit="squared error"), GAIN_LABEL.format(unit="squared error"))
    return fig


def build(ctx: FigureContext) -> FigureOutcome:
    found = runs(ctx)
    return FigureOutcome("ok", images=save_figure(draw(list(found.values())), NAME, ctx.images_dir),
                         data_files=[f for run in found.values() for f in run.files])


TABLE_COLUMNS = ("setting", "seeds", stacked("weak", "err."), stacked("w2s", "err."), "ceiling", "misfit", "gain",
                 "slope", "$R^2$", stacked("Thm.~1", "fresh"), stacked("Thm.~1", "own"), stacked("viol.", "fresh"),
                 stacked("viol.", "own"))


def _median_iqr(s: dict) -> str:
    if s["n"] <= 1:
        return fmt(s["median"])
    return f"{fmt(s['median'])} [{fmt(s['q25'])}, {fmt(s['q75'])}]"


def table_rows(summary: dict) -> list[list[str]]:
    """One row per setting of the committed seed summary (``results/charikar_seeds/summary.json``): medians
    over seeds of every run summary number, and the interquartile range of the slope and R^2 (the ``_in_sample``
    columns are the same checks on the student's own sample)."""
    rows = []
    for setting, spread in summary["settings"].items():
        s = spread["spread"]
        med = {k: fmt(s[k]["median"]) for k in ("mean.weak_error", "mean.w2s_error", "mean.strong_error",
                                                  "mean.misfit", "mean.gain", "frac_theorem1_holds",
                                                  "frac_theorem1_holds_in_sample", "max_nonrealizable_violation",
                                                  "max_nonrealizable_violation_in_sample")}
        rows.append([setting, fmt(len(spread["seeds"])), med["mean.weak_error"], med["mean.w2s_error"],
                     med["mean.strong_error"], med["mean.misfit"], med["mean.gain"], _median_iqr(s["slope"]),
                     _median_iqr(s["r2"]), med["frac_theorem1_holds"], med["frac_theorem1_holds_in_sample"],
                     med["max_nonrealizable_violation"], med["max_nonrealizable_violation_in_sample"]])
    return rows


SEEDS_SUMMARY = Path("charikar_seeds") / "summary.json"
SEEDS_COMMAND = "python -m weakstrong.sim.headline --seeds 0 1 2 3 4 --out results/charikar_seeds"


def tables(ctx: FigureContext) -> dict[str, str]:
    """``charikar_table``: the numbers behind the figure, per setting, over seeds, from the committed summary."""
    path = ctx.results_dir / SEEDS_SUMMARY
    if not path.is_file():
        return {"charikar_table": pending_table("tab:charikar", "The simulator's seed summary is not committed.",
                                                SEEDS_COMMAND)}
    table = Table(
        columns=TABLE_COLUMNS, rows=table_rows(read_json(path)), label="tab:charikar",
        caption=(r"Synthetic settings over seeds: medians over seeds of the mean squared errors over fine-tuning "
                 r"tasks on fresh samples, and of the least-squares fit of gain on misfit (slope and $R^2$: "
                 r"median [interquartile range]). \emph{Thm.~1}: fraction of tasks with "
                 r"err(w2s) $\le$ err(weak) $-$ misfit; \emph{viol.}: largest excess of "
                 r"$|\text{gain}-\text{misfit}|$ over $2\sqrt{\varepsilon\cdot\text{misfit}}$ "
                 r"($\le 0$ when the non-realizable bound holds on every task); \emph{fresh}: measured on "
                 r"fresh samples, \emph{own}: on the student's own training sample, where the statements are "
                 r"exact."),
        sources=[display_path(path)])
    return {"charikar_table": table.to_latex()}


SPEC = FigureSpec(
    name=NAME,
    kind="sim",
    shows="Gain vs misfit per fine-tuning task in the realizable, pretrained and perturbed settings, with y = x "
          "(Charikar et al. 2024, Fig. 2a–c analogue).",
    data="runs/charikar-<hash>/records.jsonl, summary.json (one run per setting and seed); "
         "results/charikar_seeds/summary.json (median, quartiles and per-seed values)",
    command="weakstrong sim charikar --setting {realizable,pretrained,perturbed} --tasks 100 --seed S --out DIR "
            "(S = 0..4)",
    caption=(r"Gain $\mathrm{err}(f_w)-\mathrm{err}(f_{sw})$ against misfit $d(f_{sw},f_w)$, one point per "
             r"fine-tuning task, in the realizable, pretrained and perturbed settings, with $y=x$ "
             r"(the analogue of Fig.~2a--c of \cite{charikar2024}), every task of five seeds per setting; the "
             r"text gives the median and interquartile range over seeds of the slope and $R^2$ of gain on "
             r"misfit. Errors and misfit on fresh samples."),
    build=build,
    tables=tables,
)
