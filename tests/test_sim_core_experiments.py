"""Experiments 1-3 end to end: the statements they must reproduce, determinism, the CLI contract."""

from __future__ import annotations

import json

import numpy as np
import pytest

from weakstrong.cli import main as cli_main
from weakstrong.sim.parallel import RunOptions
from weakstrong.sim import charikar, epsilon_sweep, finite_sample
from weakstrong.sim.pretrain import PretrainConfig
from weakstrong.sim.worlds import WorldConfig
from weakstrong.theory.records import W2SRecord

SMALL_PRETRAIN = dict(pretrain_tasks=4, pretrain_samples=300, pretrain=PretrainConfig(epochs=10))


def _charikar(setting, tmp_path, **kwargs):
    world = WorldConfig(setting=setting, seed=kwargs.pop("seed", 0), **(SMALL_PRETRAIN if setting != "perturbed" else {}))
    config = charikar.CharikarConfig(world=world, **{"tasks": 12, "n_train": 600, "n_test": 3000, **kwargs})
    return charikar.run(config, RunOptions(cache_dir=tmp_path))


def test_realizable_subspace_gain_equals_misfit(tmp_path):
    records, summary = _charikar("realizable", tmp_path, tasks=20, n_train=2000)
    fit = summary["in_sample"]
    # Exact projection on the student's sample: the identity holds to rounding.
    assert fit["r2"] > 0.999 and abs(fit["slope"] - 1) < 0.01
    assert summary["frac_theorem1_holds_in_sample"] == 1.0
    gaps = [abs(r.in_sample.gain - r.in_sample.misfit) for r in records]
    assert max(gaps) < 1e-8 * max(r.in_sample.weak_error for r in records)
    # no guard when realizable: dropping a feature of h_s = h* would take f* out of the class
    assert summary["min_active_fraction"] == 0.0 and summary["max_dropped_features"] == 0
    # On fresh samples it holds up to the finite-sample error of a 2000-sample fit.
    assert summary["r2"] > 0.9 and abs(summary["slope"] - 1) < 0.1, summary


@pytest.mark.parametrize("setting", ["pretrained", "perturbed"])
def test_every_task_satisfies_the_nonrealizable_bound(setting, tmp_path):
    records, summary = _charikar(setting, tmp_path)
    assert summary["max_nonrealizable_violation_in_sample"] <= 1e-9
    assert all(r.in_sample.nonrealizable.holds for r in records)
    assert all(r.epsilon > 0 for r in records)
    # the leverage guard is on off realizability, and every record says what it did
    assert summary["min_active_fraction"] == charikar.CharikarConfig().min_active_fraction > 0
    assert summary["max_dropped_features"] == max(r.sizes["dropped_features"] for r in records)
    assert 0 < summary["max_leverage"] == max(r.extra["max_leverage"] for r in records) <= 1 + 1e-9


@pytest.mark.parametrize("head, radius", [("ball", 2.0), ("hull", 6.0)])
def test_convex_heads_satisfy_theorem1_when_realizable(head, radius, tmp_path):
    records, summary = _charikar("realizable", tmp_path, tasks=6, head=head, radius=radius)
    assert summary["frac_theorem1_holds_in_sample"] == 1.0
    assert all(r.method == head for r in records)


def test_same_seed_gives_identical_records(tmp_path):
    a, _ = _charikar("pretrained", tmp_path / "a", seed=5, tasks=4)
    b, _ = _charikar("pretrained", tmp_path / "b", seed=5, tasks=4)
    c, _ = _charikar("pretrained", tmp_path / "b", seed=6, tasks=4)
    assert [r.to_dict() for r in a] == [r.to_dict() for r in b]
    assert [r.to_dict() for r in a] != [r.to_dict() for r in c]


