"""``weakstrong theory`` subcommands.

    weakstrong theory check [--instances N] [--seed S] [--json PATH]

evaluates every statement of ``weakstrong.theory`` on N random instances each (see
``weakstrong.theory.check``), prints one row per statement and exits 1 if a statement that must hold is
violated beyond its tolerance on any instance.
"""

from __future__ import annotations

import argparse
import time


def _run_check(args: argparse.Namespace) -> int:
    from weakstrong.io import write_json

    from .check import CheckConfig, format_table, run_checks

    config = CheckConfig(instances=args.instances, seed=args.seed)
    start = time.perf_counter()
    try:  # tiny matrices: extra BLAS threads only add contention
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            rows = run_checks(config)
    except ImportError:
        rows = run_checks(config)
    seconds = time.perf_counter() - start
    failed = [r.statement for r in rows if r.must_hold and r.violations]
    print(format_table(rows))
    print(f"\n{len(rows)} statements x {config.instances} instances in {seconds:.1f} s (seed {config.seed}); "
          + (f"VIOLATED: {', '.join(failed)}" if failed else "no violations of statements that must hold"))
    if args.json:
        write_json(args.json, {
            "config": {"instances": config.instances, "seed": config.seed},
            "seconds": seconds,
            "violated": failed,
            "statements": [r.to_dict() for r in rows],
        })
    return 1 if failed else 0


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("theory", help="check the misfit theory's statements numerically")
    commands = parser.add_subparsers(dest="theory_command", metavar="THEORY_COMMAND")
    commands.required = True
    check = commands.add_parser(
        "check",
        help="evaluate every statement on random instances; exit 1 on a violation",
        description="Evaluate every statement of weakstrong.theory on random instances (rank-deficient "
                    "features, zero weights, boundary truths) and report slacks and violations.",
    )
    check.add_argument("--instances", type=int, default=200, help="random instances per statement (200)")
    check.add_argument("--seed", type=int, default=0, help="random seed (0)")
    check.add_argument("--json", metavar="PATH", default=None, help="also write the table as JSON to PATH")
    check.set_defaults(func=_run_check)
