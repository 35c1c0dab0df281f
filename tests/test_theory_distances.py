"""Distances on a sample: squared L2(P), KL, Bregman; each against its defining formula."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from weakstrong.theory import distances as D

SETTINGS = settings(max_examples=40, deadline=None)


def _instance(seed: int, n: int, k: int):
    rng = np.random.default_rng(seed)
    f = rng.normal(size=(n, k)) if k > 1 else rng.normal(size=n)
    g = rng.normal(size=f.shape)
    w = rng.exponential(size=n)
    w[rng.random(n) < 0.3] = 0.0
    w[0] += 1.0
    return f, g, w


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(1, 30), st.integers(1, 4))
def test_sq_distance_is_the_weighted_mean_of_squared_norms(seed, n, k):
    f, g, w = _instance(seed, n, k)
    diff = (f - g).reshape(n, -1)
    expected = sum(w[i] * float(diff[i] @ diff[i]) for i in range(n)) / w.sum()
    assert D.sq_distance(f, g, w) == pytest.approx(expected, rel=1e-12)
    assert D.sq_distance(f, g, 7.0 * w) == pytest.approx(expected, rel=1e-12)  # weights are normalised
    assert D.sq_distance(f, g, w) == pytest.approx(D.sq_distance(g, f, w), rel=1e-15)
    assert D.sq_distance(f, f, w) == 0.0


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(1, 30), st.integers(1, 4))
def test_polarisation_links_inner_product_and_distance(seed, n, k):
    f, g, w = _instance(seed, n, k)
    expanded = D.inner_product(f, f, w) - 2 * D.inner_product(f, g, w) + D.inner_product(g, g, w)
    assert D.sq_distance(f, g, w) == pytest.approx(expanded, rel=1e-9, abs=1e-12)


def test_zero_weight_samples_do_not_count():
    f, g = np.array([0.0, 1.0, 5.0]), np.array([0.0, 3.0, -5.0])
    # only the second sample carries weight: (1 - 3)^2 = 4
    assert D.sq_distance(f, g, [0.0, 2.0, 0.0]) == pytest.approx(4.0)


def _simplex_rows(seed: int, n: int, c: int):
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.ones(c), size=n), rng.dirichlet(np.ones(c) * 0.7, size=n), rng.uniform(0.1, 1, n)


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(1, 20), st.integers(2, 6))
def test_kl_is_the_weighted_mean_of_pointwise_divergences(seed, n, c):
    p, q, w = _simplex_rows(seed, n, c)
    rows = np.array([sum(p[i, j] * np.log(p[i, j] / q[i, j]) for j in range(c)) for i in range(n)])
    np.testing.assert_allclose(D.pointwise_kl(p, q), rows, rtol=1e-10, atol=1e-14)
    assert D.kl_divergence(p, q, w) == pytest.approx(float(w @ rows / w.sum()), rel=1e-10, abs=1e-14)
    assert D.kl_divergence(p, q) >= 0.0  # Gibbs' inequality
    assert D.kl_divergence(p, p) == 0.0


def test_kl_uses_zero_log_zero_and_is_infinite_off_support():
    p = np.array([[1.0, 0.0], [0.5, 0.5]])
    q = np.array([[0.5, 0.5], [1.0, 0.0]])
    out = D.pointwise_kl(p, q)
    assert out[0] == pytest.approx(np.log(2.0))
    assert np.isinf(out[1])


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(1, 20), st.integers(2, 5))
def test_bregman_of_squared_norm_is_sq_distance(seed, n, k):
    f, g, w = _instance(seed, n, k)
    value = D.bregman_divergence(f, g, D.squared_norm, D.grad_squared_norm, w)
    assert value == pytest.approx(D.sq_distance(f, g, w), rel=1e-9, abs=1e-12)


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(1, 20), st.integers(2, 6))
def test_bregman_of_negative_entropy_is_kl_on_the_simplex(seed, n, c):
    p, q, w = _simplex_rows(seed, n, c)
    value = D.bregman_divergence(p, q, D.negative_entropy, D.grad_negative_entropy, w)
    assert value == pytest.approx(D.kl_divergence(p, q, w), rel=1e-9, abs=1e-12)


def test_bregman_rejects_a_potential_of_the_wrong_shape():
    f = np.ones((3, 2))
    with pytest.raises(ValueError, match="phi"):
        D.bregman_divergence(f, f, lambda u: u, D.grad_squared_norm)
    with pytest.raises(ValueError, match="grad_phi"):
        D.bregman_divergence(f, f, D.squared_norm, lambda u: u.sum(axis=1))
