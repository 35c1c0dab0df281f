"""The gain predictor: the identity it rests on (sympy and numerically, for any student), exactness with every
label, the control variate against the naive estimate, interval coverage by simulation, the misfit-guided
design, the representation-overlap score, and bad inputs named."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from weakstrong.theory import symbolic
from weakstrong.theory.gain.predictor import (
    gain_decomposition,
    misfit_sampling_prob,
    predict_gain,
    predict_subspace_gain,
    subspace_student,
)
from weakstrong.theory.gain.simulation import draw_summary, repeated_predictions
from weakstrong.theory.representations import principal_subspace, subspace_misalignment


def _pool(rng, n, noise=1.0, shrink=0.6, m=None):
    """Gold labels, a noisy teacher and a shrunk student on n points (shape (n,) or (n, m))."""
    shape = (n,) if m is None else (n, m)
    y = rng.normal(size=shape)
    f_w = y + noise * rng.normal(size=shape)
    return y, f_w, shrink * f_w + 0.1 * rng.normal(size=shape)


def _probs(rng, n, classes=2):
    return rng.dirichlet(np.ones(classes), size=n)


# --- the identity --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("loss", ["sq", "kl"])
def test_the_three_point_identity_holds_symbolically(loss):
    check = symbolic.verify_gain_decomposition(loss)
    assert check.holds and check.residual == "0"


def test_a_wrong_cross_term_leaves_a_residual():
    y, w, s = sp.symbols("y w s")
    assert sp.expand((w - y) ** 2 - (s - y) ** 2 - ((s - w) ** 2 + (s - w) * (y - s))) != 0


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 80), st.sampled_from([None, 3]), st.integers(0, 2**31 - 1))
def test_gain_is_misfit_plus_cross_for_any_student_sq(n, m, seed):
    rng = np.random.default_rng(seed)
    y, f_w, _ = _pool(rng, n, m=m)
    student = rng.normal(size=y.shape) * rng.uniform(0.01, 10)      # any student at all
    terms = gain_decomposition(f_w, student, y)
    assert terms["gain"] == pytest.approx(terms["misfit"] + terms["cross"], rel=1e-10, abs=1e-10)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 80), st.integers(2, 5), st.integers(0, 2**31 - 1))
def test_gain_is_misfit_plus_cross_for_any_student_kl(n, classes, seed):
    rng = np.random.default_rng(seed)
    y, f_w, f_sw = _probs(rng, n, classes), _probs(rng, n, classes), _probs(rng, n, classes)
    f_w, f_sw = (np.clip(p, 1e-9, None) / np.clip(p, 1e-9, None).sum(1, keepdims=True) for p in (f_w, f_sw))
    terms = gain_decomposition(f_w, f_sw, y, loss="kl")
    assert terms["gain"] == pytest.approx(terms["misfit"] + terms["cross"], rel=1e-9, abs=1e-10)
    binary = gain_decomposition(f_w[:, 1] / f_w[:, :2].sum(1), f_sw[:, 1] / f_sw[:, :2].sum(1),
                                rng.integers(0, 2, n).astype(float), loss="kl")
    assert binary["gain"] == pytest.approx(binary["misfit"] + binary["cross"], rel=1e-9, abs=1e-10)


def test_in_sample_subspace_cross_term_is_minus_two_rw_y_and_zero_when_realizable(rng):
    x = rng.normal(size=(300, 6))
    f_w = rng.normal(size=300)
    y = x @ rng.normal(size=6) + 0.5 * rng.normal(size=300)
    student = subspace_student(x, f_w)
    terms = gain_decomposition(f_w, student, y)
    assert terms["cross"] == pytest.approx(-2 * np.mean((f_w - student) * y), rel=1e-9)
    realizable = x @ rng.normal(size=6) + 1.0                   # y in the span (with the bias)
    exact = gain_decomposition(f_w, student, realizable)
    assert exact["cross"] == pytest.approx(0.0, abs=1e-10) and exact["gain"] == pytest.approx(exact["misfit"])


# --- every label: exact --------------------------------------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(st.integers(3, 60), st.sampled_from(["sq", "kl"]), st.sampled_from(["t", "bootstrap"]),
       st.integers(0, 2**31 - 1))
def test_with_all_labels_the_prediction_is_the_exact_gain(n, loss, method, seed):
    rng = np.random.default_rng(seed)
    if loss == "sq":
        y, f_w, f_sw = _pool(rng, n)
    else:
        y, f_w, f_sw = rng.integers(0, 2, n).astype(float), rng.uniform(0.05, 0.95, n), rng.uniform(0.05, 0.95, n)
    idx = rng.permutation(n)
    p = predict_gain(f_w, f_sw, idx, y[idx], loss=loss, method=method, n_bootstrap=50)
    exact = gain_decomposition(f_w, f_sw, y, loss=loss)
    assert p.gain == pytest.approx(exact["gain"], abs=1e-9) and p.w2s_error == pytest.approx(exact["w2s_error"],
                                                                                              abs=1e-9)
    assert p.gain_ci == pytest.approx((exact["gain"], exact["gain"]), abs=1e-9) and p.gain_se == 0.0
    assert p.naive_gain == pytest.approx(exact["gain"], abs=1e-9) and (p.k, p.n) == (n, n)


def test_subspace_convenience_equals_the_projection_and_a_separate_sample(rng):
    x, x_fit = rng.normal(size=(200, 5)), rng.normal(size=(300, 5))
    f_w, f_w_fit = rng.normal(size=200), rng.normal(size=300)
    y = rng.normal(size=200)
    idx = rng.choice(200, 40, replace=False)
    a = predict_subspace_gain(x, f_w, idx, y[idx])
    b = predict_gain(f_w, subspace_student(x, f_w), idx, y[idx])
    assert a == b
    c = predict_subspace_gain(x, f_w, idx, y[idx], fit_features=x_fit, fit_weak=f_w_fit)
    coef, *_ = np.linalg.lstsq(np.c_[x_fit, np.ones(300)], f_w_fit, rcond=None)
    assert c.misfit == pytest.approx(np.mean((np.c_[x, np.ones(200)] @ coef - f_w) ** 2), rel=1e-9)


# --- the vectorised draws are the predictor ------------------------------------------------------------------

@pytest.mark.parametrize("sampling", ["uniform", "misfit"])
def test_repeated_predictions_equal_predict_gain_draw_by_draw(sampling, rng):
    y, f_w, f_sw = _pool(rng, 300)
    out = repeated_predictions(f_w, f_sw, y, 25, 5, seed=3, sampling=sampling)
    draws = np.random.default_rng(3)
    if sampling == "uniform":
        idx = np.argsort(draws.random((5, 300)), axis=1)[:, :25]
        prob = None
    else:
        prob = misfit_sampling_prob(f_w, f_sw)
        idx = draws.choice(300, size=(5, 25), p=prob)
    for r in range(5):
        p = predict_gain(f_w, f_sw, idx[r], y[idx[r]], sampling_prob=prob)
        assert (out["gain"][r], out["gain_lo"][r], out["naive"][r], out["w2s"][r]) == pytest.approx(
            (p.gain, p.gain_ci[0], p.naive_gain, p.w2s_error), rel=1e-10)


# --- the control variate, and where it fails ------------------------------------------------------------------

@pytest.mark.parametrize("strong_noise", [0.0, 0.1])
def test_control_variate_beats_naive_near_realizability_on_synthetic_worlds(strong_noise):
    """Perturbed worlds of the simulator (h_s = h* with relative noise 0 and 0.1): the student is the
    least-squares head fitted on separate weak-labelled data; over its tasks the predictor's pooled RMSE is
    below the naive estimate's."""
    from weakstrong.sim.heads import LinearHead
    from weakstrong.sim.worlds import WorldConfig, make_world, sample_task_heads

    mse = {"gain": [], "naive": []}
    for seed in (0, 1):
        world = make_world(WorldConfig(setting="perturbed", seed=seed, strong_noise=strong_noise))
        rng = np.random.default_rng(seed)
        heads = sample_task_heads(rng, 3, world.width)
        x_weak, x_w2s, x_pool = (world.sample_inputs(rng, n) for n in (500, 2000, 1500))
        weak = LinearHead().fit(world.weak(x_weak), heads.labels(world.truth(x_weak)))
        student = LinearHead().fit(world.strong(x_w2s), weak.predict(world.weak(x_w2s)))
        f_w, f_sw = weak.predict(world.weak(x_pool)), student.predict(world.strong(x_pool))
        y = heads.labels(world.truth(x_pool))
        for t in range(3):
            stats = draw_summary(repeated_predictions(f_w[t], f_sw[t], y[t], 50, 400, seed=t))
            mse["gain"].append(stats["gain_rmse"] ** 2)
            mse["naive"].append(stats["naive_rmse"] ** 2)
    assert np.mean(mse["gain"]) < np.mean(mse["naive"])


