"""Convex head classes over frozen features, solved exactly and batched across tasks.

The strong class of the misfit theory (Charikar, Pabbaraju & Shiragur 2024, Thm. 1) is
V_s = {f o h_s : f in F_s} with F_s convex; the weak-to-strong head is the projection of the weak labels
onto it, and the theorem's inequality is exact for an exact projection. Each class here is solved exactly:

- :class:`LinearHead` -- unconstrained linear heads (V_s a subspace: gain = misfit when realizable);
  weighted least squares via centred normal equations, one Cholesky factorisation shared by all tasks
  when the tasks share their features (BLAS for large d), a numba ``prange`` kernel over tasks otherwise;
- :class:`BallHead` -- ``||coef||_2 <= radius`` (intercept free), the class of the finite-sample bound
  (Thm. 2); one eigendecomposition per Gram matrix, then the secular equation per task;
- :class:`HullHead` -- the convex hull of k fixed heads (simplex weights), a convex QP per task solved by
  FISTA to a certified duality gap.

Shapes (task-first everywhere): features are shared ``(n, d)`` or per task ``(T, n, d)``; targets are
``(T, n)`` (or ``(n,)`` for one task, with outputs squeezed accordingly); ``sample_weight`` is ``(n,)``
or ``(T, n)``. ``predict(features)`` returns ``(T, n)``. Fitted state ends in an underscore
(``coef_`` (T, d), ``intercept_`` (T,)).

Examples
--------
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(200, 5)); Y = rng.normal(size=(3, 200))
>>> head = LinearHead().fit(X, Y)          # three tasks, one Gram matrix
>>> head.predict(X).shape
(3, 200)
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from weakstrong.sim import kernels
from weakstrong.sim.common import check_finite, check_positive_int

# Shared-feature Gram matrices are accumulated over row blocks of this size, so that centring and
# weighting never copy a (100k, 1024) feature matrix whole.
_GRAM_BLOCK = 8192


def _as_float(name: str, a, ndim: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim not in ndim:
        raise ValueError(f"{name} must have {' or '.join(map(str, ndim))} dimensions, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return np.ascontiguousarray(arr)


def validate_batch(features, targets, sample_weight=None, min_samples: int = 1):
    """Check and normalise ``(features, targets, sample_weight)``.

    Returns ``(X, Y, W, shared, single)``: X (n, d) if ``shared`` else (T, n, d); Y (T, n); W (T, n) or
    None when unweighted; ``single`` when the caller passed one task as a 1-d target.
    """
    X = _as_float("features", features, (2, 3))
    Y = _as_float("targets", targets, (1, 2))
    single = Y.ndim == 1
    if single:
        Y = Y[None, :]
    shared = X.ndim == 2
    n = X.shape[-2]
    if Y.shape[1] != n:
        raise ValueError(f"targets must have {n} samples per task (features {X.shape}), got {Y.shape}")
    if not shared and X.shape[0] != Y.shape[0]:
        raise ValueError(f"per-task features {X.shape} and targets {Y.shape} disagree on the number of tasks")
    if n < min_samples:
        raise ValueError(f"need at least {min_samples} samples, got n = {n}")
    W = None
    if sample_weight is not None:
        W = _as_float("sample_weight", sample_weight, (1, 2))
        if W.shape[-1] != n or (W.ndim == 2 and W.shape[0] != Y.shape[0]):
            raise ValueError(f"sample_weight must have shape ({n},) or ({Y.shape[0]}, {n}), got {W.shape}")
        if np.any(W < 0) or np.any(W.sum(axis=-1) <= 0):
            raise ValueError("sample_weight must be non-negative with a positive sum")
        W = np.ascontiguousarray(np.broadcast_to(W, Y.shape))
    return X, Y, W, shared, single


def _batched(X, Y, W, shared):
    """Arguments of a batched kernel: per-task features, targets (T, 1, n), weights (T, n)."""
    T, n = Y.shape
    if W is None:
        W = np.ones((T, n))
    if shared:
        # Only reached when per-task weights differ, so each task needs its own Gram matrix anyway.
        X = np.ascontiguousarray(np.broadcast_to(X, (T, *X.shape)))
    return X, np.ascontiguousarray(Y[:, None, :]), W


def centred_moments_shared(X: np.ndarray, Y: np.ndarray, w: np.ndarray | None, fit_intercept: bool):
    """Weighted means, centred Gram (d, d) and cross-moments (T, d) for features shared by all tasks."""
    n, d = X.shape
    wn = np.full(n, 1.0 / n) if w is None else w / w.sum()     # moments of the weighted mean
    mu = wn @ X if fit_intercept else np.zeros(d)
    ybar = Y @ wn if fit_intercept else np.zeros(Y.shape[0])
    C = np.zeros((d, d))
    B = np.zeros((Y.shape[0], d))
    for start in range(0, n, _GRAM_BLOCK):
        stop = min(start + _GRAM_BLOCK, n)
        Xc = X[start:stop] - mu                                  # (b, d)
        Yc = Y[:, start:stop] - ybar[:, None]                    # (T, b)
        if w is not None:
            Xw = Xc * wn[start:stop, None]
            C += Xc.T @ Xw
            B += Yc @ Xw
        else:
            C += Xc.T @ Xc
            B += Yc @ Xc
    if w is None:
        C /= n
        B /= n
    return mu, ybar, C, B


def solve_shared(C: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Min-norm solutions of ``C coef_t = B_t`` for PSD C: Cholesky (LAPACK), pseudo-inverse if singular."""
    try:
        factor = scipy.linalg.cho_factor(C, lower=True, check_finite=False)
        if np.min(np.abs(np.diag(factor[0]))) ** 2 > kernels.RCOND * 1e4 * np.max(np.diag(C)):
            return scipy.linalg.cho_solve(factor, B.T, check_finite=False).T
    except np.linalg.LinAlgError:
        pass
    lam, Q = np.linalg.eigh(C)
    inv = np.where(lam > kernels.RCOND * lam[-1], 1.0 / np.where(lam > 0, lam, 1.0), 0.0)
    return ((B @ Q) * inv) @ Q.T


