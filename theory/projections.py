"""Projections onto convex classes of predictors, in L2(P) on a sample (and one in reverse KL).

The weak-to-strong student of the misfit theory is a projection: f_sw = argmin_{f in V_s} d_P(f, f_w),
with V_s = {f o h_s : f in F_s} convex (Charikar, Pabbaraju & Shiragur 2024). Every solver here is exact or
iterates to a tight optimality test, because the slack of Theorem 1 is exactly twice the variational
inequality <f_w - f_sw, f_sw - f*>_P >= 0 of the projection: a sloppy solver shows up as a fake violation.

P is the empirical measure reweighted by ``sample_weight`` (normalised to sum to one). Solvers work on
sqrt(w)-scaled rows, so that E_P (y - X theta)^2 = ||sqrt(w) (y - X theta)||^2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import linalg, optimize, special

from .validation import (
    as_finite_array,
    as_predictions,
    as_probabilities,
    check_positive,
    normalized_weights,
)

_EPS = np.finfo(float).eps


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
    """

    fitted: np.ndarray
    coef: np.ndarray | None = None
    intercept: float | np.ndarray | None = None
    weights: np.ndarray | None = None
    optimality_gap: float | None = None


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
    if fit_intercept:
        x_mean, y_mean = w @ x, w @ y
        xc, yc = x - x_mean, y - y_mean
    else:
        xc, yc = x, y
    a, b = _row_scale(w, xc), _row_scale(w, yc)
    if ridge > 0:
        d = x.shape[1]
        a = np.vstack([a, np.sqrt(ridge) * np.eye(d)])
        b = np.concatenate([b, np.zeros((d,) + b.shape[1:])])
    # The rank cutoff of the ball solver: LAPACK's default (eps * s_max) keeps round-off directions of a
    # collinear design, whose huge coefficients wreck the fitted values. gelsy (QR with column pivoting)
    # is rank-revealing like the SVD driver and about 3x faster on tall designs (5000 x 1537: 6 s vs 18 s).
    coef = linalg.lstsq(a, b, cond=max(a.shape) * _EPS, lapack_driver="gelsy")[0]  # (d,) or (d, k)
    intercept = (y_mean - x_mean @ coef) if fit_intercept else None
    fitted = x @ coef + (intercept if fit_intercept else 0.0)
    return Projection(fitted=fitted, coef=coef, intercept=intercept)


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
    condition number.

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
    u, s, vt = np.linalg.svd(_row_scale(w, x), full_matrices=False)
    c = u.T @ _row_scale(w, y)  # (r,) or (r, k)
    # Directions below the rank cutoff are treated as the exact null space of the design.
    keep = s > (s[0] if s.size else 0.0) * max(x.shape) * _EPS
    s, c, vt = s[keep], c[keep], vt[keep]
    c_sq = c**2 if c.ndim == 1 else np.sum(c**2, axis=1)
    zero = np.zeros((x.shape[1],) + y.shape[1:])
    if s.size == 0 or radius == 0:
        return Projection(fitted=x @ zero, coef=zero)
    mu = 0.0
    if np.sum(c_sq / s**2) > radius**2:  # the least-squares head lies outside the ball
        mu_hi = float(np.sqrt(np.sum(c_sq * s**2))) / radius
        if not np.isfinite(mu_hi):
            # A radius so small that the multiplier overflows: theta(mu) -> X^T W y / mu, rescaled to it.
            direction = vt.T @ (s * c if c.ndim == 1 else s[:, None] * c)
            coef = direction * (radius / np.linalg.norm(direction))
            return Projection(fitted=x @ coef, coef=coef)
        mu = _secular_root(s**2, c_sq, radius, mu_hi)
    scale = s / (s**2 + mu)
    coef = vt.T @ (scale * c if c.ndim == 1 else scale[:, None] * c)
    norm = np.linalg.norm(coef)
    if norm > radius:  # rounding only: keep the returned head feasible
        coef = coef * (radius / norm)
    return Projection(fitted=x @ coef, coef=coef)


