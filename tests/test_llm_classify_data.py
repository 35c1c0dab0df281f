"""Task loaders: official formats, seeded disjoint splits, and clear errors on bad input."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from weakstrong.llm.data.tasks import SplitConfig, TaskData, check_disjoint, load_task, read_imdb, read_sst2


def _write(path: Path, text: str, gz: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        with gzip.open(str(path) + ".gz", "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")


def make_sciq(root: Path, n_train: int = 40, n_test: int = 12) -> Path:
    for name, n in (("train.json", n_train), ("test.json", n_test)):
        rows = [{"question": f"{name} question {i}?", "correct_answer": f"right {i}", "distractor1": f"wrong a{i}",
                 "distractor2": f"wrong b{i}", "distractor3": f"wrong c{i}", "support": ""} for i in range(n)]
        _write(root / "sciq" / name, json.dumps(rows))
    return root


def make_sst2(root: Path, n_train: int = 60, n_test: int = 20, bad_label: str | None = None) -> Path:
    def rows(n, tag):
        return "".join(f"{'good fine' if i % 2 else 'bad awful'} {tag} sentence {i}\t{i % 2}\n" for i in range(n))
    train = "sentence\tlabel\n" + rows(n_train, "train")
    if bad_label is not None:
        train += f"odd sentence\t{bad_label}\n"
    _write(root / "sst2" / "train.tsv", train, gz=False)
    _write(root / "sst2" / "dev.tsv", "sentence\tlabel\n" + rows(n_test, "dev"))
    return root


def make_imdb(root: Path, n_train: int = 30, n_test: int = 10) -> Path:
    for name, n in (("train.jsonl", n_train), ("test.jsonl", n_test)):
        lines = [json.dumps({"id": i, "rating": [2, 9][i % 2], "label": i % 2,
                             "text": f"{name} review {i}<br />with a line\u2028separator"}) for i in range(n)]
        _write(root / "imdb" / name, "\n".join(lines) + "\n")
    return root


def test_sciq_binary_splits_are_balanced_disjoint_and_seeded(tmp_path):
    make_sciq(tmp_path)
    cfg = SplitConfig(n_weak_train=16, n_w2s_train=16, n_test=10, seed=3)
    data = load_task("sciq", tmp_path, cfg)
    assert data.sizes() == {"n_weak_train": 16, "n_w2s_train": 16, "n_test": 10}
    check_disjoint(data)
    again = load_task("sciq", tmp_path, cfg)
    assert again.w2s_train.text == data.w2s_train.text and again.w2s_train.pair == data.w2s_train.pair
    other = load_task("sciq", tmp_path, SplitConfig(16, 16, 10, seed=4))
    assert other.w2s_train.text != data.w2s_train.text
    for split in (data.weak_train, data.w2s_train, data.test):
        for q, a, y in zip(split.text, split.pair, split.label):
            assert a.startswith("right" if y == 1 else "wrong")
            assert q.endswith("?")
    # One pair per question, with exactly half of each pool correct: the drawn splits stay near balance.
    assert 0.2 < np.mean(np.concatenate([data.weak_train.label, data.w2s_train.label])) < 0.8
    assert data.w2s_train.joined()[0].startswith("Q: ") and " A: " in data.w2s_train.joined()[0]


def test_sst2_and_imdb_formats(tmp_path):
    make_sst2(tmp_path)
    make_imdb(tmp_path)
    sst = load_task("sst2", tmp_path, SplitConfig(20, 20, 10))
    assert set(sst.test.label) <= {0, 1} and sst.w2s_train.pair is None
    np.testing.assert_array_equal(sst.test.target, sst.test.label)
    imdb = load_task("imdb", tmp_path, SplitConfig(10, 10, 5))
    assert all("<br />" not in t for t in imdb.test.text)
    rating = load_task("imdb-rating", tmp_path, SplitConfig(10, 10, 5))
    assert rating.regression
    np.testing.assert_allclose(rating.test.target, np.where(rating.test.label == 1, 8 / 9, 1 / 9))


@pytest.mark.parametrize("bad", ["2", "positive", "0.5"])
def test_non_binary_label_is_refused(tmp_path, bad):
    make_sst2(tmp_path, bad_label=bad)
    with pytest.raises(ValueError, match="label"):
        load_task("sst2", tmp_path, SplitConfig(5, 5, 5))


def test_malformed_rows_and_missing_files_are_refused(tmp_path):
    (tmp_path / "sst2").mkdir()
    (tmp_path / "sst2" / "train.tsv").write_text("sentence\tlabel\nno label column here\n")
    (tmp_path / "sst2" / "dev.tsv").write_text("sentence\tlabel\nfine\t1\n")
    with pytest.raises(ValueError, match="malformed row 1"):
        read_sst2(tmp_path / "sst2" / "train.tsv")
    make_imdb(tmp_path)
    (tmp_path / "imdb" / "test.jsonl.gz").unlink()
    with pytest.raises(ValueError, match="missing data file"):
        load_task("imdb", tmp_path, SplitConfig(1, 1, 1))
    make_sciq(tmp_path)
    rows = json.loads(gzip.open(tmp_path / "sciq" / "train.json.gz", "rt").read())
    del rows[3]["distractor2"]
    _write(tmp_path / "sciq" / "train.json", json.dumps(rows))
    with pytest.raises(ValueError, match="distractor2"):
        load_task("sciq", tmp_path, SplitConfig(2, 2, 2))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "x", "label": 1, "rating": 3}) + "\n")
    with pytest.raises(ValueError, match="rating"):
        read_imdb(bad, rating_target=True)


def test_sizes_beyond_the_data_and_unknown_task_are_refused(tmp_path):
    make_sst2(tmp_path, n_train=10)
    with pytest.raises(ValueError, match="only 10"):
        load_task("sst2", tmp_path, SplitConfig(6, 6, 5))
    with pytest.raises(ValueError, match="task must be one of"):
        load_task("mnli", tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        load_task("sciq", tmp_path)


def test_overlapping_splits_are_refused(tmp_path):
    make_sst2(tmp_path)
    data = load_task("sst2", tmp_path, SplitConfig(10, 10, 5))
    leaky = TaskData("sst2", data.weak_train, data.weak_train.subset(np.arange(3)), data.test)
    with pytest.raises(ValueError, match="overlap"):
        check_disjoint(leaky)


def test_repeated_sentences_never_leak(tmp_path):
    # Sentence k repeats with one label; both classes among the repeats, so every split can hold both.
    train = "sentence\tlabel\n" + "".join(f"same sentence {i % 10}\t{(i % 10) % 2}\n" for i in range(40))
    _write(tmp_path / "sst2" / "train.tsv", train, gz=False)
    _write(tmp_path / "sst2" / "dev.tsv", "sentence\tlabel\nsame sentence 0\t0\nother\t1\n")
    data = load_task("sst2", tmp_path, SplitConfig(4, 4, 2))
    check_disjoint(data)
    assert "same sentence 0" not in data.weak_train.text + data.w2s_train.text


def test_hub_fallback_fails_clearly_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(ValueError, match="--data-dir"):
        load_task("sst2", None, SplitConfig(5, 5, 5))


@pytest.mark.realdata
def test_real_sciq_default_splits(shared_data):
    data = load_task("sciq", shared_data)
    assert data.sizes() == {"n_weak_train": 5000, "n_w2s_train": 5000, "n_test": 1000}
    check_disjoint(data)
    assert abs(data.test.label.mean() - 0.5) < 1e-9  # the official test set, exactly balanced
