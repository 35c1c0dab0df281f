"""Statistics that run summaries report (figures read them from the summary; they never recompute them)."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def gain_misfit_fit(misfit: Sequence[float], gain: Sequence[float]) -> dict[str, float | None]:
    """Least-squares line gain = slope * misfit + intercept and its R^2 (None where undefined).

    Theorem 1 predicts slope 1 and intercept 0 for a subspace class in the realizable case.
    """
    x, y = np.asarray(misfit, dtype=float), np.asarray(gain, dtype=float)
    if x.size < 2 or np.ptp(x) == 0.0:
        return {"slope": None, "intercept": None, "r2": None}
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (slope * x + intercept)
    total = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum(residual ** 2)) / total if total > 0 else None
    return {"slope": float(slope), "intercept": float(intercept), "r2": r2}
