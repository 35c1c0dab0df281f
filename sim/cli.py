"""`weakstrong sim` subcommands (placeholder: filled in by the sim layer)."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("sim", help="sim (not implemented yet)")

    def _run(args) -> int:
        raise ValueError("'weakstrong sim' is not implemented yet")

    p.set_defaults(func=_run)
