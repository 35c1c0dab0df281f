"""``weakstrong sim <experiment>``: one subcommand per experiment module.

To add an experiment, append ``("name", "weakstrong.sim.module")`` to :data:`SUBCOMMANDS`. The module
provides either

- ``add_arguments(parser)`` and ``main(args) -> int`` (plus optional ``HELP``, one line): the parser is
  created here, with the module docstring's first line as description; or
- ``add_parser(subparsers)``, creating its own subparser named ``name`` and setting ``func``.

Every subcommand also gets ``--threads N`` (numba's thread count, applied before the experiment runs).
"""

from __future__ import annotations

import argparse
import importlib

from weakstrong.sim.common import set_threads

SUBCOMMANDS = (
    ("charikar", "weakstrong.sim.charikar"),
    ("finite-sample", "weakstrong.sim.finite_sample"),
    ("epsilon-sweep", "weakstrong.sim.epsilon_sweep"),
    ("ensembles", "weakstrong.sim.ensembles"),
    ("selection", "weakstrong.sim.selection"),
    ("classification", "weakstrong.sim.classification"),
)


def _with_threads(func):
    def run(args) -> int:
        set_threads(getattr(args, "threads", None))
        return func(args)
    return run


def add_parser(subparsers) -> None:
    """Register ``weakstrong sim`` and its experiment subcommands."""
    sim = subparsers.add_parser(
        "sim", help="synthetic experiments (numba simulator)",
        description="Synthetic weak-to-strong experiments. Each writes DIR/records.jsonl (one W2SRecord per "
                    "line), DIR/summary.json and a figure.")
    experiments = sim.add_subparsers(dest="experiment", metavar="EXPERIMENT")
    experiments.required = True
    for name, module_name in SUBCOMMANDS:
        module = importlib.import_module(module_name)
        if hasattr(module, "add_parser"):
            module.add_parser(experiments)
            parser = experiments.choices[name]
        else:
            doc = (module.__doc__ or "").strip().splitlines()
            parser = experiments.add_parser(name, help=getattr(module, "HELP", doc[0] if doc else None),
                                            description=module.__doc__,
                                            formatter_class=argparse.RawDescriptionHelpFormatter)
            module.add_arguments(parser)
            parser.set_defaults(func=module.main)
        parser.add_argument("--threads", type=int, default=None,
                            help="numba threads (default: all cores)")
        parser.set_defaults(func=_with_threads(parser.get_default("func")))
