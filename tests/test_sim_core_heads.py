"""Head classes and their numba kernels against plain-numpy references, and the projection identities."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from weakstrong.sim import kernels
from weakstrong.sim.heads import BallHead, HullHead, LinearHead, l1_ball_vertices, make_head
from weakstrong.theory.bounds import subspace_equality, theorem1

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


dims = st.tuples(st.integers(0, 10**6), st.integers(1, 4), st.integers(8, 60), st.integers(1, 6),
                 st.booleans(), st.booleans())


@SETTINGS
@given(dims)
def test_linear_kernel_matches_lstsq_reference(args):
    seed, T, n, d, dead, weighted = args
    X, Y, W = _problem(seed, T, n, d, dead, weighted)
    for fit_intercept in (True, False):
        coef, icpt = kernels.linear_heads_batched(X, Y[:, None, :], W, fit_intercept, 0.0)
        ref_coef, ref_icpt = kernels.linear_heads_reference(X, Y[:, None, :], W, fit_intercept, 0.0)
        # Fitted values are the unique projection even when the Gram matrix is singular.
        fitted = np.einsum("tnd,td->tn", X, coef[:, 0]) + icpt
        ref = np.einsum("tnd,td->tn", X, ref_coef[:, 0]) + ref_icpt
        np.testing.assert_allclose(fitted, ref, atol=1e-8 * (1 + np.abs(ref).max()))
        if not dead:
            np.testing.assert_allclose(coef, ref_coef, rtol=1e-6, atol=1e-8)


@SETTINGS
@given(dims, st.floats(0.01, 10.0))
def test_linear_ridge_matches_reference(args, ridge):
    seed, T, n, d, dead, weighted = args
    X, Y, W = _problem(seed, T, n, d, dead, weighted)
    coef, icpt = kernels.linear_heads_batched(X, Y[:, None, :], W, True, ridge)
    ref_coef, ref_icpt = kernels.linear_heads_reference(X, Y[:, None, :], W, True, ridge)
    np.testing.assert_allclose(coef, ref_coef, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(icpt, ref_icpt, rtol=1e-6, atol=1e-8)


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
def test_ball_kernel_matches_bisection_reference(args, radius):
    seed, T, n, d, dead, weighted = args
    X, Y, W = _problem(seed, T, n, d, dead, weighted)
    coef, icpt, mult = kernels.ball_heads_batched(X, Y[:, None, :], W, radius)
    ref_coef, ref_icpt = kernels.ball_heads_reference(X, Y[:, None, :], W, radius)
    np.testing.assert_allclose(coef, ref_coef, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(icpt, ref_icpt, rtol=1e-6, atol=1e-7 * (1 + np.abs(Y).max()))
    norms = np.linalg.norm(coef[:, 0], axis=1)
    assert np.all(norms <= radius * (1 + 1e-9))
    # KKT: a positive multiplier means the constraint is active.
    active = mult[:, 0] > 0
    np.testing.assert_allclose(norms[active], radius, rtol=1e-9)
    shared = BallHead(radius).fit(X[0], Y, W[0])
    ref_shared, _ = kernels.ball_heads_reference(np.ascontiguousarray(np.broadcast_to(X[0], X.shape)),
                                                 Y[:, None, :], np.ascontiguousarray(np.broadcast_to(W[0], W.shape)),
                                                 radius)
    np.testing.assert_allclose(shared.coef_, ref_shared[:, 0], rtol=1e-6, atol=1e-8)


@SETTINGS
@given(st.integers(0, 10**6), st.integers(2, 40))
def test_simplex_projection_matches_reference(seed, k):
    v = np.random.default_rng(seed).normal(scale=3.0, size=k)
    p = kernels.project_simplex(v)
    assert p.min() >= 0 and abs(p.sum() - 1) < 1e-12
    np.testing.assert_allclose(p, kernels.project_simplex_reference(v), atol=1e-10)


@SETTINGS
@given(st.integers(0, 10**6), st.integers(1, 3), st.integers(20, 80), st.integers(1, 4), st.floats(0.05, 3.0))
def test_hull_kernel_matches_slsqp_reference(seed, T, n, d, radius):
    X, Y, W = _problem(seed, T, n, d, False, True)
    V, v0 = l1_ball_vertices(d, radius)
    head = HullHead(V, v0).fit(X, Y, W)
    P = np.ascontiguousarray(X @ V.T + v0)
    ref = kernels.hull_heads_reference(P, Y[:, None, :], W)[:, 0]
    wn = W / W.sum(axis=1, keepdims=True)
    ours = np.sum(wn * (head.predict(X) - Y) ** 2, axis=1)
    theirs = np.sum(wn * (np.einsum("tnk,tk->tn", P, ref) - Y) ** 2, axis=1)
    scale = np.sum(wn * Y ** 2, axis=1)
    # The duality gap certifies optimality; the reference can only be as good.
    assert np.all(ours <= theirs + 1e-7 * scale)
    assert np.all(head.gap_ <= 1e-6 * scale)
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