class _LinearPredictor:
    """Shared ``predict`` of heads whose fitted state is ``coef_`` (T, d) and ``intercept_`` (T,)."""

    coef_: np.ndarray
    intercept_: np.ndarray
    _single: bool = False

    def predict(self, features) -> np.ndarray:
        """Predictions (T, n) for shared features (n, d) or per-task features (T, n, d)."""
        if not hasattr(self, "coef_"):
            raise ValueError(f"{type(self).__name__} is not fitted yet; call fit first")
        X = _as_float("features", features, (2, 3))
        coef = np.atleast_2d(self.coef_)
        intercept = np.atleast_1d(self.intercept_)
        if X.shape[-1] != coef.shape[1]:
            raise ValueError(f"features have {X.shape[-1]} columns, the head was fitted on {coef.shape[1]}")
        if X.ndim == 2:
            out = coef @ X.T + intercept[:, None]
        else:
            out = np.einsum("tnd,td->tn", X, coef) + intercept[:, None]
        return out[0] if self._single else out

    def _store(self, coef: np.ndarray, intercept: np.ndarray, single: bool) -> None:
        self._single = single
        self.coef_ = coef[0] if single else coef
        self.intercept_ = intercept[0] if single else intercept


class LinearHead(_LinearPredictor):
    """Unconstrained linear heads ``f(h) = coef . h + intercept`` fitted by weighted least squares.

    The fitted values are the L2(P_n) projection of each target onto span{features, 1}, unique even when
    the features are rank-deficient (then ``coef_`` is the minimum-norm solution).

    Parameters
    ----------
    fit_intercept : fit an unpenalised intercept.
    ridge : L2 penalty on ``coef``, added to the weighted *mean* squared error (0: the exact projection).
    """

    def __init__(self, fit_intercept: bool = True, ridge: float = 0.0):
        check_finite("LinearHead", "ridge", ridge, minimum=0.0)
        self.fit_intercept = fit_intercept
        self.ridge = float(ridge)

    def fit(self, features, targets, sample_weight=None) -> "LinearHead":
        X, Y, W, shared, single = validate_batch(features, targets, sample_weight)
        if shared and (W is None or np.all(W == W[:1])):
            mu, ybar, C, B = centred_moments_shared(X, Y, None if W is None else W[0], self.fit_intercept)
            coef = solve_shared(C + self.ridge * np.eye(C.shape[0]), B)
            intercept = ybar - coef @ mu
        else:
            Xb, Yb, Wb = _batched(X, Y, W, shared)
            coef, intercept = kernels.linear_heads_batched(Xb, Yb, Wb, self.fit_intercept, self.ridge)
            coef, intercept = coef[:, 0], intercept[:, 0]
        self._store(coef, intercept, single)
        return self


