"""`weakstrong llm {classify,generate,pretrain}`.

Each subcommand lives in a light module (no torch import at module level, so `weakstrong --help` stays fast)
exposing ``add_arguments(parser)`` and ``run(args) -> int``. To add a subcommand, add a row to ``_SUBCOMMANDS``.
"""

from __future__ import annotations

import importlib

# (name, module, one-line help)
_SUBCOMMANDS = (
    ("classify", "weakstrong.llm.classify_cli", "weak-ensemble -> strong classification (SciQ, SST-2, IMDB)"),
    ("generate", "weakstrong.llm.generate_cli", "weak-ensemble -> strong generation (SLURP slot filling)"),
    ("pretrain", "weakstrong.llm.pretrain_cli", "pretrain the offline decoder ladder and its tokenizer"),
)


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("llm", help="real transformer weak-to-strong experiments")
    sub = parser.add_subparsers(dest="llm_command", metavar="LLM_COMMAND")
    sub.required = True
    for name, module, help_text in _SUBCOMMANDS:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue  # not built yet
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod.add_arguments(p)
        p.set_defaults(func=mod.run)
