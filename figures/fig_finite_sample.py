"""Finite samples: how fast the gap |gain − misfit| and the w2s error settle as the student's sample grows.

Theorem 2 of Charikar, Pabbaraju & Shiragur (2024) bounds the excess of the empirical (ERM) student over
the population statement by O(√ε) + O((C/n)^{1/4}) + O((log(1/δ)/n)^{1/4}). This figure reads
``weakstrong sim finite-sample ... --out DIR`` (one W2SRecord per task and sample size n, n in
``sizes``), and shows per n the median over tasks of |gain − misfit| (a, log–log, with the fitted
empirical rate from summary.json beside the theory's n^{-1/4}) and the mean errors (b).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from weakstrong.figures.registry import FigureContext, FigureOutcome, FigureSpec
from weakstrong.figures.sources import ensure_sim_run, make_sim_run, read_records, read_summary
from weakstrong.figures.style import CYCLE, MARKERS, new_figure, save_figure

NAME = "finite_sample"
EXPERIMENT = "finite-sample"
SIZE_KEYS = ("n_train", "n", "n_samples")
# Previews (--quick) sweep three sizes and test on fewer fresh samples than the full run.
QUICK = {"sizes": [50, 500, 5000], "n_test": 20000}


def sample_size(record) -> int:
    """The student's training-sample size of a record (``sizes["n_train"]``, or ``n`` / ``n_samples``)."""
    for key in SIZE_KEYS:
        if key in record.sizes:
            return int(record.sizes[key])
    raise ValueError(f"record.sizes must hold one of {SIZE_KEYS}, got {sorted(record.sizes)}")


def by_size(records) -> dict[int, list]:
    groups = defaultdict(list)
    for r in records:
        groups[sample_size(r)].append(r)
    return dict(sorted(groups.items()))


def theory_rate(summary: dict) -> float:
    """The exponent of n in the theory's finite-sample term (−1/4 unless the run states another)."""
    for key in ("theory_rate", "theory_exponent"):
        if isinstance(summary.get(key), (int, float)):
            return float(summary[key])
    return -0.25


def empirical_rate(summary: dict) -> float | None:
    for key in ("empirical_rate", "fitted_rate", "rate", "gap_rate"):
        if isinstance(summary.get(key), (int, float)):
            return float(summary[key])
    return None


def run(ctx: FigureContext):
    return make_sim_run(EXPERIMENT, sizes=ctx.sim_sizes(**QUICK), seed=ctx.seed, progress=False)


def build(ctx: FigureContext) -> FigureOutcome:
    run_dir = ensure_sim_run(run(ctx), ctx.runs_dir, ctx.force)
    records, summary = read_records(run_dir), read_summary(run_dir)
    groups = by_size(records)
    ns = np.array(list(groups), dtype=float)
    gap = [np.abs([r.gain - r.misfit for r in g]) for g in groups.values()]
    med = np.array([np.median(g) for g in gap])
    lo, hi = np.array([np.quantile(g, 0.25) for g in gap]), np.array([np.quantile(g, 0.75) for g in gap])
    fig, axes = new_figure(ncols=2, height=2.9)
    ax = axes[0]
    ax.fill_between(ns, lo, hi, color=CYCLE[0], alpha=0.2, lw=0, label="interquartile range")
    ax.plot(ns, med, marker="o", color=CYCLE[0], label="median over tasks")
    rate = theory_rate(summary)
    # The theory gives a rate, not a level: the reference line is anchored at the first measured point.
    ax.plot(ns, med[0] * (ns / ns[0]) ** rate, ls="--", color="0.35", label=f"theory rate $n^{{{rate:g}}}$")
    emp = empirical_rate(summary)
    if emp is not None:
        ax.plot([], [], " ", label=f"fitted rate $n^{{{emp:.2f}}}$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("student sample size n (examples)")
    ax.set_ylabel("|gain − misfit| (squared error)")
    ax.set_title("(a) gap to the population identity")
    ax.legend(loc="lower left")
    ax = axes[1]
    for i, (field, label) in enumerate((("weak_error", "weak"), ("w2s_error", "weak-to-strong"),
                                        ("strong_error", "strong ceiling"))):
        means = [np.mean([getattr(r, field) for r in g if getattr(r, field) is not None] or [np.nan])
                 for g in groups.values()]
        ax.plot(ns, means, marker=MARKERS[i], color=CYCLE[i], label=label)
    ax.set_xscale("log")
    ax.set_xlabel("student sample size n (examples)")
    ax.set_ylabel("test error (squared error)")
    ax.set_title("(b) errors on fresh samples")
    ax.legend(loc="best")
    return FigureOutcome("ok", images=save_figure(fig, NAME, ctx.images_dir),
                         data_files=[run_dir / "records.jsonl", run_dir / "summary.json"])


SPEC = FigureSpec(
    name=NAME,
    kind="sim",
    shows="Finite samples: the median gap |gain - misfit| and the errors against the student's sample size, "
          "with the fitted empirical rate beside the theory's rate.",
    data="runs/finite-sample-<hash>/records.jsonl, summary.json",
    command="weakstrong sim finite-sample --seed 0 --out DIR",
    caption=(r"Finite samples: (a) the median over tasks of $|\mathrm{gain}-\mathrm{misfit}|$ against the "
             r"student's sample size $n$, with the theory's rate and the fitted empirical rate; (b) the mean "
             r"errors on fresh samples."),
    build=build,
)
