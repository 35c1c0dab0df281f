"""The misfit statements hold on random instances, and the checks fail where the statements do."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from weakstrong.theory import bounds as B
from weakstrong.theory import check as C
from weakstrong.theory.projections import project_onto_subspace

SETTINGS = settings(max_examples=40, deadline=None)
seeds = st.integers(0, 2**32 - 1)
sizes = st.builds(C.InstanceSize, n=st.integers(2, 40), d=st.integers(1, 6), k=st.integers(1, 6),
                  c=st.integers(2, 5))


def _holds(check: B.BoundCheck) -> None:
    assert check.holds, f"{check.name}: slack {check.slack!r} < -tol {check.tol!r}; terms {check.terms}"


@pytest.mark.parametrize("generator", [C.theorem1_subspace, C.theorem1_ball, C.theorem1_hull, C.theorem1_box,
                                       C.theorem1_cone])
@SETTINGS
@given(seed=seeds, size=sizes)
def test_theorem1_holds_in_every_realizable_instance(generator, seed, size):
    check = generator(np.random.default_rng(seed), size)
    _holds(check)
    assert check.slack >= -1e-12 * check.scale  # far inside the stated tolerance


@SETTINGS
@given(seed=seeds, size=sizes)
def test_subspace_equality_holds_to_relative_1e_9(seed, size):
    check = C.subspace_equality(np.random.default_rng(seed), size)
    # the generator passes the design, so rtol is 1e-9 plus the rounding floor 4 eps cond(X)
    assert check.equality and check.rtol >= 1e-9
    assert abs(check.slack) <= 1e-9 * check.scale
    assert check.terms["gain"] == pytest.approx(check.terms["misfit"], rel=1e-9, abs=1e-9 * check.scale)


@pytest.mark.parametrize("generator", [C.nonrealizable_identity, C.nonrealizable_bound,
                                       C.convex_nonrealizable_ball, C.convex_nonrealizable_hull])
@SETTINGS
@given(seed=seeds, size=sizes)
def test_nonrealizable_statements_hold(generator, seed, size):
    _holds(generator(np.random.default_rng(seed), size))


@settings(max_examples=30, deadline=None)
@given(seed=seeds, size=sizes)
def test_kl_theorem_holds_for_random_mixture_classes(seed, size):
    _holds(C.kl_theorem(np.random.default_rng(seed), size))


@pytest.mark.parametrize("generator", [C.ambiguity_decomposition, C.ensemble_theorem1, C.weak_model_selection])
@SETTINGS
@given(seed=seeds, size=sizes)
def test_ensemble_statements_hold(generator, seed, size):
    _holds(generator(np.random.default_rng(seed), size))


# ------------------------------------------------------------------------ instances derived by hand
def test_theorem1_on_a_hand_computed_instance():
    # V = constants; f* = 1 (in V); f_w = (0, 4) -> f_sw = mean = 2.
    # weak_error = (1 + 9)/2 = 5, misfit = (4 + 4)/2 = 4, w2s_error = 1: equality 1 = 5 - 4 (a subspace).
    truth, weak = np.array([1.0, 1.0]), np.array([0.0, 4.0])
    w2s = project_onto_subspace(np.zeros((2, 1)), weak).fitted
    np.testing.assert_allclose(w2s, [2.0, 2.0])
    check = B.theorem1(truth, weak, w2s)
    assert check.terms == pytest.approx({"weak_error": 5.0, "w2s_error": 1.0, "misfit": 4.0, "gain": 4.0})
    assert check.holds and check.slack == pytest.approx(0.0, abs=1e-12)


def test_theorem1_is_violated_off_realizability():
    # V = constants, f* = (1, -1) not in V, f_w = f*: f_sw = 0, weak_error 0, misfit 1, w2s_error 1.
    truth = np.array([1.0, -1.0])
    check = B.theorem1(truth, truth, np.zeros(2))
    assert not check.holds and check.slack == pytest.approx(-2.0)
    # ... while the non-realizable bound, with epsilon = d(Pi f*, f*) = 1, still holds (with equality).
    nonreal = B.nonrealizable_bound(truth, truth, np.zeros(2), epsilon=1.0)
    assert nonreal.holds and nonreal.slack == pytest.approx(0.0, abs=1e-12)


def test_theorem1_detects_a_student_that_is_not_the_projection():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(30, 3))
    truth = x @ rng.normal(size=3)
    weak = truth + rng.normal(size=30)
    overshoot = 2 * project_onto_subspace(x, weak, fit_intercept=False).fitted - truth  # in V, not closest
    assert not B.theorem1(truth, weak, overshoot).holds
    assert not B.subspace_equality(truth, weak, overshoot).holds


def test_nonrealizable_identity_terms_on_a_hand_computed_instance():
    # V = constants, uniform P on 2 points. f* = (2, 0): Pi f* = 1, r* = (1, -1), epsilon = 1.
    # f_w = (3, -1): f_sw = 1, r_w = (2, -2), misfit = 4, cross = <r*, r_w> = 2.
    # gain = d(f_w, f*) - d(f_sw, f*) = 1 - 1 = 0 = misfit - 2 cross = 4 - 4.
    truth, weak = np.array([2.0, 0.0]), np.array([3.0, -1.0])
    check = B.nonrealizable_identity(truth, weak, np.ones(2), np.ones(2))
    assert check.terms["cross"] == pytest.approx(2.0)
    assert check.terms["epsilon"] == pytest.approx(1.0)
    assert check.terms["gain"] == pytest.approx(0.0)
    assert check.holds


def test_kl_theorem_fails_for_a_student_that_is_not_the_projection():
    # Teacher = truth = p_0, in the hull: the projection is p_0 itself (slack 0). A student at p_1 has
    # slack = KL(g||f_w) - KL(f||f_w) - KL(g||f) = 0 - KL(p_1||p_0) - KL(p_0||p_1) < 0.
    from weakstrong.theory.distances import kl_divergence
    from weakstrong.theory.projections import kl_project_onto_hull

    rng = np.random.default_rng(11)
    comps = rng.dirichlet(np.full(3, 0.5), size=(2, 40))
    truth = teacher = comps[0]
    projection = kl_project_onto_hull(comps, teacher).fitted
    right = B.kl_theorem(truth, teacher, projection)
    assert right.holds and right.slack == pytest.approx(0.0, abs=1e-9)
    wrong = B.kl_theorem(truth, teacher, comps[1])
    expected = -(kl_divergence(comps[1], comps[0]) + kl_divergence(comps[0], comps[1]))
    assert not wrong.holds and wrong.slack == pytest.approx(expected, rel=1e-9)


def test_rank_weak_models_orders_by_weak_error_minus_misfit():
    ranking = B.rank_weak_models([0.5, 0.9, 0.4], [0.1, 0.8, 0.0])  # scores 0.4, 0.1, 0.4
    assert ranking.best == 1
    np.testing.assert_array_equal(ranking.order, [1, 0, 2])  # ties keep input order
    np.testing.assert_allclose(ranking.scores, [0.4, 0.1, 0.4])


def test_selection_bound_fails_when_a_student_beats_its_teacher_bound():
    check = B.selection_bound([1.0, 2.0], [0.5, 1.8], [0.1, 0.3])  # chosen: 1, score 0.2 < w2s 0.3
    assert check.terms["chosen"] == 1 and not check.holds


def test_bound_check_exposes_record_fields():
    from weakstrong.theory.records import W2SRecord

    check = B.theorem1([1.0, 1.0], [0.0, 4.0], [2.0, 2.0])
    record = W2SRecord.from_errors(check.terms["weak_error"], check.terms["w2s_error"], check.terms["misfit"],
                                   **check.record_fields())
    assert record.holds and record.bound == pytest.approx(1.0)
