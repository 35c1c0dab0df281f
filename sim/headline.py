"""The headline's data: the three ``charikar`` settings over seeds, summarised and committed.

    python -m weakstrong.sim.headline --seeds 0 1 2 3 4 --out results/charikar_seeds

Runs (or reuses, through the runs layer under ``--runs-dir``) ``weakstrong sim charikar`` at its defaults for
every setting and seed, the runs the figure ``charikar`` draws, and writes ``OUT/summary.json``: per setting,
:func:`~weakstrong.sim.stats.seed_spread` of the run summaries (per-seed values, median, quartiles, range) over
:data:`HEADLINE_KEYS`. The README, the generated docs and the paper's table read this file, so the headline's
numbers are committed data, not a by-product of drawing a figure.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from weakstrong.config import ConfigError, ascii_int
from weakstrong.io import check_output_dir, output_lock, write_json
from weakstrong.sim.stats import SPREAD_KEYS, seed_spread
from weakstrong.sim.worlds import SETTINGS

# The run summary fields the headline reports, over seeds (the _in_sample ones: on the student's own sample).
HEADLINE_KEYS = SPREAD_KEYS + ("frac_theorem1_holds", "frac_theorem1_holds_in_sample",
                               "max_nonrealizable_violation_in_sample", "in_sample.slope", "in_sample.r2")


def summarise(summaries: dict[str, dict[int, dict]], tasks: int) -> dict:
    """The headline file from ``{setting: {seed: run summary}}``: per setting, their seed spread."""
    return {"seeds": sorted({seed for by_seed in summaries.values() for seed in by_seed}), "tasks": tasks,
            "settings": {setting: seed_spread(by_seed, HEADLINE_KEYS) for setting, by_seed in summaries.items()},
            "command": "weakstrong sim charikar --setting S --tasks 100 --seed SEED --out DIR"}


def charikar_seeds(seeds, runs_dir: str | Path = "runs", force: bool = False) -> dict:
    """:func:`summarise` of the default ``charikar`` runs of every setting at ``seeds``."""
    from weakstrong.sim.charikar import CharikarConfig
    from weakstrong.sim.experiments import run_cached
    from weakstrong.sim.worlds import WorldConfig

    summaries = {setting: {s: run_cached("charikar", CharikarConfig(world=WorldConfig(setting=setting, seed=s)),
                                         runs_dir, force=force).summary for s in seeds} for setting in SETTINGS}
    return summarise(summaries, CharikarConfig().tasks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m weakstrong.sim.headline", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=ascii_int, nargs="+", default=[0, 1, 2, 3, 4], help="world seeds")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"), help="runs cache (default: runs)")
    parser.add_argument("--out", type=Path, default=Path("results/charikar_seeds"), help="where summary.json goes")
    parser.add_argument("--force", action="store_true", help="recompute the runs even when cached")
    args = parser.parse_args(argv)
    try:
        if any(s < 0 for s in args.seeds) or len(set(args.seeds)) != len(args.seeds):
            raise ConfigError(f"--seeds must be distinct seeds >= 0, got {args.seeds}")
        out = check_output_dir(args.out, "--out")
        check_output_dir(args.runs_dir, "--runs-dir")
    except ConfigError as exc:
        print(f"weakstrong.sim.headline: error: {exc}", file=sys.stderr)
        return 2
    with output_lock(out, "--out"):
        result = charikar_seeds(args.seeds, args.runs_dir, args.force)
        write_json(out / "summary.json", result)
    for setting, spread in result["settings"].items():
        s = spread["spread"]
        print(f"{setting:12s} slope {s['slope']['median']:.3f} [{s['slope']['q25']:.3f}, {s['slope']['q75']:.3f}]  "
              f"R2 {s['r2']['median']:.3f} [{s['r2']['q25']:.3f}, {s['r2']['q75']:.3f}]")
    print(f"  wrote {out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
