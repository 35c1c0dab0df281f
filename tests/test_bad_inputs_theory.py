"""Bad inputs to the public theory API raise ValueError naming the argument; extreme valid ones get the
right answer.

Two tables. BAD: one row per (function, argument, kind of bad value): NaN, inf, negative where a value must
be >= 0, wrong shapes, complex, (numeric) strings, booleans, scales outside the documented range, zero or
huge radius, negative max_iter / tol, ... Each row must raise ValueError (or a subclass) whose message
contains the argument's name. EXTREME: valid inputs at the edges of float64 (weights of 1e308, data scaled
by 1e100, radius 1e-200, infinite KL on a sample of zero weight, an ill-conditioned design), where the
verdict or the result must be the right one.
"""

from __future__ import annotations

import numpy as np
import pytest

from weakstrong.theory import bounds as B
from weakstrong.theory import distances as D
from weakstrong.theory import projections as P
from weakstrong.theory.check import CheckConfig

T = np.array([0.1, 0.2, 0.3])  # predictions on 3 samples
X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # (3, 2) features
PROBS = np.array([[0.2, 0.8], [0.5, 0.5], [0.9, 0.1]])  # (3, 2) probability rows
COMPS = np.stack([PROBS, PROBS[:, ::-1]])  # (2, 3, 2) components
MEMBERS = np.stack([T, 2 * T])  # (2, 3) ensemble members
ALPHA = np.array([0.5, 0.5])
FINITE = {"n": 10, "radius": 1.0, "feature_bound": 1.0, "label_bound": 1.0, "delta": 0.1, "epsilon": 0.0}
ERRORS = {"weak_error": 1.0, "w2s_error": 0.5, "misfit": 0.2}


def _with(a, index, value, dtype=float):
    """A copy of ``a`` with one entry replaced."""
    out = np.array(a, dtype=dtype)
    out[index] = value
    return out


def _terms(**kw):
    return B.finite_sample_terms(**{**FINITE, **kw})


def _fs_bound(**kw):
    return B.finite_sample_bound(**{**FINITE, **ERRORS, **kw})


