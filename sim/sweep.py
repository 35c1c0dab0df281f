"""Sweeps of an experiment over independent worlds: in-process, over processes, or on a Dask cluster.

An experiment that runs over many worlds (seeds) hands :func:`run_sweep` a picklable function and one
argument per world. With ``jobs == 1`` the worlds run in this process; with ``jobs > 1`` they run in that
many worker processes (joblib's ``loky`` backend); with ``scheduler`` set they run on the Dask cluster at
that address through joblib's ``dask`` backend (needs the optional ``dask[distributed]`` extra:
``pip install "weakstrong[dask]"``). Results come back in input order, and every world draws its numbers
only from its own seed (:func:`world_seeds`), so the records are identical whichever way they were run.

The rest of the module is the plumbing every sweep-based subcommand shares: the common command-line
options, the regression of gain on misfit that summaries report, and writing a run's three files
(``records.jsonl``, ``summary.json``, ``<name>.png``) atomically.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from weakstrong.io import atomic_path, write_json, write_jsonl
from weakstrong.sim.common import blas_threads, check_positive_int

# How long to wait for a Dask scheduler before giving up, so a wrong address fails before any work.
_CONNECT_TIMEOUT_S = 10


@dataclass(frozen=True)
class SweepConfig:
    """Where the worlds of a sweep run."""

    jobs: int = 1                  # worker processes (1: run in this process)
    scheduler: str | None = None   # Dask scheduler address, e.g. "tcp://127.0.0.1:8786"; overrides jobs
    progress: bool = False         # show a progress bar over worlds on stderr
    # BLAS threads inside each world. Why 1: worlds are the unit of parallelism, and the products inside one
    # are small; on a loaded 2-core machine a two-thread OpenBLAS QR of a (3100, 100) matrix was measured at
    # 1.5 s against 0.02 s on one thread.
    blas_threads: int | None = 1

    def validate(self) -> "SweepConfig":
        """Check every field; raise ``ValueError`` naming the first bad one. Returns self."""
        check_positive_int("SweepConfig", "jobs", self.jobs)
        if self.scheduler is not None and (not isinstance(self.scheduler, str) or not self.scheduler.strip()):
            raise ValueError(f"SweepConfig.scheduler must be a non-empty address such as "
                             f"'tcp://127.0.0.1:8786', got {self.scheduler!r}")
        if self.blas_threads is not None:
            check_positive_int("SweepConfig", "blas_threads", self.blas_threads)
        if not isinstance(self.progress, bool):
            raise ValueError(f"SweepConfig.progress must be a bool, got {self.progress!r}")
        return self


def world_seeds(seed: int, n_worlds: int) -> list[int]:
    """``n_worlds`` independent integer seeds derived from ``seed`` (``SeedSequence.spawn``).

    A world's seed depends only on ``(seed, its index)``, so adding worlds never changes earlier ones.
    """
    check_positive_int("world_seeds", "seed", seed, minimum=0)
    check_positive_int("world_seeds", "n_worlds", n_worlds)
    return [int(s.generate_state(1, dtype=np.uint32)[0]) for s in np.random.SeedSequence(seed).spawn(n_worlds)]


def sweep_worlds(world_fn: Callable[[Any], Any], config: Any, sweep: "SweepConfig") -> list[Any]:
    """Validate ``config`` and ``sweep``, then run ``world_fn((config, index, seed))`` for every world.

    ``config`` needs ``seed``, ``worlds`` and ``validate()``. Results come back in world order.
    """
    config.validate()
    sweep.validate()
    jobs = [(config, i, s) for i, s in enumerate(world_seeds(config.seed, config.worlds))]
    return run_sweep(world_fn, jobs, sweep)


def _dask_client(address: str):
    """A connected ``distributed.Client``; ``ValueError`` when dask is missing or the address is unreachable."""
    try:
        from dask.distributed import Client
    except ImportError as exc:
        raise ValueError("--scheduler needs the optional dask extra: pip install \"weakstrong[dask]\" "
                         f"(import failed: {exc})") from None
    try:
        return Client(address, timeout=_CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        raise ValueError(f"could not connect to the Dask scheduler at --scheduler {address!r}: {exc}") from None


def run_sweep(fn: Callable[[Any], Any], items: Iterable[Any], config: SweepConfig) -> list[Any]:
    """``[fn(item) for item in items]``, run as ``config`` says; results in input order.

    Parameters
    ----------
    fn : a module-level (picklable) function of one argument.
    items : one argument per world (picklable).
    config : see :class:`SweepConfig`; validated (and a scheduler connected) before any item runs.
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
        return _collect(joblib.Parallel(n_jobs=config.jobs, backend="loky", return_as="generator"),
                        fn, items, config, bar)
    finally:
        bar.close()