def test_the_control_variate_can_lose_when_misfit_and_cross_term_anticorrelate(rng):
    """Var(c) > Var(m + c) when Cov(m, c) < -Var(m)/2: the student errs exactly where it leaves its teacher."""
    n = 2000
    y = rng.normal(size=n)
    f_w = y + 0.1 * rng.normal(size=n)
    jump = rng.random(n) < 0.2
    f_sw = np.where(jump, f_w + 2.0 * np.sign(rng.normal(size=n)), f_w)   # big departures, all wrong
    stats = draw_summary(repeated_predictions(f_w, f_sw, y, 50, 400, seed=1))
    assert stats["rmse_ratio"] > 1.0


# --- coverage by simulation ----------------------------------------------------------------------------------

@pytest.mark.parametrize("sampling", ["uniform", "misfit"])
def test_t_interval_covers_the_pool_gain_at_the_nominal_rate(sampling, rng):
    y, f_w, f_sw = _pool(rng, 2000)
    stats = draw_summary(repeated_predictions(f_w, f_sw, y, 80, 4000, seed=5, level=0.9, sampling=sampling))
    assert 0.88 <= stats["gain_coverage"] <= 0.92
    if sampling == "uniform":   # the guided design is built for the cross term; the weak error's weights skew
        assert 0.87 <= stats["w2s_coverage"] <= 0.93


