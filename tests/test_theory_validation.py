"""Bad inputs raise ValueError naming the argument and what was expected."""

from __future__ import annotations

import numpy as np
import pytest

from weakstrong.theory import bounds as B
from weakstrong.theory import distances as D
from weakstrong.theory import projections as P

GOOD = np.array([0.1, 0.2, 0.3])
PROBS = np.array([[0.2, 0.8], [0.5, 0.5], [1.0, 0.0]])


@pytest.mark.parametrize("call, match", [
    (lambda: D.sq_distance(GOOD, GOOD[:2]), "shape mismatch"),
    (lambda: B.theorem1(GOOD, GOOD, GOOD[:2]), "shape mismatch.*w2s"),
    (lambda: P.project_onto_subspace(np.ones((4, 2)), GOOD), "target must have one row per row of features"),
    (lambda: P.kl_project_onto_hull(np.stack([PROBS, PROBS]), PROBS[:2]), "components must have shape"),
    (lambda: B.ambiguity_decomposition(np.ones((2, 4)), [0.5, 0.5], GOOD), "members must have shape"),
    (lambda: B.ambiguity_decomposition(np.ones((2, 3)), [0.5, 0.3, 0.2], GOOD), "weights must have length 2"),
    (lambda: B.rank_weak_models([0.1, 0.2], [0.1]), "same length"),
])
def test_mismatched_shapes(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("weights, match", [
    ([1.0, -0.5, 1.0], "sample_weight must be nonnegative"),
    ([0.0, 0.0, 0.0], "sample_weight must not be all zero"),
    ([1.0, 1.0], "sample_weight must have length 3"),
    ([1.0, np.nan, 1.0], "sample_weight must contain only finite values"),
    ([[1.0, 1.0, 1.0]], "sample_weight must be a 1-D array"),
])
@pytest.mark.parametrize("func", [
    lambda w: D.sq_distance(GOOD, GOOD, w),
    lambda w: D.kl_divergence(PROBS, PROBS, w),
    lambda w: B.theorem1(GOOD, GOOD, GOOD, w),
    lambda w: P.project_onto_ball(np.ones((3, 2)), GOOD, 1.0, w),
    lambda w: P.project_onto_hull(np.ones((3, 2)), GOOD, w),
    lambda w: P.kl_project_onto_hull(PROBS[None], PROBS, w),
])
def test_bad_weights(func, weights, match):
    with pytest.raises(ValueError, match=match):
        func(weights)


@pytest.mark.parametrize("bad, match", [
    (np.array([[0.2, 0.9], [0.5, 0.5], [1.0, 0.0]]), "must be probabilities on the simplex: rows must sum to 1"),
    (np.array([[1.2, -0.2], [0.5, 0.5], [1.0, 0.0]]), "must be probabilities on the simplex: found a negative"),
    (np.array([[1.0], [1.0], [1.0]]), "at least 2 classes"),
    (np.array([0.5, 0.5]), "must be a 2-D array"),
])
def test_probabilities_off_the_simplex(bad, match):
    with pytest.raises(ValueError, match="q .*" + match):
        D.kl_divergence(PROBS, bad)
    with pytest.raises(ValueError, match="weak_probs .*" + match):
        B.kl_theorem(PROBS, bad, PROBS)


def test_teacher_without_support_is_rejected():
    teacher = np.array([[1.0, 0.0], [0.5, 0.5], [1.0, 0.0]])
    with pytest.raises(ValueError, match="teacher must be > 0"):
        P.kl_project_onto_hull(PROBS[None][:, :, ::-1], teacher)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("func, name", [
    (lambda a: D.sq_distance(a, GOOD), "f"),
    (lambda a: B.theorem1(GOOD, a, GOOD), "weak"),
    (lambda a: P.project_onto_subspace(np.ones((3, 1)), a), "target"),
    (lambda a: P.project_onto_ball(np.column_stack([a, a]), GOOD, 1.0), "features"),
    (lambda a: P.project_onto_cone(a), "target"),
])
def test_nan_and_inf_are_rejected(func, name, value):
    bad = GOOD.copy()
    bad[1] = value
    with pytest.raises(ValueError, match=f"{name} must contain only finite values"):
        func(bad)


@pytest.mark.parametrize("call, match", [
    (lambda: P.project_onto_ball(np.ones((3, 1)), GOOD, -1.0), "radius must be a finite number >= 0"),
    (lambda: P.project_onto_subspace(np.ones((3, 1)), GOOD, ridge=-1.0), "ridge must be"),
    (lambda: B.nonrealizable_bound(GOOD, GOOD, GOOD, epsilon=-0.1), "epsilon must be"),
    (lambda: B.ambiguity_decomposition(np.ones((2, 3)), [0.7, 0.7], GOOD), "weights must be on the simplex"),
    (lambda: B.rank_weak_models([0.1, -0.2], [0.0, 0.0]), "nonnegative"),
    (lambda: D.sq_distance([], []), "f must not be empty"),
    (lambda: D.sq_distance(np.ones((2, 2, 2)), np.ones((2, 2, 2))), "f must be a 1-D or 2-D array"),
    (lambda: D.sq_distance(["a"], ["b"]), "f must be a numeric array"),
])
def test_other_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()
