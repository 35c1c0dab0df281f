"""`weakstrong figures` subcommands (placeholder: filled in by the figures layer)."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("figures", help="figures (not implemented yet)")

    def _run(args) -> int:
        raise ValueError("'weakstrong figures' is not implemented yet")

    p.set_defaults(func=_run)
