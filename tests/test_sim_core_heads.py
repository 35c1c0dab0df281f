"""Head classes and their numba kernels against the theory layer's projections, and the projection identities.

Each kernel in :mod:`weakstrong.sim.kernels` is compared with the verified projection of
:mod:`weakstrong.theory.projections` that computes the same thing (there are no in-module references):
linear heads with ``project_onto_subspace``, ball heads with ``project_onto_ball`` on weighted-mean-centred
data (the intercept is free, so it is the projection of the centred problem), hull heads with
``project_onto_hull``, and the simplex projection with ``simplex_least_squares(I, v)``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from weakstrong.sim import kernels
from weakstrong.sim.heads import (ActiveFeatures, BallHead, HullHead, LinearHead, SelectedHead, l1_ball_vertices,
                                  make_head, max_leverage)
from weakstrong.theory.bounds import nonrealizable_bound, subspace_equality, theorem1
from weakstrong.theory.projections import (project_onto_ball, project_onto_hull, project_onto_subspace,
                                           simplex_least_squares)

SETTINGS = settings(max_examples=8, deadline=None)


def _problem(seed: int, T: int, n: int, d: int, dead: bool, weighted: bool):
    """Random per-task features (one column zero, like a dead ReLU unit, when ``dead``), targets, weights."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(T, n, d)) * rng.uniform(0.5, 5.0, size=d) + rng.normal(size=d)
    if dead:
        X[:, :, rng.integers(d)] = 0.0
    Y = rng.normal(size=(T, n)) + X[..., 0] * 2.0
    W = rng.uniform(0.2, 3.0, size=(T, n)) if weighted else np.ones((T, n))
    return X, Y, W


def _theory_linear(X, Y, W, fit_intercept, ridge):
    """Per-task ``project_onto_subspace``: coef (T, d), intercept (T,), fitted (T, n)."""
    fits = [project_onto_subspace(X[t], Y[t], W[t], fit_intercept=fit_intercept, ridge=ridge)
            for t in range(X.shape[0])]
    coef = np.stack([f.coef for f in fits])
    intercept = np.array([f.intercept if fit_intercept else 0.0 for f in fits])
    return coef, intercept, np.stack([f.fitted for f in fits])


def _theory_ball(X, Y, W, radius):
    """Per-task ``project_onto_ball`` with a free intercept: coef (T, d), intercept (T,).

    Minimising over the intercept first leaves the ball projection of the weighted-mean-centred problem,
    with intercept = ybar - coef . xbar.
    """
    coef, intercept = [], []
    for t in range(X.shape[0]):
        w = W[t] / W[t].sum()
        xbar, ybar = w @ X[t], w @ Y[t]
        c = project_onto_ball(X[t] - xbar, Y[t] - ybar, radius, W[t]).coef
        coef.append(c)
        intercept.append(ybar - c @ xbar)
    return np.stack(coef), np.array(intercept)


def _close(got, want, scale=None):
    """Agreement to 1e-9 of ``scale`` (default 1 + max |want|); the solvers agree to ~1e-14 in practice."""
    scale = 1 + np.abs(want).max() if scale is None else scale
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9 * scale)


dims = st.tuples(st.integers(0, 10**6), st.integers(1, 4), st.integers(8, 60), st.integers(1, 6),
                 st.booleans(), st.booleans())


@SETTINGS
@given(dims)
def test_linear_kernel_matches_theory_subspace_projection(args):
    seed, T, n, d, dead, weighted = args
    X, Y, W = _problem(seed, T, n, d, dead, weighted)
    for fit_intercept in (True, False):
        coef, icpt = kernels.linear_heads_batched(X, Y[:, None, :], W, fit_intercept, 0.0)
        ref_coef, ref_icpt, ref = _theory_linear(X, Y, W, fit_intercept, 0.0)
        # Fitted values are the unique projection even when the Gram matrix is singular.
        fitted = np.einsum("tnd,td->tn", X, coef[:, 0]) + icpt
        _close(fitted, ref)
        if not dead:
            _close(coef[:, 0], ref_coef)
            _close(icpt[:, 0], ref_icpt, 1 + np.abs(Y).max())


@SETTINGS
@given(dims, st.floats(0.01, 10.0))
def test_linear_ridge_matches_theory(args, ridge):
    seed, T, n, d, dead, weighted = args
    X, Y, W = _problem(seed, T, n, d, dead, weighted)
    coef, icpt = kernels.linear_heads_batched(X, Y[:, None, :], W, True, ridge)
    ref_coef, ref_icpt, _ = _theory_linear(X, Y, W, True, ridge)
    _close(coef[:, 0], ref_coef)
    _close(icpt[:, 0], ref_icpt, 1 + np.abs(Y).max())
    # The shared-feature path of LinearHead (LAPACK Cholesky) against the same projection.
    shared = LinearHead(ridge=ridge).fit(X[0], Y, W[0])
    ref_shared, _, _ = _theory_linear(np.broadcast_to(X[0], X.shape), Y, np.broadcast_to(W[0], W.shape),
                                      True, ridge)
    _close(shared.coef_, ref_shared)


