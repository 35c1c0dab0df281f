"""`weakstrong llm pool-seeds`: SLURP runs of one protocol at different strong seeds, as one results file.

Each strong seed of ``make slurp`` may run apart and land its own file; this pools them (checking they are
one protocol) and recomputes the answers per seed and pooled over the seeds from the per-utterance counts
(:mod:`weakstrong.llm.generation.pool`)::

    weakstrong llm pool-seeds results/slurp_real/seeds/seed*.json --out results/slurp_real/results.json
"""

from __future__ import annotations

import argparse

HELP = "pool SLURP runs of one protocol at different strong seeds into one results file"


def add_parser(subparsers) -> None:
    """Register ``weakstrong llm pool-seeds``."""
    parser = subparsers.add_parser("pool-seeds", help=HELP, description=f"{HELP}: every seed's results, and the "
                                   "answers per seed and pooled, as one run over all the seeds would give.")
    parser.add_argument("runs", nargs="+", metavar="RESULTS", help="results files of weakstrong llm generate")
    parser.add_argument("--out", required=True, help="the pooled results file (written atomically)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from weakstrong.config import ConfigError
    from weakstrong.io import check_output_file, read_json, write_json
    from weakstrong.llm.generation.pool import pool_runs

    out = check_output_file(args.out, "--out")
    runs = []
    for path in args.runs:
        if not Path(path).is_file():
            raise ConfigError(f"RESULTS: {path} is not a file")
        try:
            runs.append(read_json(path))
        except ValueError as exc:
            raise ConfigError(f"RESULTS: {path} is not valid JSON ({exc})") from None
    pooled = pool_runs(runs, list(args.runs))
    write_json(out, pooled)
    for question, entry in pooled["answers"].items():
        p = entry["pooled"]
        print(f"{question:<20} pooled over seeds {sorted(entry['per_seed'])}: {p['delta']:+.3f} "
              f"[{p['ci'][0]:+.3f}, {p['ci'][1]:+.3f}]")
    if not pooled["same_weak_models"]:
        print(f"note: the runs trained different weak models (weak SLU-F1 by run: {pooled['weak_slu_f1_by_run']})")
    print(f"wrote {out} (strong seeds {pooled['strong_seeds']})")
    return 0
