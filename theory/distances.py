"""Distances between predictors, measured on a sample: squared L2(P), KL, and Bregman divergences.

A predictor is represented by its predictions on the sample points x_1..x_n, an array of shape (n,) or
(n, k); P is the empirical measure, optionally reweighted by ``sample_weight`` (normalised to sum to one).
Every distance below is therefore a weighted mean over samples, E_P[...]. References: Charikar, Pabbaraju &
Shiragur (2024), "Quantifying the Gain in Weak-to-Strong Generalization", d_P(f, g) = E_P (f - g)^2;
Mulgund & Pabbaraju (2025), the Bregman/KL version of the misfit inequality.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from scipy import special

from .validation import as_predictions, as_probabilities, check_same_shape, check_scale, normalized_weights


def _pair(f: Any, g: Any, names: tuple[str, str], scaled: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Two validated predictors of one shape; ``scaled`` also checks their magnitude (see ``check_scale``)."""
    a, b = as_predictions(f, names[0]), as_predictions(g, names[1])
    check_same_shape({names[0]: a, names[1]: b})
    if scaled:
        check_scale({names[0]: a, names[1]: b})
    return a, b


def weighted_mean(values: np.ndarray, w: np.ndarray) -> float:
    """sum_i w_i values_i over the samples of positive weight only.

    A sample of zero weight is outside the support of P, so it contributes 0 even where its value is
    infinite (a KL with q_ic = 0 < p_ic) or undefined: 0 * inf would otherwise make the mean NaN.
    """
    return float(w @ np.where(w > 0, values, 0.0))


def _rowwise(values: np.ndarray) -> np.ndarray:
    """Collapse the output axis: (n,) stays, (n, k) becomes the sum over k."""
    return values if values.ndim == 1 else values.sum(axis=1)


