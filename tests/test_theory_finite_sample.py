"""The finite-sample bound: its constants, its rate, and an ERM simulation under a known discrete P."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from weakstrong.theory.distances import sq_distance
from weakstrong.theory.finite_sample import finite_sample_bound, finite_sample_terms
from weakstrong.theory.projections import project_onto_ball
from weakstrong.theory.symbolic import finite_sample_expression

positive = st.floats(1e-2, 1e2)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 10**6), positive, positive, positive, st.floats(1e-6, 0.99), st.floats(0, 10), st.floats(0, 10))
def test_terms_match_the_typeset_expression(n, b, r, m, delta, eps, misfit):
    terms = finite_sample_terms(n, b, r, m, delta, eps, misfit=misfit)
    total, sym = finite_sample_expression()
    values = {sym["n"]: n, sym["B"]: b, sym["R"]: r, sym["M"]: m, sym["delta"]: delta,
              sym["epsilon"]: eps, sym["misfit"]: misfit}
    assert terms.total == pytest.approx(float(total.subs(values)), rel=1e-10, abs=1e-12)
    assert terms.excess_risk == pytest.approx(float(sym["Delta"].subs(values)), rel=1e-10)


def test_sampling_terms_decay_as_n_to_the_minus_one_quarter():
    # Delta is a sum of n^{-1/2} terms, so the estimation term 2 sqrt(Delta)(M + 2BR) scales as n^{-1/4}:
    # multiplying n by 16 halves it exactly.
    small, large = (finite_sample_terms(n, 2.0, 3.0, 1.5, 0.05, 0.0) for n in (100, 1600))
    assert large.estimation / small.estimation == pytest.approx(0.5, rel=1e-12)
    assert large.excess_risk / small.excess_risk == pytest.approx(0.25, rel=1e-12)


def test_terms_on_hand_computed_constants():
    # B = R = M = 1, n = 16, delta = 2/e (log(2/delta) = 1), eps = 0:
    # rademacher = 4 * 1 * 2 / 4 = 2, concentration = 4 * sqrt(2/16) = sqrt(2), estimation = 2 sqrt(2 + sqrt 2) 3
    terms = finite_sample_terms(16, 1.0, 1.0, 1.0, 2.0 / math.e, 0.0)
    assert terms.rademacher == pytest.approx(2.0)
    assert terms.concentration == pytest.approx(math.sqrt(2.0))
    assert terms.estimation == pytest.approx(6.0 * math.sqrt(2.0 + math.sqrt(2.0)))
    assert terms.nonrealizable == 0.0


def test_without_a_misfit_the_epsilon_term_uses_its_bound():
    terms = finite_sample_terms(100, 1.0, 2.0, 3.0, 0.1, 0.25)
    assert terms.nonrealizable == pytest.approx(2 * 0.5 * (2.0 + 3.0))


@pytest.mark.parametrize("kwargs, name", [
    ({"n": 0}, "n"), ({"n": 2.5}, "n"), ({"delta": 1.0}, "delta"), ({"delta": 0.0}, "delta"),
    ({"radius": -1.0}, "radius"), ({"epsilon": float("nan")}, "epsilon"),
])
def test_bad_arguments_are_named(kwargs, name):
    args = {"n": 10, "radius": 1.0, "feature_bound": 1.0, "label_bound": 1.0, "delta": 0.1, "epsilon": 0.0}
    with pytest.raises(ValueError, match=name):
        finite_sample_terms(**{**args, **kwargs})


def _population(rng, support, d, feature_bound, label_bound):
    x = rng.normal(size=(support, d))
    x *= feature_bound * rng.random((support, 1)) ** (1 / d) / np.linalg.norm(x, axis=1, keepdims=True)
    p = rng.dirichlet(np.ones(support))
    weak = label_bound * np.tanh(x @ rng.normal(size=d) / feature_bound + 0.3 * rng.normal(size=support))
    truth = weak + 0.5 * label_bound * rng.normal(size=support)  # not realizable in the ball
    return x, p, weak, truth


@pytest.mark.parametrize("n", [10, 100, 1000])
def test_erm_simulation_respects_the_bound_and_each_proof_step(n):
    rng = np.random.default_rng(n)
    d, feature_bound, radius, label_bound, delta = 4, 2.0, 0.7, 1.5, 0.1
    x, p, weak, truth = _population(rng, 300, d, feature_bound, label_bound)
    f_sw = project_onto_ball(x, weak, radius, p).fitted  # the population projection
    proj_truth = project_onto_ball(x, truth, radius, p).fitted
    epsilon = sq_distance(proj_truth, truth, p)
    excess_bound = finite_sample_terms(n, radius, feature_bound, label_bound, delta, epsilon).excess_risk
    failures = 0
    for _ in range(100):
        counts = np.bincount(rng.choice(p.size, size=n, p=p), minlength=p.size).astype(float)
        f_hat = project_onto_ball(x, weak, radius, counts).fitted  # ERM on the sample
        excess = sq_distance(f_hat, weak, p) - sq_distance(f_sw, weak, p)
        assert excess >= -1e-12  # f_sw minimises the population risk over the ball
        assert sq_distance(f_hat, f_sw, p) <= excess + 1e-12  # proof step 2
        # proof step 3 at p = Pi f* (approximate Pythagoras around the ERM student)
        dist = lambda a, b: math.sqrt(sq_distance(a, b, p))  # noqa: E731
        slack3 = (sq_distance(weak, proj_truth, p) - sq_distance(weak, f_hat, p)
                  + 2 * dist(f_hat, f_sw) * (dist(weak, f_sw) + dist(f_hat, proj_truth))
                  - sq_distance(f_hat, proj_truth, p))
        assert slack3 >= -1e-12
        check = finite_sample_bound(n, radius, feature_bound, label_bound, delta, epsilon,
                                    sq_distance(weak, truth, p), sq_distance(f_hat, truth, p),
                                    sq_distance(f_hat, weak, p))
        failures += (excess > excess_bound) or not check.holds
    assert failures <= 100 * delta  # a probability >= 1 - delta statement (in practice: never fails)
