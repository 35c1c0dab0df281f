"""SLURP slot filling: SLU-F1 of each WeakS-to-Strong strategy, before and after DPO, and its misfit view.

Reads ``results/slurp*/results.json`` written by ``weakstrong llm generate``: ``weak`` (each weak model's
scores), ``ceiling`` (the strong model trained on gold), ``strategies`` (``single``/``multi``/``joint``/
``bayes`` and ``<strategy>+dpo``, each with SLU-F1, exact match, PGR, bootstrap intervals, the DPO delta and
the misfit views: the word- and token-level KL misfit of the student to the weak ensemble against the gain in
cross-entropy to the gold output) and ``comparison`` (the Bayesian student minus each other one, paired).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from weakstrong.figures.plots import grouped_bars, marker, pending_figure, rotate_ticks
from weakstrong.figures.registry import FigureContext, FigureOutcome, FigureSpec
from weakstrong.figures.sources import LLMResult, display_path, primary_llm_result
from weakstrong.figures.style import CYCLE, new_figure, save_figure
from weakstrong.figures.tables import Table, fmt, fmt_delta, fmt_interval, latex_escape, pending_table
from weakstrong.io import read_json
from weakstrong.llm.generation.slu_metric import non_degeneracy

NAME = "slurp"
PREFIX = "slurp"
DPO_SUFFIX = "+dpo"
COMMAND = ("make slurp (per strong seed N: weakstrong llm generate --data-dir ../shared/data --weak "
           "smollm2-135m-l12,<scratch decoder>,smollm2-135m-l16 --strong smollm2-135m --dpo ... --seeds N "
           "--results-name seedN.json --out runs/slurp_real; then weakstrong llm pool-seeds "
           "results/slurp_real/seeds/seed*.json --out results/slurp_real/results.json)")


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


def strategy_label(name: str, data: dict) -> str:
    """A strategy as a reader names it: ``single/1+dpo`` -> ``single gpt-4m+dpo`` (its teacher by name)."""
    base, dpo = (name[:-len(DPO_SUFFIX)], DPO_SUFFIX) if name.endswith(DPO_SUFFIX) else (name, "")
    head, _, index = base.partition("/")
    if head == "single" and index.isdigit() and int(index) < len(data["weak"]):
        return f"single {short_name(data['weak'][int(index)]['name'])}{dpo}"
    return name


QUESTIONS = {"bayes-multi": "Bayesian - naive multi-weak (same targets)", "bayes-joint": "Bayesian - joint decoding",
             "bayes-best_single": "Bayesian - best single (validation)", "dpo_on_bayes": "DPO on the Bayesian student",
             "dpo_on_best_single": "DPO on the best single"}


def view_key(strategies: dict) -> tuple[str, str]:
    """The misfit view a run reports: token-level (strong tokenizer) when it has one, else word-level."""
    if any("token_view" in s for s in strategies.values()):
        return "token_view", "token"
    return "misfit_view", "word"


def deltas(data: dict) -> list[tuple[str, dict]]:
    """The paired differences of a run: the Bayesian student minus each other one, then each DPO step (the
    refined student minus the one it started from)."""
    label = lambda name: strategy_label(name, data)  # noqa: E731
    rows = [(f"{label(a)} − {label(b)}", d) for name, d in data.get("comparison", {}).items()
            for a, b in [name.split("-", 1)]]
    rows += [(f"DPO on {label(name.removesuffix(DPO_SUFFIX))}", s["dpo_delta"])
             for name, s in data["strategies"].items() if "dpo_delta" in s]
    return rows


def dpo_rows(data: dict) -> list[list[str]]:
    """One row per DPO-refined student and strong seed: its scale, the held-out preference accuracy and margin
    before and after, and the paired SLU-F1 difference DPO makes on test."""
    lr = data.get("config", {}).get("dpo_config", {}).get("lr")
    seeds = data.get("seeds") or {str(data.get("config", {}).get("seed")): data}
    rows = []
    for seed, run in seeds.items():
        for name, s in run["strategies"].items():
            if "dpo" not in s:
                continue
            d, held = s["dpo"], s["dpo"].get("heldout") or {}
            before, after = held.get("before") or {}, held.get("after") or {}
            rows.append([str(seed), latex_escape(strategy_label(name.removesuffix(DPO_SUFFIX), data)),
                         str(d.get("n_inputs", "--")), str(d.get("n_pairs", "--")), str(d.get("optimizer_steps", "--")),
                         "--" if lr is None else f"{lr:g}", fmt(before.get("accuracy")), fmt(after.get("accuracy")),
                         fmt(before.get("margin")), fmt(after.get("margin")),
                         fmt_delta(s.get("dpo_delta", {}).get("slu_f1"))])
    return rows


# `make slurp-ablations`: results/slurp_real/ablation-NAME.json, each switching one deviation back at seed 0
ABLATIONS = {"edl": "plain edl instead of edl_step", "even": "even piece split",
             "mixture": "mixture confidence (not each weak model's own)", "uniform": "uniform weights",
             "old_clamp": "KL clamped (1e4) before annealing", "tokens": "weights per token (not per target)",
             "base": "split by the strong model before w2s training (fixed)",
             "earlier": "the earlier defaults (base split, weights per token)"}
# the settings each ablation switches back; a row whose run differs from the main run in any other is not
# paired with it (runs made before a default changed)
ABLATION_FIELDS = {"edl": (), "even": ("piece_split",), "mixture": ("confidence_source",),
                   "uniform": ("uniform_weights",), "old_clamp": ("kl_clamp_order",), "tokens": ("weight_pooling",),
                   "base": ("piece_split",), "earlier": ("piece_split", "weight_pooling")}
COMPARED_SETTINGS = ("piece_split", "weight_pooling", "confidence_source", "uniform_weights", "kl_clamp_order",
                     "detach_targets", "kl_weight", "weights")


def _settings(cfg: dict) -> dict:
    """The student settings of a run's config, in today's names (runs before a setting existed: its value then)."""
    out = {k: cfg.get(k) for k in COMPARED_SETTINGS}
    out["piece_split"] = {"strong": "base", None: "base"}.get(out["piece_split"], out["piece_split"])
    out["weight_pooling"] = out["weight_pooling"] or "tokens"
    return out


def other_settings(main: dict, name: str, data: dict) -> list[str]:
    """The settings in which ablation ``name``'s run differs from the main run beyond the one it switches back."""
    mine, theirs = _settings(main.get("config", {})), _settings(data.get("config", {}))
    return [f"{k} {theirs[k]}" for k in COMPARED_SETTINGS
            if mine[k] != theirs[k] and k not in ABLATION_FIELDS.get(name, ())]


