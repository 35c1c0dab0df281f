"""`weakstrong theory` subcommands (placeholder: filled in by the theory layer)."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("theory", help="theory (not implemented yet)")

    def _run(args) -> int:
        raise ValueError("'weakstrong theory' is not implemented yet")

    p.set_defaults(func=_run)
