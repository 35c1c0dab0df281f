"""`weakstrong llm {classify,generate,pretrain}`.

Each subcommand lives in its own ``*_cli`` module (no torch import at module level, so ``weakstrong --help``
stays fast). Each exposes ``add_parser(subparsers)``, which generates the options from the run's config
dataclass (``weakstrong.config.add_config_arguments``) and sets ``func`` to a leaf that takes the parsed
namespace and returns an exit code.
"""

from __future__ import annotations

from typing import Iterable

from weakstrong.config import ConfigError


def add_parser(subparsers) -> None:
    """Register ``weakstrong llm`` and its subcommands."""
    from . import classify_cli, generate_cli, pretrain_cli

    parser = subparsers.add_parser("llm", help="real transformer weak-to-strong experiments",
                                   description="Real transformer weak-to-strong experiments.")
    sub = parser.add_subparsers(dest="llm_command", metavar="LLM_COMMAND")
    sub.required = True
    for module in (classify_cli, generate_cli, pretrain_cli):
        module.add_parser(sub)


def split_commas(values: Iterable[str]) -> tuple[str, ...]:
    """The items of a list option, given space-separated (``--weak a b``) or comma-separated (``--weak a,b``)."""
    return tuple(v.strip() for item in values for v in str(item).split(",") if v.strip())


def expand_all(values: tuple[str, ...], every: tuple[str, ...]) -> tuple[str, ...]:
    """``every`` when the user wrote ``all``; the values unchanged otherwise."""
    return every if values == ("all",) else values


def check_threads(threads: int | None) -> None:
    """``--threads`` is a positive count when given (None: torch's own setting)."""
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {threads}")