def _seed0(data: dict) -> dict:
    return data.get("seeds", {}).get("0", data)


def _bayes_name(strategies: dict) -> str | None:
    return "bayes" if "bayes" in strategies else "bayes-edl" if "bayes-edl" in strategies else None


def ablation_rows(main: dict, ablations: dict[str, dict]) -> list[list[str]]:
    """The seed-0 ablation table: the main run, then each ablation (``ablations[name]`` = its results), with
    the naive and Bayesian students' SLU-F1, their paired difference, and the ablation's Bayesian student minus
    the main run's, paired on the same test utterances from the runs' per-utterance counts.

    An ablation that trains no naive student is compared with the main run's (a setting of the Bayesian loss
    does not change it)."""
    from weakstrong.llm.generation.slu_metric import bootstrap_weights, paired_bootstrap_delta

    from weakstrong.llm.generation.pool import decode_counts

    counts_of = lambda data: {k: decode_counts(v)  # noqa: E731
                              for k, v in data.get("utterance_counts", {}).get("0", {}).items()}
    main_counts = counts_of(main)
    cfg, splits = main.get("config", {}), main.get("splits", {})
    boot = bootstrap_weights(splits["n_test_used"], cfg["n_boot"], cfg["seed"]) if main_counts else None

    def paired(before, after):
        if boot is None or before is None or after is None:
            return None
        return paired_bootstrap_delta(before, after, boot)["slu_f1"]

    def row(label, data, is_main, others=()):
        strategies, counts = _seed0(data)["strategies"], counts_of(data)
        bayes, multi = _bayes_name(strategies), strategies.get("multi")
        own = _seed0(data).get("comparison", {}).get("bayes-multi", {}).get("slu_f1")
        if own is None and bayes is not None and not others:  # no naive student of its own: the main run's
            own = paired(main_counts.get("multi"), counts.get(bayes))
        versus_main = None if is_main or bayes is None or others else \
            paired(main_counts.get("bayes"), counts.get(bayes))
        multi = multi or ({} if is_main or others else _seed0(main)["strategies"].get("multi", {}))
        if others:
            label += f" (also {', '.join(others)}: not paired with the main run)"
        return [latex_escape(label), fmt(multi.get("slu_f1")), fmt(strategies.get(bayes, {}).get("slu_f1")),
                fmt_interval(strategies.get(bayes, {}).get("ci", {}).get("slu_f1")), fmt_delta(own),
                fmt_delta(versus_main)]

    return [row("the reference's settings (main run, seed 0)", main, True)] + [
        row(ABLATIONS.get(name, name), data, False, other_settings(main, name, data))
        for name, data in sorted(ablations.items())]


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
    paired = deltas(result.data)
    if paired:  # scores across the top, the misfit view and the paired differences below
        fig, grid = new_figure(ncols=2, nrows=2, height=7.0)
        spec = grid[0].get_gridspec()
        for ax in grid[:2]:
            ax.remove()
        axes = [fig.add_subplot(spec[0, :]), grid[2], grid[3]]
    else:
        fig, axes = new_figure(ncols=2, height=3.4)
    # Panel (a): every model and strategy on both metrics; SLU-F1 alone hides runs where only EM moves.
    rows = [(f"weak {short_name(w['name'])}", w) for w in result.data["weak"]]
    rows += [("ceiling", result.data["ceiling"])] + [(strategy_label(n, result.data), strategies[n])
                                                      for n in strategies]
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
    axes[0].set_title(f"(a) test scores with 95 % bootstrap CIs, {result.path.parent.name}")
    note = degeneracy_note(result.data)
    if note is not None:
        fig.suptitle(note, color="#b2182b", fontsize="small", wrap=True)
        axes[0].set_title(f"(a) {result.path.parent.name}: DEGENERATE", color="#b2182b")
    # Colour names the strategy; a hollow marker is the same strategy after DPO.
    points = []
    key, unit = view_key(strategies)
    for i, n in enumerate(names):
        for suffix, filled in (("", True), (DPO_SUFFIX, False)):
            view = strategies.get(n + suffix, {}).get(key)
            if view is None:
                continue
            color = CYCLE[i % len(CYCLE)]
            # After DPO a student barely moves: its hollow marker is drawn larger, a ring around the filled one.
            axes[1].scatter([view["misfit"]], [view["gain"]], s=36 if filled else 110, marker=marker(i), zorder=3,
                            facecolors=color if filled else "none", edgecolors=color, linewidths=1.3,
                            label=strategy_label(n, result.data) if filled else None)
            if filled and "ci" in view:  # 95 % bootstrap intervals over test utterances
                (mlo, mhi), (glo, ghi) = view["ci"]["misfit"], view["ci"]["gain"]
                axes[1].errorbar([view["misfit"]], [view["gain"]], fmt="none", ecolor=color, lw=0.8, capsize=1.5,
                                 xerr=[[view["misfit"] - mlo], [mhi - view["misfit"]]],
                                 yerr=[[view["gain"] - glo], [ghi - view["gain"]]], zorder=2)
            points.append((view["misfit"], view["gain"]))
    if points:
        # y = x over the measured misfits only: misfit is a KL (>= 0), so the line never enters x < 0.
        hi = max(p[0] for p in points) * 1.1
        axes[1].plot([0, hi], [0, hi], ls="--", lw=1.0, color="0.35", label="y = x", zorder=1)
        if any(n.endswith(DPO_SUFFIX) for n in strategies):  # the key for hollow markers, only when drawn
            axes[1].scatter([], [], s=36, facecolors="none", edgecolors="0.3", label="hollow: + DPO")
        axes[1].legend(ncols=2, loc="upper center", bbox_to_anchor=(0.5, -0.3))
    axes[1].set_xlabel(f"misfit (nats per {unit})")
    axes[1].set_ylabel(f"gain (nats per {unit})")
    axes[1].set_title(f"(b) misfit view ({unit}-level KL)")
    if paired:
        _draw_deltas(axes[2], paired)
    return FigureOutcome("ok", images=save_figure(fig, NAME, ctx.images_dir), data_files=[result.path])


