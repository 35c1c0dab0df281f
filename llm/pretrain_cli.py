"""`weakstrong llm pretrain`: pretrain rungs of the offline decoder ladder (BPE tokenizer + GPT-2/Llama model).

The options are generated from :class:`weakstrong.llm.models.ladder.LMPretrainConfig`, one config per rung named in
``--presets``. Light module: torch is imported only when it runs.

Example (a weak-to-strong ladder, a few minutes of GPU per model)::

    weakstrong llm pretrain --data-dir ../shared/data --presets gpt-1m,llama-3m,gpt-4m,gpt-110m \\
        --max-steps 3000 --batch-size 64 --out runs/ladder
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from weakstrong.config import ConfigError, add_config_arguments, ascii_int, config_from_args
from weakstrong.io import check_output_dir
from weakstrong.llm.cli_args import check_threads, split_commas
from weakstrong.llm.models.device import check_device
from weakstrong.llm.models.ladder import PRESETS, LMPretrainConfig

HELP = "pretrain the offline decoder ladder and its tokenizer"


def add_parser(subparsers) -> None:
    """Register ``weakstrong llm pretrain``."""
    parser = subparsers.add_parser("pretrain", help=HELP,
                                   description=f"{HELP}; each rung is written to OUT/<preset>.")
    parser.add_argument("--presets", nargs="+", required=True, metavar="PRESET",
                        help=f"ladder rungs, by spaces or commas (LMPretrainConfig.preset, one run each): "
                             f"{', '.join(PRESETS)}")
    add_config_arguments(parser, LMPretrainConfig, exclude=("preset",), title="each rung (LMPretrainConfig)")
    run_options = parser.add_argument_group("run")
    run_options.add_argument("--data-dir", required=True,
                             help="folder with gutenberg/books.txt.gz and slurp/lm.txt.gz")
    run_options.add_argument("--out", required=True, help="output folder")
    run_options.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    run_options.add_argument("--threads", type=ascii_int, default=None, help="torch CPU threads")
    parser.set_defaults(func=run)


def configs_from_namespace(args: argparse.Namespace) -> list[LMPretrainConfig]:
    """One validated :class:`LMPretrainConfig` per preset named (:class:`ConfigError` for a bad one)."""
    names = split_commas(args.presets)
    if not names:
        raise ConfigError(f"--presets must name at least one of {sorted(PRESETS)}")
    unknown = [n for n in names if n not in PRESETS]
    if unknown:
        raise ConfigError(f"--presets: each preset must be one of {sorted(PRESETS)}, got {unknown}")
    if len(set(names)) != len(names):
        raise ConfigError(f"--presets must be distinct (each rung is written to OUT/<preset>), got {list(names)}")
    # The first rung stands in while the shared options are read, so they are checked against a real rung.
    base = config_from_args(LMPretrainConfig, args, preset=names[0])
    configs = []
    for name in names:
        try:
            configs.append(replace(base, preset=name).validate())
        except ConfigError as exc:
            raise ConfigError(f"--presets {name}: {exc}") from None
    return configs


def check_run_options(args: argparse.Namespace) -> None:
    """The run options, checked before any data or model work (:class:`ConfigError` naming the option)."""
    check_device("--device", args.device)
    check_threads(args.threads)
    if not Path(args.data_dir).is_dir():
        raise ConfigError(f"--data-dir {args.data_dir} is not a folder (expected gutenberg/ and slurp/ in it)")
    check_output_dir(args.out, "--out")


def run(args: argparse.Namespace) -> int:
    from weakstrong.llm.models.device import select_device, torch_threads
    from weakstrong.llm.pretrain.train import pretrain

    configs = configs_from_namespace(args)
    check_run_options(args)
    select_device(args.device)  # a device this machine lacks fails here, before the first rung
    with torch_threads(args.threads):
        for config in configs:
            pretrain(args.data_dir, Path(args.out) / config.preset, config, args.device, tokenizer_cache=args.out)
    return 0