class BallHead(_LinearPredictor):
    """Norm-ball heads ``{coef . h + intercept : ||coef||_2 <= radius}`` (intercept unconstrained).

    The fit is the exact constrained least-squares solution: with the centred Gram matrix
    C = Q diag(lam) Q^T and b = Q^T X_c^T y, ``coef(mu) = Q diag(1/(lam + mu)) b`` with mu = 0 if the
    unconstrained min-norm solution is inside the ball, else the root of ``||coef(mu)|| = radius``.
    ``multiplier_`` (T,) holds mu (the KKT multiplier; > 0 exactly when the constraint is active).
    """

    def __init__(self, radius: float):
        check_finite("BallHead", "radius", radius, minimum=0.0, strict=True)
        self.radius = float(radius)

    def fit(self, features, targets, sample_weight=None) -> "BallHead":
        X, Y, W, shared, single = validate_batch(features, targets, sample_weight)
        if shared and (W is None or np.all(W == W[:1])):
            mu_x, ybar, C, B = centred_moments_shared(X, Y, None if W is None else W[0], True)
            lam, Q = np.linalg.eigh(C)
            Bq = B @ Q                                                    # (T, d)
            mult = np.array([kernels.secular_multiplier(lam, b, self.radius, kernels.RCOND) for b in Bq])
            lam_cut = np.where(lam > kernels.RCOND * lam[-1], lam, 0.0)
            denom = lam_cut[None, :] + mult[:, None]
            coef = np.where(denom > 0, Bq / np.where(denom > 0, denom, 1.0), 0.0) @ Q.T
            intercept = ybar - coef @ mu_x
        else:
            Xb, Yb, Wb = _batched(X, Y, W, shared)
            coef, intercept, mult = kernels.ball_heads_batched(Xb, Yb, Wb, self.radius)
            coef, intercept, mult = coef[:, 0], intercept[:, 0], mult[:, 0]
        self._store(coef, intercept, single)
        self.multiplier_ = mult[0] if single else mult
        return self