def _draw_deltas(ax, paired: list[tuple[str, dict]]) -> None:
    """Panel (c): each paired SLU-F1 difference with its 95 % bootstrap interval, top to bottom."""
    ys = np.arange(len(paired))[::-1]
    for y, (label, d) in zip(ys, paired):
        point, (lo, hi) = d["slu_f1"]["delta"], d["slu_f1"]["ci"]
        color = CYCLE[1] if label.startswith("DPO") else CYCLE[0]
        ax.errorbar([point], [y], xerr=[[point - lo], [hi - point]], fmt="o", color=color, ms=4, capsize=2, lw=1)
    ax.axvline(0.0, color="0.3", lw=0.8)
    ax.set_yticks(ys, [label for label, _ in paired])
    ax.tick_params(axis="y", labelsize=6.5)
    ax.set_xlabel("SLU-F1 difference (95 % CI)")
    ax.set_title("(c) paired differences")


def table_rows(result: LLMResult) -> list[list[str]]:
    """Weak models, the ceiling, then every strategy: SLU-F1 and its CI, EM, PGR (SLU-F1) and its CI, and the
    misfit, gain and the interval of gain - misfit of the run's misfit view (token-level when recorded)."""
    rows = [[f"weak: {latex_escape(short_name(w['name']))}", fmt(w["slu_f1"]),
             fmt_interval(w.get("ci", {}).get("slu_f1")), fmt(w["exact_match"]), "--", "--", "--", "--", "--"]
            for w in result.data["weak"]]
    c = result.data["ceiling"]
    rows.append(["strong ceiling", fmt(c["slu_f1"]), fmt_interval(c.get("ci", {}).get("slu_f1")),
                 fmt(c["exact_match"]), "--", "--", "--", "--", "--"])
    key, _ = view_key(result.data["strategies"])
    for name, s in result.data["strategies"].items():
        view = s.get(key, {})
        rows.append([latex_escape(strategy_label(name, result.data)), fmt(s["slu_f1"]),
                     fmt_interval(s.get("ci", {}).get("slu_f1")),
                     fmt(s["exact_match"]), fmt(s.get("pgr_slu_f1")), fmt_interval(s.get("pgr_slu_f1_ci")),
                     fmt(view.get("misfit")), fmt(view.get("gain")),
                     fmt_interval(view.get("ci", {}).get("gain_minus_misfit"), signed=True)])
    return rows


