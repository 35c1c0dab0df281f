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
import os
import signal
import sys
import threading

from weakstrong.config import ConfigError, OneLineParser

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

    parser = OneLineParser(
        prog="weakstrong",
        description="Weak-to-strong generalization: theory checks, simulator, LLM experiments, figures.",
    )
    parser.add_argument("--version", action="version", version=f"weakstrong {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name, module in _COMMANDS:
        importlib.import_module(module).add_parser(subparsers)
    return parser


def _terminate(signum, frame):
    # SIGTERM unwinds like Ctrl-C: finally blocks run, locks and temporary files go, worker pools are shut down.
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if getattr(args, "forward_args", False):
        args.forwarded = extra   # a command with a parser of its own (weakstrong llm bench, ...) reads them
    elif extra:
        args = parser.parse_args(argv)   # the usual one-line error, from the subcommand that was given
    previous = signal.signal(signal.SIGTERM, _terminate) if threading.current_thread() is threading.main_thread() \
        else None
    try:
        if os.environ.get("WEAKSTRONG_CACHE"):
            from weakstrong.io import check_output_dir

            # The cache of representations and dequantised models: a bad one fails here, not mid-run.
            check_output_dir(os.environ["WEAKSTRONG_CACHE"], "WEAKSTRONG_CACHE (the cache folder)")
        code = args.func(args)
    except ConfigError as exc:
        # Bad user input is one clear line; any other exception is a bug and keeps its traceback (exit 1).
        print(f"weakstrong {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        terminated = bool(exc.args) and str(exc.args[0]).startswith("signal")
        print(f"weakstrong {args.command}: {'terminated' if terminated else 'interrupted'}; finished stages are "
              f"cached and written results are whole: rerun the same command to resume", file=sys.stderr)
        return 143 if terminated else 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
