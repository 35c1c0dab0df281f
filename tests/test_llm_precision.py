"""The one precision policy: bf16 where native, float32 elsewhere; each branch run on any machine by the override."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from weakstrong.llm.models import precision
from weakstrong.llm.models.device import autocast_context  # noqa: E402
from weakstrong.llm.models.lm import lm_autocast  # noqa: E402
from weakstrong.llm.models.registry import inference_dtype  # noqa: E402
from weakstrong.llm.study.finetune import autocast_factory  # noqa: E402


@pytest.mark.parametrize("native", [True, False], ids=["bf16-cpu", "avx2-only-cpu"])
def test_every_user_of_precision_follows_the_one_policy(native, monkeypatch):
    monkeypatch.setenv(precision.ENV, "1" if native else "0")
    cpu = torch.device("cpu")
    assert precision.native_bf16(cpu) is native and precision.native_bf16("cpu") is native
    assert inference_dtype(cpu) == (torch.bfloat16 if native else torch.float32)
    assert isinstance(lm_autocast(cpu), contextlib.nullcontext) is not native
    assert (autocast_factory(cpu, True) is not None) is native and autocast_factory(cpu, False) is None
    # The classification pipeline keeps its CPU passes in float32 either way (its weights carry the dtype).
    assert isinstance(autocast_context(cpu), contextlib.nullcontext)
    assert precision.describe(cpu) == {"device": "cpu", "native_bf16": native,
                                       "inference_dtype": "bfloat16" if native else "float32",
                                       "override": "1" if native else "0"}
    with lm_autocast(cpu):
        y = torch.ones(4, 4) @ torch.ones(4, 4)
    assert y.dtype == (torch.bfloat16 if native else torch.float32)
    assert isinstance(lm_autocast(cpu, False), contextlib.nullcontext)


def test_detection_reads_the_cpu_flags_without_an_override(monkeypatch):
    monkeypatch.delenv(precision.ENV, raising=False)
    with open("/proc/cpuinfo") as fh:
        flags = next((line for line in fh if line.startswith("flags")), "")
    assert precision.cpu_has_bf16() is ("avx512_bf16" in flags.split() or "amx_bf16" in flags.split())


def test_no_module_but_the_policy_reads_the_cpu_flags():
    out = subprocess.run(["grep", "-rln", "--include=*.py", "avx512_bf16\\|_cpu_has_bf16", "llm"],
                         capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert out.stdout.split() == ["llm/models/precision.py"], out.stdout
