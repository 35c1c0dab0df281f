"""Experiment 7 (gain prediction) on a quick configuration: records, summary, the realizable advantage of the
control variate, the command line and its figure, bad configs named."""

from __future__ import annotations

import json

import numpy as np
import pytest

from weakstrong.cli import main
from weakstrong.config import ConfigError
from weakstrong.sim import gain_prediction
from weakstrong.theory.records import W2SRecord

QUICK = gain_prediction.GainPredictionConfig(worlds=2, tasks=2, ks=(10, 30, 100), draws=100, n_w2s=1000,
                                             n_pool=1000)


@pytest.fixture(scope="module")
def quick_run():
    return gain_prediction.run(QUICK)


def test_records_and_summary(quick_run):
    records, summary = quick_run
    assert len(records) == QUICK.worlds * len(QUICK.strong_noises) * QUICK.tasks == summary["n_records"]
    for r in records:
        assert W2SRecord.from_dict(json.loads(json.dumps(r.to_dict()))) == r
        assert r.extra["cross_term"] == pytest.approx(r.gain - r.misfit, abs=1e-9)
        for design in ("uniform", "misfit"):
            for k in QUICK.ks:
                assert 0.0 <= r.extra[f"{design}/k{k}/gain_coverage"] <= 1.0
    assert summary["ks"] == list(QUICK.ks) and [lv["strong_noise"] for lv in summary["levels"]] == [0.0, 0.1, 0.3]
    overall = summary["overall"]["uniform"]
    assert all(0.8 <= c <= 0.97 for c in overall["gain_coverage"])
    # More labels, smaller errors.
    assert overall["gain_mae"][0] > overall["gain_mae"][-1]
    assert "gain-prediction" in gain_prediction.report(summary)


def test_the_control_variate_helps_in_the_realizable_worlds(quick_run):
    _, summary = quick_run
    realizable = summary["levels"][0]
    assert realizable["strong_noise"] == 0.0
    assert np.all(np.array(realizable["by_k"]["uniform"]["rmse_ratio_median"]) < 1.0)


def test_the_command_writes_records_summary_and_figure(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["sim", "gain-prediction", "--worlds", "1", "--tasks", "1", "--draws", "20", "--ks", "10", "30",
                 "--strong-noises", "0", "--n-w2s", "200", "--n-pool", "300", "--out", str(out)])
    assert code == 0
    for name in ("records.jsonl", "summary.json", "gain_prediction.png"):
        assert (out / name).stat().st_size > 0
    assert "coverage" in capsys.readouterr().out


@pytest.mark.parametrize("changes, field", [({"ks": (10, 5000)}, "ks"), ({"ks": (1,)}, "ks"), ({"level": 1.0}, "level"),
                                            ({"strong_noises": ()}, "strong_noises"),
                                            ({"student_sample": "test"}, "student_sample")])
def test_bad_config_is_named(changes, field):
    import dataclasses

    with pytest.raises(ConfigError, match=field):
        dataclasses.replace(QUICK, **changes).validate()


def _fake_evaluation(tmp_path):
    """An evaluation JSON in the shape ``weakstrong llm predict-eval`` writes, from synthetic pools
    (three (task, strong) groups of three candidates), through the evaluation's own functions."""
    from weakstrong.io import write_json
    from weakstrong.llm.study import predict_eval

    cfg = predict_eval.EvalConfig(ks=(10, 30), draws=30)
    rng = np.random.default_rng(0)
    pairs = []
    for g, (task, strong) in enumerate([("sciq", "a"), ("sst2", "a"), ("sst2", "b")]):
        y = rng.integers(0, 2, 200).astype(float)
        weak = np.clip(y + rng.normal(0, 0.6, (3, 200)), 0.01, 0.99)
        students = 0.5 + 0.6 * (weak - 0.5) + rng.normal(0, 0.05, (3, 200))
        overlap = {name: float(rng.uniform()) for name in ("w0", "w1", "w2")}
        pairs += predict_eval.group_pairs(task, strong, ("w0", "w1", "w2"), weak, students, y, overlap, cfg, (g,))
    for p in pairs:
        p["study_gain"] = p["measured"]["gain"]
    data = {"ks": list(cfg.ks), "draws": cfg.draws, "level": cfg.level,
            "probe": {"points": predict_eval.evaluate(pairs, cfg), "all": predict_eval.evaluate(pairs, cfg)},
            "finetune": {"status": predict_eval.NO_FINETUNE},
            "pairs": [{k: v for k, v in p.items() if k != "draws"} for p in pairs]}
    path = tmp_path / "results" / "gain_prediction" / "results.json"
    write_json(path, data)
    return path, data


def test_table_cells_are_the_json_numbers_and_the_figure_draws_from_both(tmp_path):
    from weakstrong.figures import fig_gain_prediction
    from weakstrong.figures.registry import FigureContext

    path, data = _fake_evaluation(tmp_path)
    ctx = FigureContext(runs_dir=tmp_path / "runs", images_dir=tmp_path / "img", results_dir=tmp_path / "results",
                        quick=True)
    tables = fig_gain_prediction.tables(ctx)
    body = tables["gain_prediction_table"].split(r"\midrule", 1)[1].split(r"\bottomrule", 1)[0]
    rows = [[c.strip() for c in line.rstrip("\\ ").split("&")] for line in body.strip().splitlines()]
    probe = data["probe"]["points"]
    assert len(rows) == len(data["ks"]) * len(fig_gain_prediction.TABLE_ROWS)
    for row in rows:
        label, k = row[0], row[1]
        if label.startswith("misfit + cross, uniform"):
            entry = probe["by_k"][k]["uniform"]
            expected = [entry["predictor"]["r2"], entry["predictor"]["median_abs_error_over_spread"],
                        entry["predictor"]["coverage"], entry["selection"]["predictor"]["top1"],
                        entry["selection"]["predictor"]["regret"]]
            for cell, value in zip(row[2:], expected):
                assert float(cell) == pytest.approx(value, abs=5.1e-4), (row, expected)
        if label.startswith("naive k-label difference, misfit"):
            assert float(row[4]) == pytest.approx(probe["by_k"][k]["misfit"]["naive"]["coverage"], abs=5.1e-4)
    assert "Results pending" in tables["gain_prediction_finetune_table"]
    outcome = fig_gain_prediction.build(ctx)
    assert outcome.status == "ok" and path in outcome.data_files
    assert all(p.stat().st_size > 0 for p in outcome.images)
