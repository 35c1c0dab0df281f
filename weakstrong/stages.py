"""Stage caches: a pipeline stage computed once and reused by every rerun that needs the same thing.

- :func:`cached_array`: a stage's arrays in a shared cache folder, under a hash of what they depend on;
- :class:`StageFolder`: a run's stages in its own folder (JSON stages and saved models), the folder bound to
  one configuration by a stamp, so stages of two configurations never mix.

Science code computes through these and returns data; only the command line writes results files.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import numpy as np

from weakstrong.config import ConfigError
from weakstrong.io import (check_output_dir, config_hash, output_lock, read_json, read_npz_cache, save_npz_atomic,
                           write_json)

T = TypeVar("T")


def code_version(*objects) -> str:
    """A short hash of the source code of ``objects`` (functions, classes or modules; a ``functools.partial``
    counts as its function and its keyword arguments): part of a stage's key, so that a stage computed by
    code that has changed since is computed again instead of silently reused."""
    parts = []
    for obj in objects:
        if isinstance(obj, functools.partial):
            parts += [code_version(obj.func), repr(obj.args), repr(sorted(obj.keywords.items()))]
            continue
        try:
            parts.append(inspect.getsource(obj))
        except (OSError, TypeError):
            parts.append(repr(obj))
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]


def _stale(name: str, found, code: str | None) -> bool:
    if code is None or found == code:
        return False
    print(f"weakstrong: stage {name} was computed by other code ({found} != {code}): computing it again",
          file=sys.stderr, flush=True)
    return True


def main_process() -> bool:
    """Whether this process writes stages: always, except on the ranks other than 0 of a ``torchrun`` (``RANK``).

    Under DDP every rank computes each deterministic stage (so none waits for another's files), and rank 0
    alone writes it.
    """
    return os.environ.get("RANK", "0").strip() in ("", "0")


def cached_array(cache_dir: str | os.PathLike | None, stage: str, config: dict,
                 compute: Callable[[], dict[str, np.ndarray]], log: dict | None = None,
                 check: Callable[[dict[str, np.ndarray]], None] | None = None) -> dict[str, np.ndarray]:
    """Return ``compute()``'s arrays, cached as ``cache_dir/{stage}-{config_hash(config)}.npz``.

    A rerun with the same configuration loads the file and skips the stage; ``cache_dir=None`` disables caching.
    The seconds ``compute`` took are stored with the arrays, so a resumed run still reports what each stage
    cost: with ``log``, ``log[file stem] = {"seconds": ..., "cached": bool}``. A cached file that does not load,
    or that ``check(arrays)`` rejects by raising (a wrong shape, say), is set aside with a warning and the
    stage is computed again (:func:`weakstrong.io.read_npz_cache`).
    """
    stem = f"{stage}-{config_hash(config)}"
    path = None if cache_dir is None else Path(cache_dir) / f"{stem}.npz"

    def convert(data):
        arrays = {k: v for k, v in data.items() if k != "_seconds"}
        if check is not None:
            check(arrays)
        return arrays, (float(data["_seconds"]) if "_seconds" in data else None)

    loaded = None if path is None else read_npz_cache(path, convert)
    if loaded is not None:
        arrays, seconds = loaded
        cached = True
    else:
        start = time.perf_counter()
        arrays = compute()
        seconds, cached = round(time.perf_counter() - start, 3), False
        if "_seconds" in arrays:
            raise ValueError("compute() must not return an array named '_seconds' (reserved)")
        if path is not None and main_process():
            save_npz_atomic(path, _seconds=np.asarray(seconds), **arrays)
    if log is not None:
        log[stem] = {"seconds": seconds, "cached": cached}
    return arrays


class StageFolder:
    """The stages of one run in ``root``, bound to one configuration by the stamp ``run.json``.

    A JSON stage ``name`` is ``root/{name}.json``; a folder stage (a saved model, say) is ``root/{name}/`` with
    ``stage.json`` written last, so its presence means the folder is whole. Each stage records the seconds it
    took when computed, wall and CPU (every thread of the process), and a rerun that loads it reports those
    (:attr:`timings`, :attr:`cpu_timings`). Constructing checks the
    folder and its stamp and writes nothing; :meth:`claim` locks the folder and writes the stamp, once every
    input check has passed. A stamp of another configuration is refused while the folder holds ``finished``
    (the run's results file) or a reusable stage, and replaced otherwise (a run that failed before its first
    stage leaves nothing that could be mixed).
    """

    STAMP = "run.json"
    STAGE = "stage.json"

    def __init__(self, root: str | os.PathLike, identity: dict, option: str = "--out",
                 finished: str = "results.json", folder_part: str = "model"):
        self.root = check_output_dir(root, option)
        self.option, self.finished, self.folder_part = option, finished, folder_part
        self.ident = {"hash": config_hash(identity), "config": identity}
        self.timings: dict[str, float] = {}
        self.cpu_timings: dict[str, float] = {}  # CPU seconds of the process (every thread) per stage
        self._check_stamp()

    def _check_stamp(self) -> None:
        stamp = self.root / self.STAMP
        if not stamp.exists():
            return
        try:
            found = read_json(stamp)["hash"]
        except (ValueError, KeyError, TypeError):
            found = None  # a damaged stamp binds no configuration
        if found == self.ident["hash"]:
            return
        finished = (self.root / self.finished).exists()
        stages = self.finished_stages()
        if finished or stages:
            what = "a finished run" if finished else f"an unfinished run with {len(stages)} finished stages"
            raise ConfigError(f"{self.option} {self.root} holds {what} of a different configuration ({stamp}); "
                              f"use a fresh {self.option}")

    def finished_stages(self) -> list[Path]:
        """What a rerun would reuse: each JSON stage and each folder stage's ``stage.json`` (folder stages have
        ``folder_part`` in their name; the files saved inside them are not stages)."""
        found = []
        for path in self.root.rglob("*.json"):
            rel = path.relative_to(self.root)
            if path.name.startswith(".") or rel.as_posix() in (self.STAMP, self.finished):
                continue
            if path.name == self.STAGE or self.folder_part not in rel.parts[:-1]:
                found.append(rel)
        return found

    @contextmanager
    def claim(self) -> Iterator["StageFolder"]:
        """Hold the folder's lock and stamp it with this configuration (a second run into it is refused)."""
        if not main_process():
            yield self
            return
        with output_lock(self.root, self.option):
            write_json(self.root / self.STAMP, self.ident)
            yield self

    def json(self, name: str, compute: Callable[[], dict], code: str | None = None) -> dict:
        """The JSON stage ``name``: loaded if finished by the same ``code`` (:func:`code_version`), else
        ``compute()``'s dict (with its ``seconds`` and ``code``) saved."""
        path = self.root / f"{name}.json"
        data = read_json(path) if path.exists() else None
        if data is None or _stale(name, data.get("code"), code):
            t0, c0 = time.perf_counter(), time.process_time()
            data = compute()
            data["seconds"], data["cpu_seconds"] = time.perf_counter() - t0, time.process_time() - c0
            if code is not None:
                data["code"] = code
            if main_process():
                write_json(path, data)
        self.timings[name] = data.get("seconds", 0.0)  # a stage written before seconds were kept: 0
        if "cpu_seconds" in data:
            self.cpu_timings[name] = data["cpu_seconds"]
        return data

    def folder(self, name: str, load: Callable[[Path], T], build: Callable[[Path], tuple[T, dict]],
               code: str | None = None) -> tuple[T, dict]:
        """The folder stage ``name``: ``load(path)`` if finished, else ``build(path)`` -> (object, info), which
        saves the object into ``path`` (on the main process only: :func:`main_process`); ``info`` (with the
        seconds the build took, and ``code``) becomes ``stage.json``. A stage built by other code is rebuilt."""
        path = self.root / name
        info = read_json(path / self.STAGE) if (path / self.STAGE).exists() else None
        if info is not None and not _stale(name, info.get("code"), code):
            obj = load(path)
        else:
            t0, c0 = time.perf_counter(), time.process_time()
            obj, info = build(path)
            info = {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0, **info,
                    **({} if code is None else {"code": code})}
            if main_process():
                write_json(path / self.STAGE, info)
        self.timings[name] = info["seconds"]
        if "cpu_seconds" in info:
            self.cpu_timings[name] = info["cpu_seconds"]
        return obj, info

    def has(self, name: str) -> bool:
        """Whether the folder stage ``name`` is finished."""
        return (self.root / name / self.STAGE).exists()

    def path(self, name: str) -> Path:
        return self.root / name
