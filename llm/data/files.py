"""The user's data files, read once at the boundary: plain or gzip UTF-8 text, each failure one clear error.

Every loader of the llm layer (classification tasks, SLURP, the pretraining corpus) reads through
:func:`read_text`, so a missing, truncated or non-gzip ``.gz``, or a file of bytes that are not UTF-8 text,
is a :class:`~weakstrong.config.ConfigError` that names the file and says what was expected, never a
``zlib`` or ``UnicodeDecodeError`` traceback from deep inside a run.
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from pathlib import Path
from typing import Any

from weakstrong.config import ConfigError

# What reading a damaged file raises: gzip.BadGzipFile (an OSError) for a wrong magic number or CRC, EOFError
# for a truncated stream, zlib.error for a corrupt one, UnicodeDecodeError for bytes that are not UTF-8.
_READ_ERRORS = (OSError, EOFError, zlib.error, UnicodeDecodeError)


def read_text(path: str | os.PathLike, max_chars: int | None = None) -> str:
    """The text of ``path`` (gzip-compressed when its name ends in ``.gz``), or its first ``max_chars``.

    Raises
    ------
    ConfigError : the file is missing, is not a (complete) gzip file although named ``.gz``, or is not UTF-8
        text; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"data file {path} does not exist")
    compressed = path.suffix == ".gz"
    try:
        with (gzip.open if compressed else open)(path, "rt", encoding="utf-8") as fh:
            return fh.read(max_chars) if max_chars else fh.read()
    except _READ_ERRORS as exc:
        kind = "a complete gzip file of UTF-8 text" if compressed else "UTF-8 text"
        raise ConfigError(f"data file {path} is damaged: expected {kind} ({type(exc).__name__}: {exc})") from None


def read_lines(path: str | os.PathLike) -> list[str]:
    """The non-blank lines of ``path``, stripped (:func:`read_text`'s errors); ``ConfigError`` when there are
    none, since an empty corpus or split is never what the user meant."""
    lines = [line.strip() for line in read_text(path).split("\n") if line.strip()]
    if not lines:
        raise ConfigError(f"data file {path} holds no lines of text")
    return lines


def read_json_value(path: str | os.PathLike) -> Any:
    """The one JSON value in ``path`` (:func:`read_text`'s errors, and ``ConfigError`` for invalid JSON)."""
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"data file {path} is not valid JSON ({exc})") from None