NAN, INF = float("nan"), float("inf")
BAD = [
    # ---------------------------------------------------------------------------------------------- NaN
    pytest.param(lambda: D.sq_distance(_with(T, 1, NAN), T), "f", id="nan-sq_distance-f"),
    pytest.param(lambda: D.inner_product(T, _with(T, 0, NAN)), "g", id="nan-inner_product-g"),
    pytest.param(lambda: B.theorem1(_with(T, 2, NAN), T, T), "truth", id="nan-theorem1-truth"),
    pytest.param(lambda: D.kl_divergence(_with(PROBS, (0, 0), NAN), PROBS), "p", id="nan-kl_divergence-p"),
    pytest.param(lambda: P.project_onto_subspace(_with(X, (0, 0), NAN), T), "features", id="nan-subspace-features"),
    pytest.param(lambda: P.project_onto_hull(X, _with(T, 0, NAN)), "target", id="nan-hull-target"),
    pytest.param(lambda: P.kl_project_onto_hull(COMPS, _with(PROBS, (1, 1), NAN)), "teacher", id="nan-kl_hull-teacher"),
    pytest.param(lambda: B.ambiguity_decomposition(_with(MEMBERS, (0, 0), NAN), ALPHA, T), "members",
                 id="nan-ambiguity-members"),
    pytest.param(lambda: B.rank_weak_models([NAN, 0.1], [0.0, 0.0]), "weak_errors", id="nan-rank-weak_errors"),
    pytest.param(lambda: B.selection_bound([1.0, 2.0], [0.5, 0.5], [0.1, NAN]), "w2s_errors",
                 id="nan-selection-w2s_errors"),
    pytest.param(lambda: D.sq_distance(T, T, [1.0, NAN, 1.0]), "sample_weight", id="nan-sample_weight"),
    pytest.param(lambda: P.project_onto_ball(X, T, NAN), "radius", id="nan-ball-radius"),
    pytest.param(lambda: B.nonrealizable_bound(T, T, T, epsilon=NAN), "epsilon", id="nan-epsilon"),
    pytest.param(lambda: B.theorem1(T, T, T, rtol=NAN), "rtol", id="nan-rtol"),
    pytest.param(lambda: _terms(delta=NAN), "delta", id="nan-finite_sample-delta"),
    pytest.param(lambda: P.project_onto_box(T, NAN, 1.0), "lower", id="nan-box-lower"),
    pytest.param(lambda: P.kl_project_onto_hull(COMPS, PROBS, tol=NAN), "tol", id="nan-kl_hull-tol"),
    # ---------------------------------------------------------------------------------------------- inf
    pytest.param(lambda: D.sq_distance(T, _with(T, 1, INF)), "g", id="inf-sq_distance-g"),
    pytest.param(lambda: B.theorem1(T, _with(T, 1, -INF), T), "weak", id="inf-theorem1-weak"),
    pytest.param(lambda: P.project_onto_ball(_with(X, (2, 1), INF), T, 1.0), "features", id="inf-ball-features"),
    pytest.param(lambda: P.project_onto_ball(X, T, INF), "radius", id="inf-ball-radius"),
    pytest.param(lambda: B.convex_nonrealizable_bound(T, T, T, epsilon=INF), "epsilon", id="inf-epsilon"),
    pytest.param(lambda: B.theorem1(T, T, T, [1.0, INF, 1.0]), "sample_weight", id="inf-sample_weight"),
    pytest.param(lambda: B.rank_weak_models([0.1, 0.2], [0.0, INF]), "misfits", id="inf-rank-misfits"),
    pytest.param(lambda: _terms(label_bound=INF), "label_bound", id="inf-finite_sample-label_bound"),
    pytest.param(lambda: P.kl_project_onto_hull(COMPS, PROBS, tol=INF), "tol", id="inf-kl_hull-tol"),
    pytest.param(lambda: B.nonrealizable_identity(T, T, T, _with(T, 0, INF)), "truth_projection",
                 id="inf-identity-truth_projection"),
    pytest.param(lambda: P.project_onto_subspace(X, T, ridge=INF), "ridge", id="inf-subspace-ridge"),
    pytest.param(lambda: _fs_bound(misfit=INF), "misfit", id="inf-finite_sample_bound-misfit"),
    # ------------------------------------------------------------------------------ negative where >= 0
    pytest.param(lambda: P.project_onto_ball(X, T, -1.0), "radius", id="neg-ball-radius"),
    pytest.param(lambda: P.project_onto_subspace(X, T, ridge=-1.0), "ridge", id="neg-subspace-ridge"),
    pytest.param(lambda: B.nonrealizable_bound(T, T, T, epsilon=-0.1), "epsilon", id="neg-epsilon"),
    pytest.param(lambda: D.sq_distance(T, T, [1.0, -0.5, 1.0]), "sample_weight", id="neg-sample_weight"),
    pytest.param(lambda: B.rank_weak_models([0.1, -0.2], [0.0, 0.0]), "weak_errors", id="neg-rank-weak_errors"),
    pytest.param(lambda: B.selection_bound([1.0, 2.0], [0.5, 0.5], [-0.1, 0.2]), "w2s_errors",
                 id="neg-selection-w2s_errors"),
    pytest.param(lambda: B.selection_bound([1.0, 2.0], [0.5, -0.5], [0.1, 0.2]), "misfits",
                 id="neg-selection-misfits"),
    pytest.param(lambda: _fs_bound(misfit=-0.2), "misfit", id="neg-finite_sample_bound-misfit"),
    pytest.param(lambda: _fs_bound(weak_error=-1.0), "weak_error", id="neg-finite_sample_bound-weak_error"),
    pytest.param(lambda: _terms(feature_bound=-1.0), "feature_bound", id="neg-finite_sample-feature_bound"),
    pytest.param(lambda: _terms(delta=-0.1), "delta", id="neg-finite_sample-delta"),
    pytest.param(lambda: _terms(n=-5), "n", id="neg-finite_sample-n"),
    pytest.param(lambda: _terms(n=0), "n", id="zero-finite_sample-n"),
    pytest.param(lambda: P.kl_project_onto_hull(COMPS, PROBS, tol=-1.0), "tol", id="neg-kl_hull-tol"),
    pytest.param(lambda: P.kl_project_onto_hull(COMPS, PROBS, max_iter=-1), "max_iter", id="neg-kl_hull-max_iter"),
    pytest.param(lambda: B.theorem1(T, T, T, rtol=-1e-8), "rtol", id="neg-rtol"),
    pytest.param(lambda: B.subspace_equality(T, T, T, atol=-1.0), "atol", id="neg-atol"),
    pytest.param(lambda: D.kl_divergence(PROBS, _with(PROBS, (0, 0), -0.2)), "q", id="neg-kl_divergence-q"),
    # ----------------------------------------------------------------------------------- wrong shapes
    pytest.param(lambda: D.sq_distance(T, T[:2]), "g", id="shape-sq_distance"),
    pytest.param(lambda: D.sq_distance(np.ones((3, 2, 2)), np.ones((3, 2, 2))), "f", id="shape-3d"),
    pytest.param(lambda: D.sq_distance([], []), "f", id="shape-empty"),
    pytest.param(lambda: P.project_onto_subspace(T, T), "features", id="shape-subspace-features-1d"),
    pytest.param(lambda: P.project_onto_ball(np.ones((4, 2)), T, 1.0), "target", id="shape-ball-target-rows"),
    pytest.param(lambda: P.kl_project_onto_hull(COMPS, PROBS[:2]), "components", id="shape-kl_hull-components"),
    pytest.param(lambda: P.kl_project_onto_hull(COMPS, PROBS[0]), "teacher", id="shape-kl_hull-teacher-1d"),
    pytest.param(lambda: B.ambiguity_decomposition(np.ones((2, 4)), ALPHA, T), "members", id="shape-members"),
    pytest.param(lambda: B.ambiguity_decomposition(MEMBERS, [0.5, 0.3, 0.2], T), "weights", id="shape-weights"),
    pytest.param(lambda: D.sq_distance(T, T, [1.0, 1.0]), "sample_weight", id="shape-sample_weight"),
    pytest.param(lambda: B.subspace_equality(T, T, T, features=X[:2]), "features", id="shape-equality-features"),
    pytest.param(lambda: P.project_onto_box(T, [0.0, 0.0], 1.0), "lower", id="shape-box-lower"),
    pytest.param(lambda: P.simplex_least_squares(np.eye(3), np.ones(2)), "b", id="shape-simplex_ls-b"),
    pytest.param(lambda: B.selection_bound([1.0, 2.0], [0.5, 0.5], [0.1]), "w2s_errors", id="shape-selection"),
    pytest.param(lambda: B.kl_theorem(PROBS, PROBS[:2], PROBS[:2]), "truth_probs", id="shape-kl_theorem"),
    # ------------------------------------------------------------------------------------------ complex
    pytest.param(lambda: D.sq_distance(T + 1j, T), "f", id="complex-sq_distance-f"),
    pytest.param(lambda: P.project_onto_subspace(X + 0j, T), "features", id="complex-subspace-features"),
    pytest.param(lambda: P.project_onto_ball(X, T, 1 + 0j), "radius", id="complex-ball-radius"),
    pytest.param(lambda: D.sq_distance(T, T, np.ones(3) + 0j), "sample_weight", id="complex-sample_weight"),
    pytest.param(lambda: B.nonrealizable_bound(T, T, T, epsilon=0.1 + 0j), "epsilon", id="complex-epsilon"),
    pytest.param(lambda: P.kl_project_onto_hull(COMPS, PROBS + 0j), "teacher", id="complex-kl_hull-teacher"),
    # ------------------------------------------------------------------------------ (numeric) strings
    pytest.param(lambda: D.sq_distance(["0.1", "0.2", "0.3"], T), "f", id="str-sq_distance-f"),
    pytest.param(lambda: P.project_onto_ball(X, T, "1.0"), "radius", id="str-ball-radius"),
    pytest.param(lambda: _terms(n="10"), "n", id="str-finite_sample-n"),
    pytest.param(lambda: P.kl_project_onto_hull(COMPS, PROBS, tol="1e-3"), "tol", id="str-kl_hull-tol"),
    pytest.param(lambda: B.convex_nonrealizable_bound(T, T, T, epsilon="0.1"), "epsilon", id="str-epsilon"),
    pytest.param(lambda: B.theorem1(T, T, T, ["1", "1", "1"]), "sample_weight", id="str-sample_weight"),
    pytest.param(lambda: _fs_bound(weak_error="1.0"), "weak_error", id="str-finite_sample_bound-weak_error"),
    pytest.param(lambda: D.sq_distance("abc", T), "f", id="str-sq_distance-text"),
    # ------------------------------------------------------------------------------------------- bools
    pytest.param(lambda: P.project_onto_ball(X, T, True), "radius", id="bool-ball-radius"),
    pytest.param(lambda: _terms(n=True), "n", id="bool-finite_sample-n"),
    pytest.param(lambda: P.kl_project_onto_hull(COMPS, PROBS, max_iter=True), "max_iter", id="bool-max_iter"),
    pytest.param(lambda: D.sq_distance([True, False, True], T), "f", id="bool-sq_distance-f"),
    pytest.param(lambda: B.theorem1(T, T, T, np.array([True, False, True])), "sample_weight",
                 id="bool-sample_weight"),
    pytest.param(lambda: B.nonrealizable_bound(T, T, T, epsilon=False), "epsilon", id="bool-epsilon"),
    pytest.param(lambda: B.theorem1(T, T, T, rtol=True), "rtol", id="bool-rtol"),
    pytest.param(lambda: P.project_onto_subspace(X, T, fit_intercept=1), "fit_intercept", id="int-fit_intercept"),
    # ------------------------------------------------------------------------ non-integers and objects
    pytest.param(lambda: _terms(n=2.5), "n", id="frac-finite_sample-n"),
    pytest.param(lambda: _terms(n=INF), "n", id="inf-finite_sample-n"),
    pytest.param(lambda: _terms(n=10**400), "n", id="huge-finite_sample-n"),
    pytest.param(lambda: P.kl_project_onto_hull(COMPS, PROBS, max_iter=2.5), "max_iter", id="frac-max_iter"),
    pytest.param(lambda: D.sq_distance([0.1, None, 0.3], T), "f", id="none-in-array"),
    pytest.param(lambda: P.project_onto_ball(X, T, None), "radius", id="none-radius"),
    pytest.param(lambda: D.bregman_divergence(PROBS, PROBS, "entropy", D.grad_negative_entropy), "phi",
                 id="callable-bregman-phi"),
    pytest.param(lambda: CheckConfig(seed=-1), "seed", id="checkconfig-seed"),
    pytest.param(lambda: CheckConfig(max_classes=1.5), "max_classes", id="checkconfig-max_classes"),
    # ------------------------------------------------------------- scales outside the documented range
    pytest.param(lambda: B.theorem1(1e300 * T, T, T), "truth", id="scale-theorem1-1e300"),
    pytest.param(lambda: B.theorem1(1e-300 * T, 1e-300 * T, 0 * T), "weak", id="scale-theorem1-1e-300"),
    pytest.param(lambda: B.theorem1(1e-170 * T, 0 * T, 1e-170 * T), "w2s", id="scale-theorem1-1e-170"),
    pytest.param(lambda: D.sq_distance(1e200 * T, T), "f", id="scale-sq_distance-1e200"),
    pytest.param(lambda: B.ensemble_theorem1(1e200 * MEMBERS, ALPHA, T, T), "members", id="scale-ensemble-members"),
    pytest.param(lambda: B.nonrealizable_identity(T, T, T, 1e160 * T), "truth_projection",
                 id="scale-identity-truth_projection"),
    pytest.param(lambda: _terms(radius=1e200), "radius", id="huge-finite_sample-radius"),
    pytest.param(lambda: _terms(radius=1e300, feature_bound=1e300), "feature_bound", id="huge-finite_sample-BR"),
    pytest.param(lambda: _terms(epsilon=1e308), "epsilon", id="huge-finite_sample-epsilon"),
    pytest.param(lambda: _fs_bound(weak_error=1e308, w2s_error=1e308, misfit=1e308), "weak_error",
                 id="huge-finite_sample_bound-errors"),
    pytest.param(lambda: B.rank_weak_models([1e308, 0.1], [0.0, 0.0]), "weak_errors", id="huge-rank-weak_errors"),
    pytest.param(lambda: B.selection_bound([1.0, 2.0], [0.5, 0.5], [1e308, 0.2]), "w2s_errors",
                 id="huge-selection-w2s_errors"),
    # ------------------------------------------------------------------ degenerate weights and support
    pytest.param(lambda: D.kl_divergence(PROBS, PROBS, [0.0, 0.0, 0.0]), "sample_weight", id="zero-sample_weight"),
    pytest.param(lambda: P.kl_project_onto_hull(COMPS, [[1.0, 0.0], [0.5, 0.5], [0.5, 0.5]]), "teacher",
                 id="kl_hull-teacher-without-support"),
    pytest.param(lambda: B.kl_theorem(PROBS, [[1.0, 0.0], [0.5, 0.5], [0.5, 0.5]], PROBS), "weak_probs",
                 id="kl_theorem-infinite-weak_error"),
    pytest.param(lambda: P.project_onto_box(T, 1.0, 0.0), "lower", id="box-crossed-bounds"),
    pytest.param(lambda: B.ambiguity_decomposition(MEMBERS, [0.7, 0.7], T), "weights", id="weights-off-simplex"),
]


