"""Ensembles, probe students and metrics of the classification pipeline, on small synthetic arrays."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from weakstrong.llm.classification.metrics import accuracy, auroc, bootstrap_pgr, pgr, theory_check_kl, theory_check_sq
from weakstrong.llm.students.classifier import (EvidentialProbe, ProbeConfig, ProbeStudent, fit_probe, predict_probes,
                                                student_kind)
from weakstrong.llm.supervision.ensemble import (aggregate, balanced_threshold, confidence_weights, logconf_target,
                                                 make_teachers)
from weakstrong.theory.distances import sq_distance
from weakstrong.theory.records import W2SRecord


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(st.floats(0, 1), min_size=4, max_size=4), min_size=1, max_size=5))
def test_aggregates_are_in_range_and_consistent(rows):
    p = np.array(rows)
    mean = aggregate(p, "average")
    np.testing.assert_allclose(mean, p.mean(0))
    vote = aggregate(p, "vote")
    assert set(np.unique(vote)) <= {0.0, 1.0}
    share = (p > 0.5).mean(0)
    clear = share != 0.5
    np.testing.assert_array_equal(vote[clear], (share[clear] > 0.5).astype(float))
    np.testing.assert_array_equal(vote[~clear], (mean[~clear] > 0.5).astype(float))
    np.testing.assert_array_equal(aggregate(p, "single", index=p.shape[0] - 1), p[-1])
    c = confidence_weights(mean)
    assert np.all((c >= 0.05) & (c <= 1.0))


def test_aggregate_refuses_bad_input():
    p = np.array([[0.2, 0.9], [0.4, 0.6]])
    with pytest.raises(ValueError, match="method must be one of"):
        aggregate(p, "median")
    with pytest.raises(ValueError, match="index"):
        aggregate(p, "single")
    with pytest.raises(ValueError, match="regression"):
        aggregate(p, "vote", regression=True)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        aggregate(p + 1, "average")


def test_make_teachers_single_gives_one_teacher_per_weak_model():
    probs = {"w2s_train": np.array([[0.1, 0.8, 0.6], [0.3, 0.2, 0.9]]), "test": np.array([[0.5, 0.5], [0.9, 0.1]])}
    singles = make_teachers(["a", "b"], probs, "single")
    assert [t.name for t in singles] == ["single(a)", "single(b)"]
    np.testing.assert_array_equal(singles[1].probs["test"], [0.9, 0.1])
    (avg,) = make_teachers(["a", "b"], probs, "average")
    assert avg.name == "average(a,b)" and avg.confidence["w2s_train"].shape == (3,)


def test_confidence_is_zero_information_at_one_half():
    c = confidence_weights(np.array([0.5, 0.9, 1.0, 0.0]), min_confidence=0.0)
    assert c[0] == pytest.approx(0.0, abs=1e-12)
    assert 0 < c[1] < c[2] == pytest.approx(1.0)
    assert c[3] == pytest.approx(1.0)


def test_logconf_target_keeps_class_balance_and_interpolates(rng):
    weak = rng.random(200) * 0.6 + 0.3  # mostly unsure teacher
    strong = rng.normal(size=200)
    thr = balanced_threshold(strong, weak)
    assert np.mean(strong > thr) == pytest.approx(np.mean(weak > 0.5), abs=0.01)
    np.testing.assert_allclose(logconf_target(weak, strong, 0.0), weak)
    hard = logconf_target(weak, strong, 1.0)
    assert set(np.unique(hard)) <= {0.0, 1.0}
    assert hard.mean() == pytest.approx(np.mean(weak > 0.5), abs=0.01)
    np.testing.assert_allclose(logconf_target(weak, strong, 0.3), 0.7 * weak + 0.3 * hard)
    with pytest.raises(ValueError, match="conf"):
        logconf_target(weak, strong, 1.5)


def _linear_problem(rng, n=300, d=6):
    x = rng.normal(size=(n, d))
    truth = x @ rng.normal(size=d) * 0.1 + 0.5  # realizable: the truth is a linear head
    weak = truth + 0.3 * rng.normal(size=n)
    return x, truth, weak


def test_probe_student_is_the_projection_so_theorem1_is_an_equality_in_sample(rng):
    x, truth, weak = _linear_problem(rng)
    w2s = ProbeStudent().fit(x, weak).predict(x)
    misfit, gain = sq_distance(w2s, weak), sq_distance(weak, truth) - sq_distance(w2s, truth)
    assert gain == pytest.approx(misfit, rel=1e-9)
    record = theory_check_sq(truth, weak, w2s, truth, "subspace", task="synthetic")
    assert record.holds and record.slack == pytest.approx(0.0, abs=1e-9)
    assert record.extra["nonrealizable_identity"]["holds"]
    W2SRecord.from_dict(record.to_dict())


def test_nonrealizable_identity_is_exact_in_sample_for_the_projection(rng):
    x, _, weak = _linear_problem(rng)
    truth = (rng.random(x.shape[0]) < 0.5).astype(float)  # labels far from the linear span
    ceiling = ProbeStudent().fit(x, truth).predict(x)
    w2s = ProbeStudent().fit(x, weak).predict(x)
    record = theory_check_sq(truth, weak, w2s, ceiling, "subspace")
    ident = record.extra["nonrealizable_identity"]
    assert ident["holds"], ident
    assert record.gain == pytest.approx(record.misfit - 2 * ident["terms"]["cross"], abs=1e-9)
    assert record.epsilon == pytest.approx(sq_distance(ceiling, truth))
    assert record.extra["nonrealizable_bound"]["holds"]


def test_batched_probes_equal_single_fits(rng):
    x, truth, weak = _linear_problem(rng, n=120, d=4)
    teachers = np.stack([np.clip(weak, 0, 1), np.clip(truth, 0, 1), np.clip(weak, 0, 1)])
    conf = confidence_weights(teachers)
    cfg = ProbeConfig(evidential_steps=30, logconf_rounds=2)
    out = predict_probes(["average", "vote", "logconf"], x, teachers, conf, {"train": x, "other": x[:7]}, cfg)
    for j, m in enumerate(["average", "vote", "logconf"]):
        alone = fit_probe(m, x, teachers[j], conf[j], cfg).predict(x[:7])
        np.testing.assert_allclose(out["other"][j], alone, atol=1e-8)
    with pytest.raises(ValueError, match="one method per teacher"):
        predict_probes(["average"], x, teachers, conf, {"train": x}, cfg)


def test_evidential_probe_learns_a_separable_problem(rng):
    x = rng.normal(size=(400, 5))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(float)
    soft = np.clip(y * 0.9 + 0.05, 0, 1)
    probe = EvidentialProbe(steps=60, lr=0.1).fit(x, soft, confidence_weights(soft))
    p = probe.predict(x)
    assert np.all((p > 0) & (p < 1))
    assert accuracy(y, p) > 0.9


def test_task_metrics_and_pgr(rng):
    y = np.array([0, 1, 1, 0, 1])
    assert accuracy(y, np.array([0.2, 0.8, 0.4, 0.1, 0.9])) == pytest.approx(0.8)
    assert auroc(y, np.array([0.1, 0.9, 0.8, 0.2, 0.7])) == pytest.approx(1.0)
    assert auroc(np.ones(3), np.ones(3)) is None
    assert pgr(0.6, 0.7, 0.8) == pytest.approx(0.5)
    assert pgr(0.8, 0.7, 0.8) is None
    labels = rng.integers(0, 2, 500)
    weak = np.where(rng.random(500) < 0.65, labels, 1 - labels)
    strong = np.where(rng.random(500) < 0.75, labels, 1 - labels)
    ceiling = np.where(rng.random(500) < 0.9, labels, 1 - labels)
    res = bootstrap_pgr(labels, weak, strong, ceiling, n_boot=300, seed=1)
    expected = pgr(accuracy(labels, weak), accuracy(labels, strong), accuracy(labels, ceiling))
    assert res["pgr"] == pytest.approx(expected)
    assert res["ci"][0] < res["pgr"] < res["ci"][1] and res["n_valid"] == 300


def test_kl_check_clips_least_squares_outputs(rng):
    truth = rng.integers(0, 2, 50).astype(float)
    teacher = rng.random(50)
    student = teacher * 1.4 - 0.2  # leaves [0, 1], as a least-squares head can
    record = theory_check_kl(truth, teacher, student, truth, "subspace")
    assert record.loss == "kl" and np.isfinite(record.misfit) and record.misfit > 0
    with pytest.raises(ValueError, match="one length"):
        theory_check_kl(truth, teacher[:3], student, truth, "subspace")


def test_ball_probe_obeys_theorem1_in_sample_when_realizable(rng):
    x = rng.normal(size=(200, 5)) * [1.0, 2.0, 0.5, 1.0, 3.0] + 1.0
    head = ProbeStudent(radius=0.1).fit(x, rng.random(200))
    truth = head.predict(x)  # a member of the class: realizable
    assert np.linalg.norm(head.coef_) <= 0.1 + 1e-9
    weak = truth + 0.3 * rng.normal(size=200)
    w2s = ProbeStudent(radius=0.1).fit(x, weak).predict(x)
    record = theory_check_sq(truth, weak, w2s, truth, "ball")
    assert record.holds and record.slack >= -1e-9 and record.gain >= record.misfit - 1e-9
    with pytest.raises(ValueError, match="either ridge or radius"):
        ProbeStudent(ridge=1.0, radius=0.1)


def test_each_student_kind_carries_only_its_own_statements(rng):
    x, _, weak = _linear_problem(rng)
    truth = (rng.random(x.shape[0]) < 0.5).astype(float)  # labels far from the class: not realizable
    roundtrip = lambda r: W2SRecord.from_dict(r.to_dict())  # noqa: E731

    # ball-constrained probe: the convex non-realizable bound, and no subspace identity or cross term
    ceiling = ProbeStudent(radius=0.2).fit(x, truth).predict(x)
    w2s = ProbeStudent(radius=0.2).fit(x, weak).predict(x)
    ball = roundtrip(theory_check_sq(truth, weak, w2s, ceiling, "ball"))
    assert ball.cross is None and "nonrealizable_identity" not in ball.extra
    assert ball.extra["convex_nonrealizable_bound"]["name"] == "convex_nonrealizable_bound"
    assert ball.nonrealizable.holds and ball.nonrealizable.bound == ball.extra["convex_nonrealizable_bound"]["bound"]
    assert ball.epsilon == pytest.approx(sq_distance(ceiling, truth)) and ball.bound is not None

    # least-squares probe: the subspace identity's cross term and the two-sided non-realizable bound
    ceiling = ProbeStudent().fit(x, truth).predict(x)
    w2s = ProbeStudent().fit(x, weak).predict(x)
    sub = roundtrip(theory_check_sq(truth, weak, w2s, ceiling, "subspace"))
    assert sub.cross == pytest.approx(sub.extra["nonrealizable_identity"]["terms"]["cross"])
    assert sub.gain == pytest.approx(sub.misfit - 2 * sub.cross, abs=1e-9) and sub.nonrealizable.holds

    # fine-tuned student: no guaranteed statement, and the record says so
    kind, note = student_kind("finetune", "average", ProbeConfig())
    for check in (theory_check_sq, theory_check_kl):
        rec = roundtrip(check(truth, weak, w2s, ceiling, kind, note))
        assert (rec.bound, rec.slack, rec.holds, rec.nonrealizable, rec.cross, rec.epsilon) == (None,) * 6
        assert rec.extra["statements"] == "none guaranteed: fine-tuned student is not a projection"
        assert rec.misfit > 0 and rec.strong_error is not None  # the terms are still measured
    # the KL inequality is proved for none of the pipeline's students
    assert roundtrip(theory_check_kl(truth, weak, w2s, ceiling, "subspace")).holds is None
    with pytest.raises(ValueError, match="kind must be one of"):
        theory_check_sq(truth, weak, w2s, ceiling, "projection")


@pytest.mark.parametrize("student, method, probe, kind", [
    ("probe", "average", ProbeConfig(), "subspace"),
    ("probe", "vote", ProbeConfig(radius=1.0), "ball"),
    ("probe", "single", ProbeConfig(ridge=0.5), "ridge"),
    ("probe", "logconf", ProbeConfig(), "none"),
    ("probe", "bayes", ProbeConfig(radius=1.0), "none"),
    ("finetune", "single", ProbeConfig(radius=1.0), "none"),
])
def test_student_kind_follows_what_was_fitted(student, method, probe, kind):
    got, note = student_kind(student, method, probe)
    assert got == kind and (note is None) == (kind != "none")


def test_timer_counts_reused_cache_stages_at_their_compute_cost():
    from weakstrong.llm.classification.classify import Timer

    timer = Timer()
    with timer("weak/a"):
        timer.stages["weak-a-123"] = {"seconds": 40.0, "cached": True}   # reused: cost 40 s when computed
    with timer("weak/b"):
        timer.stages["weak-b-456"] = {"seconds": 7.0, "cached": False}   # computed now: wall clock counts
    assert timer.seconds["weak/a"] < 1.0
    assert 40.0 <= timer.compute_seconds["weak/a"] < 41.0
    assert timer.compute_seconds["weak/b"] == timer.seconds["weak/b"]


def test_the_bayes_probe_has_no_per_sample_weights_unless_the_ablation_asks():
    """As in the reference, the confidence enters the evidential student only through its soft targets; the
    entropy weights 1 - H/log 2 are a named ablation (``entropy_weights``)."""
    from weakstrong.llm.students.classifier import EvidentialProbe, ProbeConfig, fit_probe

    rng = np.random.default_rng(0)
    x, teacher = rng.normal(size=(60, 5)), rng.uniform(0.05, 0.95, 60)
    confidence = rng.uniform(0.05, 1.0, 60)
    cfg = ProbeConfig(evidential_steps=30)
    plain = EvidentialProbe(30, cfg.evidential_lr, cfg.evidential_l2, cfg.seed).fit(x, teacher).predict(x)
    weighted = EvidentialProbe(30, cfg.evidential_lr, cfg.evidential_l2, cfg.seed).fit(x, teacher, confidence).predict(x)
    assert np.array_equal(fit_probe("bayes", x, teacher, confidence, cfg).predict(x), plain)
    ablation = ProbeConfig(evidential_steps=30, entropy_weights=True)
    assert np.array_equal(fit_probe("bayes", x, teacher, confidence, ablation).predict(x), weighted)
    assert not np.allclose(plain, weighted)
