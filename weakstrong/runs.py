"""The runs layer: a science function's result (records + summary) cached on disk, written atomically.

A run folder holds ``records.jsonl`` (one :class:`~weakstrong.theory.records.W2SRecord` per line) and
``summary.json``. :func:`cached_run` names the folder ``<name>-<hash>``, the hash covering the config
(``asdict``) and a fingerprint of the source code that computes it, so a result is reused only for the same
configuration *and* the same code. ``.complete.json`` is written last, with the digests of both files: a run
interrupted before it, or whose files were emptied or edited since, is recomputed rather than half-read.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Cfg:
...     n: int = 3
>>> import tempfile
>>> root = tempfile.mkdtemp()
>>> run = cached_run("demo", Cfg(), lambda c: ([], {"n": c.n}), root, fingerprint="v1")
>>> run.summary, run.reused
({'n': 3}, False)
>>> cached_run("demo", Cfg(), lambda c: 1 / 0, root, fingerprint="v1").reused   # not recomputed
True
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from weakstrong.io import config_hash, output_lock, read_json, read_jsonl, write_json, write_jsonl
from weakstrong.theory.records import W2SRecord

__all__ = ["RunData", "cached_run", "read_run", "write_run", "run_dir", "source_fingerprint"]


@dataclass
class RunData:
    """A finished run: where it lives, its validated records and its summary."""

    path: Path
    records: list[W2SRecord]
    summary: dict[str, Any]
    reused: bool = False   # read from disk rather than computed in this call

    @property
    def files(self) -> list[Path]:
        return [self.path / "records.jsonl", self.path / "summary.json"]


@functools.lru_cache(maxsize=None)
def source_fingerprint(*packages: str) -> str:
    """A hash of the ``*.py`` source files of ``packages`` and their subpackages (e.g. ``"weakstrong.sim"``): the
    code of a run."""
    digest = hashlib.sha256()
    for package in packages:
        folder = Path(importlib.util.find_spec(package).origin).parent
        # Subpackages too (theory/gain/ computes the gain-prediction runs): a run's key covers all its code.
        for path in sorted(folder.rglob("*.py")):
            digest.update(path.relative_to(folder).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def run_dir(root: str | os.PathLike, name: str, config: Any, fingerprint: str) -> Path:
    """``root/<name>-<hash of (name, asdict(config), fingerprint)>``."""
    key = {"name": name, "config": dataclasses.asdict(config), "source": fingerprint}
    return Path(root) / f"{name}-{config_hash(key, length=10)}"


COMPLETE = ".complete.json"  # written last: the record count and digests of the files a finished run wrote


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_run(out: str | os.PathLike, records: Sequence[W2SRecord], summary: dict) -> RunData:
    """Write ``out/records.jsonl``, ``out/summary.json`` and last ``out/.complete.json`` (the count of records
    and the digests of both files), each atomically."""
    out = Path(out)
    write_jsonl(out / "records.jsonl", [r.to_dict() for r in records])
    write_json(out / "summary.json", summary)
    write_json(out / COMPLETE, {"records": len(records), "records_sha256": _digest(out / "records.jsonl"),
                                "summary_sha256": _digest(out / "summary.json")})
    return RunData(out, list(records), summary)


def stale_reason(path: str | os.PathLike) -> str | None:
    """Why the run folder ``path`` is not a finished run as written (None: it is): a missing marker, or a
    records or summary file that was emptied, cut or edited since."""
    path = Path(path)
    try:
        done = read_json(path / COMPLETE)
        for name, key in (("records.jsonl", "records_sha256"), ("summary.json", "summary_sha256")):
            if _digest(path / name) != done[key]:
                return f"{name} changed since the run wrote it"
    except FileNotFoundError as exc:
        return f"{Path(exc.filename).name} is missing"
    except (ValueError, KeyError, TypeError) as exc:
        return f"its {COMPLETE} is unreadable ({exc})"
    return None


def read_run(path: str | os.PathLike) -> RunData:
    """Read a finished run folder, validating every record. ``FileNotFoundError`` when it is not finished."""
    path = Path(path)
    summary = read_json(path / "summary.json")
    if not isinstance(summary, dict):
        raise ValueError(f"{path}/summary.json must hold a JSON object, got {type(summary).__name__}")
    records = [W2SRecord.from_dict(row) for row in read_jsonl(path / "records.jsonl")]
    return RunData(path, records, summary, reused=True)


def cached_run(name: str, config: Any, compute: Callable[[Any], tuple[list[W2SRecord], dict]],
               root: str | os.PathLike, fingerprint: str, force: bool = False) -> RunData:
    """``compute(config)`` cached under ``root``: reuse a finished run of the same config and code.

    ``compute`` returns ``(records, summary)``. Anything it raises propagates: a run that fails leaves no
    ``summary.json`` and is never mistaken for a finished one.
    """
    out = run_dir(root, name, config, fingerprint)
    if not force and stale_reason(out) is None:
        return read_run(out)
    # A second process asking for the same run waits for the first, then reuses its result.
    with output_lock(out, wait=True):
        reason = stale_reason(out)
        if not force and reason is None:
            return read_run(out)
        if (out / "summary.json").exists() and reason is not None:
            print(f"weakstrong: warning: run folder {out} is not a finished run as written ({reason}); "
                  f"recomputing it", file=sys.stderr, flush=True)
        records, summary = compute(config)
        return write_run(out, records, summary)
