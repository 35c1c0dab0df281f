"""Where the llm layer runs: device choice, bf16 autocast, CPU threads, and torch.distributed (torchrun).

Parameters stay float32 everywhere; bf16 enters only through :func:`autocast_context` on CUDA.
"""

from __future__ import annotations

import contextlib
import os
import re

# The devices this layer runs on: CPU, a CUDA GPU (optionally by index), Apple's MPS.
DEVICE_PATTERN = re.compile(r"^(cpu|cuda(:\d+)?|mps)$")


@contextlib.contextmanager
def torch_threads(n_threads: int | None):
    """Use ``n_threads`` torch CPU threads inside the block (None: leave as is), then restore the setting,
    so in-process callers (tests, notebooks) keep theirs."""
    import torch

    previous = torch.get_num_threads()
    if n_threads:
        torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def check_device(option: str, value) -> None:
    """Raise :class:`~weakstrong.config.ConfigError` unless ``value`` is None or names a device this layer
    runs on (``cpu``, ``cuda``, ``cuda:N``, ``mps``). Text only: light, no torch import."""
    from weakstrong.config import ConfigError

    if value is not None and (not isinstance(value, str) or not DEVICE_PATTERN.match(value)):
        raise ConfigError(f"{option} must be cpu, cuda, cuda:N or mps (none: cuda if available, else cpu), "
                          f"got {value!r}")


def select_device(prefer: str | None = None):
    """``prefer`` if given, else the local CUDA device (``LOCAL_RANK`` under torchrun) or CPU.

    A device named by the user that this machine lacks (no GPU, a GPU index past the last) is a
    :class:`~weakstrong.config.ConfigError`, raised here, before any model or data work.
    """
    import torch

    from weakstrong.config import ConfigError

    if isinstance(prefer, torch.device):
        return prefer
    if prefer:
        check_device("device", prefer)
        device = torch.device(prefer)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"device {prefer!r} was requested but this machine has no usable CUDA GPU")
        if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device {prefer!r} was requested but this machine has "
                              f"{torch.cuda.device_count()} CUDA GPU(s)")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise ConfigError(f"device {prefer!r} was requested but MPS is not available here")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def autocast_context(device, enabled: bool = True):
    """The classification pipeline's autocast (:func:`weakstrong.llm.models.precision.autocast` with ``cpu=False``):
    bf16 on a CUDA device that has it, float32 on a CPU (its frozen weights come in bf16 through
    :func:`~weakstrong.llm.models.precision.inference_dtype` where a study asks for it)."""
    from weakstrong.llm.models.precision import autocast

    return autocast(device, None if enabled else False, cpu=False)


def dist_info() -> tuple[int, int]:
    """``(rank, world_size)``; (0, 1) unless torch.distributed is initialised (torchrun)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


@contextlib.contextmanager
def distributed_from_env():
    """:func:`init_distributed_from_env` for the length of a run, yielding ``(rank, world_size)``. A group this
    started is torn down at the end: every rank meets at a barrier (on success), then the group is destroyed,
    so no rank exits while another still talks to it (gloo's threads abort a process that exits with its
    group alive: "terminate called without an active exception")."""
    import torch.distributed as dist

    started = int(os.environ.get("WORLD_SIZE", "1")) > 1 and dist.is_available() and not dist.is_initialized()
    info = init_distributed_from_env()
    try:
        yield info
        if started and dist.is_initialized():
            dist.barrier()
    finally:
        if started and dist.is_initialized():
            dist.destroy_process_group()


def rank_shard(idx, rank: int, world: int) -> tuple[list[int], bool]:
    """This rank's contiguous share of a global batch ``idx`` under DDP, and whether it is real.

    Every rank must run the same collective calls, so a rank left without examples (a batch smaller than the
    number of ranks) gets the batch's first example as a stand-in, with ``False``: its loss is then scaled by
    0 (:func:`shard_loss_scale`).
    """
    if world == 1:
        return idx, True
    idx = [int(i) for i in idx]
    bounds = [len(idx) * r // world for r in range(world + 1)]
    share = idx[bounds[rank]:bounds[rank + 1]]
    return (share, True) if share else (idx[:1], False)


def shard_loss_scale(local_norm, real: bool = True) -> tuple[float, float]:
    """``(scale, total)``: the factor that makes DDP's gradient average equal the single-process gradient of
    the global batch, and the global normaliser.

    A loss that is a weighted mean over its shard (normaliser ``local_norm``: the sum of the weights, or the
    count) times ``world * local_norm / total`` averages over ranks to the weighted mean over the global batch,
    the loss one process computes on the whole batch. (1.0, local_norm) without a process group.
    """
    import torch
    import torch.distributed as dist

    rank, world = dist_info()
    local = float(local_norm) if real else 0.0
    if world == 1:
        return 1.0, local
    total = torch.tensor([local], dtype=torch.float64)
    dist.all_reduce(total)
    return world * local / max(float(total), 1e-300), float(total)


def global_mean(value: float, weight: float) -> float:
    """The weighted mean of ``value`` over ranks (each rank's ``weight``); ``value`` without a process group."""
    import torch
    import torch.distributed as dist

    if dist_info()[1] == 1:
        return value
    t = torch.tensor([value * weight, weight], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t[0] / max(float(t[1]), 1e-300))


def init_distributed_from_env() -> tuple[int, int]:
    """Join the process group that ``torchrun`` describes (``WORLD_SIZE`` > 1); a no-op otherwise.

    NCCL on CUDA, gloo on CPU. Returns ``(rank, world_size)``.
    """
    import torch
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and dist.is_available() and not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist_info()