@pytest.mark.parametrize("call, name", BAD)
def test_bad_input_raises_value_error_naming_the_argument(call, name):
    with pytest.raises(ValueError) as info:
        call()
    assert name in str(info.value), f"message does not name {name!r}: {info.value}"


def test_the_bad_input_table_covers_every_category():
    ids = [p.id for p in BAD]
    assert len(ids) >= 60 and len(set(ids)) == len(ids)
    for category in ("nan", "inf", "neg", "shape", "complex", "str", "bool", "scale", "huge", "zero"):
        assert any(i.startswith(category) for i in ids), category


# ----------------------------------------------------------------------------- extreme but valid inputs
TRUTH, WEAK, STUDENT = np.array([1.0, -1.0]), np.array([1.0, -1.0]), np.zeros(2)  # violates Theorem 1


def _violating_theorem1(weights=None, scale=1.0):
    # V = constants, f* = (1, -1) not in V, f_w = f*: f_sw = 0, weak_error 0, misfit 1, w2s_error 1:
    # slack = 0 - 1 - 1 = -2 (in units of scale^2), whatever the weights of the two samples.
    check = B.theorem1(scale * TRUTH, scale * WEAK, scale * STUDENT, weights)
    assert not check.holds
    assert check.slack == pytest.approx(-2.0 * scale**2, rel=1e-12)


