"""Non-realizability: gain − misfit against the bound 2√(ε·misfit), over a sweep of ε.

When the strong class misses the truth by ε = d(Πf*, f*), the subspace identity gain = misfit − 2⟨r*, r_w⟩
and Cauchy–Schwarz give |gain − misfit| ≤ 2√(ε·misfit) (REFERENCE §1; ``theory.bounds.nonrealizable_bound``).
Reads ``weakstrong sim epsilon-sweep ... --out DIR``: one W2SRecord per (sweep point, task) with its
``epsilon``. Every point must fall between the lines y = x and y = −x (a), i.e. within ±1 of its own
bound (b). The bound is exact on the student's own sample (hollow markers, ``extra["in_sample"]``); on fresh
samples sampling error can carry a point past it when ε is tiny.
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import LogNorm, Normalize

from weakstrong.figures.registry import FigureContext, FigureOutcome, FigureSpec
from weakstrong.figures.sources import ensure_sim_run, in_sample_terms, make_sim_run, read_records
from weakstrong.figures.style import new_figure, save_figure

NAME = "epsilon_sweep"
EXPERIMENT = "epsilon-sweep"
# Previews (--quick) sweep three noise levels and test on fewer fresh samples than the full run.
QUICK = {"strong_noises": [0.01, 0.1, 1.0], "n_test": 20000}


def bound_and_gap(records) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(2√(ε·misfit), gain − misfit, ε)`` per record (or per dict of terms, e.g. the in-sample ones);
    ε falls back to the ceiling's error when not stored."""
    def get(r, name):
        return r.get(name) if isinstance(r, dict) else getattr(r, name)

    eps = np.array([get(r, "epsilon") if get(r, "epsilon") is not None else get(r, "strong_error")
                    for r in records], dtype=float)
    if np.isnan(eps).any():
        raise ValueError("epsilon-sweep records must carry epsilon (or strong_error)")
    misfit = np.array([get(r, "misfit") for r in records], dtype=float)
    gap = np.array([get(r, "gain") for r in records], dtype=float) - misfit
    return 2 * np.sqrt(np.clip(eps, 0, None) * misfit), gap, eps


def run(ctx: FigureContext):
    return make_sim_run(EXPERIMENT, sizes=ctx.sim_sizes(**QUICK), seed=ctx.seed, progress=False)


def build(ctx: FigureContext) -> FigureOutcome:
    run_dir = ensure_sim_run(run(ctx), ctx.runs_dir, ctx.force)
    records = read_records(run_dir)
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
    own = [t for t in map(in_sample_terms, records) if t is not None and "epsilon" in t]
    if own:
        b_own, g_own, e_own = bound_and_gap(own)
        keep = b_own > 0
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
    return FigureOutcome("ok", images=save_figure(fig, NAME, ctx.images_dir),
                         data_files=[run_dir / "records.jsonl", run_dir / "summary.json"])


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
