"""Finite-sample misfit bound for the norm-bounded linear head trained by ERM on weak labels.

Setting (Charikar, Pabbaraju & Shiragur 2024, Theorem 2, made explicit for one class):
    features h(x) in R^d with ||h(x)|| <= R almost surely,
    strong class V = {x -> <theta, h(x)> : ||theta|| <= B}, so |f(x)| <= BR for f in V,
    weak labels bounded, |f_w(x)| <= M almost surely (the truth f* needs no bound),
    f_hat = ERM over V on n i.i.d. samples (x_i, f_w(x_i)) with squared loss,
    f_sw = Pi_V f_w the population projection, epsilon >= inf_{p in V} d(p, f*),
    every d below is the population squared L2(P) distance.

Theorem. With probability >= 1 - delta over the sample,

    d(f_hat, f*) <= d(f_w, f*) - d(f_hat, f_w) + 2 sqrt(epsilon d(f_hat, f_w)) + 2 sqrt(Delta) (M + 2BR),

    Delta = 4 BR (BR + M) / sqrt(n) + (BR + M)^2 sqrt(2 log(2/delta) / n).

Proof.
1. Excess risk. L(theta) = E (<theta, h> - f_w)^2 takes values in [0, (BR + M)^2] and is 2(BR + M)-Lipschitz
   in the prediction on |u| <= BR. By the Rademacher bound (Mohri, Rostamizadeh & Talwalkar 2018,
   Thm. 3.3), the contraction lemma (ibid., Lemma 5.7) and R_n(V) <= BR / sqrt(n) (ibid., Thm. 5.10),
   w.p. >= 1 - delta/2: sup_V (L - L_n) <= 4 BR (BR + M)/sqrt(n) + (BR + M)^2 sqrt(log(2/delta)/(2n)).
   Hoeffding at the fixed f_sw, w.p. >= 1 - delta/2: L_n(f_sw) - L(f_sw) <= (BR + M)^2 sqrt(log(2/delta)/(2n)).
   As L_n(f_hat) <= L_n(f_sw), a union bound gives L(f_hat) - L(f_sw) <= Delta.
2. Distance to the projection. For g in V, ||g - f_w||^2 >= ||f_sw - f_w||^2 + ||g - f_sw||^2 (the
   projection's variational inequality), so ||f_hat - f_sw|| <= sqrt(Delta).
3. Approximate Pythagoras. For p in V, expanding ||f_w - p||^2 around f_hat and using the variational
   inequality at f_sw twice,
   ||f_hat - p||^2 <= ||f_w - p||^2 - ||f_w - f_hat||^2 + 2 ||f_hat - f_sw|| (||f_w - f_sw|| + ||f_hat - p||),
   with ||f_w - f_sw|| <= ||f_w - 0|| <= M (0 is in V) and ||f_hat - p|| <= 2BR.
4. Non-realizability. With p = Pi_V f* and delta* = f* - p (||delta*||^2 = epsilon), expanding
   d(f_hat, f*) and d(f_w, f*) around p leaves the cross term 2 <f_w - f_hat, delta*>, at most
   2 sqrt(epsilon d(f_hat, f_w)) by Cauchy-Schwarz.
The two sampling terms decay as n^{-1/4}, the rate of Theorem 2; the epsilon term is the O(sqrt(epsilon)) one.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from .boundcheck import INEQUALITY_RTOL, BoundCheck, make_check
from .validation import MAX_SQUARED, check_integer, check_positive


@dataclass(frozen=True)
class FiniteSampleTerms:
    """The additive terms of the finite-sample bound (all >= 0, in units of squared label).

    Attributes
    ----------
    rademacher : 4 BR (BR + M) / sqrt(n), twice the contracted Rademacher complexity of the loss class.
    concentration : (BR + M)^2 sqrt(2 log(2/delta) / n), the two one-sided deviation terms.
    excess_risk : Delta = rademacher + concentration, bound on L(f_hat) - L(f_sw) (weak-label risk).
    estimation : 2 sqrt(Delta) (M + 2BR), the price of ERM instead of the exact projection.
    nonrealizable : 2 sqrt(epsilon * misfit) if a misfit was given, else 2 sqrt(epsilon) (BR + M) using
        misfit <= (BR + M)^2.
    total : estimation + nonrealizable, the amount added to weak_error - misfit.
    """

    rademacher: float
    concentration: float
    excess_risk: float
    estimation: float
    nonrealizable: float
    total: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def finite_sample_terms(
    n: int,
    radius: float,
    feature_bound: float,
    label_bound: float,
    delta: float,
    epsilon: float,
    misfit: float | None = None,
) -> FiniteSampleTerms:
    """The explicit additive terms of the finite-sample bound (see the module docstring for the proof).

    Parameters
    ----------
    n : number of weak-labelled training samples, an integer in [1, 2**53].
    radius : B >= 0, the bound on ||theta||.
    feature_bound : R >= 0, with ||h(x)|| <= R almost surely.
    label_bound : M >= 0, with |f_w(x)| <= M almost surely.
    delta : failure probability, in (0, 1).
    epsilon : >= inf_{p in V} d(p, f*), the realizability gap of the class (at most MAX_SQUARED).
    misfit : the population misfit d(f_hat, f_w), if known; otherwise its bound (BR + M)^2 is used.

    Every term is a square of the label scale BR + M, so that scale must stay below ~1e150: beyond it
    the terms overflow float64 and the call is rejected (rescale the units).
    """
    n = check_integer(n, "n", minimum=1)
    b = check_positive(radius, "radius", allow_zero=True)
    r = check_positive(feature_bound, "feature_bound", allow_zero=True)
    m = check_positive(label_bound, "label_bound", allow_zero=True)
    delta = check_positive(delta, "delta")
    if delta >= 1:
        raise ValueError(f"delta must be in (0, 1), got {delta!r}")
    eps = check_positive(epsilon, "epsilon", allow_zero=True, maximum=MAX_SQUARED)
    if misfit is not None:
        misfit = check_positive(misfit, "misfit", allow_zero=True, maximum=MAX_SQUARED)
    br = b * r
    rademacher = 4.0 * br * (br + m) / math.sqrt(n)
    concentration = (br + m) * (br + m) * math.sqrt(2.0 * math.log(2.0 / delta) / n)
    excess = rademacher + concentration
    estimation = 2.0 * math.sqrt(excess) * (m + 2.0 * br)
    if misfit is None:
        nonrealizable = 2.0 * math.sqrt(eps) * (br + m)
    else:
        nonrealizable = 2.0 * math.sqrt(eps * misfit)
    terms = (rademacher, concentration, excess, estimation, nonrealizable, estimation + nonrealizable)
    if not all(math.isfinite(t) and t <= MAX_SQUARED for t in terms):
        raise ValueError(
            f"radius, feature_bound and label_bound give terms beyond float64's range (B R = {br:.3g}, "
            f"M = {m:.3g}); they must keep (B R + M)^2 below {MAX_SQUARED:g}: rescale the units"
        )
    return FiniteSampleTerms(*terms)


def finite_sample_bound(
    n: int,
    radius: float,
    feature_bound: float,
    label_bound: float,
    delta: float,
    epsilon: float,
    weak_error: float,
    w2s_error: float,
    misfit: float,
    rtol: float = INEQUALITY_RTOL,
) -> BoundCheck:
    """Check d(f_hat, f*) <= d(f_w, f*) - d(f_hat, f_w) + 2 sqrt(epsilon misfit) + 2 sqrt(Delta)(M + 2BR).

    A high-probability statement (probability >= 1 - delta over the n training samples): a violation on
    one instance is not a contradiction, a rate above delta over many is. Assumptions and constants: see
    the module docstring and :func:`finite_sample_terms`.

    Parameters
    ----------
    n, radius, feature_bound, label_bound, delta, epsilon : as in :func:`finite_sample_terms`.
    weak_error, w2s_error, misfit : population d(f_w, f*), d(f_hat, f*), d(f_hat, f_w) of the ERM student
        (exact under a known discrete P, or estimated on a large fresh sample).

    Returns
    -------
    BoundCheck with lhs = w2s_error, bound = weak_error - misfit + total; terms include every additive term.

    References
    ----------
    Charikar, Pabbaraju & Shiragur (2024), Theorem 2, with the constants derived in this module.
    """
    values = {name: check_positive(value, name, allow_zero=True, maximum=MAX_SQUARED) for name, value in
              (("weak_error", weak_error), ("w2s_error", w2s_error), ("misfit", misfit))}
    extra = finite_sample_terms(n, radius, feature_bound, label_bound, delta, epsilon, misfit=values["misfit"])
    terms = {**values, "gain": values["weak_error"] - values["w2s_error"], "epsilon": float(epsilon),
             **extra.to_dict()}
    bound = values["weak_error"] - values["misfit"] + extra.total
    scale = values["weak_error"] + values["w2s_error"] + values["misfit"] + extra.total
    return make_check("finite_sample_bound", terms, values["w2s_error"], bound, rtol, scale=scale)
