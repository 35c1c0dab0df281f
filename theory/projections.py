"""Projections onto convex classes of predictors, in L2(P) on a sample (and one in reverse KL).

The weak-to-strong student of the misfit theory is a projection: f_sw = argmin_{f in V_s} d_P(f, f_w),
with V_s = {f o h_s : f in F_s} convex (Charikar, Pabbaraju & Shiragur 2024). Every solver here is exact or
iterates to a tight optimality test, because the slack of Theorem 1 is exactly twice the variational
inequality <f_w - f_sw, f_sw - f*>_P >= 0 of the projection: a sloppy solver shows up as a fake violation.

P is the empirical measure reweighted by ``sample_weight`` (normalised to sum to one). Solvers work on
sqrt(w)-scaled rows, so that E_P (y - X theta)^2 = ||sqrt(w) (y - X theta)||^2. Features and targets are
divided by powers of two (exact) to magnitude ~1 before solving, so any finite scale works: data scaled
by 1e100 gives the same weights and fitted values scaled by 1e100.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import linalg

from .simplex import (  # noqa: F401  (Projection and simplex_least_squares are re-exported here)
    EPS as _EPS,
    Projection,
    exponent as _exponent,
    frank_wolfe_gap as _frank_wolfe_gap,
    simplex_least_squares,
    simplex_least_squares_scaled as _simplex_least_squares,
)
from .validation import (
    as_finite_array,
    as_predictions,
    as_real_array,
    check_positive,
    normalized_weights,
)

def _design(features: Any, target: Any, sample_weight: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = as_finite_array(features, "features", ndim=2)
    y = as_predictions(target, "target")
    if y.shape[0] != x.shape[0]:
        raise ValueError(
            f"target must have one row per row of features ({x.shape[0]}), got shape {y.shape}"
        )
    return x, y, normalized_weights(sample_weight, x.shape[0])


def _row_scale(w: np.ndarray, a: np.ndarray) -> np.ndarray:
    sw = np.sqrt(w)
    return sw[:, None] * a if a.ndim == 2 else sw * a


def _rank_cutoff(s: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Singular values kept as the numerical range; below it directions are the exact null space.

    LAPACK's default (eps * s_max) keeps round-off directions of a collinear design, whose huge
    coefficients wreck the fitted values.
    """
    return s > (s[0] if s.size else 0.0) * max(shape) * _EPS


