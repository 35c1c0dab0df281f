"""The stage cache: a pipeline stage's arrays computed once, stored under a hash of what they depend on."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from weakstrong.io import config_hash, read_npz_cache, save_npz_atomic


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
        if path is not None:
            save_npz_atomic(path, _seconds=np.asarray(seconds), **arrays)
    if log is not None:
        log[stem] = {"seconds": seconds, "cached": cached}
    return arrays
