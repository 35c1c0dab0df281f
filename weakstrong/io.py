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
import stat
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, TypeVar

import numpy as np

T = TypeVar("T")


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
    one. Use it for any writer that takes a path (``np.savez``, ``fig.savefig``, ...). It replaces only what
    it may own: a missing path or a regular file. A symlink, FIFO, device, socket or folder at ``path`` is a
    :class:`~weakstrong.config.ConfigError`, raised before anything is written (:func:`check_output_file`).
    """
    path = Path(path)
    check_output_file(path, "output")
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


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _check_name_lengths(path: Path, option: str) -> None:
    from weakstrong.config import ConfigError

    limit = 255
    for part in path.parts:
        if len(os.fsencode(part)) > limit:
            raise ConfigError(f"{option} {str(path)[:80]}...: the name {part[:40]!r}... is longer than the "
                              f"filesystem's limit of {limit} bytes")


def check_output_file(path: str | os.PathLike, option: str) -> Path:
    """Check, before any work, that ``path`` may be written as a result file: its name fits the filesystem and,
    if something is there, it is a regular file (never a symlink, FIFO, device, socket or folder, which a
    writer would replace or block on). Its folder is checked by :func:`check_output_dir`."""
    from weakstrong.config import ConfigError

    path = Path(path)
    _check_name_lengths(path, option)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise ConfigError(f"{option} {path} cannot be examined ({exc.strerror})") from None
    if mode is not None and not stat.S_ISREG(mode):
        raise ConfigError(f"{option} {path} is {_kind(mode)}; weakstrong writes results only to new or regular "
                          f"files it replaces atomically. Give a new file name")
    return path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def default_cache_dir() -> Path:
    """The project's cache folder (representations, dequantised models): ``$WEAKSTRONG_CACHE`` if set, else
    ``~/.cache/weakstrong``."""
    return Path(os.environ.get("WEAKSTRONG_CACHE", Path.home() / ".cache" / "weakstrong"))


# The files a run writes into its output folder; each must be absent or a regular file.
RESULT_NAMES = ("results.json", "records.jsonl", "summary.json", ".weakstrong.lock")


def check_output_dir(path: str | os.PathLike, option: str) -> Path:
    """Check, before any work, that ``path`` can be (or is) a writable folder; :class:`ConfigError` otherwise.

    ``option`` names the argument in the message (``"--out"``). Refused: a file, a symlink that dangles or
    loops, a name over the filesystem's limit, a parent that is not a folder or not writable, and a folder
    whose result files (:data:`RESULT_NAMES`) exist as something other than regular files. Nothing is created.
    """
    from weakstrong.config import ConfigError

    path = Path(path)
    if not str(path).strip():
        raise ConfigError(f"{option} must name a folder, got an empty path")
    _check_name_lengths(path, option)
    if os.path.islink(path):
        try:
            path.resolve(strict=True)
        except (FileNotFoundError, RuntimeError, OSError):
            raise ConfigError(f"{option} {path} is a symbolic link that dangles or loops "
                              f"(to {os.readlink(path)!r}); give a real folder") from None
    if path.exists() and not path.is_dir():
        what = "a file" if path.is_file() else _kind(os.stat(path).st_mode)
        raise ConfigError(f"{option} must be a folder, but {path} is {what}")
    parent = path
    while not os.path.lexists(parent):
        parent = parent.parent
    if os.path.islink(parent) and not parent.exists():
        raise ConfigError(f"{option} {path} lies under {parent}, a symbolic link that dangles or loops")
    if not parent.is_dir():
        raise ConfigError(f"{option} {path} lies under {parent}, which is a file, not a folder")
    try:   # a real attempt, not os.access: root passes every permission check, yet cannot write in /proc
        os.rmdir(tempfile.mkdtemp(dir=parent, prefix=".weakstrong-probe-"))
    except OSError as exc:
        raise ConfigError(f"{option} {path} cannot be written: {parent} does not accept new files "
                          f"({exc.strerror})") from None
    if path.is_dir():
        for name in RESULT_NAMES:
            check_output_file(path / name, option)
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


def read_npz_cache(path: str | os.PathLike, convert: Callable[[dict], T]) -> T | None:
    """``convert({name: array})`` of the cached ``.npz`` at ``path``; None when there is none or it is damaged.

    A cache file that does not load (truncated, empty, garbage, pickled objects) or that ``convert`` rejects
    (it raises on a wrong shape or a missing array) is renamed to ``PATH.corrupt`` with a one-line warning
    naming it, and None is returned so the caller recomputes the stage. Pickles are never loaded.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        return convert(arrays)
    except Exception as exc:  # any way a cache file can be damaged: the stage is simply computed again
        aside = path.with_name(path.name + ".corrupt")
        os.replace(path, aside)
        text = str(exc).splitlines()[0][:160] if str(exc) else ""
        # numpy's own message for an object array invites allow_pickle=True; the project never loads pickles.
        reason = "it holds pickled Python objects, which are never loaded" if "pickle" in text else text
        print(f"weakstrong: warning: cache file {path} is damaged ({type(exc).__name__}: {reason}); moved to "
              f"{aside.name} and recomputed", file=sys.stderr, flush=True)
        return None


def save_npz_atomic(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """``np.savez`` atomically: a cached array stage is either whole or absent."""
    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)
    return Path(path)