def weighted_inner(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> float:
    """<a, b>_P for validated arrays of one shape and normalised weights (no checks: callers validate)."""
    return float(w @ _rowwise(a * b))


def weighted_sq_distance(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> float:
    """d_P(a, b) for validated arrays of one shape and normalised weights (no checks: callers validate)."""
    diff = a - b
    return float(w @ _rowwise(diff * diff))


def inner_product(f: Any, g: Any, sample_weight: Any = None) -> float:
    """L2(P) inner product <f, g>_P = E_P <f(x), g(x)>.

    Parameters
    ----------
    f, g : arrays of shape (n,) or (n, k), the same shape.
    sample_weight : (n,) nonnegative weights, not all zero, or None for uniform.

    Returns
    -------
    float : sum_i w_i <f_i, g_i> with weights normalised to sum to one.
    """
    a, b = _pair(f, g, ("f", "g"))
    return weighted_inner(a, b, normalized_weights(sample_weight, a.shape[0]))


def sq_distance(f: Any, g: Any, sample_weight: Any = None) -> float:
    """Squared L2(P) distance d_P(f, g) = E_P ||f(x) - g(x)||^2.

    Parameters
    ----------
    f, g : arrays of shape (n,) or (n, k), the same shape (for (n, k), the squared Euclidean norm over k).
    sample_weight : (n,) nonnegative weights, not all zero, or None for uniform.

    Returns
    -------
    float : the weighted mean of squared differences, >= 0; zero iff f = g on the weighted support.

    References
    ----------
    Charikar, Pabbaraju & Shiragur (2024), Sec. 2: d_P(f, g) = E_{x~P} (f(x) - g(x))^2.
    """
    a, b = _pair(f, g, ("f", "g"))
    return weighted_sq_distance(a, b, normalized_weights(sample_weight, a.shape[0]))


def pointwise_kl(p: Any, q: Any) -> np.ndarray:
    """KL(p_i || q_i) = sum_c p_ic log(p_ic / q_ic) for each row i.

    Parameters
    ----------
    p, q : (n, C) arrays whose rows are probability vectors (entries >= 0, rows summing to 1).

    Returns
    -------
    (n,) array of divergences in nats, with 0 log 0 = 0; +inf where q_ic = 0 < p_ic.
    """
    a = as_probabilities(p, "p")
    b = as_probabilities(q, "q")
    check_same_shape({"p": a, "q": b})
    return special.rel_entr(a, b).sum(axis=1)


def kl_divergence(p: Any, q: Any, sample_weight: Any = None) -> float:
    """E_P KL(p(x) || q(x)), the weighted mean over rows of :func:`pointwise_kl`.

    Parameters
    ----------
    p, q : (n, C) arrays of probability vectors. By the convention of the misfit theory for
        classification, the truth goes in the first argument of an error and the student in the first
        argument of a misfit: err = E KL(g* || f), misfit = E KL(f_sw || f_w).
    sample_weight : (n,) nonnegative weights, not all zero, or None for uniform.

    Returns
    -------
    float : >= 0, possibly +inf if q puts zero mass where p does not on a sample of positive weight
    (samples of zero weight never count, even with an infinite divergence).
    """
    d = pointwise_kl(p, q)
    return weighted_mean(d, normalized_weights(sample_weight, d.shape[0]))


def bregman_divergence(
    p: Any,
    q: Any,
    phi: Callable[[np.ndarray], np.ndarray],
    grad_phi: Callable[[np.ndarray], np.ndarray],
    sample_weight: Any = None,
) -> float:
    """E_P D_phi(p(x), q(x)) with D_phi(u, v) = phi(u) - phi(v) - <grad phi(v), u - v>.

    Parameters
    ----------
    p, q : arrays of shape (n,) or (n, k), the same shape; (n,) is treated as (n, 1).
    phi : convex potential, mapping an (n, k) array to the (n,) values phi(row).
    grad_phi : its gradient, mapping an (n, k) array to (n, k).
    sample_weight : (n,) nonnegative weights, not all zero, or None for uniform.

    Returns
    -------
    float : the weighted mean divergence. ``phi = squared_norm`` gives :func:`sq_distance`;
    ``phi = negative_entropy`` on probability rows gives :func:`kl_divergence`.

    References
    ----------
    Bregman (1967); Mulgund & Pabbaraju (2025) for the misfit inequality in this generality.
    """
    for name, func in (("phi", phi), ("grad_phi", grad_phi)):
        if not callable(func):
            raise ValueError(f"{name} must be a function of an (n, k) array, got {type(func).__name__}")
    a, b = _pair(p, q, ("p", "q"), scaled=False)
    a, b = a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)
    w = normalized_weights(sample_weight, a.shape[0])
    phi_a, phi_b = np.asarray(phi(a), dtype=float), np.asarray(phi(b), dtype=float)
    grad_b = np.asarray(grad_phi(b), dtype=float)
    if phi_a.shape != (a.shape[0],) or phi_b.shape != (a.shape[0],):
        raise ValueError(f"phi must map an (n, k) array to shape ({a.shape[0]},), got {phi_a.shape}")
    if grad_b.shape != b.shape:
        raise ValueError(f"grad_phi must map an (n, k) array to the same shape {b.shape}, got {grad_b.shape}")
    # A coordinate where p = q adds 0 to <grad phi(q), p - q>, even where the gradient is infinite (log 0
    # for the negative entropy): the KL convention 0 log 0 = 0. A sample of zero weight adds 0 in any case.
    with np.errstate(invalid="ignore"):
        rows = phi_a - phi_b - np.sum(np.where(a == b, 0.0, grad_b * (a - b)), axis=1)
    return weighted_mean(rows, w)


def squared_norm(u: np.ndarray) -> np.ndarray:
    """phi(u) = ||u||^2 per row; its Bregman divergence is the squared Euclidean distance."""
    return np.sum(u * u, axis=1)


def grad_squared_norm(u: np.ndarray) -> np.ndarray:
    """Gradient of :func:`squared_norm`: 2u."""
    return 2.0 * u


def negative_entropy(u: np.ndarray) -> np.ndarray:
    """phi(u) = sum_c u_c log u_c per row (0 log 0 = 0); its Bregman divergence on the simplex is KL."""
    return special.xlogy(u, u).sum(axis=1)


def grad_negative_entropy(u: np.ndarray) -> np.ndarray:
    """Gradient of :func:`negative_entropy`: log u + 1 (-inf where u = 0)."""
    with np.errstate(divide="ignore"):
        return np.log(u) + 1.0
