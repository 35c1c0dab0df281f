"""The one bootstrap: resample indices, and the percentile interval of a statistic over the resamples.

Every bootstrap interval of the toolkit (PGR, SLU-F1, paired differences between students, fits of gain on
misfit) draws its resamples here, so a seed means the same resamples everywhere and a paired comparison is
paired by construction (draw once, apply to both sides).
"""

from __future__ import annotations

import numpy as np

__all__ = ["bootstrap_indices", "percentile_interval"]


def bootstrap_indices(n: int, n_boot: int, seed: int = 0) -> np.ndarray:
    """(n_boot, n) row indices drawn with replacement from ``range(n)``, seeded.

    >>> bootstrap_indices(3, 2, seed=0).shape
    (2, 3)
    """
    if n < 1 or n_boot < 1:
        raise ValueError(f"n and n_boot must be >= 1, got {n}, {n_boot}")
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def percentile_interval(values, level: float = 0.95) -> list[float | None]:
    """The central ``level`` percentile interval ``[lo, hi]`` of the finite ``values`` ([None, None] if none).

    >>> [round(v, 6) for v in percentile_interval(np.arange(101.0), 0.9)]
    [5.0, 95.0]
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return [None, None]
    lo, hi = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return [float(lo), float(hi)]
