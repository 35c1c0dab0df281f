"""Summarise runs of one experiment over seeds: ``python -m weakstrong.sim.seeds DIR``.

``DIR`` holds one finished run per seed, ``DIR/seed<S>/summary.json`` (as written by
``weakstrong sim charikar ... --seed S --out DIR/seed<S>``). This writes ``DIR/summary.json``: the seeds, the
per-seed values and their median, quartiles and range (:func:`weakstrong.sim.stats.seed_spread`), and prints
a table. ``results/charikar_protocol_seeds/summary.json`` is made this way.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from weakstrong.config import ConfigError
from weakstrong.io import read_json, write_json
from weakstrong.sim.stats import SPREAD_KEYS, seed_spread


def read_seed_runs(folder: str | Path) -> dict[int, dict]:
    """``{seed: summary}`` of every finished ``folder/seed<S>/summary.json``; unfinished seeds are left out."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"DIR must be a folder of seed<S>/ runs, got {folder}")
    found = {}
    for path in sorted(folder.glob("seed*/summary.json")):
        match = re.fullmatch(r"seed(\d+)", path.parent.name)
        if match:
            found[int(match.group(1))] = read_json(path)
    if not found:
        raise ConfigError(f"DIR {folder} holds no finished seed<S>/summary.json")
    return found


def format_spread(result: dict) -> str:
    lines = [f"{'':28s} median   [q25, q75]        range            seeds {result['seeds']}"]
    for key, s in result["spread"].items():
        if s["n"]:
            lines.append(f"{key:28s} {s['median']:7.3f}  [{s['q25']:6.3f}, {s['q75']:6.3f}]  "
                         f"[{s['min']:6.3f}, {s['max']:6.3f}]")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m weakstrong.sim.seeds", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="folder of seed<S>/ runs")
    args = parser.parse_args(argv)
    try:
        summaries = read_seed_runs(args.folder)
    except ConfigError as exc:
        print(f"weakstrong.sim.seeds: error: {exc}", file=sys.stderr)
        return 2
    result = seed_spread(summaries, SPREAD_KEYS)
    write_json(args.folder / "summary.json", result)
    print(format_spread(result))
    print(f"  wrote {args.folder / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