def test_bootstrap_interval_covers_the_pool_gain(rng):
    y, f_w, f_sw = _pool(rng, 1000)
    exact = gain_decomposition(f_w, f_sw, y)["gain"]
    hits = []
    for r in range(250):
        idx = rng.choice(1000, 60, replace=False)
        p = predict_gain(f_w, f_sw, idx, y[idx], method="bootstrap", n_bootstrap=300, seed=r)
        hits.append(p.gain_ci[0] <= exact <= p.gain_ci[1])
    assert 0.84 <= np.mean(hits) <= 0.96


@pytest.mark.parametrize("method", ["t", "bootstrap"])
def test_population_target_covers_the_population_gain(method):
    """The pool an i.i.d. sample of a (large, finite) population, the labels a subset of the pool: the
    population interval counts the misfit's own sampling error; the pool interval, which ignores it, is
    narrower."""
    rng = np.random.default_rng(11)
    y_all, w_all, s_all = _pool(rng, 200_000, noise=1.0, shrink=0.5)
    truth = gain_decomposition(w_all, s_all, y_all)["gain"]
    hits, widths = [], []
    for r in range(250 if method == "t" else 80):
        pool = rng.integers(0, y_all.size, 300)
        idx = rng.choice(300, 100, replace=False)
        y, f_w, f_sw = y_all[pool], w_all[pool], s_all[pool]
        p = predict_gain(f_w, f_sw, idx, y[idx], target="population", method=method, n_bootstrap=300, seed=r)
        q = predict_gain(f_w, f_sw, idx, y[idx])
        hits.append(p.gain_ci[0] <= truth <= p.gain_ci[1])
        widths.append((p.gain_se, q.gain_se))
    assert 0.84 <= np.mean(hits) <= 0.96
    assert np.mean([a > b for a, b in widths]) > 0.9


def test_misfit_guided_labels_are_unbiased_and_help_when_disagreement_is_concentrated(rng):
    n = 3000
    y = rng.normal(size=n)
    f_w = y + rng.normal(size=n)
    f_sw = np.where(rng.random(n) < 0.1, 0.2 * f_w, f_w)     # the student departs on 10 % of the points
    exact = gain_decomposition(f_w, f_sw, y)["gain"]
    guided = repeated_predictions(f_w, f_sw, y, 60, 1500, seed=2, sampling="misfit")
    uniform = repeated_predictions(f_w, f_sw, y, 60, 1500, seed=2)
    assert abs(guided["gain"].mean() - exact) < 4 * guided["gain"].std() / np.sqrt(1500)
    assert draw_summary(guided)["gain_rmse"] < 0.7 * draw_summary(uniform)["gain_rmse"]
    prob = misfit_sampling_prob(f_w, f_sw, uniform_share=0.1)
    assert prob.sum() == pytest.approx(1.0) and prob.min() >= 0.1 / n * (1 - 1e-12)


# --- representation overlap ----------------------------------------------------------------------------------

def test_principal_subspaces_and_their_misalignment(rng):
    x = rng.normal(size=(200, 3)) @ rng.normal(size=(3, 40))          # rank 3
    basis = principal_subspace(x, variance=0.999)
    assert basis.shape == (200, 3) and np.allclose(basis.T @ basis, np.eye(3))
    assert subspace_misalignment(basis, basis) == pytest.approx(0.0, abs=1e-12)
    other = principal_subspace(rng.normal(size=(200, 30)), variance=0.5)
    assert 0.0 < subspace_misalignment(other, basis) <= 1.0
    as_sparse = principal_subspace(sparse.csr_matrix(x), variance=0.999)
    assert subspace_misalignment(as_sparse, basis) == pytest.approx(0.0, abs=1e-9)


# --- bad inputs ----------------------------------------------------------------------------------------------

