"""numba kernels behind the head classes.

There is one implementation of each projection in the package: the verified solvers of
:mod:`weakstrong.theory.projections`. These kernels are the fast batched versions used by the
simulations, and the tests check each against the theory layer's projection that computes the same
thing (``project_onto_subspace``, ``project_onto_ball``, ``project_onto_hull``, and
``simplex_least_squares`` for the simplex projection); a kernel with no theory equivalent would be
tested against a slow oracle kept in tests/, never against a second copy in this module.

Every kernel solves one convex head class exactly (closed form or a convex solver with a certificate),
batched over tasks with ``prange``; the moments they start from are batched matrix products (BLAS):

- ``linear_heads_batched``: weighted least squares per task, centred normal equations, Cholesky with a
  pseudo-inverse fallback (dead ReLU units make a Gram matrix singular; the min-norm solution still gives
  the unique projection);
- ``ball_solve_batched`` (with ``secular_multiplier``): the norm-ball constrained head, from an
  eigendecomposition of the centred Gram matrix and Newton's method on the secular equation
  ``1/||c(mu)|| = 1/R`` (More & Sorensen 1983);
- ``hull_solve_moments``: simplex weights of a convex combination of k fixed
  predictors by FISTA with adaptive restart and Euclidean projections onto the simplex (Condat 2016),
  polished by solving the KKT system on the identified support, and stopped on the Frank-Wolfe duality
  gap, which bounds the suboptimality.

Conventions: task-first arrays, features (T, n, d), targets (T, R, n) (R target sets sharing one Gram
matrix per task), sample weights (T, n); float64 and C-contiguous (the wrappers in ``heads`` ensure it).
``linear_heads_batched`` and ``ball_heads_batched`` are the thin wrappers (moments, then kernel).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

# Eigenvalues below this fraction of the largest are treated as zero (pseudo-inverse cut-off).
RCOND = 1e-12


@numba.njit(cache=True)
def solve_psd(C, B, rcond):
    """Min-norm solution of ``C X^T = B^T`` for a PSD matrix C (d, d) and right-hand sides B (R, d).

    Cholesky when every pivot is safely positive, otherwise an eigendecomposition pseudo-inverse.
    """
    d = C.shape[0]
    R = B.shape[0]
    scale = 0.0
    for a in range(d):
        scale = max(scale, C[a, a])
    L = np.zeros((d, d))
    ok = scale > 0.0
    if ok:
        for j in range(d):
            s = C[j, j]
            for k in range(j):
                s -= L[j, k] * L[j, k]
            if s <= rcond * 1e4 * scale:
                ok = False
                break
            L[j, j] = np.sqrt(s)
            for i in range(j + 1, d):
                s2 = C[i, j]
                for k in range(j):
                    s2 -= L[i, k] * L[j, k]
                L[i, j] = s2 / L[j, j]
    out = np.zeros((R, d))
    if ok:
        z = np.zeros(d)
        for r in range(R):
            for i in range(d):          # forward: L z = b
                s = B[r, i]
                for k in range(i):
                    s -= L[i, k] * z[k]
                z[i] = s / L[i, i]
            for i in range(d - 1, -1, -1):   # backward: L^T x = z
                s = z[i]
                for k in range(i + 1, d):
                    s -= L[k, i] * out[r, k]
                out[r, i] = s / L[i, i]
        return out
    if scale == 0.0:
        return out
    lam, Q = np.linalg.eigh(C)
    cut = rcond * lam[-1]
    for r in range(R):
        proj = Q.T @ B[r]
        for a in range(d):
            proj[a] = proj[a] / lam[a] if lam[a] > cut else 0.0
        out[r] = Q @ proj
    return out


def centred_moments(X, Y, W, fit_intercept):
    """Weighted means and centred moments of every task, batched with BLAS (``np.matmul`` over tasks).

    X (T, n, d), Y (T, R, n), W (T, n) -> mu (T, d), ybar (T, R), C (T, d, d), B (T, R, d).
    """
    n = X.shape[1]
    if np.all(W == W[:, :1]):
        # Uniform weights (the common case): raw moments minus the outer product of the means, which
        # avoids a centred copy of the features; the cancellation costs about 2 log10(|mean| / sd) digits,
        # negligible for ReLU features whose means and spreads are of one order.
        C = np.matmul(X.transpose(0, 2, 1), X) / n                        # (T, d, d)
        B = np.matmul(Y, X) / n                                            # (T, R, d)
        if fit_intercept:
            mu, ybar = X.mean(axis=1), Y.mean(axis=2)
            C -= mu[:, :, None] * mu[:, None, :]
            B -= ybar[:, :, None] * mu[:, None, :]
        else:
            mu, ybar = np.zeros((X.shape[0], X.shape[2])), np.zeros(Y.shape[:2])
        return mu, ybar, np.ascontiguousarray(C), np.ascontiguousarray(B)
    w = W / W.sum(axis=1, keepdims=True)                                   # (T, n), rows sum to 1
    if fit_intercept:
        mu = np.einsum("tn,tnd->td", w, X)
        ybar = np.einsum("tn,trn->tr", w, Y)
        Xc, Yc = X - mu[:, None, :], Y - ybar[:, :, None]
    else:
        mu, ybar = np.zeros((X.shape[0], X.shape[2])), np.zeros(Y.shape[:2])
        Xc, Yc = X, Y
    Xw = Xc * w[:, :, None]
    C = np.matmul(Xc.transpose(0, 2, 1), Xw)
    B = np.matmul(Yc, Xw)
    return mu, ybar, np.ascontiguousarray(C), np.ascontiguousarray(B)


@numba.njit(parallel=True, cache=True)
def solve_psd_batched(C, B, ridge):
    """Min-norm solutions per task of (C_t + ridge I) coef = B_t: C (T, d, d), B (T, R, d) -> (T, R, d)."""
    T, R, d = B.shape
    coef = np.zeros((T, R, d))
    for t in prange(T):
        Ct = C[t].copy()
        for a in range(d):
            Ct[a, a] += ridge
        coef[t] = solve_psd(Ct, B[t], RCOND)
    return coef


def linear_heads_batched(X, Y, W, fit_intercept, ridge):
    """Least-squares heads per task: X (T, n, d), Y (T, R, n), W (T, n) -> coef (T, R, d), intercept (T, R).

    The moments are batched matrix products (BLAS); the T small solves run in the numba kernel
    :func:`solve_psd_batched`, in parallel over tasks.
    """
    mu, ybar, C, B = centred_moments(X, Y, W, fit_intercept)
    coef = solve_psd_batched(C, B, float(ridge))
    return coef, ybar - np.einsum("trd,td->tr", coef, mu)


@numba.njit(cache=True)
def secular_multiplier(lam, b, radius, rcond):
    """The multiplier mu >= 0 with ||c(mu)|| = radius, c_a(mu) = b_a / (lam_a + mu) (0 if unconstrained).

    Components with lam_a <= rcond * max(lam) are dropped (pseudo-inverse), so at mu = 0 the candidate is
    the min-norm least-squares head. For mu > 0, phi(mu) = 1/||c(mu)|| - 1/radius is concave and
    increasing, so Newton's method from mu = 0 increases monotonically to the root.
    """
    cut = rcond * lam[-1]
    norm2 = 0.0
    for a in range(lam.shape[0]):
        if lam[a] > cut:
            norm2 += (b[a] / lam[a]) ** 2
    if norm2 <= radius * radius:
        return 0.0
    mu = 0.0
    for _ in range(200):
        s2 = 0.0
        s3 = 0.0
        for a in range(lam.shape[0]):
            # dropped directions come back in once mu > 0: (lam + mu) is then safely positive
            denom = (lam[a] if lam[a] > cut else 0.0) + mu
            if denom <= 0.0:
                continue
            q = b[a] * b[a] / (denom * denom)
            s2 += q
            s3 += q / denom
        norm = np.sqrt(s2)
        phi = 1.0 / norm - 1.0 / radius
        if abs(phi) * radius < 1e-14:
            break
        step = phi / (s3 / (norm * norm * norm))
        mu -= step
        if abs(step) <= 1e-15 * max(mu, 1e-300):
            break
    return mu


@numba.njit(parallel=True, cache=True)
def ball_solve_batched(C, B, radius):
    """Ball-constrained solutions per task from centred moments: C (T, d, d), B (T, R, d).

    Returns coef (T, R, d) and the multipliers mu (T, R) of the secular equation.
    """
    T, R, d = B.shape
    coef = np.zeros((T, R, d))
    mult = np.zeros((T, R))
    for t in prange(T):
        lam, Q = np.linalg.eigh(C[t])
        cut = RCOND * lam[-1]
        for r in range(R):
            bq = Q.T @ B[t, r]
            m = secular_multiplier(lam, bq, radius, RCOND)
            for a in range(d):
                den = (lam[a] if lam[a] > cut else 0.0) + m
                bq[a] = bq[a] / den if den > 0.0 else 0.0
            coef[t, r] = Q @ bq
            mult[t, r] = m
    return coef, mult


def ball_heads_batched(X, Y, W, radius):
    """Ball-constrained heads per task (intercept free): -> coef (T, R, d), intercept (T, R), mu (T, R)."""
    mu, ybar, C, B = centred_moments(X, Y, W, True)
    coef, mult = ball_solve_batched(C, B, float(radius))
    return coef, ybar - np.einsum("trd,td->tr", coef, mu), mult


@numba.njit(cache=True)
def project_simplex(v):
    """Euclidean projection of v onto the probability simplex (sort-based; Condat 2016, Alg. 1)."""
    k = v.shape[0]
    u = np.sort(v)[::-1]
    css = 0.0
    theta = 0.0
    for j in range(k):
        css += u[j]
        t = (css - 1.0) / (j + 1)
        if u[j] - t > 0.0:
            theta = t
    out = np.empty(k)
    for j in range(k):
        out[j] = max(v[j] - theta, 0.0)
    return out


@numba.njit(cache=True)
def _fw_gap(G, b, w):
    grad = 2.0 * (G @ w - b)
    return np.dot(grad, w) - np.min(grad)


@numba.njit(cache=True)
def _polish_support(G, b, w):
    """Solve the equality-constrained QP on the support of w (the KKT system, least squares if singular).

    When FISTA has found the optimal support this returns the exact minimiser (up to rounding); the
    caller keeps it only if it is feasible and its duality gap is smaller.
    """
    k = w.shape[0]
    support = np.where(w > 1e-12)[0]
    m = support.shape[0]
    A = np.zeros((m + 1, m + 1))
    rhs = np.zeros(m + 1)
    for i in range(m):
        for j in range(m):
            A[i, j] = 2.0 * G[support[i], support[j]]
        A[i, m] = 1.0
        A[m, i] = 1.0
        rhs[i] = 2.0 * b[support[i]]
    rhs[m] = 1.0
    sol = np.linalg.lstsq(A, rhs)[0]
    out = np.zeros(k)
    for i in range(m):
        out[support[i]] = sol[i]
    return out


@numba.njit(cache=True)
def simplex_qp(G, b, tol, max_iter):
    """min_w w^T G w - 2 b^T w over the simplex, by FISTA with adaptive restart and support polishing.

    Returns ``(w, gap)`` with ``gap`` the Frank-Wolfe duality gap ``grad.w - min_j grad_j`` at w,
    an upper bound on the objective's excess over its minimum. Stops when ``gap <= tol``. Every 50
    iterations the KKT system on the current support is solved exactly; once FISTA has identified the
    optimal support this ends the iteration with the exact minimiser.
    """
    k = G.shape[0]
    lmax = np.linalg.eigvalsh(G)[-1]
    step = 1.0 / (2.0 * lmax) if lmax > 0.0 else 1.0
    w = np.full(k, 1.0 / k)
    y = w.copy()
    tk = 1.0
    gap = _fw_gap(G, b, w)
    f_old = np.inf
    for it in range(max_iter):
        if gap <= tol:
            break
        if it % 50 == 49:
            polished = _polish_support(G, b, w)
            if polished.min() >= 0.0:
                pgap = _fw_gap(G, b, polished)
                if pgap < gap:
                    w, gap = polished, pgap
                    y = w.copy()
                    tk = 1.0
                    f_old = np.dot(w, G @ w) - 2.0 * np.dot(b, w)
                    continue
        grad_y = 2.0 * (G @ y - b)
        w_new = project_simplex(y - step * grad_y)
        f_new = np.dot(w_new, G @ w_new) - 2.0 * np.dot(b, w_new)
        if f_new > f_old:   # restart the momentum when the objective goes up (O'Donoghue & Candes 2015)
            tk = 1.0
            y = w.copy()
            continue
        t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * tk * tk))
        y = w_new + ((tk - 1.0) / t_new) * (w_new - w)
        w = w_new
        tk = t_new
        f_old = f_new
        gap = _fw_gap(G, b, w)
    return w, gap


@numba.njit(parallel=True, cache=True)
def hull_solve_moments(G, B, yy, tol, max_iter):
    """Simplex QPs per task from moments: G (T, k, k) Gram matrices of the k predictors' outputs, B (T, k)
    their cross-moments with the target, yy (T,) mean squared targets (all under the sample weights).

    Returns weights (T, k) and duality gaps (T,); ``tol`` is relative to yy, so it is scale-free.
    """
    T, k = B.shape
    weights = np.zeros((T, k))
    gaps = np.zeros(T)
    for t in prange(T):
        w, gap = simplex_qp(G[t], B[t], tol * max(yy[t], 1e-300), max_iter)
        weights[t] = w
        gaps[t] = gap
    return weights, gaps
