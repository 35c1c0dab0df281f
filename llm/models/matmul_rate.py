"""Dense matmul rate of this machine (GFLOP/s per dtype), the yardstick for a model's achieved throughput.

A training or decoding run reports tokens per second; multiplied by the FLOPs a token costs
(:func:`transformer_flops_per_token`), that is an achieved FLOP rate, and divided by the rate of a plain square
``torch.matmul`` measured in the same process at the same thread count it says how much of the hardware the
run used (on CPU, the analogue of a GPU's model FLOPs utilisation). The matmul is measured, never taken from a
datasheet: on a shared CPU the usable rate depends on the neighbours.

Example::

    from weakstrong.llm.models.matmul_rate import matmul_rates
    rates = matmul_rates(threads=1)           # {"bf16_gflops": ..., "fp32_gflops": ..., "threads": 1, ...}
    fraction = achieved_gflops / rates["bf16_gflops"]
    # on a shared machine, per CPU second on both sides:
    fraction_cpu = achieved_flops / cpu_seconds / 1e9 / rates["bf16_gflops_per_cpu_s"]
"""

from __future__ import annotations

import time

# Square matmul side: large enough that packing and dispatch overheads are negligible (2 * 1024^3 FLOPs per
# product), small enough that one product takes tens of milliseconds on one core.
DEFAULT_SIZE = 1024
# Where bf16 is emulated (AVX2-only CPUs, ~100x slower) its rate is measured on this smaller side: a 1024 product
# takes seconds there and the rate barely depends on the size (on an AVX2 EPYC: 1.34 GFLOP/s at 256 and 512),
# so each measurement (every generate run takes one) costs about a second instead of ten.
EMULATED_BF16_SIZE = 256


def _rates(dtype: str, size: int, min_seconds: float, repeats: int, device: str) -> tuple[float, float]:
    """(best GFLOP/s per wall second, best GFLOP/s per CPU second of this process) over ``repeats`` timings."""
    import torch

    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    if not min_seconds > 0 or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"min_seconds must be > 0 and repeats >= 1, got {min_seconds!r}, {repeats!r}")
    torch_dtype = getattr(torch, dtype, None)
    if not isinstance(torch_dtype, torch.dtype) or not torch_dtype.is_floating_point:
        raise ValueError(f"dtype must name a torch floating dtype (bfloat16, float32, ...), got {dtype!r}")
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=gen).to(device=device, dtype=torch_dtype)
    b = torch.randn(size, size, generator=gen).to(device=device, dtype=torch_dtype)
    sync = torch.cuda.synchronize if str(device).startswith("cuda") else (lambda: None)
    torch.matmul(a, b)  # warm-up: first-call dispatch and any weight packing stay out of the timing
    wall = cpu = 0.0
    for _ in range(repeats):
        sync()
        start, cpu_start, n = time.perf_counter(), time.process_time(), 0
        while True:
            torch.matmul(a, b)
            n += 1
            sync()
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        flop = 2.0 * size ** 3 * n
        wall = max(wall, flop / elapsed / 1e9)
        cpu = max(cpu, flop / max(time.process_time() - cpu_start, 1e-9) / 1e9)
    return wall, cpu


def measure_matmul_gflops(dtype: str = "bfloat16", size: int = DEFAULT_SIZE, min_seconds: float = 0.3,
                          repeats: int = 3, device: str = "cpu") -> float:
    """GFLOP/s of ``torch.matmul`` on two ``size`` x ``size`` matrices of ``dtype`` at torch's current thread count.

    Parameters
    ----------
    dtype : ``"bfloat16"``, ``"float32"`` (or ``"float16"``, ``"float64"``).
    size : the matrices' side; one product is ``2 * size**3`` FLOPs.
    min_seconds : each timing repeats the product until at least this long has passed.
    repeats : timings taken; the best (the least disturbed by other processes) is returned.
    device : torch device of the matrices (CUDA is synchronised around each timing).

    Returns
    -------
    float : the best of ``repeats`` rates, in GFLOP/s of wall-clock time.
    """
    return _rates(dtype, size, min_seconds, repeats, device)[0]


def matmul_rates(threads: int | None = None, size: int = DEFAULT_SIZE, min_seconds: float = 0.3,
                 repeats: int = 3, device: str = "cpu") -> dict:
    """bf16 and fp32 matmul rates at ``threads`` torch threads (None: the current setting, restored after).

    Returns
    -------
    dict : ``bf16_gflops``, ``fp32_gflops`` (per wall second), ``bf16_gflops_per_cpu_s``,
    ``fp32_gflops_per_cpu_s`` (per CPU second of this process: on a CPU shared with other jobs, the rate of
    the cores one actually got; with one thread, the rate of one core), ``bf16_speedup`` (bf16 / fp32, wall),
    ``threads``, ``size``, ``bf16_size`` (``size``, or :data:`EMULATED_BF16_SIZE` where bf16 is not native),
    ``device``, ``seconds`` (what the measurement took).
    """
    import torch

    from weakstrong.llm.models.device import torch_threads
    from weakstrong.llm.models.precision import native_bf16

    start = time.perf_counter()
    with torch_threads(threads):
        used = torch.get_num_threads()
        bf16_size = size if native_bf16(device) else min(size, EMULATED_BF16_SIZE)
        bf16 = _rates("bfloat16", bf16_size, min_seconds, repeats, device)
        fp32 = _rates("float32", size, min_seconds, repeats, device)
    return {"bf16_gflops": bf16[0], "fp32_gflops": fp32[0], "bf16_gflops_per_cpu_s": bf16[1],
            "fp32_gflops_per_cpu_s": fp32[1], "bf16_speedup": bf16[0] / fp32[0], "threads": used,
            "size": size, "bf16_size": bf16_size, "device": str(device), "seconds": time.perf_counter() - start}


def transformer_flops_per_token(matmul_params: int, backward_params: int = 0, trainable_params: int = 0) -> float:
    """FLOPs one token costs in a transformer's weight matmuls (attention scores left out: short sequences).

    The forward pass costs ``2 * matmul_params`` (a multiply and an add per weight); the backward pass costs
    ``2 * backward_params`` for the activation gradients (every weight between the loss and the lowest
    trainable layer) plus ``2 * trainable_params`` for the weight gradients. Full fine-tuning is thus the usual
    ``6 N``; decoding or scoring is ``2 N`` (``backward_params = trainable_params = 0``).

    Parameters
    ----------
    matmul_params : weights used in matmuls per token (every layer and the output head; an embedding lookup is
        not a matmul, but a head tied to it is).
    backward_params : matmul weights the backward pass goes through.
    trainable_params : matmul weights that receive gradients.
    """
    if min(matmul_params, backward_params, trainable_params) < 0:
        raise ValueError("parameter counts must be >= 0")
    return 2.0 * matmul_params + 2.0 * backward_params + 2.0 * trainable_params
