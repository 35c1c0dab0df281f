"""Progress lines on stderr for long commands: shown on a terminal, or anywhere with ``WEAKSTRONG_PROGRESS=1``.

Bars (tqdm) follow the same rule, so a log file or a test sees only what it asked for, and a person at a
terminal is never left with a silent command.
"""

from __future__ import annotations

import os
import sys


def progress_enabled() -> bool:
    """True on a terminal, or when ``WEAKSTRONG_PROGRESS`` is ``1`` (``0`` turns it off everywhere)."""
    forced = os.environ.get("WEAKSTRONG_PROGRESS")
    if forced in ("0", "1"):
        return forced == "1"
    return sys.stderr.isatty()


def stage_line(message: str) -> None:
    """One line ``[weakstrong] message`` on stderr when :func:`progress_enabled`."""
    if progress_enabled():
        print(f"[weakstrong] {message}", file=sys.stderr, flush=True)
