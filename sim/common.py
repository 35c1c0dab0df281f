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
           "named_rng"]


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
