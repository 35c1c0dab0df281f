"""Where figure data comes from: simulator runs through the CLI contract, and committed LLM results.

Figures never import the simulator's internals. A simulator figure names a ``weakstrong sim`` subcommand and
its arguments (a :class:`SimRun`); :func:`ensure_sim_run` runs it in-process through ``weakstrong.cli.main``
into ``RUNS/<experiment>-<config hash>/`` and reads back ``records.jsonl`` / ``summary.json``. A run whose
``summary.json`` already exists for the same arguments is reused (the hash names the arguments), so a
second ``weakstrong figures`` only redraws. LLM figures read ``results/<experiment>/results.json``, which GPU
runs commit; when that file is absent the figure says so instead of drawing anything.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import importlib.util
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weakstrong.io import config_hash, read_json, read_jsonl
from weakstrong.theory.records import W2SRecord

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RESULTS_DIR = REPO_ROOT / "results"


class DataUnavailable(RuntimeError):
    """The data a figure needs does not exist in this build (e.g. the sim subcommand is not there yet)."""


@dataclass(frozen=True)
class SimRun:
    """One ``weakstrong sim <experiment> <args...> --out DIR`` invocation.

    Attributes
    ----------
    experiment : the ``weakstrong sim`` subcommand, e.g. ``"charikar"``.
    args : its arguments except ``--out``, as ``(("--setting", "pretrained"), ("--ks", "2", "5"))``: each
        entry is a flag and its values (none for a bare flag).
    label : a short name for tables and legends (defaults to the experiment).
    """

    experiment: str
    args: tuple[tuple[str, ...], ...] = ()
    label: str = ""

    def argv(self, out: Path) -> list[str]:
        flat = [tok for entry in self.args for tok in entry]
        return ["sim", self.experiment, *flat, "--out", str(out)]

    def run_dir(self, runs_dir: Path) -> Path:
        """``runs_dir/<experiment>[-<label>]-<hash>``: one folder per configuration and simulator version.

        The hash covers the experiment, its arguments and :func:`simulator_fingerprint`, so a cached run is
        reused only while the code that wrote it is unchanged.
        """
        tag = f"{self.experiment}-{self.label}" if self.label and self.label != self.experiment else self.experiment
        key = [self.experiment, list(self.args), simulator_fingerprint()]
        return Path(runs_dir) / f"{tag}-{config_hash(key, length=10)}"


@functools.lru_cache(maxsize=1)
def simulator_fingerprint() -> str:
    """A hash of the simulator's and the theory layer's source files (the code that writes sim runs)."""
    digest = hashlib.sha256()
    for package in ("weakstrong.sim", "weakstrong.theory"):
        folder = Path(importlib.util.find_spec(package).origin).parent
        for path in sorted(folder.glob("*.py")):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse exposes sub-commands only through its actions
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def available_sim_experiments() -> set[str]:
    """The ``weakstrong sim`` subcommands this build provides (empty while the simulator is a placeholder)."""
    from weakstrong.cli import build_parser

    sim = _subcommands(build_parser()).get("sim")
    return set(_subcommands(sim)) if sim is not None else set()


def sim_options(experiment: str) -> set[str]:
    """The option strings ``weakstrong sim <experiment>`` accepts, e.g. ``{"--tasks", "--seed", ...}``."""
    from weakstrong.cli import build_parser

    sim = _subcommands(build_parser()).get("sim")
    sub = _subcommands(sim).get(experiment) if sim is not None else None
    if sub is None:
        return set()
    return {opt for action in sub._actions for opt in action.option_strings}


def ensure_sim_run(run: SimRun, runs_dir: str | os.PathLike, force: bool = False) -> Path:
    """Run ``run`` unless its ``summary.json`` already exists; return the run folder.

    Raises
    ------
    DataUnavailable
        When the subcommand is not in this build, or the run exits non-zero (its stderr is in the message).
    """
    out = run.run_dir(Path(runs_dir))
    if (out / "summary.json").is_file() and not force:
        return out
    if run.experiment not in available_sim_experiments():
        raise DataUnavailable(f"'weakstrong sim {run.experiment}' is not in this build")
    code, err = run_cli(run.argv(out))
    if code != 0 or not (out / "summary.json").is_file():
        detail = err.strip().splitlines()
        raise DataUnavailable(
            f"'weakstrong {' '.join(run.argv(out))}' exited {code}: {detail[-1] if detail else 'no summary.json'}"
        )
    return out


def run_cli(argv: list[str]) -> tuple[int, str]:
    """``weakstrong <argv>`` in-process; returns its exit status and what it wrote to stderr."""
    from weakstrong.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse rejects unknown options this way
            code = exc.code if isinstance(exc.code, int) else 2
    return int(code or 0), err.getvalue()


def read_records(path: str | os.PathLike) -> list[W2SRecord]:
    """Read ``records.jsonl`` (or a folder holding it) and validate every line as a :class:`W2SRecord`."""
    path = Path(path)
    if path.is_dir():
        path = path / "records.jsonl"
    rows = read_jsonl(path)
    if not rows:
        raise ValueError(f"{path} holds no records")
    return [W2SRecord.from_dict(r) for r in rows]


def read_summary(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Read ``run_dir/summary.json`` (must be a JSON object)."""
    summary = read_json(Path(run_dir) / "summary.json")
    if not isinstance(summary, dict):
        raise ValueError(f"{run_dir}/summary.json must hold a JSON object, got {type(summary).__name__}")
    return summary


