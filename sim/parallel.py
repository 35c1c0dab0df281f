"""How a simulator run executes: progress, caches, and sweeps over independent worlds (in-process, over
processes, or on a Dask cluster).

An experiment that runs over many worlds (seeds) hands :func:`run_sweep` a picklable function and one
argument per world. With ``jobs == 1`` the worlds run in this process; with ``jobs > 1`` they run in that
many worker processes (joblib's ``loky`` backend); with ``scheduler`` set they run on the Dask cluster at
that address through joblib's ``dask`` backend (needs the optional ``dask[distributed]`` extra:
``pip install "weakstrong[dask]"``). Results come back in input order, and every world draws its numbers
only from its own seed (:func:`world_seeds`), so the records are identical whichever way they were run.

:class:`RunOptions` holds every setting that changes how a run executes but never what it computes, so
it is not part of a run's cache key.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from weakstrong.config import ConfigError
from weakstrong.sim.common import blas_threads, check_positive_int

# How long to wait for a Dask scheduler before giving up, so a wrong address fails before any work.
_CONNECT_TIMEOUT_S = 10


@dataclass(frozen=True)
class RunOptions:
    """How a run executes; none of it changes a number of the result."""

    progress: bool = False         # progress bar on stderr
    jobs: int = 1                  # worker processes over worlds (1: run in this process)
    scheduler: str | None = None   # Dask scheduler address, e.g. tcp://127.0.0.1:8786 (overrides jobs)
    cache_dir: Path | None = None  # pretrained representations (default: $WEAKSTRONG_CACHE or ~/.cache/weakstrong)
    threads: int | None = None     # numba threads (default: all cores)
    # BLAS threads inside each world. Why 1: worlds are the unit of parallelism, and the products inside one
    # are small; on a loaded 2-core machine a two-thread OpenBLAS QR of a (3100, 100) matrix was measured at
    # 1.5 s against 0.02 s on one thread.
    blas_threads: int | None = 1

    def validate(self) -> "RunOptions":
        """Check every field; raise :class:`ConfigError` naming the first bad one. Returns self."""
        check_positive_int("RunOptions", "jobs", self.jobs)
        if self.scheduler is not None and not _valid_address(self.scheduler):
            raise ConfigError(f"RunOptions.scheduler must be a Dask scheduler address such as "
                              f"'tcp://127.0.0.1:8786' or '127.0.0.1:8786' (port 1-65535), got {self.scheduler!r}")
        if self.jobs > 4096:
            raise ConfigError(f"RunOptions.jobs must be <= 4096 (it is capped by the worlds and the cores anyway), "
                              f"got {self.jobs}")
        for name in ("blas_threads", "threads"):
            if getattr(self, name) is not None:
                check_positive_int("RunOptions", name, getattr(self, name))
        if not isinstance(self.progress, bool):
            raise ConfigError(f"RunOptions.progress must be a bool, got {self.progress!r}")
        if self.cache_dir is not None and Path(self.cache_dir).exists() and not Path(self.cache_dir).is_dir():
            raise ConfigError(f"RunOptions.cache_dir must be a folder, got the file {self.cache_dir}")
        return self

    def cache(self) -> Path:
        """The representation cache folder (``cache_dir``, else the default)."""
        from weakstrong.io import default_cache_dir

        return Path(self.cache_dir) if self.cache_dir is not None else default_cache_dir()


_ADDRESS = re.compile(r"^(?:(?:tcp|tls|ucx|ws|wss)://)?(\[[0-9a-fA-F:]+\]|[A-Za-z0-9._-]+):(\d{1,5})/?$")


def _valid_address(address) -> bool:
    """``[protocol://]host:port`` with a port in 1-65535 (or ``inproc://...``), the forms a Dask client takes."""
    if not isinstance(address, str):
        return False
    if address.startswith("inproc://") and len(address) > len("inproc://"):
        return True
    match = _ADDRESS.match(address.strip())
    return bool(match) and 1 <= int(match.group(2)) <= 65535


def world_seeds(seed: int, n_worlds: int) -> list[int]:
    """``n_worlds`` independent integer seeds derived from ``seed`` (``SeedSequence.spawn``).

    A world's seed depends only on ``(seed, its index)``, so adding worlds never changes earlier ones.
    """
    check_positive_int("world_seeds", "seed", seed, minimum=0)
    check_positive_int("world_seeds", "n_worlds", n_worlds)
    return [int(s.generate_state(1, dtype=np.uint32)[0]) for s in np.random.SeedSequence(seed).spawn(n_worlds)]


def sweep_worlds(world_fn: Callable[[Any], Any], config: Any, sweep: "RunOptions") -> list[Any]:
    """Validate ``config`` and ``sweep``, then run ``world_fn((config, index, seed))`` for every world.

    ``config`` needs ``seed``, ``worlds`` and ``validate()``. Results come back in world order.
    """
    config.validate()
    sweep.validate()
    jobs = [(config, i, s) for i, s in enumerate(world_seeds(config.seed, config.worlds))]
    return run_sweep(world_fn, jobs, sweep)


def _dask_client(address: str):
    """A connected ``distributed.Client``; ``ConfigError`` when dask is missing or the address is unreachable."""
    try:
        from dask.distributed import Client
    except ImportError as exc:
        raise ConfigError("--scheduler needs the optional dask extra: pip install \"weakstrong[dask]\" "
                         f"(import failed: {exc})") from None
    try:
        return Client(address, timeout=_CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        raise ConfigError(f"could not connect to the Dask scheduler at --scheduler {address!r}: {exc}") from None


def run_sweep(fn: Callable[[Any], Any], items: Iterable[Any], config: RunOptions) -> list[Any]:
    """``[fn(item) for item in items]``, run as ``config`` says; results in input order.

    Parameters
    ----------
    fn : a module-level (picklable) function of one argument.
    items : one argument per world (picklable).
    config : see :class:`RunOptions`; validated (and a scheduler connected) before any item runs.
    """
    from tqdm.auto import tqdm

    config.validate()
    items = list(items)
    bar = tqdm(total=len(items), disable=not config.progress, desc="worlds", file=sys.stderr)
    try:
        if config.scheduler is None and config.jobs == 1:
            results = []
            for item in items:
                results.append(_call_limited(fn, item, config.blas_threads))
                bar.update()
            return results
        import joblib

        if config.scheduler is not None:
            client = _dask_client(config.scheduler)
            with client, joblib.parallel_config(backend="dask"):
                return _collect(joblib.Parallel(n_jobs=-1, return_as="generator"), fn, items, config, bar)
        # Never more workers than worlds to run or cores to run them on.
        n_jobs = max(1, min(config.jobs, len(items), os.cpu_count() or 1))
        try:
            return _collect(joblib.Parallel(n_jobs=n_jobs, backend="loky", return_as="generator"),
                            fn, items, config, bar)
        except BaseException:
            # Interrupted or failed: the reusable pool's workers must not outlive this run.
            from joblib.externals.loky import get_reusable_executor

            get_reusable_executor().shutdown(wait=False, kill_workers=True)
            raise
    finally:
        bar.close()


def _call_limited(fn: Callable[[Any], Any], item: Any, blas: int | None) -> Any:
    """``fn(item)`` with at most ``blas`` BLAS threads (runs in whichever process or worker executes it)."""
    with blas_threads(blas):
        return fn(item)


def _collect(parallel, fn, items, config: RunOptions, bar) -> list[Any]:
    import joblib

    results = []
    for result in parallel(joblib.delayed(_call_limited)(fn, item, config.blas_threads) for item in items):
        results.append(result)
        bar.update()
    return results