def _ball_is_scale_equivariant(sx, sy):
    rng = np.random.default_rng(0)
    x, y, w = rng.normal(size=(20, 3)), rng.normal(size=20), rng.random(20)
    for radius in (0.3, 100.0):
        ref = P.project_onto_ball(x, y, radius, w)
        scaled = P.project_onto_ball(sx * x, sy * y, radius * sy / sx, w)
        np.testing.assert_allclose(scaled.coef / (sy / sx), ref.coef, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(scaled.fitted / sy, ref.fitted, rtol=1e-12, atol=1e-14)


def _subspace_is_scale_equivariant(sx, sy):
    rng = np.random.default_rng(1)
    x, y, w = rng.normal(size=(20, 3)), rng.normal(size=20), rng.random(20)
    ref, scaled = P.project_onto_subspace(x, y, w), P.project_onto_subspace(sx * x, sy * y, w)
    np.testing.assert_allclose(scaled.coef / (sy / sx), ref.coef, rtol=1e-12)
    np.testing.assert_allclose(scaled.intercept / sy, ref.intercept, rtol=1e-12)


def _hull_is_scale_invariant(scale):
    rng = np.random.default_rng(2)
    x, y, w = rng.normal(size=(20, 4)), rng.normal(size=20), rng.random(20)
    ref, scaled = P.project_onto_hull(x, y, w), P.project_onto_hull(scale * x, scale * y, w)
    np.testing.assert_allclose(scaled.weights, ref.weights, atol=1e-12)


def _tiny_radius_is_the_limit_direction(radius):
    # ||theta(mu)|| = radius with mu -> inf: theta -> radius * X^T W y / ||X^T W y||.
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(20, 3)), rng.normal(size=20)
    proj = P.project_onto_ball(x, y, radius)
    direction = x.T @ y / np.linalg.norm(x.T @ y)
    np.testing.assert_allclose(proj.coef / radius, direction, rtol=1e-12)