def _check_flag(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def condition_number(features: Any, sample_weight: Any = None, fit_intercept: bool = True) -> float:
    """cond(sqrt(w) X) on the numerical range of the design that :func:`project_onto_subspace` solves.

    X is the (weighted-mean-centred, with ``fit_intercept``) design; singular values below the solvers'
    rank cutoff are the null space and do not count, so a collinear design has a finite condition number.
    1.0 for a zero design. The relative rounding error of the projection is ~ eps * this number.
    """
    x = as_finite_array(features, "features", ndim=2)
    w = normalized_weights(sample_weight, x.shape[0])
    fit_intercept = _check_flag(fit_intercept, "fit_intercept")
    x = np.ldexp(x, -_exponent(x))
    if fit_intercept:
        x = x - w @ x
    s = np.linalg.svd(_row_scale(w, x), compute_uv=False)
    if not s.size or s[0] == 0:
        return 1.0
    return float(s[0] / s[_rank_cutoff(s, x.shape)].min())


def project_onto_subspace(
    features: Any,
    target: Any,
    sample_weight: Any = None,
    fit_intercept: bool = True,
    ridge: float = 0.0,
) -> Projection:
    """Orthogonal L2(P) projection onto the linear heads over fixed features, {x -> <theta, h(x)> (+ b)}.

    Solves min_{theta, b} E_P ||y - X theta - b||^2 + ridge ||theta||^2 by least squares on sqrt(w)-scaled,
    weighted-mean-centred rows (centring is the exact projection onto the bias direction). Rank-deficient
    features are handled: the fitted values are unique, theta is the minimum-norm solution.

    Parameters
    ----------
    features : (n, d) features h(x_i).
    target : (n,) or (n, k) predictions to project (e.g. the weak labels f_w(x_i)).
    sample_weight : (n,) nonnegative weights, not all zero, or None.
    fit_intercept : include an unpenalised bias b.
    ridge : >= 0. With ridge > 0 the result is a shrunk fit, not an orthogonal projection, and the
        equalities of the subspace theory no longer hold exactly.

    Returns
    -------
    Projection with ``fitted``, ``coef`` and ``intercept`` (None without ``fit_intercept``).
    """
    x, y, w = _design(features, target, sample_weight)
    ridge = check_positive(ridge, "ridge", allow_zero=True)
    fit_intercept = _check_flag(fit_intercept, "fit_intercept")
    ex, ey = _exponent(x), _exponent(y)
    xs, ys = np.ldexp(x, -ex), np.ldexp(y, -ey)  # theta = 2**(ey - ex) theta_s, ridge_s = ridge / 4**ex
    if fit_intercept:
        x_mean, y_mean = w @ xs, w @ ys
        xc, yc = xs - x_mean, ys - y_mean
    else:
        xc, yc = xs, ys
    a, b = _row_scale(w, xc), _row_scale(w, yc)
    with np.errstate(over="ignore", under="ignore"):  # a ridge beyond the float range shrinks theta to 0
        ridge_s = min(float(np.ldexp(ridge, -2 * ex)), np.finfo(float).max)
    if ridge_s > 0:
        d = x.shape[1]
        a = np.vstack([a, np.sqrt(ridge_s) * np.eye(d)])
        b = np.concatenate([b, np.zeros((d,) + b.shape[1:])])
    # gelsy (QR with column pivoting) is rank-revealing like the SVD driver and about 3x faster on tall
    # designs (5000 x 1537: 6 s vs 18 s); its cutoff is the one of _rank_cutoff.
    coef = linalg.lstsq(a, b, cond=max(a.shape) * _EPS, lapack_driver="gelsy")[0]  # (d,) or (d, k)
    fitted = xs @ coef
    intercept = None
    if fit_intercept:
        intercept = np.ldexp(y_mean - x_mean @ coef, ey)
        fitted = fitted + (y_mean - x_mean @ coef)
    return Projection(fitted=np.ldexp(fitted, ey), coef=np.ldexp(coef, ey - ex), intercept=intercept)


def _secular_root(s2: np.ndarray, c_sq: np.ndarray, radius: float, mu_hi: float) -> float:
    """The mu > 0 with ||theta(mu)|| = radius, where ||theta(mu)||^2 = sum_j c_sq_j s2_j / (s2_j + mu)^2.

    Newton on g(mu) = 1 / ||theta(mu)|| - 1 / radius (increasing in mu, nearly linear: the classical
    trust-region secular equation), safeguarded by bisection inside the bracket [0, mu_hi].
    """
    lo, hi, mu = 0.0, mu_hi, 0.0
    for _ in range(200):
        denom = s2 + mu
        ratio = c_sq * s2 / denom**2
        q = float(ratio.sum())
        g = 1.0 / np.sqrt(q) - 1.0 / radius
        if g < 0:
            lo = mu
        else:
            hi = mu
        slope = float((ratio / denom).sum()) / q**1.5  # g'(mu) = -q'/(2 q^{3/2}), q' = -2 sum ratio/denom
        candidate = mu - g / slope if slope > 0 else 0.5 * (lo + hi)
        if not lo < candidate < hi:
            candidate = 0.5 * (lo + hi)
        if abs(candidate - mu) <= 4 * _EPS * max(mu, _EPS * mu_hi):
            return candidate
        mu = candidate
    return mu


def project_onto_ball(features: Any, target: Any, radius: float, sample_weight: Any = None) -> Projection:
    """L2(P) projection onto the norm ball of linear heads {x -> <theta, h(x)> : ||theta|| <= radius}.

    With the SVD sqrt(w) X = U diag(s) V^T and c = U^T sqrt(w) y, the minimiser is
    theta(mu) = V diag(s / (s^2 + mu)) c: mu = 0 (minimum-norm least squares) if that is inside the ball,
    otherwise the unique mu > 0 solving the secular equation ||theta(mu)|| = radius, found by safeguarded
    Newton (||theta(mu)|| decreases in mu and is <= ||X^T W y|| / mu, which brackets the root). This is the
    eigendecomposition of the weighted Gram matrix X^T W X = V diag(s^2) V^T, computed without squaring the
    condition number. X and y are first scaled to magnitude ~1 (the radius with them), so neither the
    data's scale nor a tiny radius over- or underflows; once mu exceeds s_max^2 / eps the head is
    radius * X^T W y / ||X^T W y|| to rounding, and that limit is returned directly.

    Parameters
    ----------
    features : (n, d) features h(x_i).
    target : (n,) or (n, k) predictions to project; for (n, k) the ball is in Frobenius norm of theta.
    radius : >= 0, the bound B on ||theta||. A bias can be included by appending a constant feature
        (it is then part of the norm).
    sample_weight : (n,) nonnegative weights, not all zero, or None.

    Returns
    -------
    Projection with ``fitted`` and ``coef`` (||coef|| <= radius).
    """
    x, y, w = _design(features, target, sample_weight)
    radius = check_positive(radius, "radius", allow_zero=True)
    zero = np.zeros((x.shape[1],) + y.shape[1:])
    ex, ey = _exponent(x), _exponent(y)
    if radius == 0 or not x.any() or not y.any():
        return Projection(fitted=x @ zero, coef=zero)
    # theta = 2**(ey - ex) theta_s for the scaled data, whose ball has radius r = radius * 2**(ex - ey).
    xs, ys = np.ldexp(x, -ex), np.ldexp(y, -ey)
    with np.errstate(over="ignore", under="ignore"):  # r = inf: least squares; r = 0: the limit direction
        r = float(np.ldexp(radius, ex - ey))
    u, s, vt = np.linalg.svd(_row_scale(w, xs), full_matrices=False)
    c = u.T @ _row_scale(w, ys)  # (r,) or (r, k)
    keep = _rank_cutoff(s, x.shape)
    s, c, vt = s[keep], c[keep], vt[keep]
    c_sq = c**2 if c.ndim == 1 else np.sum(c**2, axis=1)
    if s.size == 0:
        return Projection(fitted=x @ zero, coef=zero)
    mu = 0.0
    if np.sum(c_sq / s**2) > r**2:  # the least-squares head lies outside the ball
        direction = vt.T @ (s * c if c.ndim == 1 else s[:, None] * c)  # X^T W y, scaled
        size = float(np.linalg.norm(direction))
        if r * s[0] ** 2 <= _EPS * size:  # mu >= size / r - s_max^2 > s_max^2 / eps: the limit direction
            coef = direction * (radius / size)
            return Projection(fitted=x @ coef, coef=coef)
        mu = _secular_root(s**2, c_sq, r, size / r)
    scale = s / (s**2 + mu)
    coef = vt.T @ (scale * c if c.ndim == 1 else scale[:, None] * c)
    norm = np.linalg.norm(coef)
    if norm > r:  # rounding only: keep the returned head feasible
        coef = coef * (r / norm)
    coef = np.ldexp(coef, ey - ex)
    return Projection(fitted=x @ coef, coef=coef)


def project_onto_hull(predictions: Any, target: Any, sample_weight: Any = None) -> Projection:
    """L2(P) projection onto the convex hull of k predictors, {sum_j w_j f_j : w in simplex}.

    Parameters
    ----------
    predictions : (n, k), column j the predictions of predictor f_j on the sample.
    target : (n,) predictions to project.
    sample_weight : (n,) nonnegative weights, not all zero, or None.

    Returns
    -------
    Projection with ``fitted`` = predictions @ weights, ``weights`` on the simplex, and
    ``optimality_gap`` (of the objective E_P (f - target)^2; the KKT test of the solution; it is a square
    of the data's scale, so it overflows to inf for data beyond ~1e154).

    Notes
    -----
    Solved exactly by :func:`simplex_least_squares`; no step size or iteration count to tune.
    """
    x, y, w = _design(predictions, target, sample_weight)
    if y.ndim != 1:
        raise ValueError(f"target must be 1-D (one scalar prediction per sample), got shape {y.shape}")
    e = max(_exponent(x), _exponent(y))
    xs, ys = np.ldexp(x, -e), np.ldexp(y, -e)
    weights = _simplex_least_squares(_row_scale(w, xs), _row_scale(w, ys))
    grad = 2.0 * (xs.T @ (w * (xs @ weights - ys)))
    with np.errstate(over="ignore", under="ignore"):  # a square of the data's scale, as documented
        gap = float(np.ldexp(_frank_wolfe_gap(grad, weights), 2 * e))
    return Projection(fitted=x @ weights, weights=weights, optimality_gap=gap)


def project_onto_box(target: Any, lower: Any, upper: Any) -> Projection:
    """L2(P) projection onto the box {f : lower <= f(x) <= upper}: pointwise clipping.

    The class constrains each sample independently, so the projection is the same for every weighting P
    (samples with zero weight are clipped too). ``lower``/``upper`` are scalars or arrays broadcastable to
    ``target``, with lower <= upper; they may be -inf / +inf (an unbounded side), never NaN.
    """
    y = as_predictions(target, "target")
    bounds = {}
    for name, value in (("lower", lower), ("upper", upper)):
        arr = as_real_array(value, name, allow_inf=True)
        try:
            bounds[name] = np.broadcast_to(arr, y.shape)
        except ValueError as exc:
            raise ValueError(f"{name} must be a scalar or broadcastable to target's shape {y.shape}, "
                             f"got shape {arr.shape}") from exc
    if np.any(bounds["lower"] > bounds["upper"]):
        raise ValueError("lower must be <= upper everywhere")
    return Projection(fitted=np.clip(y, bounds["lower"], bounds["upper"]))


def project_onto_cone(target: Any) -> Projection:
    """L2(P) projection onto the nonnegative cone {f : f(x) >= 0}: the positive part, for any weighting."""
    return Projection(fitted=np.maximum(as_predictions(target, "target"), 0.0))


# The reverse-KL projection lives in its own module (it is an iterative solver, the rest here are exact);
# imported last, since it builds on the definitions above.
from .kl_projection import kl_project_onto_hull  # noqa: E402,F401
