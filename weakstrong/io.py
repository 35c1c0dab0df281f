"""Atomic, resumable result files.

Every result is written to a temporary file in the same folder and renamed into place, so a run killed
mid-write never leaves a truncated JSON behind. ``config_hash`` names cached stages so a rerun with the same
configuration finds and skips them.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np


def _to_jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _to_jsonable(obj.tolist())
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        # JSON has no NaN/inf; None marks "not available" explicitly.
        return x if math.isfinite(x) else None
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "to_dict"):
        return _to_jsonable(obj.to_dict())
    return obj


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``, on error removed.

    The one place that knows how to write a file so that readers see either the old file or the whole new
    one. Use it for any writer that takes a path (``np.savez``, ``fig.savefig``, ...).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix or ".tmp")
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())   # mkstemp makes 0600 files; results are for everyone to read
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def default_cache_dir() -> Path:
    """The project's cache folder (representations, dequantised models): ``$WEAKSTRONG_CACHE`` if set, else
    ``~/.cache/weakstrong``."""
    return Path(os.environ.get("WEAKSTRONG_CACHE", Path.home() / ".cache" / "weakstrong"))


def check_output_dir(path: str | os.PathLike, option: str) -> Path:
    """Check, before any work, that ``path`` can be (or is) a writable folder; :class:`ConfigError` otherwise.

    ``option`` names the argument in the message (``"--out"``). Nothing is created.
    """
    from weakstrong.config import ConfigError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{option} must be a folder, but {path} is a file")
    parent = path
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"{option} {path} lies under {parent}, which is a file, not a folder")
    try:   # a real attempt, not os.access: root passes every permission check, yet cannot write in /proc
        os.rmdir(tempfile.mkdtemp(dir=parent, prefix=".weakstrong-probe-"))
    except OSError as exc:
        raise ConfigError(f"{option} {path} cannot be written: {parent} does not accept new files "
                          f"({exc.strerror})") from None
    return path


LOCK_NAME = ".weakstrong.lock"


@contextmanager
def output_lock(folder: str | os.PathLike, option: str = "--out", wait: bool = False) -> Iterator[Path]:
    """Hold an exclusive lock on the output ``folder`` (created if needed) while a run writes into it.

    Two runs into one folder would otherwise replace each other's files without a word. The lock is an
    ``flock`` on ``folder/.weakstrong.lock`` (through ``filelock``), so the kernel releases it when its
    process dies, even by SIGKILL: a crashed run never leaves a stale lock. With ``wait=False`` a folder in
    use is a :class:`ConfigError` naming ``option``; with ``wait=True`` the caller blocks until it is free.
    """
    from filelock import FileLock, Timeout

    from weakstrong.config import ConfigError

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(folder / LOCK_NAME, timeout=-1 if wait else 0)
    try:
        lock.acquire()
    except Timeout:
        raise ConfigError(f"{option} {folder} is being written by another weakstrong run (lock "
                          f"{folder / LOCK_NAME}); wait for it to finish or choose another folder") from None
    try:
        yield folder
    finally:
        lock.release()


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (temp file in the same folder, fsync, then ``os.replace``)."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically. NumPy scalars/arrays are converted; NaN/inf become null."""
    return atomic_write_text(path, json.dumps(_to_jsonable(obj), indent=2, sort_keys=False) + "\n")


def write_jsonl(path: str | os.PathLike, rows: Iterable[Any]) -> Path:
    """Write one JSON object per line, atomically."""
    lines = [json.dumps(_to_jsonable(r), sort_keys=False) for r in rows]
    return atomic_write_text(path, "\n".join(lines) + ("\n" if lines else ""))


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def config_hash(config: Any, length: int = 12) -> str:
    """A short, stable hash of a JSON-able configuration, used to name cached stages."""
    blob = json.dumps(_to_jsonable(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def save_npz_atomic(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """``np.savez`` atomically: a cached array stage is either whole or absent."""
    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)
    return Path(path)