def _infinite_kl_on_a_zero_weight_sample():
    p, q = np.array([[1.0, 0.0], [0.5, 0.5]]), np.array([[0.0, 1.0], [0.5, 0.5]])
    assert np.isinf(D.pointwise_kl(p, q)[0])
    assert D.kl_divergence(p, q, [0.0, 1.0]) == 0.0  # 0 * inf counts as 0, not NaN
    assert D.bregman_divergence(p, q, D.negative_entropy, D.grad_negative_entropy, [0.0, 1.0]) == 0.0
    assert np.isinf(D.kl_divergence(p, q, [1e-300, 1.0]))  # any positive weight: infinite
    # the student q has no mass where the truth p has, but only on the sample of zero weight
    check = B.kl_theorem(p, np.full((2, 2), 0.5), q, [0.0, 1.0])
    assert check.holds and np.isfinite(check.slack)


def _kl_projection_off_a_vertex_gives_the_kl_theorem():
    comps = np.array([[[1.0, 0.0, 0.0]], [[0.0, 0.5, 0.5]]])
    teacher = np.array([[0.98, 0.01, 0.01]])
    student = P.kl_project_onto_hull(comps, teacher).fitted
    check = B.kl_theorem(teacher, teacher, student)  # truth = teacher, in the hull
    assert check.holds and np.isfinite(check.terms["w2s_error"]) and check.terms["w2s_error"] < 1e-12