def simplex_least_squares(a: np.ndarray, b: np.ndarray) -> np.ndarray:
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
    k = a.shape[1]
    cmat = a - b[:, None]
    if cmat.shape[0] > k:
        cmat = linalg.qr(cmat, mode="r")[0][:k]
    scale = float(np.max(np.linalg.norm(cmat, axis=0)))
    if scale == 0.0:  # every predictor equals the target: any weights are optimal
        return np.full(k, 1.0 / k)
    system = np.vstack([cmat / scale, np.ones((1, k))])
    rhs = np.zeros(system.shape[0])
    rhs[-1] = 1.0
    u = optimize.nnls(system, rhs, maxiter=50 * k + 100)[0]
    return u / u.sum()


def _frank_wolfe_gap(grad: np.ndarray, weights: np.ndarray) -> float:
    """max_j <grad, w - e_j> >= f(w) - min f for convex f on the simplex; zero exactly at the optimum."""
    return max(float(grad @ weights - grad.min()), 0.0)


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
    ``optimality_gap`` (of the objective E_P (f - target)^2; the KKT test of the solution).

    Notes
    -----
    Solved exactly by :func:`simplex_least_squares`; no step size or iteration count to tune.
    """
    x, y, w = _design(predictions, target, sample_weight)
    if y.ndim != 1:
        raise ValueError(f"target must be 1-D (one scalar prediction per sample), got shape {y.shape}")
    weights = simplex_least_squares(_row_scale(w, x), _row_scale(w, y))
    fitted = x @ weights
    grad = 2.0 * (x.T @ (w * (fitted - y)))
    return Projection(fitted=fitted, weights=weights, optimality_gap=_frank_wolfe_gap(grad, weights))


def project_onto_box(target: Any, lower: Any, upper: Any) -> Projection:
    """L2(P) projection onto the box {f : lower <= f(x) <= upper}: pointwise clipping.

    The class constrains each sample independently, so the projection is the same for every weighting P
    (samples with zero weight are clipped too). ``lower``/``upper`` are scalars or arrays broadcastable to
    ``target``, with lower <= upper.
    """
    y = as_predictions(target, "target")
    lo = np.broadcast_to(np.asarray(lower, dtype=float), y.shape) if np.ndim(lower) else float(lower)
    hi = np.broadcast_to(np.asarray(upper, dtype=float), y.shape) if np.ndim(upper) else float(upper)
    if np.any(np.isnan(lo)) or np.any(np.isnan(hi)):
        raise ValueError("lower and upper must not be NaN")
    if np.any(np.asarray(lo) > np.asarray(hi)):
        raise ValueError("lower must be <= upper everywhere")
    return Projection(fitted=np.clip(y, lo, hi))


def project_onto_cone(target: Any) -> Projection:
    """L2(P) projection onto the nonnegative cone {f : f(x) >= 0}: the positive part, for any weighting."""
    return Projection(fitted=np.maximum(as_predictions(target, "target"), 0.0))


def _mixture_kl(weights: np.ndarray, comps: np.ndarray, log_teacher: np.ndarray, w: np.ndarray) -> float:
    mix = np.tensordot(weights, comps, axes=1)
    return float(w @ (special.xlogy(mix, mix) - mix * log_teacher).sum(axis=1))


def _kl_gradient(
    weights: np.ndarray, comps: np.ndarray, log_teacher: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mixture (clamped away from 0 for the logarithm), log(m / t), and the gradient of F in w."""
    mix = np.maximum(np.tensordot(weights, comps, axes=1), np.finfo(float).tiny)  # (n, C)
    log_ratio = np.log(mix) - log_teacher
    # dF/dw_j = E_P sum_c p_jc (log(m_c / t_c) + 1); the +1 is constant on the simplex and dropped.
    return mix, log_ratio, np.einsum("knc,n,nc->k", comps, w, log_ratio)