@SETTINGS
@given(dims)
def test_shared_and_batched_linear_paths_agree(args):
    seed, T, n, d, dead, weighted = args
    X, Y, W = _problem(seed, T, n, d, dead, weighted)
    shared = LinearHead().fit(X[0], Y, W[0])
    batched = LinearHead().fit(np.broadcast_to(X[0], X.shape), Y, np.broadcast_to(W[0], W.shape))
    scale = 1 + np.abs(Y).max()
    np.testing.assert_allclose(shared.predict(X[0]), batched.predict(X[0]), atol=1e-8 * scale)


@SETTINGS
@given(dims, st.floats(0.001, 3.0))
def test_ball_kernel_matches_theory_ball_projection(args, radius):
    seed, T, n, d, dead, weighted = args
    X, Y, W = _problem(seed, T, n, d, dead, weighted)
    coef, icpt, mult = kernels.ball_heads_batched(X, Y[:, None, :], W, radius)
    ref_coef, ref_icpt = _theory_ball(X, Y, W, radius)
    _close(coef[:, 0], ref_coef)
    _close(icpt[:, 0], ref_icpt, 1 + np.abs(Y).max())
    norms = np.linalg.norm(coef[:, 0], axis=1)
    assert np.all(norms <= radius * (1 + 1e-9))
    # KKT: a positive multiplier means the constraint is active.
    active = mult[:, 0] > 0
    np.testing.assert_allclose(norms[active], radius, rtol=1e-9)
    # The shared-feature path of BallHead (secular_multiplier per task) against the same projection.
    shared = BallHead(radius).fit(X[0], Y, W[0])
    ref_shared, _ = _theory_ball(np.broadcast_to(X[0], X.shape), Y, np.broadcast_to(W[0], W.shape), radius)
    _close(shared.coef_, ref_shared)


@SETTINGS
@given(st.integers(0, 10**6), st.integers(2, 40))
def test_simplex_projection_matches_theory(seed, k):
    v = np.random.default_rng(seed).normal(scale=3.0, size=k)
    p = kernels.project_simplex(v)
    assert p.min() >= 0 and abs(p.sum() - 1) < 1e-12
    # The Euclidean projection onto the simplex is argmin_{w in simplex} ||I w - v||^2.
    np.testing.assert_allclose(p, simplex_least_squares(np.eye(k), v), atol=1e-10)


@SETTINGS
@given(st.integers(0, 10**6), st.integers(1, 3), st.integers(20, 80), st.integers(1, 4), st.floats(0.05, 3.0))
def test_hull_kernel_matches_theory_hull_projection(seed, T, n, d, radius):
    X, Y, W = _problem(seed, T, n, d, False, True)
    V, v0 = l1_ball_vertices(d, radius)
    head = HullHead(V, v0).fit(X, Y, W)
    P = X @ V.T + v0                                                   # (T, n, k)
    refs = [project_onto_hull(P[t], Y[t], W[t]) for t in range(T)]
    wn = W / W.sum(axis=1, keepdims=True)
    ours = np.sum(wn * (head.predict(X) - Y) ** 2, axis=1)
    theirs = np.array([np.sum(wn[t] * (r.fitted - Y[t]) ** 2) for t, r in enumerate(refs)])
    scale = np.sum(wn * Y ** 2, axis=1)
    gaps = np.array([r.optimality_gap for r in refs])
    # The theory solver is exact (active-set NNLS): its Frank-Wolfe gap is at rounding level. FISTA's
    # certificate is looser when it stops on max_iter, but support polishing makes it exact in practice.
    assert np.all(gaps <= 1e-12 * scale) and np.all(head.gap_ <= 1e-6 * scale)
    assert np.all(ours <= theirs + 1e-10 * scale) and np.all(theirs <= ours + gaps + 1e-12 * scale)
    # The objective is ||f - y||_P^2, so ||f - f_proj||_P^2 <= the excess objective: the fitted values
    # agree (the projection is unique; the weights need not be).
    dist2 = np.array([np.sum(wn[t] * (head.predict(X)[t] - r.fitted) ** 2) for t, r in enumerate(refs)])
    assert np.all(dist2 <= 1e-10 * scale)
    np.testing.assert_allclose(head.weights_.sum(axis=1), 1.0, atol=1e-12)
    assert head.weights_.min() >= 0


def test_projection_identities_hold_in_sample(rng):
    """Subspace: gain = misfit exactly when the truth is in V_s; convex classes: gain >= misfit."""
    n, d = 500, 6
    X_s = rng.normal(size=(n, d))
    truth = X_s @ rng.normal(size=(3, d)).T * 0.2 + 0.1           # (n, 3): in every class used below
    weak = truth + rng.normal(size=(n, 3))
    for head in (LinearHead(), BallHead(radius=50.0), HullHead(*l1_ball_vertices(d, 50.0))):
        w2s = head.fit(X_s, weak.T).predict(X_s)
        for t in range(3):
            check = (subspace_equality if isinstance(head, LinearHead) else theorem1)(truth[:, t], weak[:, t], w2s[t])
            assert check.holds, (type(head).__name__, check)


