"""Non-realizability: gain − misfit against the bound 2√(ε·misfit), over a sweep of ε.

When the strong class misses the truth by ε = d(Πf*, f*), the subspace identity gain = misfit − 2⟨r*, r_w⟩
and Cauchy–Schwarz give |gain − misfit| ≤ 2√(ε·misfit) (REFERENCE §1; ``theory.bounds.nonrealizable_bound``).
Reads ``weakstrong sim epsilon-sweep ... --out DIR``: one W2SRecord per (sweep point, task) with its
``epsilon``. Every point must fall between the lines y = x and y = −x (a), i.e. within ±1 of its own
bound (b). The bound is exact on the student's own sample (hollow markers, the records' in-sample terms); on fresh
samples sampling error can carry a point past it when ε is tiny.
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import LogNorm, Normalize

from weakstrong.figures.registry import FigureContext, FigureOutcome, FigureSpec, sim_run
from weakstrong.figures.style import new_figure, save_figure
from weakstrong.runs import RunData
from weakstrong.sim.epsilon_sweep import EpsilonSweepConfig
from weakstrong.sim.worlds import WorldConfig

NAME = "epsilon_sweep"


def config(ctx: FigureContext) -> EpsilonSweepConfig:
    """The run this figure reads; previews (--quick) sweep three noise levels on fewer fresh samples."""
    return ctx.sized(EpsilonSweepConfig(world=WorldConfig(setting="perturbed", seed=ctx.seed)),
                     strong_noises=(0.01, 0.1, 1.0), n_test=20000, tasks=5)


def bound_and_gap(terms) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(2 sqrt(eps * misfit), gain - misfit, eps)`` per record or per in-sample check; the bound is the one
    the run stored with its check (``nonrealizable.bound``)."""
    bound = np.array([t.nonrealizable.bound for t in terms], dtype=float)
    gap = np.array([t.gain - t.misfit for t in terms], dtype=float)
    eps = np.array([t.epsilon for t in terms], dtype=float)
    return bound, gap, eps


def draw(runs: list[RunData]):
    """(a) gain - misfit against the stored bound 2 sqrt(eps * misfit); (b) the same gap relative to it."""
    (run,) = runs
    records = run.records
    bound, gap, eps = bound_and_gap(records)
    fig, axes = new_figure(ncols=2, height=3.0)
    positive = eps[eps > 0]
    floor = positive.min() if positive.size else 1e-12
    # ε = 0 (a realizable level) has no place on a log colour scale; it is drawn at the smallest positive ε.
    shown = np.where(eps > 0, eps, floor)
    norm = LogNorm(floor, shown.max()) if shown.max() > floor else Normalize(floor, floor * 10)
    ax = axes[0]
    ax.scatter(bound, gap, c=shown, cmap="viridis", norm=norm, s=10, alpha=0.8, edgecolors="none", zorder=3)
    top = float(max(bound.max(), np.abs(gap).max())) * 1.05
    ax.plot([0, top], [0, top], ls="--", color="0.35", lw=1.0, label=r"$\pm 2\sqrt{\varepsilon\cdot misfit}$")
    ax.plot([0, top], [0, -top], ls="--", color="0.35", lw=1.0)
    ax.axhline(0, color="0.6", lw=0.7)
    ax.set_xlabel(r"bound $2\sqrt{\varepsilon\cdot\mathrm{misfit}}$ (squared error)")
    ax.set_ylabel("gain − misfit (squared error)")
    ax.set_title("(a) gap against the bound")
    ax.legend(loc="upper left")
    ax = axes[1]
    # The same points as a fraction of their own bound: the theorem says every one lies in [-1, 1].
    ok = bound > 0
    sc = ax.scatter(shown[ok], gap[ok] / bound[ok], c=shown[ok], cmap="viridis", norm=norm, s=10, alpha=0.8,
                    edgecolors="none", zorder=3)
    b_own, g_own, e_own = bound_and_gap([r.in_sample for r in records])
    keep = b_own > 0
    if keep.any():
        ax.scatter(e_own[keep], g_own[keep] / b_own[keep], s=14, facecolors="none", edgecolors="0.45",
                   linewidths=0.7, zorder=2, label="student's own sample")
    ax.scatter([], [], s=10, color="0.3", label="fresh samples")
    for y in (-1, 1):
        ax.axhline(y, ls="--", color="0.35", lw=1.0)
    ax.legend(loc="lower left", fontsize=9)
    ax.axhline(0, color="0.6", lw=0.7)
    ax.set_xscale("log")
    ax.set_xlabel(r"$\varepsilon$ (squared error, log scale)")
    ax.set_ylabel("(gain − misfit) / bound")
    ax.set_title("(b) relative to the bound")
    fig.colorbar(sc, ax=ax, label=r"$\varepsilon$ (squared error)")
    return fig


def build(ctx: FigureContext) -> FigureOutcome:
    run = sim_run(ctx, "epsilon-sweep", config(ctx))
    return FigureOutcome("ok", images=save_figure(draw([run]), NAME, ctx.images_dir), data_files=run.files)


SPEC = FigureSpec(
    name=NAME,
    kind="sim",
    shows="Non-realizability sweep: gain - misfit against the bound 2 sqrt(epsilon * misfit), coloured by "
          "epsilon; every task must lie between the two dashed lines.",
    data="runs/epsilon-sweep-<hash>/records.jsonl",
    command="weakstrong sim epsilon-sweep --seed 0 --out DIR",
    caption=(r"Non-realizability sweep: (a) $\mathrm{gain}-\mathrm{misfit}$ against the bound "
             r"$2\sqrt{\varepsilon\cdot\mathrm{misfit}}$, coloured by $\varepsilon$; (b) the same gap as a "
             r"fraction of its bound, which the theory keeps within $[-1,1]$. Hollow markers: the check on the "
             r"student's own sample, where the bound is exact; filled: fresh samples."),
    build=build,
)