def test_charikar_cli_writes_the_contract_files(tmp_path, capsys):
    out = tmp_path / "run"
    code = cli_main(["sim", "charikar", "--setting", "perturbed", "--tasks", "6", "--n-test", "2000",
                     "--seed", "1", "--out", str(out), "--no-progress", "--threads", "1"])
    assert code == 0
    lines = (out / "records.jsonl").read_text().splitlines()
    records = [W2SRecord.from_dict(json.loads(line)) for line in lines]
    assert len(records) == 6
    for r in records:
        assert r.gain == pytest.approx(r.weak_error - r.w2s_error)
        assert r.strong_error is not None and r.epsilon is not None
    summary = json.loads((out / "summary.json").read_text())
    for key in ("slope", "intercept", "r2", "frac_theorem1_holds", "max_nonrealizable_violation", "seconds",
                "pretrain_loss"):
        assert key in summary
    assert (out / "gain_vs_misfit.png").stat().st_size > 1000
    assert "slope" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--tasks", "-1"], "tasks must be an integer >= 1"),
    (["--n-train", "10"], "--n-train must be an integer >= 17"),
    (["--sigma", "nan"], "sigma must be a finite number"),
    (["--truth-depth", "0"], "--truth-depth must be an integer >= 1"),
    (["--width", "-2"], "width must be an integer >= 1"),
])
def test_bad_configs_fail_before_any_work(argv, message, tmp_path, capsys):
    out = tmp_path / "bad"
    code = cli_main(["sim", "charikar", "--setting", "pretrained", *argv, "--out", str(out), "--no-progress"])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_finite_sample_gap_shrinks_with_n(tmp_path):
    config = finite_sample.FiniteSampleConfig(world=WorldConfig(setting="realizable", seed=2, **SMALL_PRETRAIN),
                                              sizes=(40, 400, 4000), tasks=4, n_test=40000)
    records, summary = finite_sample.run(config, RunOptions(cache_dir=tmp_path))
    assert sorted({r.sizes["n_train"] for r in records}) == [40, 400, 4000]
    assert summary["median_gap"][-1] < summary["median_gap"][0]
    assert summary["empirical_rate"] < 0 and summary["theory_rate"] == -0.25
    assert all("estimation" in r.finite_sample.terms for r in records)


def test_epsilon_sweep_moves_epsilon_and_keeps_the_bound(tmp_path):
    config = epsilon_sweep.EpsilonSweepConfig(world=WorldConfig(setting="perturbed", seed=4),
                                              strong_noises=(0.02, 0.5), tasks=5, n_train=800, n_test=3000)
    records, summary = epsilon_sweep.run(config)
    low, high = summary["levels"]
    assert high["mean_epsilon"] > 10 * low["mean_epsilon"] > 0
    assert summary["max_nonrealizable_violation_in_sample"] <= 1e-9
    with pytest.raises(ValueError, match="perturbed"):
        epsilon_sweep.EpsilonSweepConfig(world=WorldConfig(setting="realizable")).validate()


@pytest.mark.slow
def test_pretrained_protocol_points_near_identity(tmp_path):
    """The full protocol (100 tasks, default pretraining): points near y = x, every bound in-sample."""
    records, summary = charikar.run(charikar.CharikarConfig(world=WorldConfig(setting="pretrained", seed=0)),
                                    RunOptions(cache_dir=tmp_path))
    assert summary["r2"] > 0.85 and 0.6 < summary["slope"] < 1.2
    assert summary["max_nonrealizable_violation_in_sample"] <= 1e-9
    assert np.mean([r.weak_error for r in records]) > np.mean([r.w2s_error for r in records])


@pytest.mark.slow
def test_headline_realizable_row_is_unchanged(tmp_path):
    """Regression of the README's headline row (realizable, 100 tasks, seed 0, the default pretraining: the
    original protocol by the faithful kernel): the numbers it must quote."""
    _, summary = charikar.run(charikar.CharikarConfig(world=WorldConfig(setting="realizable", seed=0)),
                              RunOptions(cache_dir=tmp_path))
    m = summary["mean"]
    assert summary["in_sample"]["slope"] == pytest.approx(1.000, abs=5e-4)
    assert summary["in_sample"]["r2"] == pytest.approx(1.0, abs=5e-5)
    got = [m["weak_error"], m["w2s_error"], m["strong_error"], m["misfit"], m["gain"], summary["slope"],
           summary["r2"]]
    assert got == pytest.approx([0.463, 0.264, 0.000, 0.199, 0.199, 1.005, 0.989], abs=5e-4)