def tables(ctx: FigureContext) -> dict[str, str]:
    result = primary_llm_result(PREFIX, "strategies", ctx.results_dir)
    if result is None:
        return {"slurp_table": pending_table("tab:slurp", "No SLURP generation results are committed yet.",
                                             COMMAND)}
    note = result.data.get("splits", {}).get("note", "")
    note += " " + (degeneracy_note(result.data) or "")
    _, unit = view_key(result.data["strategies"])
    table = Table(columns=("model / strategy", "SLU-F1", "95\\% CI", "EM", "PGR", "95\\% CI", "misfit", "gain",
                           "gain $-$ misfit, 95\\% CI"),
                  rows=table_rows(result), label="tab:slurp", sources=[display_path(result.path)],
                  caption=f"SLURP ({latex_escape(result.path.parent.name)}): SLU-F1 and exact match on test with "
                          f"bootstrap intervals over test utterances, PGR of SLU-F1 relative to the best teacher, "
                          f"and the {unit}-level KL misfit of the student to its weak teachers and its gain "
                          f"(nats per gold {unit}), with a bootstrap interval of their difference. "
                          f"{latex_escape(note)}")
    out = {"slurp_table": table.to_latex()}
    answers = result.data.get("answers")
    if answers:  # the reference's protocol at several strong seeds: the two questions, per seed and pooled
        rows = [[latex_escape(QUESTIONS.get(q, q)), ", ".join(f"{v['delta']:+.3f}" for v in a["per_seed"].values()),
                 fmt_delta(a["pooled"]), fmt(a["pooled"].get("p_not_better"))] for q, a in answers.items()]
        out["slurp_answers_table"] = Table(
            columns=("question", "per seed", "pooled [95\\% CI]", "$P(\\Delta \\le 0)$"), rows=rows,
            label="tab:slurp-answers", sources=[display_path(result.path)],
            caption=f"SLURP, the reference's protocol at strong seeds {result.data.get('strong_seeds')}: SLU-F1 "
                    f"differences per seed and pooled over the seeds, paired on the same test utterances "
                    f"(bootstrap 95\\% CI; the last column is the share of resamples where the pooled difference "
                    f"is not positive).").to_latex()
    dpo = dpo_rows(result.data)
    if not dpo:  # the text refers to the DPO table: a notice until a run with DPO is committed
        out["slurp_dpo_table"] = pending_table(
            "tab:slurp-dpo", "No SLURP run with DPO (the reference's scale, on the Bayesian student at every "
                             "seed) is committed yet.", "make slurp")
    else:
        out["slurp_dpo_table"] = Table(
            columns=("seed", "DPO on", "inputs", "pairs", "steps", "lr", "held-out acc. before", "after",
                     "held-out margin before", "after", "$\\Delta$ SLU-F1 [95\\% CI]"),
            rows=dpo, label="tab:slurp-dpo", sources=[display_path(result.path)], align="rlrrrrrrrrr",
            caption="SLURP, conservative DPO on the student's own n-best ranked by the weighted weak ensemble: "
                    "the preference pairs built the same way on the validation inputs (never trained on), the "
                    "share of them where the student prefers the chosen candidate and its mean log-prob margin, "
                    "before and after DPO, and the paired test SLU-F1 difference DPO makes.").to_latex()
    ablations = {p.stem.removeprefix("ablation-"): read_json(p)
                 for p in sorted(result.path.parent.glob("ablation-*.json"))}
    if ablations:
        out["slurp_ablation_table"] = Table(
            columns=("setting", "naive SLU-F1", "Bayesian SLU-F1", "95\\% CI", "Bayesian $-$ naive [95\\% CI]",
                     "$-$ main run's Bayesian [95\\% CI]"),
            rows=ablation_rows(result.data, ablations), label="tab:slurp-ablations", align="lrrrrr",
            sources=[display_path(result.path)] + [display_path(p) for p in
                                                   sorted(result.path.parent.glob("ablation-*.json"))],
            caption="SLURP at strong seed 0: the reference's settings, then one deviation switched back at a time "
                    "(\\texttt{make slurp-ablations}; every shared stage reused). The Bayesian column is plain "
                    "\\texttt{edl} in the edl row. Where an ablation trains no naive student, the main run's is "
                    "its naive one (a setting of the Bayesian loss does not change it). Differences are paired on "
                    "the same test utterances.").to_latex()
    paired = deltas(result.data)
    if paired:
        rows = [[latex_escape(label.replace("−", "-")), fmt_delta(d["slu_f1"]), fmt_delta(d["exact_match"]),
                 fmt(d["slu_f1"].get("p_not_better"))] for label, d in paired]
        out["slurp_deltas_table"] = Table(
            columns=("difference", "SLU-F1 [95\\% CI]", "EM [95\\% CI]", "$P(\\Delta \\le 0)$"), rows=rows,
            label="tab:slurp-deltas", sources=[display_path(result.path)],
            caption="SLURP: the Bayesian student minus each other student, and each DPO-refined student minus "
                    "the student it started from, on the same test utterances (paired bootstrap 95\\% CI; the "
                    "last column is the share of resamples where the difference is not positive).").to_latex()
    return out


SPEC = FigureSpec(
    name=NAME,
    kind="llm",
    shows="SLURP slot filling: SLU-F1 and exact match of each weak model, the strong ceiling and each "
          "WeakS-to-Strong strategy before and after DPO, and the token-level misfit view.",
    data="results/slurp*/results.json",
    command=COMMAND,
    build=build,
    tables=tables,
)
