"""`weakstrong llm pretrain`: pretrain rungs of the offline decoder ladder (BPE tokenizer + GPT-2/Llama model).

Light module: argparse only at import time; torch is imported inside :func:`run`.

Example (a weak-to-strong ladder, a few minutes of GPU per model)::

    weakstrong llm pretrain --data-dir ../shared/data --presets gpt-1m,llama-3m,gpt-4m,gpt-110m \\
        --max-steps 3000 --batch-size 64 --out runs/ladder
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", required=True, help="folder with gutenberg/books.txt.gz and slurp/lm.txt.gz")
    parser.add_argument("--presets", required=True,
                        help="comma-separated ladder presets (weakstrong.llm.pretrain.PRESETS), each written to OUT/<preset>")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--max-steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=None, help="default: the preset's context")
    parser.add_argument("--lr", type=float, default=None, help="default: the preset's")
    parser.add_argument("--warmup-steps", type=int, default=100)
    parser.add_argument("--time-budget", type=float, default=None,
                        help="seconds per model for this invocation; checkpoint and stop when spent (resumable)")
    parser.add_argument("--save-every", type=int, default=200)
    parser.add_argument("--slurp-fraction", type=float, default=0.25, help="share of sequences from SLURP lm text")
    parser.add_argument("--max-chars", type=int, default=None, help="cap on Gutenberg characters (quick runs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")


def run(args: argparse.Namespace) -> int:
    from .models import torch_threads

    with torch_threads(args.threads):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .pretrain import PRESETS, PretrainConfig, pretrain

    names = [n.strip() for n in args.presets.split(",") if n.strip()]
    bad = [n for n in names if n not in PRESETS]
    if bad or not names:
        raise ValueError(f"--presets must be a comma-separated subset of {sorted(PRESETS)}, got {args.presets!r}")
    for name in names:
        cfg = PretrainConfig(preset=name, max_steps=args.max_steps, batch_size=args.batch_size, seq_len=args.seq_len,
                             lr=args.lr, warmup_steps=args.warmup_steps, time_budget=args.time_budget,
                             save_every=args.save_every, slurp_fraction=args.slurp_fraction,
                             max_chars=args.max_chars, seed=args.seed)
        pretrain(args.data_dir, Path(args.out) / name, cfg, args.device, tokenizer_cache=args.out)
    return 0
