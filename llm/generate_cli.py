"""`weakstrong llm generate`: weak ensemble -> strong generator on SLURP slot filling, ``OUT/results.json``.

Light module: argparse only at import time; the pipeline (and torch) is imported inside :func:`run`.

Example (offline ladder from ``weakstrong llm pretrain --out runs/ladder``)::

    weakstrong llm generate --data-dir ../shared/data/slurp \\
        --weak runs/ladder/gpt-1m,runs/ladder/llama-3m,runs/ladder/gpt-4m --strong runs/ladder/gpt-110m \\
        --method single,multi,joint,bayes --dpo --seed 0 --out results/slurp_ladder
"""

from __future__ import annotations

import argparse

_METHODS = ("single", "multi", "joint", "bayes")


def _list(kind):
    def parse(text: str):
        values = [v.strip() for v in text.split(",") if v.strip()]
        if not values:
            raise argparse.ArgumentTypeError("expected a comma-separated list")
        try:
            return [kind(v) for v in values]
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc
    return parse


def _methods(text: str) -> list[str]:
    values = list(_METHODS) if text.strip() == "all" else _list(str)(text)
    bad = [v for v in values if v not in _METHODS]
    if bad:
        raise argparse.ArgumentTypeError(f"--method must be a comma-separated subset of {_METHODS} or 'all', "
                                         f"got {text!r}")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", required=True,
                        help="SLURP folder with devel.jsonl(.gz), test.jsonl(.gz), or a data root holding slurp/")
    parser.add_argument("--weak", type=_list(str), required=True, help="comma-separated weak models (HF id or path)")
    parser.add_argument("--strong", required=True, help="strong model (HF id or path)")
    parser.add_argument("--method", type=_methods, default=["joint"],
                        help="comma-separated subset of single,multi,joint,bayes, or 'all' (default: joint)")
    parser.add_argument("--weights", type=_list(float), default=None,
                        help="ensemble weights, one per weak model (default: uniform)")
    parser.add_argument("--dpo", action="store_true", help="add the conservative DPO stage after each student")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="output folder (stages cached there; results.json)")
    parser.add_argument("--official-splits", type=_list(str), default=None, metavar="WEAK,W2S,TEST",
                        help="official split files (jsonl) instead of seeded splits of devel+test")
    parser.add_argument("--n-weak-train", type=int, default=2000)
    parser.add_argument("--n-w2s-train", type=int, default=2000)
    parser.add_argument("--n-test", type=int, default=None, help="evaluate on the first N test utterances")
    parser.add_argument("--n-best", type=int, default=3, help="n-best per weak model for joint decoding")
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-4, help="fine-tuning learning rate (weak, ceiling, students)")
    parser.add_argument("--epochs", type=int, default=3, help="fine-tuning epochs")
    parser.add_argument("--weak-lr", type=float, default=None, help="learning rate of the weak models (default --lr)")
    parser.add_argument("--weak-epochs", type=int, default=None, help="epochs of the weak models (default --epochs)")
    parser.add_argument("--kl-weight", type=float, default=1e-4, help="evidential KL weight (bayes)")
    parser.add_argument("--dpo-beta", type=float, default=5.0)
    parser.add_argument("--dpo-eps", type=float, default=0.1)
    parser.add_argument("--dpo-lr", type=float, default=5e-7)
    parser.add_argument("--dpo-epochs", type=int, default=3)
    parser.add_argument("--dpo-n-best", type=int, default=10)
    parser.add_argument("--dpo-inputs", type=int, default=None, help="w2s-train inputs used for DPO (default all)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    from .models import torch_threads

    with torch_threads(args.threads):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from .dpo import DPOConfig
    from .generate import GenerateConfig, GenerateRun
    from .lm import FinetuneConfig

    official = None
    if args.official_splits is not None:
        if len(args.official_splits) != 3:
            raise ValueError("--official-splits needs three files: WEAK,W2S,TEST")
        official = dict(zip(("weak_train", "w2s_train", "test"), args.official_splits))
    finetune = FinetuneConfig(lr=args.lr, epochs=args.epochs, batch_size=min(args.batch_size, 32), seed=args.seed)
    weak_finetune = None
    if args.weak_lr is not None or args.weak_epochs is not None:
        weak_finetune = FinetuneConfig(lr=args.weak_lr or args.lr, epochs=args.weak_epochs or args.epochs,
                                       batch_size=finetune.batch_size, seed=args.seed)
    cfg = GenerateConfig(
        data_dir=args.data_dir, weak=args.weak, strong=args.strong, methods=args.method, weights=args.weights,
        dpo=args.dpo, seed=args.seed, n_weak_train=args.n_weak_train, n_w2s_train=args.n_w2s_train,
        n_test=args.n_test, n_best=args.n_best, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size,
        finetune=finetune, weak_finetune=weak_finetune,
        dpo_config=DPOConfig(beta=args.dpo_beta, eps=args.dpo_eps, lr=args.dpo_lr, epochs=args.dpo_epochs,
                             n_best=args.dpo_n_best, seed=args.seed),
        dpo_inputs=args.dpo_inputs, kl_weight=args.kl_weight, official=official, device=args.device)
    results = GenerateRun(cfg, args.out, progress=not args.no_progress).run()
    print(format_summary(results))
    return 0


def format_summary(results: dict) -> str:
    """Weak, ceiling and strategy SLU-F1 / EM with PGR and the word-level misfit view."""
    def row(name, s):
        return f"  {name:<34} SLU-F1 {s['slu_f1']:.3f}  EM {s['exact_match']:.3f}"

    lines = [f"SLURP {results['splits']}"]
    lines += [row(f"weak {w['name']}", w) for w in results["weak"]]
    lines.append(row("ceiling", results["ceiling"]))
    for name, s in results["strategies"].items():
        p, v = s["pgr_slu_f1"], s["misfit_view"]
        lines.append(row(name, s) + f"  PGR {'n/a' if p is None else f'{p:+.2f}'}  "
                     f"misfit {v['misfit']:.4f}  gain {v['gain']:+.4f}")
    lines.append(f"  timings_s total {sum(results['timings_s'].values()):.1f}")
    return "\n".join(lines)