def kl_project_onto_hull(
    components: Any,
    teacher: Any,
    sample_weight: Any = None,
    tol: float = 1e-14,
    max_iter: int = 200,
) -> Projection:
    """Reverse-KL (information) projection of a teacher onto the convex hull of probability predictors.

    Minimises F(w) = E_P KL(sum_j w_j p_j || teacher) over the simplex: the student is in the FIRST argument,
    as in the Bregman misfit inequality E KL(g* || f_sw) <= E KL(g* || f_w) - E KL(f_sw || f_w)
    (Mulgund & Pabbaraju 2025). F is convex in w (KL is convex in its first argument, and the mixture is
    linear in w). Solved by proximal Newton: each step minimises the second-order model of F over the
    simplex exactly (:func:`simplex_least_squares` on the factor of the Hessian
    H_jl = E_P sum_c p_jc p_lc / m_c), then backtracks on F; converges quadratically near the optimum.

    Parameters
    ----------
    components : (k, n, C) probability predictors p_j(x_i) (rows on the simplex).
    teacher : (n, C) probability vectors f_w(x_i); must be > 0 wherever some component has mass,
        otherwise every mixture has infinite divergence there.
    sample_weight : (n,) nonnegative weights, not all zero, or None.
    tol : stop when the Frank-Wolfe gap (an upper bound on F(w) - min F) is below ``tol``.
    max_iter : cap on Newton steps.

    Returns
    -------
    Projection with ``fitted`` = the mixture (n, C), ``weights`` and ``optimality_gap``.
    """
    comps = as_probabilities(components, "components", ndim=3)
    t = as_probabilities(teacher, "teacher")
    if comps.shape[1:] != t.shape:
        raise ValueError(
            f"components must have shape (k, {t.shape[0]}, {t.shape[1]}) to match teacher {t.shape}, "
            f"got {comps.shape}"
        )
    if np.any((t == 0) & (comps.max(axis=0) > 0)):
        raise ValueError("teacher must be > 0 wherever some component has mass (the KL would be infinite)")
    w = normalized_weights(sample_weight, t.shape[0])
    k = comps.shape[0]
    log_t = np.log(np.where(t > 0, t, 1.0))
    tiny = np.finfo(float).tiny
    weights = np.full(k, 1.0 / k)
    objective = _mixture_kl(weights, comps, log_t, w)
    mix, log_ratio, grad = _kl_gradient(weights, comps, log_t, w)
    gap = _frank_wolfe_gap(grad, weights)
    for _ in range(max_iter):
        if gap <= tol:
            break
        # Second-order model: g^T d + 1/2 d^T H d = 1/2 ||A v - (A w - s)||^2 + const, with H = A^T A,
        # A_(ic),j = sqrt(w_i / m_ic) p_jic and g = A^T s, s_ic = sqrt(w_i m_ic) log(m_ic / t_ic).
        root = np.sqrt(w)[:, None] / np.sqrt(mix)
        a = (comps * root[None]).reshape(k, -1).T  # (n C, k)
        s = (np.sqrt(w)[:, None] * np.sqrt(mix) * log_ratio).ravel()
        # A tiny ridge keeps the model strictly convex when components coincide; it moves no fixed point.
        damp = np.sqrt(1e-12 * max(float(np.sum(a * a)) / k, tiny))
        a_aug = np.vstack([a, damp * np.eye(k)])
        b_aug = np.concatenate([a @ weights - s, damp * weights])
        direction = simplex_least_squares(a_aug, b_aug) - weights
        # Centring the gradient removes the rounding of sum(direction) = 0 from the slope.
        slope = float((grad - grad @ weights) @ direction)
        if slope >= 0:
            break
        # Near the optimum F changes by less than its rounding error, so Armijo alone would stall at a
        # gap ~ sqrt(eps); a step that stays within that noise and halves the gap is accepted as well.
        noise = 64 * _EPS * max(abs(objective), 1.0)
        step, improved = 1.0, False
        while step > 1e-12:
            candidate = np.clip(weights + step * direction, 0.0, None)
            candidate /= candidate.sum()
            value = _mixture_kl(candidate, comps, log_t, w)
            new = _kl_gradient(candidate, comps, log_t, w)
            new_gap = _frank_wolfe_gap(new[2], candidate)
            if value <= objective + 1e-4 * step * slope or (value <= objective + noise and new_gap < gap / 2):
                improved = True
                break
            step *= 0.5
        if not improved:
            break  # at the floating-point floor of F and of its gradient
        weights, objective, gap = candidate, value, new_gap
        mix, log_ratio, grad = new
    fitted = np.tensordot(weights, comps, axes=1)
    return Projection(fitted=fitted, weights=weights, optimality_gap=gap)
