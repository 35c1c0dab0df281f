"""The 'bayes' combination weights of the ensemble experiment, recomputed from the held-out residuals.

The rule (:mod:`weakstrong.sim.ensembles`) is the posterior over which member generated the gold labels:
uniform prior, likelihood y_i = f_j(x_i) + N(0, sigma^2) independently, sigma^2 fixed at the best member's
held-out mean squared error. Here the posterior is computed directly from the residuals, as the softmax of
the summed Gaussian log-densities (``scipy.stats.norm.logpdf``), not from the closed form
exp(-n err_j / (2 sigma^2)) that the code uses.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import softmax
from scipy.stats import norm

from weakstrong.sim import ensembles


def _posterior_from_residuals(members: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Posterior (m,) over members (m, n) as the model of ``gold`` (n,): uniform prior, Gaussian noise."""
    residuals = gold[None, :] - members                                # (m, n)
    sigma = np.sqrt(np.min(np.mean(residuals ** 2, axis=1)))           # the best member's held-out RMSE
    log_lik = norm.logpdf(residuals, loc=0.0, scale=sigma).sum(axis=1)
    return softmax(log_lik)                                            # uniform prior: it cancels


def _code_weights(members: np.ndarray, gold: np.ndarray) -> np.ndarray:
    err = np.mean((members - gold) ** 2, axis=1)                       # what the experiment passes in
    return ensembles.combination_weights("bayes", err, gold.size, members, gold)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**6), st.integers(2, 6), st.integers(1, 300),
       st.lists(st.floats(0.2, 3.0), min_size=6, max_size=6))
def test_bayes_weights_are_the_posterior_of_the_residuals(seed, m, n, noise):
    rng = np.random.default_rng(seed)
    gold = rng.normal(size=n) * 2.0 + 1.0
    members = gold + rng.normal(size=(m, n)) * np.array(noise[:m])[:, None]
    expected = _posterior_from_residuals(members, gold)
    np.testing.assert_allclose(_code_weights(members, gold), expected, rtol=1e-9, atol=1e-12)


def test_bayes_weights_match_on_a_spread_out_posterior(rng):
    """Members of nearly equal quality on a small split: no weight is near 0 or 1, so every term counts."""
    n, m = 30, 4
    gold = rng.normal(size=n)
    noise = rng.normal(size=(m, n))
    rms = np.array([1.0, 1.02, 1.04, 1.06])                     # held-out errors 1, 1.04, 1.08, 1.12
    members = gold + noise / np.sqrt(np.mean(noise ** 2, axis=1, keepdims=True)) * rms[:, None]
    expected = _posterior_from_residuals(members, gold)
    assert expected.max() < 0.6 and expected.min() > 0.05
    np.testing.assert_allclose(_code_weights(members, gold), expected, rtol=1e-9, atol=1e-12)
    # The best member on the held-out split gets the most weight.
    assert np.argmax(expected) == np.argmin(np.mean((members - gold) ** 2, axis=1))
