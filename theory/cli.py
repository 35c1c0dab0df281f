"""``weakstrong theory`` subcommands.

    weakstrong theory check [--instances N] [--seed S] [--json PATH]

evaluates every statement of ``weakstrong.theory`` on N random instances each (see
``weakstrong.theory.check``), prints one row per statement and exits 1 if a statement that must hold is
violated beyond its tolerance on any instance.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _run_check(args: argparse.Namespace) -> int:
    from weakstrong.config import config_from_args
    from weakstrong.io import check_output_dir, check_output_file, write_json

    from .check import CheckConfig, check_report, format_table

    config = config_from_args(CheckConfig, args)
    if args.json:
        check_output_dir(Path(args.json).parent, f"--json {args.json}: its folder")
        check_output_file(args.json, "--json")  # a symlink, FIFO, device or folder is refused, never replaced
    report = check_report(config)
    failed = report["violated"]
    print(format_table(report["rows"]))
    print(f"\n{len(report['rows'])} statements x {config.instances} instances in {report['seconds']:.1f} s "
          f"(seed {config.seed}); "
          + (f"VIOLATED: {', '.join(failed)}" if failed else "no violations of statements that must hold"))
    if args.json:
        write_json(args.json, {k: v for k, v in report.items() if k != "rows"})
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
    from weakstrong.config import add_config_arguments

    from .check import CheckConfig

    add_config_arguments(check, CheckConfig)
    check.add_argument("--json", metavar="PATH", default=None, help="also write the table as JSON to PATH")
    check.set_defaults(func=_run_check)