def _kl_projection_with_teacher_mass_1e_300():
    rng = np.random.default_rng(4)
    comps = rng.dirichlet(np.ones(3), size=(3, 6))
    teacher = rng.dirichlet(np.ones(3), size=6)
    teacher[:, 0] = 1e-300
    teacher /= teacher.sum(axis=1, keepdims=True)
    proj = P.kl_project_onto_hull(comps, teacher)
    assert proj.converged and np.all(proj.fitted > 0)
    truth = np.tensordot([0.2, 0.3, 0.5], comps, axes=1)
    assert B.kl_theorem(truth, teacher, proj.fitted).holds


def _ill_conditioned_subspace_equality():
    # cond(X) = 1e12: the computed projection is orthogonal to V_s only up to ~ eps * 1e12 relative.
    rng = np.random.default_rng(5)
    u, _ = np.linalg.qr(rng.normal(size=(50, 6)))
    v, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    x = (u * np.logspace(0, -12, 6)) @ v.T
    truth = x @ rng.normal(size=6)
    weak = truth + rng.normal(size=50)
    w2s = P.project_onto_subspace(x, weak, fit_intercept=False).fitted
    assert P.condition_number(x, fit_intercept=False) == pytest.approx(1e12, rel=1e-3)
    check = B.subspace_equality(truth, weak, w2s, features=x, fit_intercept=False)
    assert check.holds and check.rtol > 1e-9
    wrong = B.subspace_equality(truth, weak, 2 * w2s - truth, features=x, fit_intercept=False)
    assert not wrong.holds  # the wider tolerance still catches a student that is not the projection


