"""Statistics that run summaries report (figures read them from the summary; they never recompute them)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from weakstrong.theory.fits import gain_misfit_fit  # noqa: F401  (re-exported: the one fit of gain on misfit)


# Summary fields compared across seeds: the fit of gain on misfit, the mean errors, the worst violation.
SPREAD_KEYS = ("slope", "r2", "mean.weak_error", "mean.w2s_error", "mean.strong_error", "mean.misfit",
               "mean.gain", "max_nonrealizable_violation")


def spread(values: Sequence[float | None]) -> dict[str, float | int | None]:
    """Median, quartiles and range of ``values`` (None entries, e.g. an undefined slope, are left out)."""
    x = np.asarray([v for v in values if v is not None], dtype=float)
    if x.size == 0:
        return {"n": 0, "median": None, "q25": None, "q75": None, "min": None, "max": None}
    q25, median, q75 = np.percentile(x, [25, 50, 75])
    return {"n": int(x.size), "median": float(median), "q25": float(q25), "q75": float(q75),
            "min": float(x.min()), "max": float(x.max())}


def _field(summary: dict, dotted: str):
    value = summary
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def seed_spread(summaries: dict[int, dict], keys: Sequence[str] = SPREAD_KEYS) -> dict:
    """How a run's summary varies over seeds: ``{"seeds", "per_seed": {key: [...]}, "spread": {key: spread}}``.

    ``summaries`` maps each seed to its run's ``summary.json``; ``keys`` are dotted paths into it
    (``"mean.strong_error"``). Per-seed values keep the seed order, so any statistic can be recomputed.
    """
    seeds = sorted(summaries)
    per_seed = {key: [_field(summaries[s], key) for s in seeds] for key in keys}
    return {"seeds": seeds, "per_seed": per_seed, "spread": {key: spread(v) for key, v in per_seed.items()}}
