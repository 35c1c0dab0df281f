"""The misfit inequalities of weak-to-strong generalization, each as a function of predictions on a sample.

Notation (Charikar, Pabbaraju & Shiragur 2024, "Quantifying the Gain in Weak-to-Strong Generalization"):
f* the truth, f_w the weak teacher, V_s the strong class (convex), f_sw = argmin_{f in V_s} d(f, f_w) the
weak-to-strong student, d = squared L2(P). Then

    weak_error = d(f_w, f*),   w2s_error = d(f_sw, f*),   misfit = d(f_sw, f_w),   gain = weak - w2s.

Every function takes the predictions of these predictors on one sample (P = the weighted empirical
measure), evaluates the statement, and returns a :class:`BoundCheck`. The statements are exact for the
weighted empirical measure when f_sw is the projection computed on the same sample with the same weights
(``weakstrong.theory.projections``); on held-out data they are estimates of the population statements.

Ensemble statements live in :mod:`weakstrong.theory.ensembles`, the finite-sample bound in
:mod:`weakstrong.theory.finite_sample`; both are re-exported here.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .boundcheck import EQUALITY_RTOL, INEQUALITY_RTOL, BoundCheck, make_check, misfit_terms
from .distances import kl_divergence, weighted_inner, weighted_sq_distance
from .ensembles import (
    WeakModelRanking,
    ambiguity_decomposition,
    ensemble_theorem1,
    rank_weak_models,
    selection_bound,
)
from .finite_sample import FiniteSampleTerms, finite_sample_bound, finite_sample_terms
from .projections import condition_number
from .validation import (
    MAX_SQUARED,
    as_finite_array,
    as_predictions,
    as_probabilities,
    check_positive,
    check_same_shape,
    check_scale,
    normalized_weights,
)

__all__ = [
    "BoundCheck",
    "FiniteSampleTerms",
    "WeakModelRanking",
    "ambiguity_decomposition",
    "convex_nonrealizable_bound",
    "ensemble_theorem1",
    "finite_sample_bound",
    "finite_sample_terms",
    "kl_theorem",
    "misfit_terms",
    "nonrealizable_bound",
    "nonrealizable_identity",
    "rank_weak_models",
    "selection_bound",
    "subspace_equality",
    "theorem1",
]

# The computed projection is orthogonal to V_s only up to a relative error ~ eps cond(X) (backward-stable
# least squares); on random designs with cond(X) from 1e4 to 1e14, |slack| / scale stayed below 0.07 eps
# cond(X), so a factor 4 leaves a wide margin while still catching a student that is not the projection.
CONDITION_RTOL_FACTOR = 4.0


def _equality_rtol(rtol: float, features: Any, fit_intercept: bool, sample_weight: Any, n: int) -> float:
    """``rtol`` plus the rounding floor CONDITION_RTOL_FACTOR * eps * cond(features), if features are given."""
    rtol = check_positive(rtol, "rtol", allow_zero=True)
    if features is None:
        return rtol
    x = as_finite_array(features, "features", ndim=2)
    if x.shape[0] != n:
        raise ValueError(f"features must have one row per sample ({n}), got shape {x.shape}")
    cond = condition_number(x, sample_weight, fit_intercept)
    return rtol + CONDITION_RTOL_FACTOR * np.finfo(float).eps * cond


def theorem1(
    truth: Any, weak: Any, w2s: Any, sample_weight: Any = None, rtol: float = INEQUALITY_RTOL, atol: float = 0.0
) -> BoundCheck:
    """Theorem 1 (realizable): d(f_sw, f*) <= d(f_w, f*) - d(f_sw, f_w), i.e. gain >= misfit.

    Assumptions: V_s is convex and closed, f* in V_s, and f_sw is the L2(P) projection of f_w onto V_s.
    Proof: the projection's variational inequality <f_w - f_sw, g - f_sw>_P <= 0 for all g in V_s, at
    g = f*; the slack equals 2 <f_w - f_sw, f_sw - f*>_P >= 0.

    Returns
    -------
    BoundCheck with lhs = w2s_error, bound = weak_error - misfit, tolerance ``rtol * scale + atol``
    (scale = weak_error + w2s_error + misfit + |gain|).

    References
    ----------
    Charikar, Pabbaraju & Shiragur (2024), Theorem 1.
    """
    terms = misfit_terms(truth, weak, w2s, sample_weight)
    return make_check("theorem1", terms, terms["w2s_error"], terms["weak_error"] - terms["misfit"], rtol, atol)


def subspace_equality(
    truth: Any,
    weak: Any,
    w2s: Any,
    sample_weight: Any = None,
    rtol: float = EQUALITY_RTOL,
    atol: float = 0.0,
    features: Any = None,
    fit_intercept: bool = True,
) -> BoundCheck:
    """Realizable subspace case: d(f_sw, f*) = d(f_w, f*) - d(f_sw, f_w), i.e. gain = misfit exactly.

    Assumptions: V_s is a linear subspace (e.g. unconstrained linear heads over fixed features, with or
    without bias), f* in V_s, f_sw the orthogonal L2(P) projection of f_w. Proof: Pythagoras, since
    f_w - f_sw is orthogonal to V_s, which contains f_sw - f*.

    Tolerance. The slack is 2 <f_w - f_sw, f_sw - f*>_P, zero for the exact projection; a computed one is
    orthogonal only up to a relative error ~ eps cond(X), so a fixed relative tolerance cannot be met
    once cond(X) passes ~1e8. Given the design (``features`` and ``fit_intercept``, as passed to
    :func:`~weakstrong.theory.projections.project_onto_subspace`), the relative tolerance becomes
    ``rtol + CONDITION_RTOL_FACTOR * eps * cond(X)``, cond(X) the condition number of the weighted design
    on its numerical range (:func:`~weakstrong.theory.projections.condition_number`); the reported
    ``rtol`` is that sum. Without ``features`` it is ``rtol``.

    References
    ----------
    Charikar, Pabbaraju & Shiragur (2024), remark after Theorem 1.
    """
    terms = misfit_terms(truth, weak, w2s, sample_weight)
    rtol = _equality_rtol(rtol, features, fit_intercept, sample_weight, np.shape(truth)[0])
    return make_check(
        "subspace_equality", terms, terms["w2s_error"], terms["weak_error"] - terms["misfit"], rtol, atol,
        equality=True,
    )


def nonrealizable_identity(
    truth: Any,
    weak: Any,
    w2s: Any,
    truth_projection: Any,
    sample_weight: Any = None,
    rtol: float = EQUALITY_RTOL,
    atol: float = 0.0,
    features: Any = None,
    fit_intercept: bool = True,
) -> BoundCheck:
    """Non-realizable subspace identity: gain = misfit - 2 <r*, r_w>_P.

    Here Pi is the orthogonal L2(P) projection onto the subspace V_s, r* = f* - Pi f* and
    r_w = f_w - Pi f_w = f_w - f_sw are the residuals off V_s. Proof: with a = f_sw - Pi f* in V_s,
    f_w - f* = a + r_w - r* and f_sw - f* = a - r*, so gain = ||r_w||^2 + 2<a, r_w> - 2<r_w, r*> and
    <a, r_w> = 0 by orthogonality. The identity explains why gain and misfit differ off realizability:
    the cross term is the correlation of the weak model's and the truth's residuals.

    Parameters
    ----------
    truth, weak, w2s : f*, f_w, f_sw on the sample.
    truth_projection : Pi f* on the sample (the strong ceiling: the class's fit to gold labels).
    features, fit_intercept : the design of V_s; when given, the tolerance grows with its condition
        number as in :func:`subspace_equality`.

    Returns
    -------
    BoundCheck (equality) with lhs = gain, bound = misfit - 2 cross, terms including
    ``cross = <r*, r_w>`` and ``epsilon = d(Pi f*, f*)``.

    References
    ----------
    Derived here; stated in Charikar, Pabbaraju & Shiragur (2024) for the non-realizable setting.
    """
    terms = misfit_terms(truth, weak, w2s, sample_weight)
    t = as_predictions(truth, "truth")
    proj = as_predictions(truth_projection, "truth_projection")
    check_same_shape({"truth": t, "truth_projection": proj})
    check_scale({"truth": t, "truth_projection": proj})
    r_star = t - proj
    r_w = as_predictions(weak, "weak") - as_predictions(w2s, "w2s")
    w = normalized_weights(sample_weight, t.shape[0])
    terms["cross"] = weighted_inner(r_star, r_w, w)
    terms["epsilon"] = weighted_sq_distance(proj, t, w)
    rtol = _equality_rtol(rtol, features, fit_intercept, sample_weight, t.shape[0])
    return make_check(
        "nonrealizable_identity", terms, terms["gain"], terms["misfit"] - 2.0 * terms["cross"], rtol, atol,
        equality=True,
    )


def _epsilon(epsilon: Any) -> float:
    return check_positive(epsilon, "epsilon", allow_zero=True, maximum=MAX_SQUARED)


def nonrealizable_bound(
    truth: Any,
    weak: Any,
    w2s: Any,
    epsilon: float,
    sample_weight: Any = None,
    rtol: float = INEQUALITY_RTOL,
    atol: float = 0.0,
) -> BoundCheck:
    """Non-realizable subspace bound: |gain - misfit| <= 2 sqrt(epsilon * misfit).

    Assumptions: V_s a linear subspace, f_sw the orthogonal L2(P) projection of f_w, and
    epsilon >= d(Pi f*, f*), the squared distance from the truth to V_s. Proof: Cauchy-Schwarz on the cross
    term of :func:`nonrealizable_identity`, |<r*, r_w>| <= ||r*|| ||r_w|| = sqrt(epsilon * misfit).

    Returns
    -------
    BoundCheck with lhs = |gain - misfit|, bound = 2 sqrt(epsilon * misfit).

    References
    ----------
    Charikar, Pabbaraju & Shiragur (2024), non-realizable setting (Theorem 2 without sampling error).
    """
    terms = misfit_terms(truth, weak, w2s, sample_weight)
    terms["epsilon"] = _epsilon(epsilon)
    bound = 2.0 * math.sqrt(terms["epsilon"] * terms["misfit"])
    return make_check("nonrealizable_bound", terms, abs(terms["gain"] - terms["misfit"]), bound, rtol, atol)


def convex_nonrealizable_bound(
    truth: Any,
    weak: Any,
    w2s: Any,
    epsilon: float,
    sample_weight: Any = None,
    rtol: float = INEQUALITY_RTOL,
    atol: float = 0.0,
) -> BoundCheck:
    """Non-realizable convex class: d(f_sw, f*) <= d(f_w, f*) - d(f_sw, f_w) + 2 sqrt(epsilon * misfit).

    Assumptions: V_s convex and closed (a norm ball of heads, a convex hull, a box, ...), f_sw the L2(P)
    projection of f_w onto V_s, epsilon >= inf_{p in V_s} d(p, f*). Proof: for any p in V_s, Theorem 1 gives
    ||f_sw - p||^2 <= ||f_w - p||^2 - misfit; expanding both squares around f* with delta = f* - p,
    d(f_sw, f*) <= d(f_w, f*) - misfit + 2 <f_w - f_sw, delta> and Cauchy-Schwarz bounds the last term by
    2 sqrt(misfit) ||delta||; take p = Pi f*. One-sided: for a non-subspace class gain may exceed misfit by
    any amount. For a subspace this is one half of :func:`nonrealizable_bound`.

    Returns
    -------
    BoundCheck with lhs = w2s_error, bound = weak_error - misfit + 2 sqrt(epsilon * misfit).

    References
    ----------
    Derived here; the O(sqrt(epsilon)) term of Charikar, Pabbaraju & Shiragur (2024), Theorem 2.
    """
    terms = misfit_terms(truth, weak, w2s, sample_weight)
    terms["epsilon"] = _epsilon(epsilon)
    bound = terms["weak_error"] - terms["misfit"] + 2.0 * math.sqrt(terms["epsilon"] * terms["misfit"])
    return make_check("convex_nonrealizable_bound", terms, terms["w2s_error"], bound, rtol, atol)


def kl_theorem(
    truth_probs: Any,
    weak_probs: Any,
    w2s_probs: Any,
    sample_weight: Any = None,
    rtol: float = INEQUALITY_RTOL,
    atol: float = 0.0,
) -> BoundCheck:
    """Bregman/KL misfit inequality: E KL(g* || f_sw) <= E KL(g* || f_w) - E KL(f_sw || f_w).

    Assumptions: V_s a convex set of probability predictors (convex in probability space, e.g. the convex
    hull of k probability predictors; softmax-linear heads are not), g* in V_s, and f_sw the reverse-KL
    (information) projection argmin_{f in V_s} E KL(f || f_w), i.e. the student in the FIRST argument
    (:func:`~weakstrong.theory.projections.kl_project_onto_hull`). Proof: the slack equals
    E <g* - f_sw, log(f_sw / f_w)>, which is the first-order optimality condition of the projection.

    Parameters
    ----------
    truth_probs, weak_probs, w2s_probs : (n, C) probability vectors of g*, f_w, f_sw.

    Returns
    -------
    BoundCheck with terms weak_error = E KL(g*||f_w), w2s_error = E KL(g*||f_sw),
    misfit = E KL(f_sw||f_w), gain; lhs = w2s_error, bound = weak_error - misfit.

    References
    ----------
    Mulgund & Pabbaraju (2025), the Bregman-divergence misfit theorem with phi = negative entropy.
    """
    g = as_probabilities(truth_probs, "truth_probs")
    f_w = as_probabilities(weak_probs, "weak_probs")
    f_sw = as_probabilities(w2s_probs, "w2s_probs")
    check_same_shape({"truth_probs": g, "weak_probs": f_w, "w2s_probs": f_sw})
    weak_error = kl_divergence(g, f_w, sample_weight)
    w2s_error = kl_divergence(g, f_sw, sample_weight)
    misfit = kl_divergence(f_sw, f_w, sample_weight)
    if not np.isfinite(weak_error) or not np.isfinite(misfit):
        raise ValueError("weak_probs must be > 0 wherever truth_probs or w2s_probs has mass (KL is infinite)")
    terms = {"weak_error": weak_error, "w2s_error": w2s_error, "misfit": misfit, "gain": weak_error - w2s_error}
    return make_check("kl_theorem", terms, w2s_error, weak_error - misfit, rtol, atol)
