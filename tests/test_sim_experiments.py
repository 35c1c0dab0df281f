"""Experiments 4-6 (weak ensembles, weak-model selection, classification/KL) and the sweep runner."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize
from scipy.stats import spearmanr

from weakstrong.cli import main
from weakstrong.sim import classification, ensembles, selection
from weakstrong.sim.parallel import RunOptions, run_sweep, world_seeds
from weakstrong.sim.stats import gain_misfit_fit
from weakstrong.theory.records import W2SRecord

# Small configurations: each runs in well under a second on one core.
ENS = ensembles.EnsembleConfig(worlds=2, tasks=3, weak_noises=(0.5, 1.0, 1.5), n_weak=60, n_holdout=40,
                               n_w2s=200, n_test=500)
SEL = selection.SelectionConfig(worlds=4, candidates=4, n_weak=60, n_w2s=200, n_test=500)
CLS = classification.ClassificationConfig(worlds=2, k_realizable=4, ks=(2, 4, 8), n_weak=120, n_w2s=150,
                                          n_test=300)


def _square(x):
    return x * x


@pytest.fixture(scope="module")
def ens_run():
    return ensembles.run(ENS)


@pytest.fixture(scope="module")
def sel_run():
    return selection.run(SEL)


@pytest.fixture(scope="module")
def cls_run():
    return classification.run(CLS)


# --- combination rules -------------------------------------------------------------------------------------

errors = st.lists(st.floats(1e-3, 10.0), min_size=2, max_size=6).map(np.array)


@settings(max_examples=30, deadline=None)
@given(errors, st.sampled_from(ensembles.COMBINERS[:3]), st.integers(1, 500))
def test_weights_on_simplex_and_ordered_by_error(err, rule, n):
    alpha = ensembles.combination_weights(rule, err, n)
    assert np.all(alpha >= 0) and np.isclose(alpha.sum(), 1.0)
    if rule != "naive":   # a lower held-out error never gets less weight
        order = np.argsort(err)
        assert np.all(np.diff(alpha[order]) <= 1e-12)


def test_stacked_weights_minimise_holdout_error(rng):
    members, gold = rng.normal(size=(4, 50)), rng.normal(size=50)
    err = np.mean((members - gold) ** 2, axis=1)
    alpha = ensembles.combination_weights("stacked", err, 50, members, gold)
    reference = minimize(lambda a: np.mean((a @ members - gold) ** 2), np.full(4, 0.25), method="SLSQP",
                         bounds=[(0, 1)] * 4, constraints={"type": "eq", "fun": lambda a: a.sum() - 1}).x
    assert np.mean((alpha @ members - gold) ** 2) <= np.mean((reference @ members - gold) ** 2) + 1e-9


# --- ensembles ---------------------------------------------------------------------------------------------

def test_ensemble_records_and_theorem(ens_run):
    records, summary = ens_run
    n_members, n_rules = len(ENS.weak_noises), len(ensembles.COMBINERS)
    assert len(records) == ENS.worlds * ENS.tasks * (n_members + n_rules)
    for r in records:
        assert W2SRecord.from_dict(json.loads(json.dumps(r.to_dict()))) == r
        own = r.in_sample
        # Realizable subspace: Theorem 1 holds with equality on the student's own sample.
        assert own.holds and abs(own.gain - own.misfit) <= 1e-8 * (own.weak_error + own.misfit)
        if not r.method.startswith("member"):   # ambiguity decomposition of the teacher's error
            assert np.isclose(r.weak_error, r.extra["mean_member_error"] - r.extra["ambiguity"], rtol=1e-9)
            assert r.members.best_member_w2s_error == min(
                m.w2s_error for m in records if m.task == r.task and m.method.startswith("member"))
    assert set(summary["methods"]) == {f"member-{j}" for j in range(n_members)} | set(ensembles.COMBINERS)


def test_naive_teacher_is_the_member_mean(ens_run):
    records, _ = ens_run
    r = next(r for r in records if r.method == "naive")
    assert np.allclose(r.extra["alpha"], 1.0 / len(ENS.weak_noises))


def test_same_seed_same_records_any_jobs(ens_run):
    records, _ = ens_run
    again, _ = ensembles.run(ENS, RunOptions(jobs=2))
    assert [r.to_dict() for r in again] == [r.to_dict() for r in records]


def test_other_seed_other_records(ens_run):
    records, _ = ens_run
    other, _ = ensembles.run(ensembles.EnsembleConfig(**{**ENS.__dict__, "seed": 1}))
    assert other[0].weak_error != records[0].weak_error


# --- selection ---------------------------------------------------------------------------------------------

def test_selection_statistics_match_records(sel_run):
    records, summary = sel_run
    assert len(records) == SEL.worlds * SEL.candidates
    for world in summary["worlds"]:
        recs = [r for r in records if r.task == f"world-{world['world']}"]
        score = np.array([r.weak_error - r.misfit for r in recs])
        w2s = np.array([r.w2s_error for r in recs])
        assert np.isclose(world["spearman_score"], spearmanr(score, w2s).statistic)
        assert world["chosen"] == int(np.argmin(score)) and world["best"] == int(np.argmin(w2s))
        assert world["regret"] == pytest.approx(w2s[world["chosen"]] - w2s.min()) and world["regret"] >= 0
        assert sorted(r.extra["score_rank"] for r in recs) == list(range(SEL.candidates))
    assert summary["spearman_score"]["median"] == pytest.approx(
        float(np.median([w["spearman_score"] for w in summary["worlds"]])))


# --- classification ----------------------------------------------------------------------------------------

def test_kl_realizable_inequality_holds_in_sample(cls_run):
    records, summary = cls_run
    real = [r for r in records if r.setting == "realizable"]
    assert len(real) == CLS.worlds and all(r.loss == "kl" for r in records)
    assert all(r.in_sample.holds for r in real)
    assert summary["realizable"]["frac_in_sample_holds"] == 1.0
    assert len([r for r in records if r.setting == "nonrealizable"]) == CLS.worlds * len(CLS.ks)


def test_nested_hulls_shrink_the_realizability_gap(cls_run):
    records, _ = cls_run
    for seed in {r.seed for r in records}:
        recs = sorted((r for r in records if r.seed == seed and r.setting == "nonrealizable"),
                      key=lambda r: r.sizes["k"])
        gaps = [r.extra["in_sample_reverse_epsilon"] for r in recs]
        assert all(b <= a + 1e-9 for a, b in zip(gaps, gaps[1:]))


@pytest.mark.parametrize("classes", [2, 3])
def test_softmax_head_matches_sklearn(rng, classes):
    from sklearn.linear_model import LogisticRegression

    x = rng.normal(size=(200, 5)) * np.array([1, 10, 0.1, 1, 3]) + 2
    y = rng.integers(0, classes, size=200)
    coef, intercept, standardise = classification.fit_softmax_head(x, y, classes)
    probs = classification._probs(standardise(x), coef[None], intercept[None])[0]
    z = (x - x.mean(0)) / x.std(0)
    expected = LogisticRegression(max_iter=2000).fit(z, y).predict_proba(z)
    assert np.allclose(probs, expected, atol=1e-6)


# --- validation, sweep and CLI -----------------------------------------------------------------------------

@pytest.mark.parametrize("config", [
    ensembles.EnsembleConfig(worlds=0), ensembles.EnsembleConfig(weak_noises=(1.0,)),
    ensembles.EnsembleConfig(setting="pretrained"), ensembles.EnsembleConfig(n_w2s=5),
    selection.SelectionConfig(candidates=2), selection.SelectionConfig(noise_range=(2.0, 1.0)),
    classification.ClassificationConfig(ks=()), classification.ClassificationConfig(classes=1),
    classification.ClassificationConfig(spread=-1.0),
])
def test_bad_configs_rejected(config):
    with pytest.raises(ValueError, match=type(config).__name__):
        config.validate()


@pytest.mark.parametrize("sweep", [RunOptions(jobs=0), RunOptions(scheduler=""), RunOptions(blas_threads=0)])
def test_bad_sweep_rejected_before_work(sweep):
    calls = []
    with pytest.raises(ValueError, match="RunOptions"):
        run_sweep(calls.append, [1, 2], sweep)
    assert calls == []


def test_scheduler_without_dask_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    with pytest.raises(ValueError, match="dask"):
        run_sweep(_square, [1], RunOptions(scheduler="tcp://127.0.0.1:1"))


def test_sweep_keeps_order_over_processes():
    assert run_sweep(_square, range(7), RunOptions(jobs=2)) == [x * x for x in range(7)]


def test_world_seeds_are_prefix_stable():
    assert world_seeds(3, 5)[:3] == world_seeds(3, 3) and world_seeds(3, 3) != world_seeds(4, 3)


def test_gain_misfit_fit_recovers_a_line():
    x = np.linspace(0, 1, 20)
    fit = gain_misfit_fit(x, 2 * x + 0.5)
    assert fit["slope"] == pytest.approx(2) and fit["intercept"] == pytest.approx(0.5) and fit["r2"] == pytest.approx(1)
    assert gain_misfit_fit([1.0, 1.0], [0.0, 1.0])["slope"] is None


@pytest.mark.parametrize("argv", [
    ["ensembles", "--worlds", "1", "--tasks", "2", "--weak-noises", "0.5", "1.0", "--n-weak", "40",
     "--n-holdout", "30", "--n-w2s", "100", "--n-test", "200"],
    ["selection", "--worlds", "2", "--candidates", "3", "--n-weak", "40", "--n-w2s", "100", "--n-test", "200"],
    ["classification", "--worlds", "1", "--k-realizable", "3", "--ks", "2", "3", "--n-weak", "60",
     "--n-w2s", "80", "--n-test", "100"],
])
def test_cli_writes_records_summary_figure(tmp_path, argv):
    out = tmp_path / "run"
    assert main(["sim", *argv, "--out", str(out), "--no-progress"]) == 0
    lines = (out / "records.jsonl").read_text().splitlines()
    assert lines and all(W2SRecord.from_dict(json.loads(line)) for line in lines)
    assert json.loads((out / "summary.json").read_text())["experiment"] == argv[0]
    assert (out / f"{argv[0]}.png").stat().st_size > 0


def test_cli_rejects_bad_config_before_writing(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["sim", "selection", "--candidates", "2", "--out", str(out)]) == 2
    assert "candidates" in capsys.readouterr().err and not out.exists()
