"""Non-realizability: gain − misfit against the bound 2√(ε·misfit), over a sweep of ε.

When the strong class misses the truth by ε = d(Πf*, f*), the subspace identity gain = misfit − 2⟨r*, r_w⟩
and Cauchy–Schwarz give |gain − misfit| ≤ 2√(ε·misfit) (REFERENCE §1; ``theory.bounds.nonrealizable_bound``).
Reads ``weakstrong sim epsilon-sweep ... --out DIR``: one W2SRecord per (sweep point, task) with its
``epsilon``. Every point must fall between the lines y = x and y = −x.
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import LogNorm, Normalize

from weakstrong.figures.registry import FigureContext, FigureOutcome, FigureSpec
from weakstrong.figures.sources import ensure_sim_run, make_sim_run, read_records
from weakstrong.figures.style import COLUMN_WIDTH, new_figure, save_figure

NAME = "epsilon_sweep"
EXPERIMENT = "epsilon-sweep"


def bound_and_gap(records) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(2√(ε·misfit), gain − misfit, ε)`` per record; ε falls back to the ceiling's error when not stored."""
    eps = np.array([r.epsilon if r.epsilon is not None else r.strong_error for r in records], dtype=float)
    if np.isnan(eps).any():
        raise ValueError("epsilon-sweep records must carry epsilon (or strong_error)")
    misfit = np.array([r.misfit for r in records])
    gap = np.array([r.gain - r.misfit for r in records])
    return 2 * np.sqrt(np.clip(eps, 0, None) * misfit), gap, eps


def run(ctx: FigureContext):
    return make_sim_run(EXPERIMENT, sizes=ctx.sim_sizes(), seed=ctx.seed, progress=False)


def build(ctx: FigureContext) -> FigureOutcome:
    run_dir = ensure_sim_run(run(ctx), ctx.runs_dir, ctx.force)
    bound, gap, eps = bound_and_gap(read_records(run_dir))
    fig, axes = new_figure(width=COLUMN_WIDTH + 0.9, height=3.0)
    ax = axes[0]
    positive = eps[eps > 0]
    norm = LogNorm(positive.min(), positive.max()) if positive.size and positive.max() > positive.min() \
        else Normalize(eps.min(), eps.max() + 1e-12)
    sc = ax.scatter(bound, gap, c=np.where(eps > 0, eps, positive.min() if positive.size else 1e-12),
                    cmap="viridis", norm=norm, s=10, alpha=0.8, edgecolors="none", zorder=3)
    top = float(max(bound.max(), np.abs(gap).max())) * 1.05
    ax.plot([0, top], [0, top], ls="--", color="0.35", lw=1.0, label=r"$\pm 2\sqrt{\varepsilon\cdot misfit}$")
    ax.plot([0, top], [0, -top], ls="--", color="0.35", lw=1.0)
    ax.axhline(0, color="0.6", lw=0.7)
    ax.set_xlabel(r"bound $2\sqrt{\varepsilon\cdot\mathrm{misfit}}$ (squared error)")
    ax.set_ylabel("gain − misfit (squared error)")
    ax.legend(loc="upper left")
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
    build=build,
    paper_width=0.6,
)
