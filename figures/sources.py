"""Committed real-model results: LLM figures read ``results/<experiment>/results.json``.

Simulator figures get their data from the runs layer (:func:`weakstrong.figures.registry.sim_run`). When a
real-model result is absent the figure says so ("pending") instead of drawing anything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weakstrong.io import read_json
from weakstrong.theory.records import W2SRecord

# Relative to the working directory (the repository root for ``make figures``), never the installed package.
DEFAULT_RESULTS_DIR = Path("results")


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


def display_path(path: str | os.PathLike) -> str:
    """``path`` relative to the working directory when it lies inside it (for tables, logs and LaTeX)."""
    resolved = Path(path).resolve()
    try:
        return str(resolved.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def primary_llm_result(prefix: str, required_key: str,
                       results_dir: str | os.PathLike | None = None) -> LLMResult | None:
    """The run a figure reports for ``prefix``: a full run when one is committed, else a CPU run.

    Only results holding ``required_key`` at the top level count (the shape that figure reads); among
    them, folder names without "cpu" come first, then by name, so a GPU run supersedes the CPU smoke run.
    """
    found = [r for r in find_llm_results(prefix, results_dir) if isinstance(r.data.get(required_key), dict)]
    found.sort(key=lambda r: ("cpu" in r.path.parent.name, r.path.parent.name))
    return found[0] if found else None
