"""The reverse-KL (information) projection of a teacher onto the convex hull of probability predictors.

The student of the KL/Bregman form of the misfit theory (Mulgund & Pabbaraju 2025) minimises
F(w) = E_P KL(sum_j w_j p_j || teacher) over the simplex. Unlike the L2 projections of
:mod:`weakstrong.theory.projections`, which are closed forms or finite algorithms, this one iterates
(proximal Newton with exact line searches, Frank-Wolfe and away steps as fallbacks) to a tight Frank-Wolfe
gap, and says so when it cannot reach it (``Projection.converged``).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .simplex import EPS as _EPS, PATIENCE as _PATIENCE, Projection, frank_wolfe_gap as _frank_wolfe_gap
from .simplex import simplex_least_squares_scaled as _simplex_least_squares
from .validation import as_probabilities, check_integer, check_positive, normalized_weights

# Below this weight, a component is moved by its own line search (see _newton_step) rather than by the
# Newton model of the KL projection.
_TINY_WEIGHT = 1e-12


def _kl_state(weights: np.ndarray, problem: tuple) -> tuple:
    """F(w), its exact gradient, the mixture m, log(m / t) + 1 on the support cells (0 elsewhere), the
    Frank-Wolfe gap and the scale of the gradient's rounding error (see :func:`_within`).

    F(w) = E_P sum_c m_c log(m_c / t_c); dF/dw_j = E_P sum_c p_jc (log(m_c / t_c) + 1). The +1 is kept: rows
    sum to 1 only within SIMPLEX_ATOL, so dropping it would bias the gap by up to 1e-6. A support cell the
    mixture has lost (m = 0 where some component has mass) gives -inf to every component with mass there.
    """
    comps, log_t, w, support, _ = problem
    mix = np.tensordot(weights, comps, axes=1)  # (n, C)
    inside = support & (mix > 0)
    log_ratio = np.where(inside, np.log(np.where(inside, mix, 1.0)) - log_t, 0.0)
    value = float(np.sum(w[:, None] * mix * log_ratio))
    log_ratio = np.where(inside, log_ratio + 1.0, 0.0)
    grad = np.einsum("knc,nc->k", comps, w[:, None] * log_ratio)
    size = float(np.max(np.einsum("knc,nc->k", comps, w[:, None] * np.abs(log_ratio))))  # rounding scale
    lost = support & ~inside
    if lost.any():
        grad[np.any(comps[:, lost] > 0, axis=1)] = -np.inf
    return value, grad, mix, log_ratio, _frank_wolfe_gap(grad, weights), size


def _model_target(a: np.ndarray, s: np.ndarray, weights: np.ndarray, fixed: np.ndarray, values: np.ndarray
                  ) -> np.ndarray:
    """argmin over the simplex of the model 1/2 ||A v - (A w - s)||^2, with v[fixed] = values."""
    free = ~fixed
    rest = 1.0 - values.sum()  # the free weights are rest * u, u on the simplex
    b = a @ weights - s - a[:, fixed] @ values
    a = rest * a[:, free]
    # A tiny ridge keeps the model strictly convex when components coincide; it moves no fixed point. It is
    # relative to each component's own curvature, which can differ by many orders of magnitude.
    damp = 1e-6 * np.maximum(np.linalg.norm(a, axis=0), np.sqrt(np.finfo(float).tiny))
    target = np.empty_like(weights)
    target[fixed] = values
    target[free] = rest * _simplex_least_squares(np.vstack([a, np.diag(damp)]),
                                                 np.concatenate([b, damp * weights[free] / rest]))
    return target


def _newton_step(weights: np.ndarray, state: tuple, problem: tuple) -> tuple | None:
    """A proximal Newton step: minimise the second-order model of F over the simplex, then search the line.

    Small weights need care: where w_j p_j dominates the mixture, grad_j ~ (w_j H_jj) log w_j, which no
    quadratic model follows (and whose slope is -inf at 0 for a component that alone carries some class).
    Weights below _TINY_WEIGHT are held fixed (moved one by one by :func:`_tiny_steps`: their curvature
    ~ 1/w_j would dwarf the rest of the model); a component that alone carries some class and that the
    model would cut by more than half is set by one Newton step in log w_j instead,
    w_j exp(-(grad_j - level) / (w_j H_jj)), level the mean gradient under the target, and the model is
    solved again for the others. Such a weight can be astronomically small at the optimum.
    """
    comps, _, w, support, alone = problem
    _, grad, mix, log_ratio, gap, _ = state
    if not np.isfinite(gap):
        return None
    k = comps.shape[0]
    # Model: g^T d + 1/2 d^T H d = 1/2 ||A v - (A w - s)||^2 + const, with H = A^T A, g = A^T s,
    # A_(ic),j = sqrt(w_i / m_ic) p_jic and s_ic = sqrt(w_i m_ic) (log(m_ic / t_ic) + 1) on support cells.
    safe = np.where(support, mix, 1.0)
    root = np.where(support, np.sqrt(w)[:, None] / np.sqrt(safe), 0.0)
    a = (comps * root[None]).reshape(k, -1).T  # (n C, k)
    s = (np.sqrt(w)[:, None] * np.sqrt(np.where(support, mix, 0.0)) * log_ratio).ravel()
    # Held fixed: tiny weights, and the zero weights that may not enter (grad_j >= the mean gradient: the
    # optimality condition of an inactive vertex), which the coupling of the model would otherwise drag
    # in at a weight of 1e-19, say, where the line search then stalls on their log-regime curvature.
    active = weights > 0
    fixed = (active & (weights < _TINY_WEIGHT)) | (~active & (grad >= grad[active] @ weights[active]))
    if fixed.all():
        return None
    target = _model_target(a, s, weights, fixed, weights[fixed])
    cut = alone & ~fixed & (target < 0.5 * weights)
    if cut.any() and not (fixed | cut).all():
        log_slope = np.maximum(weights * np.sum(a * a, axis=0), np.finfo(float).tiny)  # w_j H_jj
        with np.errstate(over="ignore"):  # clipped: a shrink below e^-745 is 0, floored at 1e-300
            shrink = np.exp(np.clip(-(grad - grad @ target) / log_slope, -745.0, np.log(0.5)))
        values = np.where(cut, np.maximum(weights * shrink, 1e-300), weights)
        target = _model_target(a, s, weights, fixed | cut, values[fixed | cut])
    return _search(weights, state, target - weights, 1.0, problem)


def _tiny_steps(weights: np.ndarray, state: tuple, problem: tuple) -> tuple | None:
    """Exact line searches that move each tiny weight held fixed by :func:`_newton_step` on its own, up or
    down (possibly to 0) as its gradient is below or above the mean gradient. The mass moves between it
    and the largest weight (a pairwise step, e_j - e_b): the direction sums to 0 exactly, where w - e_j
    would leave a rounding error far above the slope of a weight of 1e-20."""
    tiny = np.flatnonzero((weights > 0) & (weights < _TINY_WEIGHT))
    moved = None
    for j in tiny:
        grad, big = state[1], int(np.argmax(weights))
        active = weights > 0
        pair = np.zeros(weights.size)
        pair[j], pair[big] = 1.0, -1.0
        step = (_search(weights, state, pair, weights[big], problem)
                if grad[j] < float(grad[active] @ weights[active]) else
                _search(weights, state, -pair, weights[j], problem))
        if step is not None:
            (weights, state), moved = step, step
    return moved


def _frank_wolfe_step(weights: np.ndarray, state: tuple, problem: tuple) -> tuple | None:
    """The Frank-Wolfe step (towards the best vertex) or the away step (away from the worst active vertex),
    whichever promises the larger first-order decrease |slope| * longest step: it leaves a vertex or face
    where the Newton model fails. (Comparing slopes alone would keep choosing to shrink a component that
    alone carries some class, whose weight can never reach 0, by ever smaller amounts.)"""
    grad = state[1]
    k = weights.size
    toward = int(np.argmin(grad))
    active = np.flatnonzero(weights > 0)
    away = int(active[np.argmax(grad[active])])
    current = float(grad[active] @ weights[active])
    away_max = weights[away] / (1.0 - weights[away]) if weights[away] < 1.0 else 0.0
    if current - grad[toward] >= (grad[away] - current) * away_max:
        return _search(weights, state, np.eye(k)[toward] - weights, 1.0, problem)
    return _search(weights, state, weights - np.eye(k)[away], away_max, problem)


def _search(weights: np.ndarray, state: tuple, direction: np.ndarray, s_max: float, problem: tuple
            ) -> tuple | None:
    """The exact minimiser of F on the segment w + s d, 0 <= s <= s_max, with its state (None if F cannot
    decrease along d).

    The step is the root of the slope phi'(s) = E_P sum_c dm_c (log(m_c(s) / t_c) + 1), increasing in s,
    found by Newton (phi'' = E_P sum_c dm_c^2 / m_c) safeguarded by bisection. The slope, unlike F, is
    accurate to rounding relative to itself, so this keeps making progress where F's own differences are
    below its rounding error; and as the slope is +inf where a class of the support would vanish, the
    step never leaves the support (a component that alone carries a class shrinks by a factor instead).
    """
    comps, log_t, w, support, _ = problem
    grad = state[1]
    # sum(direction) = 0 holds only up to rounding, and the gradient's level (~ log(m / t), up to 700)
    # times that rounding would swamp the slope near the optimum: both slopes are centred on that level.
    active = weights > 0
    level = float(grad[active] @ weights[active])
    shift = float(direction.sum()) * level
    if not float((grad - level) @ np.where(direction != 0, direction, 0.0)) < 0:
        return None
    m0, dm = np.tensordot(weights, comps, axes=1), np.tensordot(direction, comps, axes=1)
    cells = support & (dm != 0)
    wdm, m0, dm, log_t, wc = (w[:, None] * dm)[cells], m0[cells], dm[cells], log_t[cells], \
        np.broadcast_to(w[:, None], support.shape)[cells]

    def slopes(step: float) -> tuple[float, float]:
        m = np.maximum(m0 + step * dm, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            first = float(wdm @ (np.log(m) - log_t + 1.0)) - shift
            second = float(wc @ (dm * dm / m))
        return (np.inf if np.isnan(first) else first), second  # NaN: +inf meets -inf, at a vanishing class

    # The root can be as small as a vanishing weight (1e-60, say): while the bracket spans orders of
    # magnitude it is split at its geometric mean, so finding the order takes ~10 steps, not ~200.
    def split(lo: float, hi: float) -> float:
        return float(np.sqrt(max(lo, 1e-300 * hi) * hi)) if hi > 4 * lo else 0.5 * (lo + hi)

    lo, hi, step = 0.0, s_max, s_max  # a Newton direction's step is ~1: start there
    for _ in range(200):
        first, second = slopes(step)
        if step == s_max and first <= 0:
            break
        lo, hi = (step, hi) if first < 0 else (lo, step)
        candidate = step - first / second if np.isfinite(first) and second > 0 else split(lo, hi)
        if not lo < candidate < hi:
            candidate = split(lo, hi)
        if abs(candidate - step) <= 4 * _EPS * step or hi - lo <= _EPS * hi:
            step = candidate
            break
        step = candidate
    if not step > 0:
        return None
    candidate = np.clip(weights + step * direction, 0.0, None)
    candidate /= candidate.sum()
    new = _kl_state(candidate, problem)
    return (candidate, new) if np.isfinite(new[4]) else None


def _within(state: tuple, tol: float) -> bool:
    """Whether the gap is at most ``tol`` times the scale of the gradient's rounding error (see
    :func:`kl_project_onto_hull`)."""
    return bool(state[4] <= tol * max(1.0, state[5]))


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
    H_jl = E_P sum_c p_jc p_lc / m_c), then minimises F exactly along the step (:func:`_search`);
    converges quadratically near the optimum.

    Exact zeros. The slope of F is -inf towards any component with mass where the mixture has none, so
    the minimiser keeps every class some component reaches (on samples of positive weight), although the
    weight of a component that alone carries a class can be astronomically small there. The solver starts
    at the uniform mixture, which has that support, and never leaves it (the line search cannot cross an
    infinite slope); weights in that regime are moved in log scale or by their own line searches
    (:func:`_newton_step`), and where the Newton model stalls a Frank-Wolfe or away step takes over.

    Parameters
    ----------
    components : (k, n, C) probability predictors p_j(x_i) (rows on the simplex).
    teacher : (n, C) probability vectors f_w(x_i); must be > 0 wherever some component has mass on a
        sample of positive weight, otherwise every mixture has infinite divergence there.
    sample_weight : (n,) nonnegative weights, not all zero, or None.
    tol : >= 0; stop when the Frank-Wolfe gap (an upper bound on F(w) - min F) is at most ``tol`` times the
        scale of the gradient's rounding error, max(1, max_j E_P sum_c p_jc |log(m_c / t_c) + 1|) (the gap
        is a difference of gradient entries, which reach ~700 for a teacher mass of 1e-300).
    max_iter : integer >= 0, cap on Newton (or Frank-Wolfe) steps.

    Returns
    -------
    Projection with ``fitted`` = the mixture (n, C), ``weights``, ``optimality_gap`` (absolute) and
    ``converged`` (whether the gap met ``tol``). A result that has not converged, because ``max_iter`` ran
    out or the gap stopped shrinking at the floating-point floor, also raises a ``RuntimeWarning``: never
    a silent stop.
    """
    comps = as_probabilities(components, "components", ndim=3)
    t = as_probabilities(teacher, "teacher")
    if comps.shape[1:] != t.shape:
        raise ValueError(
            f"components must have shape (k, {t.shape[0]}, {t.shape[1]}) to match teacher {t.shape}, "
            f"got {comps.shape}"
        )
    w = normalized_weights(sample_weight, t.shape[0])
    tol = check_positive(tol, "tol", allow_zero=True)
    max_iter = check_integer(max_iter, "max_iter")
    support = (comps.max(axis=0) > 0) & (w > 0)[:, None]  # (n, C) cells that count and some p_j reaches
    if np.any(support & (t == 0)):
        raise ValueError(
            "teacher must be > 0 wherever some component has mass on a sample of positive weight "
            "(the KL would be infinite)"
        )
    sole = support & ((comps > 0).sum(axis=0) == 1)  # (n, C) cells exactly one component reaches
    alone = np.any((comps > 0) & sole[None], axis=(1, 2))  # (k,) components that alone carry some class
    problem = (comps, np.log(np.where(support, t, 1.0)), w, support, alone)
    weights = np.full(comps.shape[0], 1.0 / comps.shape[0])
    state = _kl_state(weights, problem)
    best, stalled = (weights, state), 0
    for _ in range(max_iter):
        if _within(best[1], tol) or stalled >= _PATIENCE:
            break
        start = state
        step = _newton_step(weights, state, problem) or _frank_wolfe_step(weights, state, problem)
        tiny = None if step is not None and _within(step[1], tol) else \
            _tiny_steps(*(step or (weights, state)), problem)
        if step is None and tiny is None:
            break  # at the floating-point floor of F and of its gradient
        # Progress: a smaller gap than any met so far (the gap is not monotone: keep the best point), or
        # a decrease of F beyond its rounding error.
        progress = False
        for point in (step, tiny):
            if point is not None and point[1][4] <= best[1][4]:
                progress, best = progress or point[1][4] < best[1][4], point
        weights, state = tiny or step
        progress = progress or state[0] < start[0] - 64 * _EPS * max(abs(start[0]), 1.0)
        stalled = 0 if progress else stalled + 1
    weights, state = best
    gap = state[4]
    converged = _within(state, tol)
    if not converged:
        warnings.warn(
            f"kl_project_onto_hull stopped with Frank-Wolfe gap {gap:.3g} above tol {tol:.3g} (times the "
            f"gradient scale {max(1.0, state[5]):.3g}); the result is flagged converged=False", RuntimeWarning,
            stacklevel=2,
        )
    return Projection(fitted=state[2], weights=weights, optimality_gap=gap, converged=converged)