Y, W, S = np.array([0.1, 0.9, 0.4, 0.7]), np.array([0.2, 0.8, 0.5, 0.5]), np.array([0.3, 0.6, 0.5, 0.4])
IDX = np.array([0, 2])


def _p(**kw):
    args = {"weak_pred": W, "student_pred": S, "labelled_idx": IDX, "labels": Y[IDX], **kw}
    return predict_gain(args.pop("weak_pred"), args.pop("student_pred"), args.pop("labelled_idx"),
                        args.pop("labels"), **args)


BAD = [
    pytest.param(lambda: _p(labelled_idx=[0, 4]), "labelled_idx", id="idx-out-of-range"),
    pytest.param(lambda: _p(labelled_idx=[1, 1]), "labelled_idx", id="idx-repeated-without-replacement"),
    pytest.param(lambda: _p(labelled_idx=[1], labels=[0.9]), "labelled_idx", id="one-label"),
    pytest.param(lambda: _p(labelled_idx=[0.5, 1.0]), "labelled_idx", id="idx-fractional"),
    pytest.param(lambda: _p(labelled_idx=np.array([True, False])), "labelled_idx", id="idx-boolean"),
    pytest.param(lambda: _p(labels=[0.1, 0.2, 0.3]), "labels", id="labels-wrong-length"),
    pytest.param(lambda: _p(labels=[np.nan, 0.2]), "labels", id="labels-nan"),
    pytest.param(lambda: _p(weak_pred=W[:3]), "shape mismatch", id="pred-shapes"),
    pytest.param(lambda: _p(student_pred=[0.1, np.inf, 0.2, 0.3]), "student_pred", id="student-inf"),
    pytest.param(lambda: _p(weak_pred="abc"), "weak_pred", id="weak-string"),
    pytest.param(lambda: _p(level=1.0), "level", id="level-1"),
    pytest.param(lambda: _p(level=-0.1), "level", id="level-negative"),
    pytest.param(lambda: _p(method="wald"), "method", id="method-unknown"),
    pytest.param(lambda: _p(loss="hinge"), "loss", id="loss-unknown"),
    pytest.param(lambda: _p(target="world"), "target", id="target-unknown"),
    pytest.param(lambda: _p(replace="yes"), "replace", id="replace-not-bool"),
    pytest.param(lambda: _p(weak_error=-1.0), "weak_error", id="weak-error-negative"),
    pytest.param(lambda: _p(n_bootstrap=5, method="bootstrap"), "n_bootstrap", id="bootstrap-too-few"),
    pytest.param(lambda: _p(seed=-1), "seed", id="seed-negative"),
    pytest.param(lambda: _p(loss="kl", weak_pred=[0.0, 0.5, 0.5, 0.5]), "weak_pred", id="kl-zero-probability"),
    pytest.param(lambda: _p(loss="kl", student_pred=[1.2, 0.5, 0.5, 0.5]), "student_pred", id="kl-above-one"),
    pytest.param(lambda: _p(loss="kl", labels=[0.5, 1.5]), "labels", id="kl-label-above-one"),
    pytest.param(lambda: _p(sampling_prob=[0.5, 0.5]), "sampling_prob", id="prob-wrong-length"),
    pytest.param(lambda: _p(sampling_prob=[0.0, 0.5, 0.5, 0.0]), "sampling_prob", id="prob-zero-at-draw"),
    pytest.param(lambda: _p(sampling_prob=[0.25] * 4, target="population", method="bootstrap"), "bootstrap",
                 id="weighted-population-bootstrap"),
    pytest.param(lambda: predict_subspace_gain(np.ones((4, 2)), W, IDX, Y[IDX], loss="kl"), "loss",
                 id="subspace-kl"),
    pytest.param(lambda: subspace_student(np.ones((3, 2)), W), "weak_pred", id="subspace-rows"),
    pytest.param(lambda: subspace_student(np.ones((4, 2)), W, fit_features=np.ones((5, 2))), "fit_weak",
                 id="subspace-half-fit"),
    pytest.param(lambda: misfit_sampling_prob(W, S, uniform_share=0.0), "uniform_share", id="share-zero"),
    pytest.param(lambda: repeated_predictions(W, S, Y, 5, 10), "k", id="draws-k-above-n"),
    pytest.param(lambda: repeated_predictions(W, S, Y, 2, 0), "draws", id="draws-zero"),
    pytest.param(lambda: principal_subspace(np.ones((5, 3))), "features", id="subspace-no-variance"),
    pytest.param(lambda: subspace_misalignment(np.eye(4)[:, :2], np.eye(5)[:, :2]), "weak_basis",
                 id="bases-different-samples"),
]


@pytest.mark.parametrize("call, name", BAD)
def test_bad_input_is_a_value_error_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()
