"""`weakstrong llm demo` end to end on real SST-2 and the offline SmolLM2 weights, at a tiny size."""

from __future__ import annotations

import json

import pytest

from weakstrong.cli import main

pytest.importorskip("torch")


@pytest.mark.realdata
def test_demo_runs_end_to_end_and_says_what_it_found(shared_data, tmp_path, capsys):
    from weakstrong.llm.models import gguf_models

    if not gguf_models.is_installed(gguf_models.SMOLLM2):
        pytest.skip(f"SmolLM2 wheels not installed ({gguf_models.SMOLLM2.pip_command()})")
    out = tmp_path / "demo"
    code = main(["llm", "demo", "--data-dir", str(shared_data), "--out", str(out), "--n-weak-train", "60",
                 "--n-w2s-train", "60", "--n-test", "40", "--threads", "1"])
    assert code == 0
    text = capsys.readouterr().out
    for line in ("weak teacher", "weak-to-strong", "ceiling", "PGR", "misfit", "next:", "misfit-study"):
        assert line in text
    results = json.loads((out / "results.json").read_text())
    run = results["students"]["probe"]["runs"][0]
    assert f"{run['accuracy']:.3f}" in text and results["config"]["probe"]["radius"] == 0.05
    assert main(["llm", "demo", "--threads", "0", "--out", str(tmp_path / "x")]) == 2
