"""The result object of every statement in ``weakstrong.theory``: its terms, bound, slack and verdict."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .distances import weighted_sq_distance
from .validation import as_predictions, check_positive, check_same_shape, check_scale, normalized_weights

# Default relative tolerances, applied to the scale of the statement (the sum of |terms| it combines).
# Equalities: every solver in ``projections`` that they rely on is exact up to rounding.
EQUALITY_RTOL = 1e-9
# Inequalities: they rest on a variational inequality of the projection, met to ~1e-14 by the iterative
# solvers; 1e-8 leaves room for ill-conditioned instances without hiding a wrong solver.
INEQUALITY_RTOL = 1e-8


@dataclass(frozen=True)
class BoundCheck:
    """A statement evaluated on one instance.

    Attributes
    ----------
    name : the statement, e.g. ``"theorem1"``.
    terms : every quantity the statement combines (errors, misfit, gain, cross terms, epsilon, ...).
    lhs, bound : the two sides; an inequality reads ``lhs <= bound``, an equality ``lhs == bound``.
    slack : ``bound - lhs`` (>= 0 when an inequality holds, ~0 for an equality).
    holds : ``slack >= -tol`` for an inequality, ``|slack| <= tol`` for an equality.
    tol : the absolute tolerance used, ``rtol * scale + atol``.
    equality : whether the statement is an equality.
    rtol : the relative tolerance.
    scale : the magnitude the relative tolerance refers to (by default the sum of |terms|).
    """

    name: str
    terms: dict[str, float]
    lhs: float
    bound: float
    slack: float
    holds: bool
    tol: float
    equality: bool = False
    rtol: float = 0.0
    scale: float = field(default=0.0, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def record_fields(self) -> dict[str, Any]:
        """The ``bound``, ``slack`` and ``holds`` fields of a :class:`~weakstrong.theory.records.W2SRecord`."""
        return {"bound": self.bound, "slack": self.slack, "holds": self.holds}


def make_check(
    name: str,
    terms: dict[str, float],
    lhs: float,
    bound: float,
    rtol: float,
    atol: float = 0.0,
    equality: bool = False,
    scale: float | None = None,
) -> BoundCheck:
    """Assemble a :class:`BoundCheck`; ``scale`` defaults to the sum of the finite |terms|.

    An infinite side is a verdict (an infinite lhs violates a finite bound, as a KL error can), but a
    NaN side or slack, or an infinite scale, means the terms overflowed: that is an error, never a verdict.
    """
    rtol = check_positive(rtol, "rtol", allow_zero=True)
    atol = check_positive(atol, "atol", allow_zero=True)
    terms = {k: float(v) for k, v in terms.items()}
    if scale is None:
        scale = sum(abs(v) for v in terms.values() if np.isfinite(v))
    scale, lhs, bound = float(scale), float(lhs), float(bound)
    slack = bound - lhs
    tol = rtol * scale + atol
    if np.isnan(slack) or not np.isfinite(tol):
        raise ValueError(
            f"{name}: the terms overflow float64 (lhs {lhs!r}, bound {bound!r}, scale {scale!r}; terms {terms}); "
            "rescale the inputs"
        )
    holds = abs(slack) <= tol if equality else slack >= -tol
    return BoundCheck(
        name, terms, lhs, bound, slack, bool(holds and np.isfinite(slack)), tol, equality, rtol, scale
    )


def misfit_terms(truth: Any, weak: Any, w2s: Any, sample_weight: Any = None) -> dict[str, float]:
    """weak_error, w2s_error, misfit and gain (squared L2(P)) of one weak-to-strong instance.

    Parameters
    ----------
    truth, weak, w2s : predictions of f*, f_w, f_sw on the sample, shape (n,) or (n, k), all the same;
        their largest magnitude must be 0 or inside ``validation.VALUE_RANGE`` (squares must not overflow).
    sample_weight : (n,) nonnegative weights, not all zero, or None.
    """
    arrays = {
        "truth": as_predictions(truth, "truth"),
        "weak": as_predictions(weak, "weak"),
        "w2s": as_predictions(w2s, "w2s"),
    }
    check_same_shape(arrays)
    check_scale(arrays)
    t, f_w, f_sw = arrays.values()
    w = normalized_weights(sample_weight, t.shape[0])
    weak_error = weighted_sq_distance(f_w, t, w)
    w2s_error = weighted_sq_distance(f_sw, t, w)
    misfit = weighted_sq_distance(f_sw, f_w, w)
    return {"weak_error": weak_error, "w2s_error": w2s_error, "misfit": misfit, "gain": weak_error - w2s_error}