@dataclass
class LLMResult:
    """A committed ``results/<experiment>/results.json`` and its validated records (possibly none)."""

    path: Path
    data: dict[str, Any]
    records: list[W2SRecord] = field(default_factory=list)


def _collect_records(obj: Any) -> list[dict]:
    """Every dict under ``obj`` stored in a list called ``records``: runs nest them per method or per student."""
    found: list[dict] = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key == "records" and isinstance(value, list):
                found.extend(v for v in value if isinstance(v, dict))
            else:
                found.extend(_collect_records(value))
    elif isinstance(obj, list):
        for value in obj:
            found.extend(_collect_records(value))
    return found


def load_llm_result(experiment: str, results_dir: str | os.PathLike | None = None) -> LLMResult | None:
    """``results/<experiment>/results.json`` with its records validated, or ``None`` when it is not there."""
    if not experiment or "/" in experiment:
        raise ValueError(f"experiment must be a folder name under results/, got {experiment!r}")
    path = Path(results_dir or DEFAULT_RESULTS_DIR) / experiment / "results.json"
    if not path.is_file():
        return None
    data = read_json(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object, got {type(data).__name__}")
    return LLMResult(path=path, data=data, records=[W2SRecord.from_dict(r) for r in _collect_records(data)])


def find_llm_results(prefix: str, results_dir: str | os.PathLike | None = None) -> list[LLMResult]:
    """Every committed result whose experiment folder starts with ``prefix`` (e.g. ``"sciq"``), sorted by name."""
    root = Path(results_dir or DEFAULT_RESULTS_DIR)
    if not root.is_dir():
        return []
    out = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith(prefix)):
        res = load_llm_result(sub.name, root)
        if res is not None:
            out.append(res)
    return out


def make_sim_run(experiment: str, label: str = "", sizes: dict[str, Any] | None = None, **options: Any) -> SimRun:
    """A :class:`SimRun` from keyword options (``tasks=100`` → ``--tasks 100``; ``ks=[2, 5]`` → ``--ks 2 5``;
    ``True`` → a bare flag).

    ``sizes`` are run-size options (``tasks``, ``worlds``, ...) applied only where the subcommand accepts
    them, so ``--quick`` can shrink every experiment without knowing each one's flags; ``progress=False``
    becomes ``--no-progress`` where that flag exists. Every other option reaches argparse as given, so a
    misspelt one fails loudly.
    """
    accepted = sim_options(experiment)
    args = []
    for key, value in {**(sizes or {}), **options}.items():
        flag = "--" + key.replace("_", "-")
        if key == "progress":
            if value is False and "--no-progress" in accepted:
                args.append(("--no-progress",))
            continue
        if key in (sizes or {}) and flag not in accepted:
            continue
        if value is None or value is False:
            continue
        if value is True:
            args.append((flag,))
        elif isinstance(value, (list, tuple)):
            args.append((flag, *map(str, value)))
        else:
            args.append((flag, str(value)))
    return SimRun(experiment, tuple(args), label)


def display_path(path: str | os.PathLike) -> str:
    """``path`` relative to the repository when it lies inside it (for tables, logs and generated LaTeX)."""
    resolved = Path(path).resolve()
    try:
        return str(resolved.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def first_available(*experiments: str) -> str:
    """The first of ``experiments`` that ``weakstrong sim`` provides (names differ while a layer settles)."""
    available = available_sim_experiments()
    for name in experiments:
        if name in available:
            return name
    raise DataUnavailable(f"none of 'weakstrong sim {{{','.join(experiments)}}}' is in this build")


def primary_llm_result(prefix: str, required_key: str,
                       results_dir: str | os.PathLike | None = None) -> LLMResult | None:
    """The run a figure reports for ``prefix``: a full run when one is committed, else a CPU run.

    Only results holding ``required_key`` at the top level count (the shape that figure reads); among
    them, folder names without "cpu" come first, then by name, so a GPU run supersedes the CPU smoke run.
    """
    found = [r for r in find_llm_results(prefix, results_dir) if isinstance(r.data.get(required_key), dict)]
    found.sort(key=lambda r: ("cpu" in r.path.parent.name, r.path.parent.name))
    return found[0] if found else None


def in_sample_terms(record: W2SRecord) -> dict[str, float] | None:
    """The record's check repeated on the student's own training sample (``extra["in_sample"]``), if any.

    Simulator records carry it because the statements are exact in-sample (the projection is computed
    there), while the record's own fields are measured on fresh samples and include sampling error.
    """
    own = record.extra.get("in_sample") if isinstance(record.extra, dict) else None
    if isinstance(own, dict) and all(isinstance(own.get(k), (int, float)) for k in ("misfit", "gain")):
        return own
    return None