EXTREME = [
    pytest.param(lambda: _violating_theorem1([1e308, 1e308]), id="theorem1-weights-1e308"),
    pytest.param(lambda: _violating_theorem1([5e-324, 1e-323]), id="theorem1-subnormal-weights"),
    pytest.param(lambda: _violating_theorem1([1e308, 1e-308]), id="theorem1-weights-1e308-and-1e-308"),
    pytest.param(lambda: _violating_theorem1(scale=1e-140), id="theorem1-scale-1e-140"),
    pytest.param(lambda: _violating_theorem1(scale=1e140), id="theorem1-scale-1e140"),
    pytest.param(lambda: _ball_is_scale_equivariant(1e100, 1e100), id="ball-data-1e100"),
    pytest.param(lambda: _ball_is_scale_equivariant(1e-100, 1e-100), id="ball-data-1e-100"),
    pytest.param(lambda: _ball_is_scale_equivariant(1e300, 1e-5), id="ball-features-1e300"),
    pytest.param(lambda: _ball_is_scale_equivariant(1.0, 1e300), id="ball-target-1e300"),
    pytest.param(lambda: _tiny_radius_is_the_limit_direction(1e-200), id="ball-radius-1e-200"),
    pytest.param(lambda: _tiny_radius_is_the_limit_direction(1e-160), id="ball-radius-1e-160"),
    pytest.param(lambda: _subspace_is_scale_equivariant(1e150, 1e150), id="subspace-data-1e150"),
    pytest.param(lambda: _subspace_is_scale_equivariant(1e-300, 1e-10), id="subspace-features-1e-300"),
    pytest.param(lambda: _hull_is_scale_invariant(1e300), id="hull-data-1e300"),
    pytest.param(lambda: _hull_is_scale_invariant(1e-300), id="hull-data-1e-300"),
    pytest.param(_infinite_kl_on_a_zero_weight_sample, id="kl-zero-weight-times-inf"),
    pytest.param(_kl_projection_off_a_vertex_gives_the_kl_theorem, id="kl-projection-off-vertex"),
    pytest.param(_kl_projection_with_teacher_mass_1e_300, id="kl-projection-teacher-1e-300"),
    pytest.param(_ill_conditioned_subspace_equality, id="subspace-equality-cond-1e12"),
    pytest.param(lambda: B.theorem1(np.zeros(3), np.zeros(3), np.zeros(3)).holds or pytest.fail("zeros"),
                 id="theorem1-all-zero"),
    pytest.param(lambda: _terms(n=2**53, radius=1e-300), id="finite_sample-n-2**53"),
    pytest.param(lambda: None if not B.selection_bound([1e300, 2.0], [0.0, 0.5], [0.1, 1.6]).holds
                 else pytest.fail("1.6 > 1.5 must be a violation"), id="selection-huge-errors"),
]


@pytest.mark.parametrize("case", EXTREME)
def test_extreme_but_valid_input_gets_the_right_answer(case):
    case()
