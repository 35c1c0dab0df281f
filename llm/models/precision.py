"""One precision policy for every torch pass: bf16 where the hardware does it natively, float32 elsewhere.

Native bf16 means a CUDA device that supports it, or a CPU with AVX512-BF16 or AMX-BF16 (read from
``/proc/cpuinfo``). There bf16 is the fast path (measured on an AVX512-BF16 CPU, one thread: SmolLM2-135M's
frozen forward pass 2.5x faster in bf16 weights, its top-2 fine-tuning step 1.7x and full fine-tuning 1.9x
faster under bf16 autocast). On an AVX2-only CPU bf16 matmuls are emulated and about 100x slower (0.9 against
90.8 GFLOP/s on an AMD EPYC, as DESIGN.md reports), so everything stays float32.

The override ``WEAKSTRONG_BF16=0`` forces float32 everywhere, ``=1`` claims native bf16 on the CPU (what the
tests use to run each branch on any machine). Every results file records :func:`describe`.

Parameters and optimizer state stay float32 in every case; bf16 enters as bf16 weights of frozen models
(:func:`inference_dtype`) or as autocast around forward passes (:func:`autocast`).
"""

from __future__ import annotations

import contextlib
import os

ENV = "WEAKSTRONG_BF16"


def _override() -> bool | None:
    value = os.environ.get(ENV, "").strip()
    return {"0": False, "1": True}.get(value)


def cpu_has_bf16() -> bool:
    """Whether this CPU runs bf16 matmuls natively (AVX512-BF16 or AMX-BF16; Linux flags), unless overridden."""
    forced = _override()
    if forced is not None:
        return forced
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def native_bf16(device) -> bool:
    """Whether ``device`` (a torch device or its name) runs bf16 natively."""
    kind = getattr(device, "type", str(device)).split(":")[0]
    if kind == "cuda":
        import torch

        return _override() is not False and torch.cuda.is_bf16_supported()
    return kind == "cpu" and cpu_has_bf16()


def inference_dtype(device):
    """The weight dtype of frozen forward passes on ``device``: bf16 where native, else float32.

    On an AVX512-BF16 CPU (2 shared cores; SmolLM2-135M on 16 x 128 tokens, median of 5): 6.4 s in bf16 against
    15.9 s in float32 with one torch thread; last-token hidden states agree within 2.2 % relative error
    (cosine >= 0.9998).
    """
    import torch

    return torch.bfloat16 if native_bf16(device) else torch.float32


def autocast(device, enabled: bool | None = None, cpu: bool = True):
    """bf16 autocast around a forward pass: where native (``enabled=None``), always (``True``) or never
    (``False``). ``cpu=False`` keeps a CPU pass in float32 even where bf16 is native: the classification
    pipeline's frozen passes, whose committed results were computed that way."""
    import torch

    kind = getattr(device, "type", str(device)).split(":")[0]
    if enabled is None:
        enabled = native_bf16(device) and (cpu or kind != "cpu")
    if not enabled or kind not in ("cpu", "cuda"):
        return contextlib.nullcontext()
    return torch.autocast(kind, dtype=torch.bfloat16)


def describe(device) -> dict:
    """What the policy decided for ``device``, for results files."""
    return {"device": str(device), "native_bf16": native_bf16(device),
            "inference_dtype": str(inference_dtype(device)).removeprefix("torch."),
            "override": os.environ.get(ENV) or None}
