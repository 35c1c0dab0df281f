"""``weakstrong sim <experiment>``: one subcommand per experiment of :mod:`weakstrong.sim.experiments`.

The options of each subcommand are generated from the experiment's config dataclass
(:func:`weakstrong.config.add_config_arguments`), plus the run options (``--out``, ``--progress``,
``--threads``, ``--cache-dir`` and, for multi-world experiments, ``--jobs`` / ``--scheduler``). A run writes
``DIR/records.jsonl``, ``DIR/summary.json`` and ``DIR/<figure>.png`` (drawn by the figure module of
:mod:`weakstrong.figures`) and prints the experiment's report. This module only parses, calls and prints.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from weakstrong.config import ConfigError, add_config_arguments, ascii_int, config_from_args, option_names
from weakstrong.io import check_output_dir, output_lock
from weakstrong.runs import write_run
from weakstrong.sim import experiments
from weakstrong.sim.common import check_bounds, set_threads
from weakstrong.sim.parallel import RunOptions


def add_parser(subparsers) -> None:
    """Register ``weakstrong sim`` and one subcommand per experiment."""
    sim = subparsers.add_parser(
        "sim", help="synthetic experiments (numba simulator)",
        description="Synthetic weak-to-strong experiments. Each writes DIR/records.jsonl (one W2SRecord per "
                    "line), DIR/summary.json and a figure.")
    commands = sim.add_subparsers(dest="experiment", metavar="EXPERIMENT")
    commands.required = True
    for name in experiments.names():
        experiment = experiments.get(name)
        module = sys.modules[experiment.run.__module__]
        parser = commands.add_parser(name, help=experiment.help, description=module.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
        add_config_arguments(parser, experiment.config, title=f"{experiment.config.__name__} (what is computed)")
        _add_run_options(parser.add_argument_group("run options (how it executes; never change the numbers)"),
                         experiment.sweeps)
        parser.set_defaults(func=_main, sim_experiment=name)


def _add_run_options(group, sweeps: bool) -> None:
    group.add_argument("--out", type=Path, required=True, help="output folder (created if needed)")
    group.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="progress bar on stderr (default: only on a terminal)")
    group.add_argument("--threads", type=ascii_int, default=None, help="numba threads (default: all cores)")
    group.add_argument("--cache-dir", type=Path, default=None,
                       help="cache of pretrained representations (default: $WEAKSTRONG_CACHE or "
                            "~/.cache/weakstrong)")
    if sweeps:
        group.add_argument("--jobs", type=ascii_int, default=1, help="worker processes over worlds (default: 1)")
        group.add_argument("--scheduler", default=None, metavar="ADDRESS",
                           help="run the worlds on the Dask cluster at ADDRESS (needs dask[distributed])")


def run_options(args: argparse.Namespace) -> RunOptions:
    """The validated :class:`RunOptions` of parsed run options."""
    progress = sys.stderr.isatty() if args.progress is None else bool(args.progress)
    options = RunOptions(progress=progress, jobs=getattr(args, "jobs", 1),
                         scheduler=getattr(args, "scheduler", None), cache_dir=args.cache_dir, threads=args.threads)
    try:
        options.validate()
    except ConfigError as exc:
        raise ConfigError(option_names(str(exc), {f"RunOptions.{name}": f"--{name.replace('_', '-')}"
                                                  for name in ("jobs", "scheduler", "cache_dir", "threads")}))
    if args.cache_dir is not None:
        check_output_dir(args.cache_dir, "--cache-dir")
    return options


def _main(args: argparse.Namespace) -> int:
    from weakstrong.figures.sim_figures import draw_run

    experiment = experiments.get(args.sim_experiment)
    config = config_from_args(experiment.config, args)
    check_bounds(config)
    options = run_options(args)
    check_output_dir(args.out, "--out")
    set_threads(options.threads)
    with output_lock(args.out, "--out"):
        records, summary = experiment.run(config, options)
        run = write_run(args.out, records, summary)
        draw_run(experiment.name, run, args.out / f"{experiment.figure}.png")
    print(experiment.report(summary))
    print(f"  wrote {args.out}")
    return 0
