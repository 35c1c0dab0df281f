"""What the projections onto convex sets share: the result type, the simplex least-squares kernel, the
Frank-Wolfe optimality gap and exact power-of-two rescaling. A module of its own so that the L2 projections
(:mod:`~weakstrong.theory.projections`) and the reverse-KL one (:mod:`~weakstrong.theory.kl_projection`)
both build on it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import linalg, optimize

from .validation import as_finite_array

__all__ = ["EPS", "PATIENCE", "Projection", "exponent", "frank_wolfe_gap", "simplex_least_squares",
           "simplex_least_squares_scaled"]

EPS = np.finfo(float).eps
# Steps without a resolvable decrease of F or a new smallest gap before an iterative solver gives up.
PATIENCE = 5


@dataclass(frozen=True)
class Projection:
    """The result of a projection; fields that a class does not use are None.

    Attributes
    ----------
    fitted : the projected predictions on the sample, same shape as the target.
    coef : linear head theta, shape (d,) or (d, k), for subspace and ball projections.
    intercept : bias of the linear head (subspace projection with ``fit_intercept``).
    weights : simplex weights over the k predictors (hull projections).
    optimality_gap : for iterative or active-set solvers, the Frank-Wolfe gap max_j <grad, w - e_j>, an
        upper bound on the objective's distance to its minimum; None for closed forms.
    converged : for iterative solvers, whether ``optimality_gap`` reached the requested tolerance.
    """

    fitted: np.ndarray
    coef: np.ndarray | None = None
    intercept: float | np.ndarray | None = None
    weights: np.ndarray | None = None
    optimality_gap: float | None = None
    converged: bool | None = None


def exponent(a: np.ndarray) -> int:
    """e with max|a| / 2**e in [0.5, 1) (0 for a zero array): dividing by 2**e is exact and ends near 1."""
    top = float(np.max(np.abs(a))) if a.size else 0.0
    return int(np.frexp(top)[1]) if top > 0 else 0


def simplex_least_squares_scaled(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The kernel of :func:`simplex_least_squares`, for validated arrays of magnitude ~1 or less."""
    k = a.shape[1]
    cmat = a - b[:, None]
    if cmat.shape[0] > k:
        cmat = linalg.qr(cmat, mode="r")[0][:k]
    scale = float(np.max(np.linalg.norm(cmat, axis=0)))
    if scale == 0.0:  # every predictor equals the target: any weights are optimal
        return np.full(k, 1.0 / k)
    system = np.vstack([cmat / scale, np.ones((1, k))])
    # Unit columns (u_j = v_j / norm_j, an exact change of variables): a column far longer than the rest,
    # as the Newton model of the KL projection has for a nearly vanishing weight, would otherwise set the
    # rounding level of every other weight.
    norms = np.linalg.norm(system, axis=0)
    rhs = np.zeros(system.shape[0])
    rhs[-1] = 1.0
    u = optimize.nnls(system / norms, rhs, maxiter=50 * k + 100)[0] / norms
    return u / u.sum()


def simplex_least_squares(a: Any, b: Any) -> np.ndarray:
    """argmin_{w in simplex} ||a w - b||^2 (exact active-set solution).

    Since sum(w) = 1, a w - b = C w with C = a - b 1^T, so this is the minimum-norm point of the convex hull
    of C's columns. If u >= 0 minimises ||C u||^2 + (1^T u - 1)^2 (a nonnegative least-squares problem,
    solved exactly by the Lawson-Hanson active-set method), then w = u / 1^T u: the KKT conditions of the
    two problems coincide with nu = (1 - 1^T u) / 1^T u (Lawson & Hanson 1974, the LDP/NNLS duality).
    C is first reduced to its k x k triangular factor and rescaled, which changes neither minimiser.

    Parameters
    ----------
    a : (m, k) matrix whose columns are the k predictors (already sqrt(w)-scaled).
    b : (m,) target (already sqrt(w)-scaled).

    Returns
    -------
    (k,) simplex weights.
    """
    a = as_finite_array(a, "a", ndim=2)
    b = as_finite_array(b, "b", ndim=1)
    if b.shape[0] != a.shape[0]:
        raise ValueError(f"b must have one entry per row of a ({a.shape[0]}), got shape {b.shape}")
    e = max(exponent(a), exponent(b))
    return simplex_least_squares_scaled(np.ldexp(a, -e), np.ldexp(b, -e))


def frank_wolfe_gap(grad: np.ndarray, weights: np.ndarray) -> float:
    """max_j <grad, w - e_j> >= f(w) - min f for convex f on the simplex; zero exactly at the optimum.

    Inactive vertices (w_j = 0) may have an infinite gradient: they enter only through the min (gap inf).
    """
    active = weights > 0
    return max(float(grad[active] @ weights[active] - grad.min()), 0.0)
