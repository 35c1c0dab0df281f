"""SLURP slot filling: SLU-F1 of each WeakS-to-Strong strategy, before and after DPO, and its misfit view.

Reads ``results/slurp*/results.json`` written by ``weakstrong llm generate``: ``weak`` (each weak model's
scores), ``ceiling`` (the strong model trained on gold), ``strategies`` (``single``/``multi``/``joint``/
``bayes`` and ``<strategy>+dpo``, each with SLU-F1, exact match, PGR and ``misfit_view``: the word-level
KL misfit of the student to the weak ensemble against the gain in cross-entropy to the gold output).
"""

from __future__ import annotations

from pathlib import Path

from weakstrong.figures.plots import grouped_bars, marker, pending_figure, rotate_ticks
from weakstrong.figures.registry import FigureContext, FigureOutcome, FigureSpec
from weakstrong.figures.sources import LLMResult, display_path, primary_llm_result
from weakstrong.figures.style import CYCLE, new_figure, save_figure
from weakstrong.figures.tables import Table, fmt, latex_escape, pending_table
from weakstrong.llm.slu_metric import non_degeneracy

NAME = "slurp"
PREFIX = "slurp"
DPO_SUFFIX = "+dpo"
COMMAND = ("weakstrong llm generate --data-dir ../shared/data/slurp --weak smollm2-135m-l12,runs/ladder/gpt-4m "
           "--strong smollm2-135m --methods single,multi,joint,bayes --dpo --threads 1 --out results/slurp_<run>")


def base_strategies(result: LLMResult) -> list[str]:
    """Strategy names without their ``+dpo`` twins, in the run's order."""
    return [s for s in result.data["strategies"] if not s.endswith(DPO_SUFFIX)]


def short_name(name: str) -> str:
    """A model given by path is named by its folder (``runs/ladder/gpt-1m`` → ``gpt-1m``)."""
    return Path(str(name)).name or str(name)


def degeneracy_note(data: dict) -> str | None:
    """What is wrong with a degenerate run (None when the run is fine): its recorded guard, or for a result
    written before the guard existed, the same check (default thresholds) on its scores."""
    guard = data.get("non_degenerate")
    if guard is None:
        guard = non_degeneracy(data["ceiling"]["slu_f1"], [w["slu_f1"] for w in data["weak"]])
    if guard["ok"]:
        return None
    return "DEGENERATE run, PGR not meaningful: " + "; ".join(guard["problems"])


def _interval(row: dict, metric: str) -> tuple[float, float] | None:
    lo, hi = row.get("ci", {}).get(metric, [None, None])
    return None if lo is None else (lo, hi)


