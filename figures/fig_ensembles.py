"""Weak ensembles: does the ensemble's misfit predict its gain, and does the ensemble beat its best member?

Theorem 1 applies to any convex combination f̄ = Σ α_j f_j of weak models, with the ambiguity decomposition
d(f̄, f*) = Σ α_j d(f_j, f*) − Σ α_j d(f_j, f̄) (REFERENCE §5). Reads ``weakstrong sim ensembles ... --out
DIR``: records whose ``method`` names the combiner (e.g. naive average, inverse-error, Bayesian posterior
weights) and member records (``method`` starting with ``member``), grouped into worlds by
``(setting, seed, task)``. A run may instead store the best member's w2s error in
``extra["best_member_w2s_error"]``.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from weakstrong.io import read_json

from weakstrong.figures.plots import gain_vs_misfit, marker, plain_log_ticks
from weakstrong.figures.registry import FigureContext, FigureOutcome, FigureSpec
from weakstrong.figures.sources import DataUnavailable, ensure_sim_run, first_available, make_sim_run, read_records
from weakstrong.figures.style import CYCLE, identity_line, new_figure, save_figure

NAME = "ensembles"
EXPERIMENTS = ("ensembles", "ensemble", "weak-ensembles")
MEMBER_PREFIXES = ("member", "single")


def is_member(record) -> bool:
    return record.method.startswith(MEMBER_PREFIXES)


def best_member_errors(records) -> dict[tuple, float]:
    """``{world: lowest w2s error of a single member}``, from extra or from the member records."""
    best: dict[tuple, float] = {}
    for r in records:
        key = (r.setting, r.seed, r.task)
        value = r.extra.get("best_member_w2s_error") if not is_member(r) else r.w2s_error
        if isinstance(value, (int, float)):
            best[key] = min(best.get(key, float("inf")), float(value))
    return best


def _frac_beats(summary_row: dict, best: np.ndarray, ensemble: np.ndarray) -> float:
    """Share of tasks where the ensemble's student beats the best member's: the summary's value if present."""
    value = summary_row.get("frac_beats_best_member")
    return float(value) if value is not None else float(np.mean(ensemble < best * (1 - 1e-9)))


def build(ctx: FigureContext) -> FigureOutcome:
    experiment = first_available(*EXPERIMENTS)
    run_dir = ensure_sim_run(make_sim_run(experiment, sizes=ctx.sim_sizes(), seed=ctx.seed,
                                                 progress=False), ctx.runs_dir, ctx.force)
    records = read_records(run_dir)
    combined = defaultdict(list)
    for r in records:
        if not is_member(r):
            combined[r.method].append(r)
    if not combined:
        raise DataUnavailable(f"{run_dir}/records.jsonl holds no ensemble (non-member) records")
    best = best_member_errors(records)
    # The share of tasks where the ensemble wins is the run's own summary number (it discounts exact ties).
    summary_path = run_dir / "summary.json"
    summary_methods = read_json(summary_path).get("methods", {}) if summary_path.is_file() else {}
    fig, axes = new_figure(ncols=2, height=3.6)
    for i, (method, recs) in enumerate(sorted(combined.items())):
        color = CYCLE[i % len(CYCLE)]
        gain_vs_misfit(axes[0], [r.misfit for r in recs], [r.gain for r in recs], color=color, marker=marker(i),
                       label=method, identity=False, short=True)
        pairs = [(best[(r.setting, r.seed, r.task)], r.w2s_error) for r in recs if (r.setting, r.seed, r.task) in best]
        if pairs:
            x, y = np.array(pairs).T
            axes[1].scatter(x, y, s=12, alpha=0.75, color=color, marker=marker(i), edgecolors="none", zorder=3,
                            label=f"{method}: {_frac_beats(summary_methods.get(method, {}), x, y):.0%}")
    identity_line(axes[0], [v for recs in combined.values() for r in recs for v in (r.misfit, r.gain)])
    axes[0].set_title("(a) ensemble misfit vs gain")
    axes[0].legend(loc="upper left")
    if axes[1].collections:
        offsets = np.concatenate([c.get_offsets().ravel() for c in axes[1].collections])
        identity_line(axes[1], offsets)
        if offsets.min() > 0:  # errors spread over decades across worlds
            axes[1].set_xscale("log")
            axes[1].set_yscale("log")
            plain_log_ticks(axes[1])
        axes[1].legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncols=2, title="better than best member in")
    else:
        axes[1].text(0.5, 0.5, "no member errors in the records", ha="center", transform=axes[1].transAxes)
    axes[1].text(0.97, 0.03, "below y = x:\nensemble better", transform=axes[1].transAxes, ha="right",
                 va="bottom", fontsize=9, color="0.3", bbox={"fc": "white", "ec": "none", "alpha": 0.8})
    axes[1].set_xlabel("best member's w2s error (squared error)")
    axes[1].set_ylabel("ensemble's w2s error (squared error)")
    axes[1].set_title("(b) ensemble vs best member")
    return FigureOutcome("ok", images=save_figure(fig, NAME, ctx.images_dir),
                         data_files=[run_dir / "records.jsonl", run_dir / "summary.json"])


SPEC = FigureSpec(
    name=NAME,
    kind="sim",
    shows="Weak ensembles: misfit vs gain of each combination rule, and the ensemble's w2s error against its "
          "best member's.",
    data="runs/ensembles-<hash>/records.jsonl",
    command="weakstrong sim ensembles --seed 0 --out DIR",
    build=build,
)
