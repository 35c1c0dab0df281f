"""`weakstrong paper` (placeholder: filled in with the paper build)."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("paper", help="build the LaTeX paper (not implemented yet)")

    def _run(args) -> int:
        raise ValueError("'weakstrong paper' is not implemented yet")

    p.set_defaults(func=_run)