def l1_ball_vertices(dim: int, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Vertices of the L1 ball of ``radius`` in (coef, intercept) space: ``+-radius`` on each axis.

    Returns ``(vertices (2 (dim + 1), dim), vertex_intercepts (2 (dim + 1),))``; the convex hull of these
    heads is ``{(coef, b) : ||coef||_1 + |b| <= radius}``, a generic convex head class for :class:`HullHead`.
    """
    check_positive_int("l1_ball_vertices", "dim", dim)
    check_finite("l1_ball_vertices", "radius", radius, minimum=0.0, strict=True)
    eye = radius * np.eye(dim + 1)
    stacked = np.vstack([eye, -eye])
    return np.ascontiguousarray(stacked[:, :dim]), np.ascontiguousarray(stacked[:, dim])


class HullHead(_LinearPredictor):
    """Convex hull of k fixed linear heads: ``f = sum_j w_j (v_j . h + v0_j)``, w on the simplex.

    Parameters
    ----------
    vertices : (k, d) coefficients of the k heads.
    vertex_intercepts : (k,) their intercepts (zeros if None).
    tol : stop when the duality gap (an upper bound on the excess mean squared error) is below
        ``tol`` times the task's mean squared target.
    max_iter : FISTA iteration cap; ``gap_`` (T,) reports the certificate reached.
    """

    def __init__(self, vertices, vertex_intercepts=None, tol: float = 1e-13, max_iter: int = 20000):
        self.vertices = _as_float("vertices", vertices, (2,))
        k = self.vertices.shape[0]
        self.vertex_intercepts = (np.zeros(k) if vertex_intercepts is None
                                  else _as_float("vertex_intercepts", vertex_intercepts, (1,)))
        if self.vertex_intercepts.shape != (k,):
            raise ValueError(f"vertex_intercepts must have shape ({k},), got {self.vertex_intercepts.shape}")
        check_finite("HullHead", "tol", tol, minimum=0.0, strict=True)
        check_positive_int("HullHead", "max_iter", max_iter)
        self.tol = float(tol)
        self.max_iter = int(max_iter)

    def fit(self, features, targets, sample_weight=None) -> "HullHead":
        X, Y, W, shared, single = validate_batch(features, targets, sample_weight)
        if X.shape[-1] != self.vertices.shape[1]:
            raise ValueError(f"features have {X.shape[-1]} columns, vertices have {self.vertices.shape[1]}")
        P = X @ self.vertices.T + self.vertex_intercepts                # (n, k) or (T, n, k)
        T = Y.shape[0]
        w = np.full(Y.shape, 1.0 / Y.shape[1]) if W is None else W / W.sum(axis=1, keepdims=True)   # (T, n)
        if shared and (W is None or np.all(W == W[:1])):
            Pw = P * w[0][:, None]
            G = np.broadcast_to(P.T @ Pw, (T, P.shape[1], P.shape[1]))   # one Gram matrix for all tasks
            B = Y @ Pw
        else:
            Pt = np.broadcast_to(P, (T, *P.shape)) if shared else P
            Pw = Pt * w[:, :, None]
            G = np.matmul(Pt.transpose(0, 2, 1), Pw)                     # (T, k, k)
            B = np.einsum("tn,tnk->tk", Y, Pw)
        weights, gaps = kernels.hull_solve_moments(np.ascontiguousarray(G), np.ascontiguousarray(B),
                                                   np.einsum("tn,tn->t", Y * Y, w), self.tol, self.max_iter)
        self._store(weights @ self.vertices, weights @ self.vertex_intercepts, single)
        self.weights_ = weights[0] if single else weights
        self.gap_ = gaps[0] if single else gaps
        return self


def max_leverage(features) -> np.ndarray:
    """Largest diagonal entry of the hat matrix of span{features, 1} on the sample, per task.

    ``h_i = (1 + (x_i - mu)^T C^+ (x_i - mu)) / n`` with C the centred Gram matrix / n (pseudo-inverse, as the
    heads use). A sample with leverage near 1 is fitted exactly whatever its label: its feature direction is
    one no other sample shares. Features (n, d) -> (1,), or (T, n, d) -> (T,).
    """
    X = _as_float("features", features, (2, 3))
    X = X[None] if X.ndim == 2 else X
    n = X.shape[1]
    Xc = X - X.mean(axis=1, keepdims=True)                                   # (T, n, d)
    lam, Q = np.linalg.eigh(np.matmul(Xc.transpose(0, 2, 1), Xc) / n)         # (T, d), (T, d, d)
    cut = kernels.RCOND * np.maximum(lam[:, -1:], 0.0)
    inv = np.where(lam > cut, 1.0 / np.where(lam > cut, lam, 1.0), 0.0)
    proj = np.matmul(Xc, Q)                                                  # (T, n, d)
    return ((1.0 + np.einsum("tnd,td->tn", proj * proj, inv)) / n).max(axis=1)


class ActiveFeatures:
    """The leverage guard: keep the features active (nonzero) on at least ``min_fraction`` of a sample.

    A ReLU feature that fires on one or two of n training samples gives those samples leverage 1: the
    least-squares head fits them exactly with a coefficient that can reach the hundreds, and the
    prediction explodes on a fresh sample where the feature fires (one test point then outweighs the
    rest of the test set). Dropping such features restricts the head class to the representation's
    kept features; an unconstrained linear head stays the exact projection onto span{kept features, 1},
    so the theory's statements hold exactly for that class.

    The selection is fitted once, on the first sample a head of :class:`SelectedHead` is fitted on (the
    training sample), and then applied unchanged to every later fit (the ceiling, and the truth's
    projection on fresh samples), so that every head of a task reads the same subspace.

    Parameters
    ----------
    min_fraction : keep a feature when it is nonzero on at least ``min_fraction * n`` of the n samples;
        0 keeps every feature.

    Attributes
    ----------
    kept_ : (T, d) or (d,) bool, the features kept per task (shared features: one row for all tasks).
    dropped_ : (T,) int, features active on at least one sample but fewer than the threshold (features
        that are zero on every sample change nothing and are not counted).
    max_leverage_ : (T,) the largest hat-matrix diagonal entry of span{kept features, 1} on that sample.
    """

    def __init__(self, min_fraction: float = 0.0):
        check_finite("ActiveFeatures", "min_fraction", min_fraction, minimum=0.0, maximum=1.0)
        self.min_fraction = float(min_fraction)

    def fit(self, features) -> "ActiveFeatures":
        X = _as_float("features", features, (2, 3))
        n = X.shape[-2]
        counts = np.count_nonzero(X, axis=-2)                                 # (d,) or (T, d)
        self.kept_ = counts >= self.min_fraction * n
        self.dropped_ = np.atleast_1d(np.count_nonzero((counts > 0) & ~self.kept_, axis=-1))
        self.max_leverage_ = max_leverage(self.transform(X))
        return self

    def transform(self, features: np.ndarray) -> np.ndarray:
        """Features with the dropped ones set to zero; the input itself when nothing is dropped.

        Shared features (n, d) under per-task selections that differ become per-task (T, n, d).
        """
        kept = self.kept_
        if kept.all():
            return features
        if kept.ndim == 2 and features.ndim == 3 and features.shape[0] != kept.shape[0]:
            raise ValueError(f"the selection was fitted for {kept.shape[0]} tasks, features have "
                             f"{features.shape[0]}")
        if kept.ndim == 1 or np.all(kept == kept[:1]):
            return features * np.atleast_2d(kept)[0]
        return features * kept[:, None, :] if features.ndim == 3 else features[None] * kept[:, None, :]


class SelectedHead(_LinearPredictor):
    """A head class restricted to the features an :class:`ActiveFeatures` selection keeps.

    ``fit`` fits the selection first if it is not fitted yet, then the inner head on the selected
    features; ``coef_`` is zero on the dropped features, so ``predict`` ignores them on any sample.

    Parameters
    ----------
    head : an unfitted head (:class:`LinearHead`, :class:`BallHead`, :class:`HullHead`).
    selection : the shared :class:`ActiveFeatures`.
    """

    def __init__(self, head, selection: ActiveFeatures):
        self.head = head
        self.selection = selection

    def fit(self, features, targets, sample_weight=None) -> "SelectedHead":
        X, Y, W, _, single = validate_batch(features, targets, sample_weight)
        if not hasattr(self.selection, "kept_"):
            self.selection.fit(X)
        self.head.fit(self.selection.transform(X), Y, W)
        kept = self.selection.kept_
        coef = np.atleast_2d(self.head.coef_)
        self._store(coef * (kept if kept.ndim == 2 else kept[None]), np.atleast_1d(self.head.intercept_), single)
        return self


HEAD_CLASSES = {"linear": LinearHead, "ball": BallHead, "hull": HullHead}


def make_head(name: str, **params):
    """A head class by name (``"linear"``, ``"ball"``, ``"hull"``) with its parameters."""
    if name not in HEAD_CLASSES:
        raise ValueError(f"head must be one of {tuple(HEAD_CLASSES)}, got {name!r}")
    return HEAD_CLASSES[name](**params)
