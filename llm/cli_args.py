"""Helpers the ``*_cli`` modules share for list and thread options (a leaf module: the subcommands import it,
and :mod:`weakstrong.llm.cli` imports the subcommands, so nothing imports in a circle)."""

from __future__ import annotations

from typing import Iterable

from weakstrong.config import ConfigError


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
