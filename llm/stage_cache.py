"""The stage cache: a pipeline stage's arrays computed once, stored under a hash of what they depend on."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from weakstrong.io import config_hash, save_npz_atomic


def cached_array(cache_dir: str | os.PathLike | None, stage: str, config: dict,
                 compute: Callable[[], dict[str, np.ndarray]], log: dict | None = None) -> dict[str, np.ndarray]:
    """Return ``compute()``'s arrays, cached as ``cache_dir/{stage}-{config_hash(config)}.npz``.

    A rerun with the same configuration loads the file and skips the stage; ``cache_dir=None`` disables caching.
    The seconds ``compute`` took are stored with the arrays, so a resumed run still reports what each stage
    cost: with ``log``, ``log[file stem] = {"seconds": ..., "cached": bool}``.
    """
    stem = f"{stage}-{config_hash(config)}"
    path = None if cache_dir is None else Path(cache_dir) / f"{stem}.npz"
    if path is not None and path.exists():
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files if k != "_seconds"}
            seconds = float(data["_seconds"]) if "_seconds" in data.files else None
        cached = True
    else:
        start = time.perf_counter()
        arrays = compute()
        seconds, cached = round(time.perf_counter() - start, 3), False
        if "_seconds" in arrays:
            raise ValueError("compute() must not return an array named '_seconds' (reserved)")
        if path is not None:
            save_npz_atomic(path, _seconds=np.asarray(seconds), **arrays)
    if log is not None:
        log[stem] = {"seconds": seconds, "cached": cached}
    return arrays
