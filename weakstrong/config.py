"""Typed configs as the single source of truth: user-input errors, and the command line made from dataclasses.

Every experiment is one frozen ``@dataclass`` whose fields carry the defaults and, in a trailing comment
(``lr: float = 1e-3  # peak step``) or ``field(metadata={"help": ...})``, the help text. The command line is
generated from it, so adding a field is a one-place change that appears in ``--help``:

>>> import argparse
>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Demo:
...     tasks: int = 100   # fine-tuning tasks
...     sizes: tuple[int, ...] = (50, 500)
>>> parser = argparse.ArgumentParser()
>>> add_config_arguments(parser, Demo)
>>> config_from_args(Demo, parser.parse_args(["--sizes", "10", "20"]))
Demo(tasks=100, sizes=(10, 20))

Field metadata understood here (all optional):

- ``help``: the help text (else the field's trailing or preceding comment);
- ``choices``: the allowed values (``typing.Literal`` annotations give them too);
- ``flatten``: for a nested config, its fields get no prefix (``--setting`` rather than ``--world-setting``);
- ``prefix``: for a nested config, the flag prefix (default: the field name);
- ``cli``: ``False`` keeps a field off the command line (it keeps its default).

:class:`ConfigError` is the one exception the CLI turns into a one-line message (exit 2): it marks bad user
input. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import inspect
import io
import math
import re
import tokenize
import types
import typing
from pathlib import Path
from typing import Any

__all__ = ["ConfigError", "OneLineParser", "add_config_arguments", "ascii_int", "config_from_args", "field_help", "check_int",
           "check_number", "check_choice", "check_memory", "MAX_SEED"]


class ConfigError(ValueError):
    """Bad user input: a config field, a command-line option or a file the user named.

    A subclass of ``ValueError`` so library callers that catch ``ValueError`` keep working; the CLI reports
    only this class as a one-line message, so a ``ValueError`` from a bug (a numpy broadcasting error, say)
    still shows its traceback.
    """


# ---------------------------------------------------------------------------------------------------------
# Validation helpers: each names the owner and the field, and says what was expected.

# numpy's legacy seeding, numba's np.random.seed and many libraries take 32-bit seeds; a larger one fails deep
# inside them, after work has started.
MAX_SEED = 2**32 - 1


def check_int(owner: str, name: str, value: Any, minimum: int | None = 1) -> None:
    """Raise :class:`ConfigError` unless ``value`` is an integer (not a bool) >= ``minimum`` (and, for a field
    named like a seed, <= :data:`MAX_SEED`)."""
    import numpy as np

    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or (minimum is not None and value < minimum):
        bound = f" >= {minimum}" if minimum is not None else ""
        raise ConfigError(f"{owner}.{name} must be an integer{bound}, got {value!r}")
    if "seed" in name and value > MAX_SEED:
        raise ConfigError(f"{owner}.{name} must be a seed <= 2**32 - 1 = {MAX_SEED}, got {value!r}")


def check_number(owner: str, name: str, value: Any, minimum: float | None = None, strict: bool = False,
                 maximum: float | None = None) -> None:
    """Raise :class:`ConfigError` unless ``value`` is a finite real number in the stated range."""
    import numpy as np

    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(value)):
        raise ConfigError(f"{owner}.{name} must be a finite number, got {value!r}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        raise ConfigError(f"{owner}.{name} must be {'>' if strict else '>='} {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{owner}.{name} must be <= {maximum}, got {value!r}")


def available_memory() -> int:
    """Bytes of memory this process could still allocate (psutil's "available"; 8 GiB when unknown)."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # psutil missing or the platform does not say
        return 8 * 2**30


def check_memory(owner: str, what: str, nbytes: float, fraction: float = 0.8) -> None:
    """Raise :class:`ConfigError`, with the estimate, when ``nbytes`` (the largest working set a config implies)
    is more than ``fraction`` of the memory available now: refused before any work, not a MemoryError later."""
    limit = fraction * available_memory()
    if nbytes > limit:
        raise ConfigError(f"{owner}: {what} needs about {nbytes / 2**30:.1f} GiB, more than the "
                          f"{limit / 2**30:.1f} GiB available; choose smaller sizes")


def check_choice(owner: str, name: str, value: Any, choices) -> None:
    """Raise :class:`ConfigError` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ConfigError(f"{owner}.{name} must be one of {tuple(choices)}, got {value!r}")


# ---------------------------------------------------------------------------------------------------------
# Help texts from the source comments of a dataclass.

@functools.lru_cache(maxsize=None)
def field_help(cls: type) -> dict[str, str]:
    """``{field: help}`` from ``metadata["help"]``, else the field's trailing comment, else the comment block
    right above it (the convention of this project's configs, as in nanoGPT's)."""
    comments: dict[str, str] = {}
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        source = ""
    names = {f.name for f in dataclasses.fields(cls)}
    pending: list[str] = []
    lines = source.splitlines()
    for line in lines[1:]:
        stripped = line.strip()
        if stripped.startswith("#"):
            pending.append(stripped.lstrip("#").strip())
            continue
        head = stripped.split(":", 1)[0].strip()
        if head in names and ":" in stripped and head not in comments:
            trailing = _trailing_comment(stripped)
            text = trailing or " ".join(pending)
            if text:
                comments[head] = text
        pending = []
    for f in dataclasses.fields(cls):
        if "help" in f.metadata:
            comments[f.name] = f.metadata["help"]
    return comments


def _trailing_comment(line: str) -> str:
    """The ``# comment`` at the end of one source line, ignoring ``#`` inside strings."""
    try:
        for tok in tokenize.generate_tokens(io.StringIO(line).readline):
            if tok.type == tokenize.COMMENT:
                return tok.string.lstrip("#").strip()
    except (tokenize.TokenError, IndentationError):
        pass
    return ""


# ---------------------------------------------------------------------------------------------------------
# Dataclass -> argparse.

def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]), True
    return tp, False


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line naming the option (``--help`` still shows the usage)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def ascii_int(text: str) -> int:
    """``type=`` for a plain integer option: ASCII digits only (``int()`` also reads "٣" as 3)."""
    return _scalar_parser(int, "the option")(text)


