"""The ``weakstrong`` command. Each layer registers its own subcommand from its ``cli`` module.

    weakstrong theory check [--instances N] [--seed S]
    weakstrong sim charikar --setting {realizable,pretrained,perturbed} --out DIR
    weakstrong llm classify ... --out DIR  |  weakstrong llm generate ... --out DIR
    weakstrong figures [--only NAME]
    weakstrong paper
    weakstrong report [--check]
"""

from __future__ import annotations

import argparse
import importlib
import sys

from weakstrong.config import ConfigError

# (subcommand, module providing ``add_parser(subparsers)``). The one registration convention: every CLI module
# exposes ``add_parser(subparsers)``, and each leaf command sets ``func(args) -> exit code`` on its parser.
_COMMANDS = (
    ("theory", "weakstrong.theory.cli"),
    ("sim", "weakstrong.sim.cli"),
    ("llm", "weakstrong.llm.cli"),
    ("figures", "weakstrong.figures.cli"),
    ("paper", "weakstrong.figures.paper_cli"),
    ("report", "weakstrong.figures.report_cli"),
)


def build_parser() -> argparse.ArgumentParser:
    from weakstrong import __version__

    parser = argparse.ArgumentParser(
        prog="weakstrong",
        description="Weak-to-strong generalization: theory checks, simulator, LLM experiments, figures.",
    )
    parser.add_argument("--version", action="version", version=f"weakstrong {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name, module in _COMMANDS:
        importlib.import_module(module).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except ConfigError as exc:
        # Bad user input is one clear line; any other exception is a bug and keeps its traceback (exit 1).
        print(f"weakstrong {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
