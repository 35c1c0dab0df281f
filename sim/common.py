"""Small shared pieces of the simulator: argument validation, seeding, thread control."""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator

import numpy as np


def check_positive_int(owner: str, name: str, value, minimum: int = 1) -> None:
    """Raise ``ValueError`` unless ``value`` is an integer >= ``minimum`` (bools rejected)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{owner}.{name} must be an integer >= {minimum}, got {value!r}")


def check_finite(owner: str, name: str, value, minimum: float | None = None, strict: bool = False) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite number (optionally >= or > ``minimum``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(value)):
        raise ValueError(f"{owner}.{name} must be a finite number, got {value!r}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        relation = ">" if strict else ">="
        raise ValueError(f"{owner}.{name} must be {relation} {minimum}, got {value!r}")


def check_choice(owner: str, name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{owner}.{name} must be one of {tuple(choices)}, got {value!r}")


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