def _scalar_parser(tp: Any, flag: str):
    """A converter from one command-line token to ``tp`` that raises argparse's own error on bad text."""
    if tp is bool:
        def parse_bool(text: str) -> bool:
            low = text.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise argparse.ArgumentTypeError(f"{flag} expects true or false, got {text!r}")
        return parse_bool
    if tp in (int, float):
        def parse_number(text: str):
            # int() and float() also read other scripts' digits ("٣" is 3); a seed or a size typed that way is
            # almost surely a mistake, so only ASCII is a number here.
            if not text.isascii():
                raise argparse.ArgumentTypeError(f"{flag} expects an ASCII {tp.__name__}, got {text!r}")
            try:
                return tp(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"{flag} expects {'an integer' if tp is int else 'a number'}, "
                                                 f"got {text!r}") from None
        return parse_number
    if tp in (str, Path):
        return tp
    if typing.get_origin(tp) is typing.Literal:
        values = typing.get_args(tp)
        return type(values[0])
    raise TypeError(f"{flag}: no command-line form for a field of type {tp!r}")


def _walk(cls: type, prefix: str = "", dest: str = ""):
    """Yield ``(flag, dest, field, type, owner)`` for every command-line field of ``cls``, nested ones included."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if not f.init or f.metadata.get("cli", True) is False:
            continue
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            sub_prefix = prefix if f.metadata.get("flatten") else f"{prefix}{f.metadata.get('prefix', f.name)}-"
            yield from _walk(tp, sub_prefix, f"{dest}{f.name}__")
            continue
        yield "--" + prefix + f.name.replace("_", "-"), dest + f.name, f, tp, cls


def add_config_arguments(parser: argparse.ArgumentParser, cls: type, exclude: tuple[str, ...] = (),
                         title: str | None = None) -> None:
    """Add one option per field of the dataclass ``cls`` (nested configs included) to ``parser``.

    Each option's default and help text come from the dataclass; ``exclude`` names fields (by their dotted
    path, e.g. ``"world.seed"``) to leave off. Booleans become ``--flag/--no-flag``; ``tuple[T, ...]``
    takes one or more values; ``T | None`` accepts ``none``. Raises ``TypeError`` at build time for a field
    with no command-line form, and ``ValueError`` when two fields would share a flag.
    """
    group = parser.add_argument_group(title) if title else parser
    seen: set[str] = set()
    root = _default_tree(cls)
    for flag, dest, f, tp, owner in _walk(cls):
        if dest.replace("__", ".") in exclude:
            continue
        if flag in seen:
            raise ValueError(f"{cls.__name__}: two options would be called {flag}")
        seen.add(flag)
        default = _lookup(root, dest)
        doc = field_help(owner).get(f.name, "")
        inner, optional = _unwrap_optional(tp)
        choices = f.metadata.get("choices")
        if choices is None and typing.get_origin(inner) is typing.Literal:
            choices = typing.get_args(inner)
        kwargs: dict[str, Any] = {"dest": dest, "default": default}
        shown = "none" if default is None else (" ".join(map(str, default)) if isinstance(default, tuple)
                                                else default)
        if inner is bool and not optional:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(inner) is tuple:
            items = typing.get_args(inner)
            convert = _scalar_parser(items[0], flag)
            kwargs.update(type=convert, nargs="+" if len(items) == 2 and items[1] is Ellipsis else len(items),
                          metavar=items[0].__name__.upper())
        else:
            convert = _scalar_parser(inner, flag)
            if optional:
                convert = _none_or(convert)
            kwargs["type"] = convert
            if choices is not None:
                kwargs["choices"] = tuple(choices)
            kwargs["metavar"] = ("{" + ",".join(map(str, choices)) + "}" if choices is not None
                                 else getattr(inner, "__name__", "VALUE").upper())
        kwargs["help"] = f"{doc} (default: {shown})" if doc else f"default: {shown}"
        kwargs["help"] = kwargs["help"].replace("%", "%%")
        group.add_argument(flag, **kwargs)


def _none_or(convert):
    def parse(text: str):
        return None if text.lower() == "none" else convert(text)
    parse.__name__ = getattr(convert, "__name__", "value")
    return parse


def _default_tree(cls: type) -> Any:
    """A default instance of ``cls`` when it has one (nested defaults then follow the parent's factory)."""
    try:
        return cls()
    except TypeError:
        return None


def _lookup(root: Any, dest: str) -> Any:
    obj = root
    for part in dest.split("__"):
        if obj is None:
            return None
        obj = getattr(obj, part)
    return obj


def config_from_args(cls: type, args: argparse.Namespace, dest: str = "", **overrides: Any):
    """The ``cls`` instance described by parsed :func:`add_config_arguments` options.

    Fields left off the command line keep their defaults; ``overrides`` replace top-level fields. Lists
    parsed from ``nargs`` become tuples. The result is validated when ``cls`` has a ``validate()`` method.
    """
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        tp = hints[f.name]
        key = dest + f.name
        if dataclasses.is_dataclass(tp):
            values[f.name] = config_from_args(tp, args, key + "__")
        elif hasattr(args, key):
            value = getattr(args, key)
            values[f.name] = tuple(value) if isinstance(value, list) else value
    values.update(overrides)
    if dest:
        return cls(**values)
    try:
        config = cls(**values)
        return config.validate() if hasattr(config, "validate") else config
    except ConfigError as exc:
        names = {}
        for flag, path, f, _, owner in _walk(cls):
            names[f"{owner.__name__}.{f.name}"] = flag                       # WorldConfig.seed
            names[f"{cls.__name__}.{path.replace('__', '.')}"] = flag         # CharikarConfig.world.seed
        raise ConfigError(option_names(str(exc), names)) from None


def option_names(message: str, names: dict[str, str]) -> str:
    """``message`` with each field path of ``names`` (``"WorldConfig.seed"``) replaced by its option (``"--seed"``).

    Validators name fields as ``Owner.field``, which is right for the Python API; on the command line the
    user typed ``--option``, so the CLI says that instead.
    """
    for path in sorted(names, key=len, reverse=True):
        message = message.replace(f"{path}[...]", f"each {names[path]} value")
        message = re.sub(rf"\b{re.escape(path)}\b", names[path], message)
    return message
