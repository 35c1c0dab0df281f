"""Finite samples: how fast the gap |gain − misfit| and the w2s error settle as the student's sample grows.

Theorem 2 of Charikar, Pabbaraju & Shiragur (2024) bounds the excess of the empirical (ERM) student over
the population statement by O(√ε) + O((C/n)^{1/4}) + O((log(1/δ)/n)^{1/4}). This figure reads
``weakstrong sim finite-sample ... --out DIR`` (one W2SRecord per task and sample size n, n in
``sizes``), and shows per n the median over tasks of |gain − misfit| (a, log–log, with the fitted
empirical rate from summary.json beside the theory's n^{-1/4}) and the mean errors (b).
"""

from __future__ import annotations

import numpy as np

from weakstrong.figures.registry import FigureContext, FigureOutcome, FigureSpec, sim_run
from weakstrong.figures.style import CYCLE, MARKERS, new_figure, save_figure
from weakstrong.runs import RunData
from weakstrong.sim.finite_sample import FiniteSampleConfig

NAME = "finite_sample"


def config(ctx: FigureContext) -> FiniteSampleConfig:
    """The run this figure reads; previews (--quick) sweep three sizes on fewer fresh samples."""
    return ctx.sized(FiniteSampleConfig(world=ctx.world("realizable")),
                     sizes=(50, 500, 5000), n_test=20000, tasks=5)


def draw(runs: list[RunData]):
    """(a) the median and quartiles of |gain - misfit| per n with the fitted and the theory's rate;
    (b) the mean errors per n. Every number is read from the run's summary."""
    (run,) = runs
    summary = run.summary
    ns = np.array(summary["sizes"], dtype=float)
    med = np.array(summary["median_gap"])
    lo, hi = np.array(summary["gap_quartiles"]).T
    fig, axes = new_figure(ncols=2, height=2.9)
    ax = axes[0]
    ax.fill_between(ns, lo, hi, color=CYCLE[0], alpha=0.2, lw=0, label="interquartile range")
    ax.plot(ns, med, marker="o", color=CYCLE[0], label="median over tasks")
    rate = summary["theory_rate"]
    # The theory gives a rate, not a level: the reference line is anchored at the first measured point.
    ax.plot(ns, med[0] * (ns / ns[0]) ** rate, ls="--", color="0.35", label=f"theory rate $n^{{{rate:g}}}$")
    if summary["empirical_rate"] is not None:
        ax.plot([], [], " ", label=f"fitted rate $n^{{{summary['empirical_rate']:.2f}}}$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("student sample size n (examples)")
    ax.set_ylabel("|gain − misfit| (squared error)")
    ax.set_title("(a) gap to the population identity")
    ax.legend(loc="lower left")
    ax = axes[1]
    for i, (field, label) in enumerate((("weak_error", "weak"), ("w2s_error", "weak-to-strong"),
                                        ("strong_error", "strong ceiling"))):
        ax.plot(ns, summary["mean_errors"][field], marker=MARKERS[i], color=CYCLE[i], label=label)
    ax.set_xscale("log")
    ax.set_xlabel("student sample size n (examples)")
    ax.set_ylabel("test error (squared error)")
    ax.set_title("(b) errors on fresh samples")
    ax.legend(loc="best")
    return fig


def build(ctx: FigureContext) -> FigureOutcome:
    run = sim_run(ctx, "finite-sample", config(ctx))
    return FigureOutcome("ok", images=save_figure(draw([run]), NAME, ctx.images_dir), data_files=run.files)


SPEC = FigureSpec(
    name=NAME,
    kind="sim",
    shows="Finite samples: the median gap |gain - misfit| and the errors against the student's sample size, "
          "with the fitted empirical rate beside the theory's rate.",
    data="runs/finite-sample-<hash>/summary.json",
    command="weakstrong sim finite-sample --seed 0 --out DIR",
    caption=(r"Finite samples: (a) the median over tasks of $|\mathrm{gain}-\mathrm{misfit}|$ against the "
             r"student's sample size $n$, with the theory's rate and the fitted empirical rate; (b) the mean "
             r"errors on fresh samples."),
    build=build,
)
