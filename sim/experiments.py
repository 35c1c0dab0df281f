"""The simulator's experiments, by ``weakstrong sim`` name, and their cached runs.

Each experiment module defines a frozen config dataclass (the single source of every default, help text and
cache key), ``run(config, options) -> (records, summary)`` that computes and writes nothing, and
``report(summary) -> str``, the lines the CLI prints. It registers itself with one :class:`Experiment`
named ``EXPERIMENT``. The CLI (``weakstrong sim <name>``) and the figures both go through :func:`get`; figures
call :func:`run_cached`, which keeps finished runs on disk (:mod:`weakstrong.runs`).

>>> from weakstrong.sim.charikar import CharikarConfig
>>> run = run_cached("charikar", CharikarConfig(tasks=3), "runs")   # doctest: +SKIP
>>> run.summary["slope"], run.records[0].misfit                      # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any, Callable

from weakstrong.config import ConfigError
from weakstrong.runs import RunData, cached_run, source_fingerprint
from weakstrong.sim.common import check_bounds
from weakstrong.sim.parallel import RunOptions

# ``weakstrong sim`` subcommand -> module; the order of ``weakstrong sim --help``.
MODULES = {
    "charikar": "weakstrong.sim.charikar",
    "finite-sample": "weakstrong.sim.finite_sample",
    "epsilon-sweep": "weakstrong.sim.epsilon_sweep",
    "ensembles": "weakstrong.sim.ensembles",
    "selection": "weakstrong.sim.selection",
    "classification": "weakstrong.sim.classification",
    "gain-prediction": "weakstrong.sim.gain_prediction",
}


@dataclass(frozen=True)
class Experiment:
    """One simulator experiment.

    Attributes
    ----------
    name : the ``weakstrong sim`` subcommand.
    config : its config dataclass (has ``validate()``).
    run : ``run(config, options) -> (records, summary)``; computes, writes nothing.
    report : ``report(summary) -> str``, what the CLI prints after a run.
    help : one line for ``weakstrong sim --help``.
    figure : the file stem of the per-run figure the CLI writes (``DIR/<figure>.png``).
    sweeps : True when the experiment runs over independent worlds (``--jobs`` / ``--scheduler`` apply).
    """

    name: str
    config: type
    run: Callable[[Any, RunOptions], tuple[list, dict]]
    report: Callable[[dict], str]
    help: str
    figure: str
    sweeps: bool = False


def names() -> tuple[str, ...]:
    return tuple(MODULES)


def get(name: str) -> Experiment:
    """The experiment called ``name``; :class:`ConfigError` listing the known ones otherwise."""
    if name not in MODULES:
        raise ConfigError(f"unknown simulator experiment {name!r}; known: {', '.join(MODULES)}")
    return importlib.import_module(MODULES[name]).EXPERIMENT


def fingerprint() -> str:
    """The source fingerprint of every sim run: the simulator's and the theory layer's code."""
    return source_fingerprint("weakstrong.sim", "weakstrong.theory")


def run_cached(name: str, config: Any, runs_dir: str | os.PathLike, options: RunOptions = RunOptions(),
               force: bool = False) -> RunData:
    """Run experiment ``name`` on ``config`` unless the same config and code already finished under ``runs_dir``.

    ``options`` (progress, processes, caches) never change the numbers, so they are not part of the key.
    """
    experiment = get(name)
    if not isinstance(config, experiment.config):
        raise ConfigError(f"{name} takes a {experiment.config.__name__}, got {type(config).__name__}")
    config.validate()
    check_bounds(config)
    options.validate()
    return cached_run(name, config, lambda c: experiment.run(c, options), runs_dir, fingerprint(), force)
