"""The runs layer's stage folder: a stage is computed once, reused by the same code, recomputed by other code,
and records the wall and CPU seconds it took."""

from __future__ import annotations

import json

import pytest

from weakstrong.config import ConfigError
from weakstrong.stages import StageFolder, code_version


def _busy():
    return {"value": sum(i * i for i in range(200_000))}


def test_a_json_stage_is_computed_once_and_records_its_wall_and_cpu_seconds(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return _busy()

    folder = StageFolder(tmp_path / "run", {"a": 1})
    with folder.claim():
        first = folder.json("s/one", compute, code="v1")
    assert first["cpu_seconds"] > 0 and first["seconds"] > 0
    assert folder.cpu_timings["s/one"] == first["cpu_seconds"]
    again = StageFolder(tmp_path / "run", {"a": 1})
    with again.claim():
        second = again.json("s/one", compute, code="v1")
    assert len(calls) == 1 and second["value"] == first["value"]
    assert again.timings["s/one"] == first["seconds"] and again.cpu_timings["s/one"] == first["cpu_seconds"]
    with again.claim():
        again.json("s/one", compute, code="v2")  # other code: computed again
    assert len(calls) == 2


def test_a_folder_stage_records_cpu_seconds_and_a_stamp_binds_the_configuration(tmp_path):
    def build(path):
        path.mkdir(parents=True, exist_ok=True)
        (path / "weights.txt").write_text("w")
        return "built", _busy()

    folder = StageFolder(tmp_path / "run", {"a": 1})
    with folder.claim():
        obj, info = folder.folder("m/model", lambda p: "loaded", build, code=code_version(_busy))
    assert obj == "built" and info["cpu_seconds"] > 0
    assert json.loads((tmp_path / "run" / "m/model" / "stage.json").read_text())["cpu_seconds"] > 0
    with folder.claim():
        obj, _ = folder.folder("m/model", lambda p: "loaded", build, code=code_version(_busy))
    assert obj == "loaded"
    with pytest.raises(ConfigError, match="different configuration"):
        StageFolder(tmp_path / "run", {"a": 2})
