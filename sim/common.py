"""Small shared pieces of the simulator: argument validation, seeding, thread control.

The validators are the project's own (:mod:`weakstrong.config`), under the names the simulator's configs use;
each raises :class:`~weakstrong.config.ConfigError` naming the config, the field and what was expected.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import numpy as np

from weakstrong.config import check_choice, check_int as check_positive_int, check_number as check_finite

__all__ = ["check_choice", "check_finite", "check_positive_int", "spawn_rngs", "set_threads", "blas_threads",
           "named_rng", "check_bounds", "MAX_MAGNITUDE", "MAX_COUNT"]

# The simulator's documented range for every numeric option of every experiment (on top of each config's own
# lower bounds): magnitudes (noises, radii, spreads, scales) within +-MAX_MAGNITUDE, where float64 kernels keep
# their precision and nothing overflows; counts (tasks, worlds, samples) at most MAX_COUNT; and a working set
# that fits in the memory available now (an estimate from the sizes, refused with the estimate before work).
MAX_MAGNITUDE = 1e6
MAX_COUNT = 10**8


def spawn_rngs(seed: int, n: int) -> list[np.random.Generator]:
    """``n`` independent generators from one seed (``SeedSequence.spawn``): same seed, same streams."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]


def set_threads(n_threads: int | None) -> None:
    """Set numba's thread count (``None`` keeps the default, all cores)."""
    if n_threads is None:
        return
    import numba

    check_positive_int("threads", "n_threads", n_threads)
    numba.set_num_threads(min(int(n_threads), numba.config.NUMBA_NUM_THREADS))


@contextmanager
def blas_threads(n_threads: int | None) -> Iterator[None]:
    """Limit BLAS threads inside the block.

    Why: on a small, shared machine multi-threaded BLAS is slower than one thread for skinny products
    (measured: a (20000, 16) @ (16, 16) product takes 0.8 ms on one thread and 7 ms on two under load).
    """
    if n_threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=int(n_threads), user_api="blas"):
        yield


def named_rng(seed: int, name: str) -> np.random.Generator:
    """A generator for the stream ``name`` of ``seed``: independent of every other name, stable across runs.

    Experiments draw their tasks from ``named_rng(seed, "tasks")`` and so on, so adding a stream never
    shifts the numbers of another.
    """
    import zlib

    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(zlib.crc32(name.encode()),)))


def _numbers(config, prefix: str = ""):
    """``(dotted name, value)`` of every int and float field of a (nested) config dataclass, tuples unrolled."""
    import dataclasses

    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            yield from _numbers(value, f"{prefix}{f.name}.")
            continue
        for v in value if isinstance(value, tuple) else (value,):
            if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
                yield f"{prefix}{f.name}", v


def check_bounds(config) -> None:
    """Every numeric field of a simulator config within the documented range above, and its estimated working
    set within the memory available; :class:`~weakstrong.config.ConfigError` naming the field otherwise."""
    from weakstrong.config import ConfigError, check_memory

    owner = type(config).__name__
    numbers = list(_numbers(config))
    for name, v in numbers:
        if name.endswith("seed"):
            continue
        field = f"{owner}.{name} (--{name.split('.')[-1].replace('_', '-')})"
        if isinstance(v, (float, np.floating)) and abs(v) > MAX_MAGNITUDE:
            raise ConfigError(f"{field} must be within +-{MAX_MAGNITUDE:g}, the simulator's range for magnitudes, "
                              f"got {v!r}")
        if isinstance(v, (int, np.integer)) and v > MAX_COUNT:
            raise ConfigError(f"{field} must be <= {MAX_COUNT:,}, got {v!r}")
    values = dict(numbers)
    world = getattr(config, "world", None)
    width = getattr(world, "width", 16)
    dim = getattr(world, "input_dim", 8)
    # A lower estimate on purpose (a refusal must be certain): one world at a time, the sample sizes of one
    # step (the largest of a sweep over sizes), the features of the strong, weak and true representations per
    # sample and task (or candidate).
    samples = sum(int(v) for name, v in numbers if name.split(".")[-1].startswith("n_"))
    samples += max([0] + [int(v) for name, v in numbers if name == "sizes"])
    copies = int(values.get("tasks", 1)) * int(values.get("candidates", 1))
    check_memory(owner, "one world's features and predictions", 8.0 * samples * copies * (3 * width + dim))