def test_single_task_shapes_and_validation(rng):
    X, y = rng.normal(size=(50, 3)), rng.normal(size=50)
    head = make_head("ball", radius=1.0).fit(X, y)
    assert head.coef_.shape == (3,) and head.predict(X).shape == (50,)
    with pytest.raises(ValueError, match="targets must have 50 samples"):
        LinearHead().fit(X, rng.normal(size=(2, 49)))
    with pytest.raises(ValueError, match="NaN"):
        LinearHead().fit(np.full((50, 3), np.nan), y)
    with pytest.raises(ValueError, match="radius"):
        BallHead(radius=-1.0)
    with pytest.raises(ValueError, match="head must be one of"):
        make_head("tree")
    with pytest.raises(ValueError, match="not fitted"):
        LinearHead().predict(X)
    with pytest.raises(ValueError, match="sample_weight"):
        LinearHead().fit(X, y, sample_weight=-np.ones(50))


def _rare_feature_sample(rng, n, rare_rows, rare_values):
    """Three broad ReLU features and a fourth that is zero except on ``rare_rows``; truth off the span."""
    z = rng.normal(size=(n, 3))
    h = np.c_[np.maximum(z, 0.0), np.zeros(n)]                          # (n, 4)
    h[rare_rows, 3] = rare_values
    truth = h[:, :3] @ [1.0, -0.5, 0.8] + 0.4 * np.sin(2 * z[:, 0] * z[:, 1])
    weak = 0.6 * z[:, 0] + 0.3 * np.abs(z[:, 2]) - 0.2 * z[:, 1]
    return h, truth, weak


@pytest.mark.parametrize("min_fraction, holds_out_of_sample", [(0.0, False), (0.01, True)])
def test_leverage_guard_keeps_one_training_point_from_breaking_the_bound(min_fraction, holds_out_of_sample):
    """A feature active on one of 500 training samples (leverage 1) gets a coefficient near a hundred; on
    fresh samples, where it fires on 1 %, the student explodes and |gain - misfit| <= 2 sqrt(eps misfit)
    fails. The guard drops it; the bound then holds out of sample, and exactly in-sample either way."""
    rng = np.random.default_rng(0)
    h, truth, weak = _rare_feature_sample(rng, 500, [0], [0.002])
    rows = rng.choice(5000, 50, replace=False)
    h_test, truth_test, weak_test = _rare_feature_sample(rng, 5000, rows, rng.uniform(0.5, 1.0, 50))
    selection = ActiveFeatures(min_fraction)
    w2s = SelectedHead(LinearHead(), selection).fit(h, weak)
    in_sample_eps = np.mean((SelectedHead(LinearHead(), selection).fit(h, truth).predict(h) - truth) ** 2)
    # the truth's projection on the fresh sample reads the subspace selected on the training sample
    projection = SelectedHead(LinearHead(), selection).fit(h_test, truth_test).predict(h_test)
    out_of_sample = nonrealizable_bound(truth_test, weak_test, w2s.predict(h_test),
                                        np.mean((projection - truth_test) ** 2))
    assert out_of_sample.holds is holds_out_of_sample, out_of_sample
    assert nonrealizable_bound(truth, weak, w2s.predict(h), in_sample_eps).holds
    if min_fraction:
        assert selection.dropped_.tolist() == [1] and w2s.coef_[3] == 0.0 and selection.max_leverage_[0] < 0.1
    else:
        assert selection.dropped_.tolist() == [0] and abs(w2s.coef_[3]) > 50 and selection.max_leverage_[0] > 0.999


def test_guard_without_rare_features_is_the_plain_head(rng):
    X, Y = _problem(3, 4, 300, 5, dead=True, weighted=False)[:2]
    X = np.maximum(X, 0.0)                                                  # ReLU-like: zeros, but none rare
    guarded = SelectedHead(LinearHead(), ActiveFeatures(0.01)).fit(X, Y)
    plain = LinearHead().fit(X, Y)
    np.testing.assert_array_equal(guarded.coef_, plain.coef_)
    np.testing.assert_array_equal(guarded.predict(X), plain.predict(X))


def test_max_leverage_is_the_hat_matrix_diagonal(rng):
    X = np.maximum(rng.normal(size=(3, 60, 4)), 0.0)
    X[1, :, 2] = 0.0                                                        # a dead feature: pseudo-inverse
    for t in range(3):
        A = np.c_[np.ones(60), X[t]]
        hat = np.diag(A @ np.linalg.pinv(A))
        assert max_leverage(X)[t] == pytest.approx(hat.max(), rel=1e-10)
    assert max_leverage(X[0])[0] == pytest.approx(max_leverage(X)[0], rel=1e-12)