def _call_limited(fn: Callable[[Any], Any], item: Any, blas: int | None) -> Any:
    """``fn(item)`` with at most ``blas`` BLAS threads (runs in whichever process or worker executes it)."""
    with blas_threads(blas):
        return fn(item)


def _collect(parallel, fn, items, config: SweepConfig, bar) -> list[Any]:
    import joblib

    results = []
    for result in parallel(joblib.delayed(_call_limited)(fn, item, config.blas_threads) for item in items):
        results.append(result)
        bar.update()
    return results


# ---------------------------------------------------------------------------------------------------------
# Command-line plumbing shared by the sweep-based subcommands.

def add_run_arguments(parser: argparse.ArgumentParser, sweep: bool = True) -> None:
    """``--seed``, ``--out``, ``--progress/--no-progress`` and, for sweeps, ``--jobs`` and ``--scheduler``."""
    parser.add_argument("--seed", type=int, default=0, help="master seed (default 0)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bar on stderr (default: only on a terminal)")
    if sweep:
        parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
        parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                            help="run the worlds on the Dask cluster at ADDRESS (needs dask[distributed])")


def sweep_config_from_args(args: argparse.Namespace) -> SweepConfig:
    """The :class:`SweepConfig` of parsed :func:`add_run_arguments` options (validated)."""
    progress = sys.stderr.isatty() if args.progress is None else bool(args.progress)
    return SweepConfig(jobs=getattr(args, "jobs", 1), scheduler=getattr(args, "scheduler", None),
                       progress=progress).validate()


def gain_misfit_fit(misfit: Sequence[float], gain: Sequence[float]) -> dict[str, float | None]:
    """Least-squares line gain = slope * misfit + intercept and its R^2 (None where undefined).

    Theorem 1 predicts slope 1 and intercept 0 for a subspace class in the realizable case.
    """
    x, y = np.asarray(misfit, dtype=float), np.asarray(gain, dtype=float)
    if x.size < 2 or np.ptp(x) == 0.0:
        return {"slope": None, "intercept": None, "r2": None}
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (slope * x + intercept)
    total = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum(residual ** 2)) / total if total > 0 else None
    return {"slope": float(slope), "intercept": float(intercept), "r2": r2}


def save_figure(fig, path: str | os.PathLike) -> Path:
    """Save a matplotlib figure atomically (see :func:`weakstrong.io.atomic_path`)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=150, bbox_inches="tight")
    return Path(path)


def write_run(out: str | os.PathLike, name: str, records: Sequence[Any], summary: dict,
              draw: Callable[[Any], None]) -> dict[str, Path]:
    """Write ``out/records.jsonl``, ``out/summary.json`` and ``out/<name>.png`` (drawn by ``draw(fig)``)."""
    from matplotlib.figure import Figure   # no pyplot: works headless and in worker processes

    out = Path(out)
    paths = {"records": write_jsonl(out / "records.jsonl", [r.to_dict() for r in records]),
             "summary": write_json(out / "summary.json", summary)}
    fig = Figure(figsize=(9.0, 3.6), layout="constrained")
    draw(fig)
    paths["figure"] = save_figure(fig, out / f"{name}.png")
    return paths


def identity_line(ax, values: Iterable[float]) -> None:
    """Draw y = x across the range of ``values`` (the line Theorem 1 puts gain on, or above)."""
    v = np.asarray(list(values), dtype=float)
    v = v[np.isfinite(v)]
    if v.size:
        lo, hi = float(v.min()), float(v.max())
        ax.plot([lo, hi], [lo, hi], color="0.4", lw=1.0, ls="--", label="y = x")
