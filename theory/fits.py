"""Gain against misfit as a line: the one least-squares fit every experiment reports, and its bootstrap CI.

Theorem 1 of Charikar, Pabbaraju & Shiragur (2024) predicts gain = misfit (slope 1, intercept 0) for a
subspace student in the realizable case; off realizability the cross term moves points off that line.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .resampling import bootstrap_indices, percentile_interval

__all__ = ["gain_misfit_fit", "bootstrap_gain_misfit_fit"]

FIT_KEYS = ("slope", "intercept", "r2")


def gain_misfit_fit(misfit: Sequence[float], gain: Sequence[float]) -> dict:
    """Least-squares line gain = slope * misfit + intercept, its R^2 and the number of points ``n``.

    ``slope``, ``intercept`` and ``r2`` are None where undefined (fewer than two points, or one misfit value;
    ``r2`` also when every gain is the same).

    >>> round(gain_misfit_fit([0.1, 0.2, 0.3], [0.1, 0.2, 0.3])["slope"], 9)
    1.0
    """
    x, y = np.asarray(misfit, dtype=float), np.asarray(gain, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"misfit and gain must be 1-d and of one length, got {x.shape} and {y.shape}")
    if x.size < 2 or np.ptp(x) == 0.0:
        return {"slope": None, "intercept": None, "r2": None, "n": int(x.size)}
    slope, intercept = np.polyfit(x, y, 1)
    total = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum((y - (slope * x + intercept)) ** 2)) / total if total > 0 else None
    return {"slope": float(slope), "intercept": float(intercept), "r2": r2, "n": int(x.size)}


def bootstrap_gain_misfit_fit(misfit: Sequence[float], gain: Sequence[float], n_bootstrap: int = 1000,
                              seed: int = 0, level: float = 0.95) -> dict:
    """:func:`gain_misfit_fit` with percentile bootstrap intervals over the points (resampled with replacement).

    Returns the fit plus ``ci = {"slope": [lo, hi], "intercept": [...], "r2": [...]}`` (None where fewer than
    two resamples had a defined value) and ``n_bootstrap``.
    """
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, (int, np.integer)) or n_bootstrap < 1:
        raise ValueError(f"n_bootstrap must be an integer >= 1, got {n_bootstrap!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    x, y = np.asarray(misfit, dtype=float), np.asarray(gain, dtype=float)
    fit = gain_misfit_fit(x, y)
    draws: dict[str, list[float]] = {k: [] for k in FIT_KEYS}
    if x.size >= 2:
        idx = bootstrap_indices(x.size, n_bootstrap, seed)
        for row in idx:
            f = gain_misfit_fit(x[row], y[row])
            for k in FIT_KEYS:
                if f[k] is not None:
                    draws[k].append(f[k])
    fit["ci"] = {k: (percentile_interval(v, level) if len(v) >= 2 else None) for k, v in draws.items()}
    fit["n_bootstrap"] = int(n_bootstrap)
    return fit
