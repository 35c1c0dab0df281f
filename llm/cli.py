"""`weakstrong llm` subcommands (placeholder: filled in by the llm layer)."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("llm", help="llm (not implemented yet)")

    def _run(args) -> int:
        raise ValueError("'weakstrong llm' is not implemented yet")

    p.set_defaults(func=_run)
