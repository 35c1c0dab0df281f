"""Each projection against a slow reference (brute force or scipy.optimize) and its optimality conditions."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, special

from weakstrong.theory import projections as P

SETTINGS = settings(max_examples=30, deadline=None)
seeds = st.integers(0, 2**32 - 1)


def _weights(rng, n):
    w = rng.exponential(size=n)
    w[rng.random(n) < 0.25] = 0.0
    w[rng.integers(n)] += 0.5
    return w / w.sum()


def _design(rng, n, d, collinear):
    x = rng.normal(size=(n, d)) * 10.0 ** rng.uniform(-1, 1, size=d)
    if collinear and d >= 2:
        x[:, -1] = 2.5 * x[:, 0]
    return x


# ---------------------------------------------------------------------------------------------- subspace
@SETTINGS
@given(seeds, st.integers(2, 30), st.integers(1, 6), st.booleans(), st.booleans())
def test_subspace_matches_normal_equations_and_leaves_orthogonal_residual(seed, n, d, intercept, collinear):
    rng = np.random.default_rng(seed)
    x, y, w = _design(rng, n, d, collinear), rng.normal(size=n), _weights(rng, n)
    proj = P.project_onto_subspace(x, y, w, fit_intercept=intercept)
    basis = np.column_stack([x, np.ones(n)]) if intercept else x
    # reference: pseudo-inverse of the weighted normal equations
    coef = np.linalg.pinv(basis.T @ (w[:, None] * basis), rcond=1e-10) @ (basis.T @ (w * y))
    scale = np.sqrt(w @ y**2) + 1.0
    np.testing.assert_allclose(w * proj.fitted, w * (basis @ coef), atol=1e-8 * scale)
    # the residual is W-orthogonal to every column of the basis (the defining property of the projection)
    assert np.max(np.abs(basis.T @ (w * (y - proj.fitted)))) <= 1e-9 * scale * np.abs(basis).max()
    assert (proj.intercept is None) == (not intercept)


@SETTINGS
@given(seeds, st.integers(2, 30), st.integers(1, 5), st.floats(1e-3, 10.0))
def test_ridge_matches_its_closed_form(seed, n, d, ridge):
    rng = np.random.default_rng(seed)
    x, y, w = rng.normal(size=(n, d)), rng.normal(size=n), _weights(rng, n)
    proj = P.project_onto_subspace(x, y, w, fit_intercept=False, ridge=ridge)
    expected = np.linalg.solve(x.T @ (w[:, None] * x) + ridge * np.eye(d), x.T @ (w * y))
    np.testing.assert_allclose(proj.coef, expected, rtol=1e-8, atol=1e-10)


def test_subspace_accepts_vector_targets():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, 3)), rng.normal(size=(20, 2))
    joint = P.project_onto_subspace(x, y).fitted
    for j in range(2):
        np.testing.assert_allclose(joint[:, j], P.project_onto_subspace(x, y[:, j]).fitted, atol=1e-12)


# -------------------------------------------------------------------------------------------------- ball
def _ball_reference(x, y, w, radius):
    objective = lambda t: w @ (x @ t - y) ** 2  # noqa: E731
    constraint = {"type": "ineq", "fun": lambda t: radius**2 - t @ t, "jac": lambda t: -2 * t}
    best = None
    for start in (np.zeros(x.shape[1]), np.linalg.lstsq(x, y, rcond=None)[0]):
        start = start * min(1.0, radius / max(np.linalg.norm(start), 1e-300))
        res = optimize.minimize(objective, start, method="SLSQP", constraints=[constraint],
                                options={"ftol": 1e-15, "maxiter": 1000})
        if best is None or res.fun < best.fun:
            best = res
    return best.fun


@SETTINGS
@given(seeds, st.integers(2, 25), st.integers(1, 5), st.one_of(st.just(0.0), st.floats(1e-6, 3.0)), st.booleans())
def test_ball_matches_slsqp_and_satisfies_kkt(seed, n, d, radius, collinear):
    rng = np.random.default_rng(seed)
    x, y, w = _design(rng, n, d, collinear), rng.normal(size=n), _weights(rng, n)
    proj = P.project_onto_ball(x, y, radius, w)
    norm = np.linalg.norm(proj.coef)
    assert norm <= radius * (1 + 1e-12) + 1e-300
    value = w @ (proj.fitted - y) ** 2
    assert value <= _ball_reference(x, y, w, radius) + 1e-9 * (1 + value)
    # KKT: the gradient X^T W (X theta - y) is -mu theta with mu >= 0, and mu = 0 inside the ball
    grad = x.T @ (w * (proj.fitted - y))
    gscale = np.linalg.norm(x.T @ (w * y)) + 1e-12
    if norm < radius * (1 - 1e-9):
        assert np.linalg.norm(grad) <= 1e-8 * gscale
    elif norm > 0:
        mu = -(grad @ proj.coef) / norm**2
        assert mu >= -1e-9 * gscale / max(norm, 1e-12)
        assert np.linalg.norm(grad + mu * proj.coef) <= 1e-7 * gscale


def test_ball_of_radius_zero_is_the_zero_head():
    proj = P.project_onto_ball(np.eye(3), [1.0, 2.0, 3.0], 0.0)
    assert np.all(proj.coef == 0) and np.all(proj.fitted == 0)


def test_ball_with_a_large_radius_is_least_squares():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(30, 4)), rng.normal(size=30)
    np.testing.assert_allclose(
        P.project_onto_ball(x, y, 1e6).fitted, P.project_onto_subspace(x, y, fit_intercept=False).fitted,
        atol=1e-10,
    )


# -------------------------------------------------------------------------------------------------- hull
def _hull_brute_force(x, y, w):
    """min over the simplex by enumerating supports: on each support, the affine least-squares solution."""
    k = x.shape[1]
    sw = np.sqrt(w)
    best = np.inf
    for size in range(1, k + 1):
        for support in itertools.combinations(range(k), size):
            a = sw[:, None] * x[:, support]
            # KKT system of min ||a v - sw y||^2 s.t. sum v = 1
            kkt = np.block([[a.T @ a, np.ones((size, 1))], [np.ones((1, size)), np.zeros((1, 1))]])
            rhs = np.concatenate([a.T @ (sw * y), [1.0]])
            v = np.linalg.lstsq(kkt, rhs, rcond=None)[0][:size]
            if np.all(v >= -1e-12):
                best = min(best, float(w @ (x[:, support] @ v - y) ** 2))
    return best


@SETTINGS
@given(seeds, st.integers(1, 25), st.integers(1, 5), st.booleans())
def test_hull_matches_brute_force_over_supports(seed, n, k, duplicate):
    rng = np.random.default_rng(seed)
    x, y, w = rng.normal(size=(n, k)) * rng.uniform(0.1, 10), rng.normal(size=n), _weights(rng, n)
    if duplicate and k >= 2:
        x[:, 1] = x[:, 0]
    proj = P.project_onto_hull(x, y, w)
    assert np.all(proj.weights >= 0) and proj.weights.sum() == pytest.approx(1.0, abs=1e-12)
    value = float(w @ (proj.fitted - y) ** 2)
    assert value <= _hull_brute_force(x, y, w) + 1e-10 * (1 + value)
    # variational inequality: every vertex direction is non-improving
    grad = 2 * x.T @ (w * (proj.fitted - y))
    assert proj.optimality_gap <= 1e-10 * (1 + np.abs(grad).max())


def test_hull_of_one_predictor_is_that_predictor():
    x = np.array([[1.0], [2.0], [3.0]])
    proj = P.project_onto_hull(x, [0.0, 0.0, 0.0])
    np.testing.assert_allclose(proj.fitted, x[:, 0])
    np.testing.assert_allclose(proj.weights, [1.0])


def test_hull_finds_the_interior_midpoint():
    # predictors 0 and 2 (constant), target 1: the midpoint weights (1/2, 1/2), derived by symmetry
    proj = P.project_onto_hull(np.array([[0.0, 2.0], [0.0, 2.0]]), [1.0, 1.0])
    np.testing.assert_allclose(proj.weights, [0.5, 0.5], atol=1e-12)


# ---------------------------------------------------------------------------------------------- box/cone
@SETTINGS
@given(seeds, st.integers(1, 30))
def test_box_and_cone_satisfy_the_variational_inequality(seed, n):
    rng = np.random.default_rng(seed)
    y, w = 3 * rng.normal(size=n), _weights(rng, n)
    lower, upper = -rng.uniform(0, 2, n), rng.uniform(0, 2, n)
    box, cone = P.project_onto_box(y, lower, upper).fitted, P.project_onto_cone(y).fitted
    assert np.all((lower <= box) & (box <= upper)) and np.all(cone >= 0)
    for _ in range(20):  # <y - p, g - p>_P <= 0 for random members g of each class
        g = rng.uniform(lower, upper)
        assert w @ ((y - box) * (g - box)) <= 1e-12
        g = np.abs(rng.normal(size=n)) * rng.integers(0, 2, n)
        assert w @ ((y - cone) * (g - cone)) <= 1e-12


def test_box_rejects_crossed_bounds():
    with pytest.raises(ValueError, match="lower must be <= upper"):
        P.project_onto_box([0.0, 1.0], 1.0, 0.0)


# ------------------------------------------------------------------------------------------------ KL hull
def _kl_hull_reference(comps, teacher, w):
    k = comps.shape[0]
    objective = lambda v: float(w @ special.rel_entr(np.tensordot(np.clip(v, 0, None), comps, 1), teacher).sum(1))  # noqa: E731
    best = np.inf
    for start in [np.full(k, 1.0 / k), *np.eye(k)]:
        res = optimize.minimize(objective, start, method="SLSQP", bounds=[(0, 1)] * k,
                                constraints=[{"type": "eq", "fun": lambda v: v.sum() - 1}],
                                options={"ftol": 1e-15, "maxiter": 1000})
        best = min(best, res.fun)
    return best


@settings(max_examples=25, deadline=None)
@given(seeds, st.integers(1, 5), st.integers(1, 15), st.integers(2, 5), st.floats(0.2, 3.0))
def test_kl_hull_matches_slsqp_with_a_tight_gap(seed, k, n, c, concentration):
    rng = np.random.default_rng(seed)
    comps = rng.dirichlet(np.full(c, concentration), size=(k, n))
    teacher = rng.dirichlet(np.ones(c), size=n)
    w = _weights(rng, n)
    proj = P.kl_project_onto_hull(comps, teacher, w)
    value = float(w @ special.rel_entr(proj.fitted, teacher).sum(1))
    assert value <= _kl_hull_reference(comps, teacher, w) + 1e-10
    assert proj.optimality_gap <= 1e-12
    np.testing.assert_allclose(proj.fitted.sum(axis=1), 1.0, atol=1e-12)


def test_kl_hull_recovers_a_teacher_inside_the_hull():
    rng = np.random.default_rng(3)
    comps = rng.dirichlet(np.ones(4), size=(3, 10))
    alpha = np.array([0.2, 0.5, 0.3])
    proj = P.kl_project_onto_hull(comps, np.tensordot(alpha, comps, 1))
    np.testing.assert_allclose(proj.weights, alpha, atol=1e-6)  # components in general position: unique


def test_simplex_least_squares_handles_a_target_equal_to_every_predictor():
    w = P.simplex_least_squares(np.ones((4, 3)), np.ones(4))
    assert w.sum() == pytest.approx(1.0) and np.all(w >= 0)


# ----------------------------------------------------------------- KL hull: exact zeros, tiny teacher mass
def _kl_certificate(comps, teacher, w, weights):
    """An independent optimality test in long double: the mixture keeps every class some component
    reaches (else the slope towards it is -inf), and the Frank-Wolfe gap max_j <grad, w - e_j>, an upper
    bound on F(w) - min F, with its rounding scale."""
    ld = np.longdouble
    p, t, v = comps.astype(ld), teacher.astype(ld), (w / w.sum()).astype(ld)
    mix = np.tensordot(weights.astype(ld), p, axes=1)
    support = (comps.max(axis=0) > 0) & (w > 0)[:, None]
    assert np.all(mix[support] > 0), "the projection lost a class that some component carries"
    log_ratio = np.zeros_like(mix)
    log_ratio[support] = np.log(mix[support]) - np.log(t[support]) + 1
    grad = np.einsum("knc,nc->k", p, v[:, None] * log_ratio)
    scale = float(np.max(np.einsum("knc,nc->k", p, v[:, None] * np.abs(log_ratio))))
    return float(grad @ weights.astype(ld) - grad.min()), max(1.0, scale)


def test_kl_hull_leaves_the_vertex_where_a_class_has_no_mass():
    # p_0 = (1, 0, 0), p_1 = (0, .5, .5), teacher (.98, .01, .01) = .98 p_0 + .02 p_1: objective 0 there.
    # At the vertex w = (1, 0) the mixture has no mass on classes 2 and 3, where p_1 has: slope -inf.
    comps = np.array([[[1.0, 0.0, 0.0]], [[0.0, 0.5, 0.5]]])
    teacher = np.array([[0.98, 0.01, 0.01]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        proj = P.kl_project_onto_hull(comps, teacher)
    np.testing.assert_allclose(proj.weights, [0.98, 0.02], atol=1e-12)
    np.testing.assert_allclose(proj.fitted, teacher, atol=1e-12)
    assert proj.converged and proj.optimality_gap <= 1e-12


@settings(max_examples=40, deadline=None)
@given(seeds, st.integers(1, 5), st.integers(1, 10), st.integers(2, 5), st.sampled_from([0.0, 0.3, 0.6]),
       st.sampled_from([0.0, 0.3]), st.floats(5.0, 300.0))
def test_kl_hull_with_exact_zeros_and_tiny_teacher_mass_is_optimal(seed, k, n, c, zeros, tiny, exponent):
    rng = np.random.default_rng(seed)
    comps = rng.dirichlet(np.full(c, rng.uniform(0.3, 3.0)), size=(k, n))
    comps[rng.random(comps.shape) < zeros] = 0.0
    comps[comps.sum(axis=-1) == 0, rng.integers(c)] = 1.0
    comps /= comps.sum(axis=-1, keepdims=True)
    teacher = rng.dirichlet(np.ones(c), size=n)
    teacher[rng.random(teacher.shape) < tiny] *= 10.0 ** -rng.uniform(5.0, exponent)
    teacher /= teacher.sum(axis=-1, keepdims=True)
    w = _weights(rng, n)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        proj = P.kl_project_onto_hull(comps, teacher, w)
    # a stop above tol is never silent, and the solver raises no other warning (overflow, 0 * inf, ...)
    assert [str(x.message).split(" ")[0] for x in caught] == ([] if proj.converged else ["kl_project_onto_hull"])
    gap, scale = _kl_certificate(comps, teacher, w, proj.weights)
    assert gap <= (1e-13 if proj.converged else 1e-9) * scale
    assert proj.optimality_gap == pytest.approx(gap, abs=1e-12 * scale)
    value = float(w @ special.rel_entr(proj.fitted, teacher).sum(1))
    assert value <= _kl_hull_reference(comps, teacher, w) + 1e-10 * (1 + abs(value))


def test_kl_hull_flags_a_stop_above_tol():
    rng = np.random.default_rng(2)
    comps, teacher = rng.dirichlet(np.ones(3), size=(3, 8)), rng.dirichlet(np.ones(3), size=8)
    with pytest.warns(RuntimeWarning, match="gap"):
        proj = P.kl_project_onto_hull(comps, teacher, max_iter=0)
    assert not proj.converged and proj.optimality_gap > 1e-14
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert P.kl_project_onto_hull(comps, teacher).converged


def test_kl_hull_ignores_a_teacher_zero_on_a_sample_of_zero_weight():
    comps = np.array([[[0.5, 0.5], [0.5, 0.5]], [[0.9, 0.1], [0.2, 0.8]]])
    teacher = np.array([[0.6, 0.4], [1.0, 0.0]])  # KL(any mixture || teacher) is infinite on sample 2
    with pytest.raises(ValueError, match="teacher must be > 0"):
        P.kl_project_onto_hull(comps, teacher)
    proj = P.kl_project_onto_hull(comps, teacher, [1.0, 0.0])
    alone = P.kl_project_onto_hull(comps[:, :1], teacher[:1])
    np.testing.assert_allclose(proj.weights, alone.weights, atol=1e-10)