def build(ctx: FigureContext) -> FigureOutcome:
    result = primary_llm_result(PREFIX, "strategies", ctx.results_dir)
    if result is None:
        images = pending_figure(NAME, ctx.images_dir, [
            ("SLURP SLU-F1: results pending", f"No results/{PREFIX}*/results.json yet.\nWritten by: {COMMAND}"),
            ("SLURP misfit view: results pending", "Word-level KL misfit vs gain per strategy appears here.")])
        return FigureOutcome("pending", images=images, message=f"no results/{PREFIX}*/results.json")
    strategies = result.data["strategies"]
    names = base_strategies(result)
    fig, axes = new_figure(ncols=2, height=3.4)
    # Panel (a): every model and strategy on both metrics; SLU-F1 alone hides runs where only EM moves.
    rows = [(f"weak {short_name(w['name'])}", w) for w in result.data["weak"]]
    rows += [("ceiling", result.data["ceiling"])] + [(n, strategies[n]) for n in strategies]
    metrics = {"SLU-F1": [r["slu_f1"] for _, r in rows], "exact match": [r["exact_match"] for _, r in rows]}
    intervals = {"SLU-F1": [_interval(r, "slu_f1") for _, r in rows],
                 "exact match": [_interval(r, "exact_match") for _, r in rows]}
    if not any(metrics["SLU-F1"]):
        # Zero-height bars are invisible; the legend says so rather than leave the reader looking for them.
        metrics = {"SLU-F1 (0 in every row)": metrics["SLU-F1"], "exact match": metrics["exact match"]}
        intervals["SLU-F1 (0 in every row)"] = intervals.pop("SLU-F1")
    grouped_bars(axes[0], [label for label, _ in rows], metrics, intervals=intervals, ylabel="test score (fraction)")
    top = max([v for vals in metrics.values() for v in vals if v is not None] + [0.0])
    axes[0].set_ylim(0, max(0.1, top * 1.3))
    axes[0].legend(loc="upper left", ncols=2)
    rotate_ticks(axes[0], angle=90)
    axes[0].set_title(f"(a) scores, {result.path.parent.name}")
    note = degeneracy_note(result.data)
    if note is not None:
        fig.suptitle(note, color="#b2182b", fontsize="small", wrap=True)
        axes[0].set_title(f"(a) {result.path.parent.name}: DEGENERATE", color="#b2182b")
    # Colour names the strategy; a hollow marker is the same strategy after DPO.
    points = []
    # The token-level view (strong tokenizer) when the run has it; the word-level one otherwise.
    key = "token_view" if any("token_view" in s for s in strategies.values()) else "misfit_view"
    unit = "token" if key == "token_view" else "word"
    for i, n in enumerate(names):
        for suffix, filled in (("", True), (DPO_SUFFIX, False)):
            view = strategies.get(n + suffix, {}).get(key)
            if view is None:
                continue
            color = CYCLE[i % len(CYCLE)]
            axes[1].scatter([view["misfit"]], [view["gain"]], s=36, marker=marker(i), zorder=3,
                            facecolors=color if filled else "none", edgecolors=color, linewidths=1.3,
                            label=n if filled else None)
            points.append((view["misfit"], view["gain"]))
    if points:
        # y = x over the measured misfits only: misfit is a KL (>= 0), so the line never enters x < 0.
        hi = max(p[0] for p in points) * 1.1
        axes[1].plot([0, hi], [0, hi], ls="--", lw=1.0, color="0.35", label="y = x", zorder=1)
        axes[1].scatter([], [], s=36, facecolors="none", edgecolors="0.3", label="hollow: + DPO")
        axes[1].legend(ncols=2, loc="upper center", bbox_to_anchor=(0.5, -0.3))
    axes[1].set_xlabel(f"misfit (nats per {unit})")
    axes[1].set_ylabel(f"gain (nats per {unit})")
    axes[1].set_title(f"(b) misfit view ({unit}-level KL)")
    return FigureOutcome("ok", images=save_figure(fig, NAME, ctx.images_dir), data_files=[result.path])


def table_rows(result: LLMResult) -> list[list[str]]:
    """Weak models, the ceiling, then every strategy: SLU-F1, EM, PGR (SLU-F1), misfit, gain."""
    rows = [[f"weak: {latex_escape(short_name(w['name']))}", fmt(w["slu_f1"]), fmt(w["exact_match"]), "--", "--", "--"]
            for w in result.data["weak"]]
    c = result.data["ceiling"]
    rows.append(["strong ceiling", fmt(c["slu_f1"]), fmt(c["exact_match"]), "--", "--", "--"])
    for name, s in result.data["strategies"].items():
        view = s.get("misfit_view", {})
        rows.append([latex_escape(name), fmt(s["slu_f1"]), fmt(s["exact_match"]), fmt(s.get("pgr_slu_f1")),
                     fmt(view.get("misfit")), fmt(view.get("gain"))])
    return rows


def tables(ctx: FigureContext) -> dict[str, str]:
    result = primary_llm_result(PREFIX, "strategies", ctx.results_dir)
    if result is None:
        return {"slurp_table": pending_table("tab:slurp", "No SLURP generation results are committed yet.",
                                             COMMAND)}
    note = result.data.get("splits", {}).get("note", "")
    note += " " + (degeneracy_note(result.data) or "")
    table = Table(columns=("model / strategy", "SLU-F1", "EM", "PGR", "misfit", "gain"), rows=table_rows(result),
                  label="tab:slurp", sources=[display_path(result.path)],
                  caption=f"SLURP ({latex_escape(result.path.parent.name)}): SLU-F1 and exact match on test, "
                          f"PGR of SLU-F1 relative to the best teacher, and the word-level KL misfit and gain "
                          f"(nats per gold word). {latex_escape(note)}")
    return {"slurp_table": table.to_latex()}


SPEC = FigureSpec(
    name=NAME,
    kind="llm",
    shows="SLURP slot filling: SLU-F1 and exact match of each weak model, the strong ceiling and each "
          "WeakS-to-Strong strategy before and after DPO, and the word-level misfit view.",
    data="results/slurp*/results.json",
    command=COMMAND,
    build=build,
    tables=tables,
)
