"""The LLM benchmark runs end to end on a truncated real decoder and writes its rows; bad options exit early."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from weakstrong.llm import bench, gguf_models  # noqa: E402


def test_bench_writes_every_row_with_its_matmul_fraction(tmp_path):
    if not gguf_models.is_installed(gguf_models.SMOLLM2):
        pytest.skip(f"SmolLM2 wheels not installed ({gguf_models.SMOLLM2.pip_command()})")
    out = tmp_path / "bench"
    assert bench.main(["--model", "smollm2-135m-l4", "--threads", "1", "--texts", "8", "--steps", "1",
                       "--repeats", "1", "--out", str(out)]) == 0
    rows = json.loads((out / "bench.json").read_text())["rows"]
    assert {(r["what"], r["dtype"]) for r in rows} == {(w, d) for w in ("matmul", "features", "finetune")
                                                       for d in ("bf16", "fp32")}
    for r in rows:
        assert r["gflops"] > 0 and r["threads"] == 1
        if r["what"] != "matmul":
            assert r["tokens_per_s"] > 0 and 0 < r["fraction_of_matmul"] < 5
            assert r["matmul_gflops"] == next(m["gflops"] for m in rows
                                              if m["what"] == "matmul" and m["dtype"] == r["dtype"])
    assert next(r for r in rows if r["what"] == "finetune")["trainable"] > 0


@pytest.mark.parametrize("argv, option", [(["--texts", "0"], "--texts"), (["--threads", "0"], "--threads"),
                                          (["--top-k", "0"], "--top-k")])
def test_bad_options_exit_before_work(argv, option, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        bench.main(argv + ["--out", str(tmp_path / "never")])
    assert exc.value.code == 2 and option in capsys.readouterr().err
    assert not (tmp_path / "never").exists()
