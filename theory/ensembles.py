"""Ensembles of weak teachers and the selection of a weak model, in the misfit theory's terms.

A convex combination of weak predictors f_bar = sum_j alpha_j f_j is itself a weak teacher, so Theorem 1
applies to it; the ambiguity decomposition says how much better than its average member it is. Misfit
needs no gold labels, so weak_error - misfit ranks candidate teachers by an upper bound on the error of
the student they would produce (Charikar, Pabbaraju & Shiragur 2024, Sec. 5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .boundcheck import EQUALITY_RTOL, INEQUALITY_RTOL, BoundCheck, make_check, misfit_terms
from .distances import weighted_sq_distance
from .validation import (
    as_finite_array,
    as_nonnegative_array,
    as_predictions,
    as_simplex_weights,
    check_scale,
    normalized_weights,
)


def _ensemble(members: Any, weights: Any, truth: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    t = as_predictions(truth, "truth")
    m = as_finite_array(members, "members", ndim=t.ndim + 1)
    if m.shape[1:] != t.shape:
        raise ValueError(f"members must have shape (k,) + {t.shape} to match truth, got {m.shape}")
    check_scale({"members": m, "truth": t})
    alpha = as_simplex_weights(weights, "weights", k=m.shape[0])
    return m, alpha, np.tensordot(alpha, m, axes=1), t


def ambiguity_decomposition(
    members: Any, weights: Any, truth: Any, sample_weight: Any = None, rtol: float = EQUALITY_RTOL
) -> BoundCheck:
    """Ambiguity decomposition: d(f_bar, f*) = sum_j alpha_j d(f_j, f*) - sum_j alpha_j d(f_j, f_bar).

    Holds for any predictors f_j, simplex weights alpha and squared L2(P); f_bar = sum_j alpha_j f_j.
    Proof: pointwise, (f_bar - y)^2 = sum_j alpha_j (f_j - y)^2 - sum_j alpha_j (f_j - f_bar)^2 because the
    alpha-weighted mean of f_j - f_bar is zero; then take E_P.

    Parameters
    ----------
    members : (k, n) or (k, n, c) predictions of the k members.
    weights : (k,) simplex weights alpha.
    truth : (n,) or (n, c) predictions of f*.

    Returns
    -------
    BoundCheck (equality) with lhs = ensemble_error, bound = mean_member_error - ambiguity.

    References
    ----------
    Krogh & Vedelsby (1995), "Neural network ensembles, cross validation, and active learning".
    """
    m, alpha, f_bar, t = _ensemble(members, weights, truth)
    w = normalized_weights(sample_weight, t.shape[0])
    member_errors = np.array([weighted_sq_distance(f, t, w) for f in m])
    spreads = np.array([weighted_sq_distance(f, f_bar, w) for f in m])
    terms = {
        "ensemble_error": weighted_sq_distance(f_bar, t, w),
        "mean_member_error": float(alpha @ member_errors),
        "ambiguity": float(alpha @ spreads),
    }
    return make_check(
        "ambiguity_decomposition", terms, terms["ensemble_error"],
        terms["mean_member_error"] - terms["ambiguity"], rtol, equality=True,
    )


def ensemble_theorem1(
    members: Any, weights: Any, truth: Any, w2s: Any, sample_weight: Any = None, rtol: float = INEQUALITY_RTOL
) -> BoundCheck:
    """Theorem 1 with the ensemble f_bar = sum_j alpha_j f_j as the weak teacher.

    d(f_sw, f*) <= d(f_bar, f*) - d(f_sw, f_bar)
               = sum_j alpha_j d(f_j, f*) - sum_j alpha_j d(f_j, f_bar) - d(f_sw, f_bar),
    the second line by :func:`ambiguity_decomposition`: the student beats the average member by the
    ensemble's ambiguity plus its misfit to the ensemble.

    Assumptions: V_s convex and closed, f* in V_s, f_sw the L2(P) projection of f_bar onto V_s.

    Returns
    -------
    BoundCheck with lhs = w2s_error, bound = ensemble_error - misfit; terms add mean_member_error and
    ambiguity.

    References
    ----------
    Charikar, Pabbaraju & Shiragur (2024), Theorem 1, applied to a convex combination of weak models.
    """
    m, alpha, f_bar, _ = _ensemble(members, weights, truth)
    ambiguity = ambiguity_decomposition(m, alpha, truth, sample_weight)
    terms = misfit_terms(truth, f_bar, w2s, sample_weight)
    terms = {
        "ensemble_error": terms["weak_error"],
        "w2s_error": terms["w2s_error"],
        "misfit": terms["misfit"],
        "gain": terms["gain"],
        "mean_member_error": ambiguity.terms["mean_member_error"],
        "ambiguity": ambiguity.terms["ambiguity"],
    }
    return make_check(
        "ensemble_theorem1", terms, terms["w2s_error"], terms["ensemble_error"] - terms["misfit"], rtol,
        scale=terms["ensemble_error"] + terms["w2s_error"] + terms["misfit"] + abs(terms["gain"]),
    )


@dataclass(frozen=True)
class WeakModelRanking:
    """Weak models ordered by the upper bound weak_error - misfit on their students' error.

    Attributes
    ----------
    order : indices of the weak models, best (smallest bound) first; ties keep input order.
    scores : (m,) the bound weak_error - misfit for each weak model, in input order.
    """

    order: np.ndarray
    scores: np.ndarray

    @property
    def best(self) -> int:
        return int(self.order[0])


def rank_weak_models(weak_errors: Any, misfits: Any) -> WeakModelRanking:
    """Rank candidate weak teachers by weak_error - misfit (smaller is better).

    Under Theorem 1's assumptions (realizable, convex V_s, f_sw the projection), weak_error - misfit is an
    upper bound on the error of the student trained on each teacher, so the top-ranked teacher's student
    has error at most min_j (weak_error_j - misfit_j). Misfit needs no gold labels; weak_error needs them
    only for the (usually small) weak model.

    Parameters
    ----------
    weak_errors : (m,) d(f_w_j, f*) for each candidate.
    misfits : (m,) d(f_sw_j, f_w_j) for each candidate's student.

    References
    ----------
    Charikar, Pabbaraju & Shiragur (2024), the weak-model selection experiment.
    """
    errors = as_nonnegative_array(weak_errors, "weak_errors")
    fits = as_nonnegative_array(misfits, "misfits")
    if errors.shape != fits.shape:
        raise ValueError(f"weak_errors and misfits must have the same length, got {errors.shape} and {fits.shape}")
    scores = errors - fits
    return WeakModelRanking(order=np.argsort(scores, kind="stable"), scores=scores)


def selection_bound(
    weak_errors: Any, misfits: Any, w2s_errors: Any, rtol: float = INEQUALITY_RTOL
) -> BoundCheck:
    """The student of the top-ranked weak teacher has error <= min_j (weak_error_j - misfit_j).

    Assumptions: those of Theorem 1 for every candidate teacher j (realizable, convex V_s, each f_sw_j the
    projection of f_w_j). Then w2s_error_j <= weak_error_j - misfit_j for every j, in particular for the
    argmin chosen by :func:`rank_weak_models`.

    Parameters
    ----------
    weak_errors, misfits, w2s_errors : (m,) per-candidate d(f_w_j, f*), d(f_sw_j, f_w_j), d(f_sw_j, f*).

    Returns
    -------
    BoundCheck with lhs = w2s_error of the chosen teacher, bound = its score (the smallest).
    """
    ranking = rank_weak_models(weak_errors, misfits)
    w2s = as_nonnegative_array(w2s_errors, "w2s_errors")
    if w2s.shape != ranking.scores.shape:
        raise ValueError(f"w2s_errors must have length {ranking.scores.size}, got {w2s.shape}")
    best = ranking.best
    errors, fits = as_finite_array(weak_errors, "weak_errors"), as_finite_array(misfits, "misfits")
    terms = {
        "chosen": best,
        "weak_error": float(errors[best]),
        "misfit": float(fits[best]),
        "w2s_error": w2s[best],
        "best_possible_w2s_error": float(w2s.min()),
    }
    scale = terms["weak_error"] + terms["misfit"] + terms["w2s_error"]
    return make_check("weak_model_selection", terms, w2s[best], ranking.scores[best], rtol, scale=scale)
