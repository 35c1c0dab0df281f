"""Atomic result files and the W2SRecord schema."""

import json
import math

import numpy as np
import pytest

from weakstrong.io import atomic_path, config_hash, read_json, read_jsonl, save_npz_atomic, write_json, write_jsonl
from weakstrong.theory.records import W2SRecord


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "summary.json"
    write_json(path, {"slope": 1.0})
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            with open(tmp, "w") as fh:
                fh.write('{"slope": 2')  # half-written
            raise RuntimeError("killed mid-write")
    assert read_json(path) == {"slope": 1.0}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


def test_numpy_values_and_non_finite_numbers_become_json(tmp_path):
    path = write_json(tmp_path / "a.json", {"x": np.float32(0.5), "n": np.int64(3), "v": np.arange(2),
                                            "nan": float("nan"), "ok": np.bool_(True)})
    assert json.loads(path.read_text()) == {"x": 0.5, "n": 3, "v": [0, 1], "nan": None, "ok": True}


def test_jsonl_and_npz_round_trip(tmp_path):
    rows = [{"a": 1}, {"a": 2}]
    assert read_jsonl(write_jsonl(tmp_path / "r.jsonl", rows)) == rows
    arr = np.random.default_rng(0).normal(size=(3, 2))
    np.testing.assert_array_equal(np.load(save_npz_atomic(tmp_path / "f.npz", x=arr))["x"], arr)


def test_config_hash_is_stable_and_order_free():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_record_round_trip_and_gain_consistency():
    rec = W2SRecord.from_errors(0.5, 0.3, 0.15, strong_error=0.05, setting="pretrained", seed=3)
    assert math.isclose(rec.gain, 0.2)
    assert W2SRecord.from_dict(json.loads(json.dumps(rec.to_dict()))) == rec
    with pytest.raises(ValueError, match="gain"):
        W2SRecord(weak_error=0.5, w2s_error=0.3, misfit=0.1, gain=0.1)


@pytest.mark.parametrize("bad, match", [
    ({"weak_error": float("nan")}, "weak_error"),
    ({"loss": "hinge"}, "loss"),
    ({"epsilon": float("inf")}, "epsilon"),
    ({"holds": 1}, "holds"),
])
def test_record_rejects_bad_fields(bad, match):
    data = W2SRecord.from_errors(0.5, 0.3, 0.15).to_dict()
    data.update(bad)
    if "weak_error" in bad:
        data["gain"] = 0.2
    with pytest.raises(ValueError, match=match):
        W2SRecord.from_dict(data)


def test_record_rejects_unknown_and_missing_fields():
    data = W2SRecord.from_errors(0.5, 0.3, 0.15).to_dict()
    with pytest.raises(ValueError, match="unknown"):
        W2SRecord.from_dict({**data, "mystery": 1})
    del data["misfit"]
    with pytest.raises(ValueError, match="missing"):
        W2SRecord.from_dict(data)


def test_typed_sub_records_round_trip_and_are_validated():
    from weakstrong.theory.records import BoundTerms, FiniteSampleCheck, MemberComparison, SampleCheck

    record = W2SRecord.from_errors(
        0.5, 0.3, 0.15, nonrealizable=BoundTerms(0.1, 0.05, True), cross=-0.05,
        in_sample=SampleCheck(0.5, 0.35, 0.15, 0.15, epsilon=0.0, bound=0.35, slack=0.0, holds=True,
                              nonrealizable=BoundTerms(0.0, 0.0, True)),
        members=MemberComparison(1, 0.31, 2, 0.33),
        finite_sample=FiniteSampleCheck(2.0, 1.0, True, {"estimation": 0.5}, 1.0, 2.0, 3.0))
    data = json.loads(json.dumps(record.to_dict()))
    assert W2SRecord.from_dict(data) == record
    assert isinstance(W2SRecord.from_dict(data).in_sample.nonrealizable, BoundTerms)
    bad = json.loads(json.dumps(data))
    bad["in_sample"]["mystery"] = 1
    with pytest.raises(ValueError, match=r"record\.in_sample has unknown fields \['mystery'\]"):
        W2SRecord.from_dict(bad)
    bad = json.loads(json.dumps(data))
    bad["in_sample"]["nonrealizable"]["slack"] = "0.1"
    with pytest.raises(ValueError, match="BoundTerms.slack"):
        W2SRecord.from_dict(bad)
    bad = json.loads(json.dumps(data))
    del bad["members"]["best_member"]
    with pytest.raises(ValueError, match="record.members"):
        W2SRecord.from_dict(bad)


def test_the_source_fingerprint_covers_subpackages(tmp_path, monkeypatch):
    """A change in a subpackage's code (theory/gain/ computes gain-prediction runs) changes the runs' key."""
    import sys

    from weakstrong.runs import source_fingerprint

    pkg = tmp_path / "fpdemo"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "kernel.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("fpdemo", None)
    before = source_fingerprint.__wrapped__("fpdemo")
    (pkg / "sub" / "kernel.py").write_text("X = 2\n")
    assert source_fingerprint.__wrapped__("fpdemo") != before
