"""`weakstrong llm classify`: weak-ensemble -> strong classification, results in ``OUT/results.json``.

Light module: argparse only at import time; the pipeline (and torch) is imported inside :func:`run`.

Example (offline ladder, probe student, every method)::

    weakstrong llm classify --task sst2 --data-dir ../shared/data --weak tfidf,minilm-l1,minilm-l2,scratch-tiny \\
        --strong minilm-l6 --method single,average,vote,logconf,bayes --student probe --seed 0 --out results/sst2
"""

from __future__ import annotations

import argparse

_TASKS = ("sciq", "sst2", "imdb", "imdb-rating")
_METHODS = ("single", "average", "vote", "logconf", "bayes")
_STUDENTS = ("probe", "finetune")


def _choices(allowed: tuple[str, ...], what: str):
    def parse(text: str) -> tuple[str, ...]:
        values = tuple(v.strip() for v in text.split(",") if v.strip())
        if text.strip() == "all":
            return allowed
        bad = [v for v in values if v not in allowed]
        if not values or bad:
            raise argparse.ArgumentTypeError(f"{what} must be a comma-separated subset of {allowed} or 'all', "
                                             f"got {text!r}")
        return values
    return parse


def _names(text: str) -> tuple[str, ...]:
    values = tuple(v.strip() for v in text.split(",") if v.strip())
    if not values:
        raise argparse.ArgumentTypeError("expected a comma-separated list of model names")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", choices=_TASKS, required=True,
                        help="sciq (binary, Burns format), sst2, imdb (polarity) or imdb-rating (regression)")
    parser.add_argument("--data-dir", default=None,
                        help="folder holding <task>/ official files (e.g. ../shared/data); default: the HF hub")
    parser.add_argument("--weak", type=_names, default=("tfidf", "minilm-l1", "minilm-l2", "scratch-tiny"),
                        help="comma-separated weak models: tfidf, minilm-l1..l6, scratch-tiny, or HF id/path")
    parser.add_argument("--strong", default="minilm-l6", help="strong model: ladder name, HF id or local path")
    parser.add_argument("--method", type=_choices(_METHODS, "--method"), default=_METHODS,
                        help="comma-separated subset of single,average,vote,logconf,bayes (default: all)")
    parser.add_argument("--student", type=_choices(_STUDENTS, "--student"), default=("probe",),
                        help="probe (frozen features, convex head), finetune, or both (comma-separated)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="output folder; results.json is written there")
    parser.add_argument("--cache-dir", default=None, help="stage cache (default: OUT/cache)")
    parser.add_argument("--n-weak-train", type=int, default=None, help="weak-train size (task default)")
    parser.add_argument("--n-w2s-train", type=int, default=None, help="w2s-train size (task default)")
    parser.add_argument("--n-test", type=int, default=None, help="test size (task default)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=128, help="token limit per segment")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the PGR CI")
    parser.add_argument("--ridge", type=float, default=0.0, help="ridge of the probe head (0 = exact projection)")
    parser.add_argument("--radius", type=float, default=None,
                        help="probe head: project onto the norm ball of this radius on standardised features "
                             "(convex class) instead of the whole linear span")
    parser.add_argument("--epochs", type=int, default=2, help="fine-tuning epochs")
    parser.add_argument("--lr", type=float, default=5e-5, help="fine-tuning learning rate")


def run(args: argparse.Namespace) -> int:
    from .classify import ClassifyConfig, run_classify
    from .models import init_distributed_from_env
    from .students import FinetuneConfig, ProbeConfig

    rank, _ = init_distributed_from_env()  # under torchrun: DDP fine-tuning; every rank writes the same results

    cfg = ClassifyConfig(
        task=args.task, out=args.out, data_dir=args.data_dir, weak=tuple(args.weak), strong=args.strong,
        methods=tuple(args.method), students=tuple(args.student), seed=args.seed, n_weak_train=args.n_weak_train,
        n_w2s_train=args.n_w2s_train, n_test=args.n_test, batch_size=args.batch_size, max_length=args.max_length,
        device=args.device, cache_dir=args.cache_dir, n_bootstrap=args.bootstrap,
        probe=ProbeConfig(ridge=args.ridge, radius=args.radius, seed=args.seed),
        finetune=FinetuneConfig(epochs=args.epochs, lr=args.lr, batch_size=min(args.batch_size, 32),
                                max_length=args.max_length, seed=args.seed))
    results = run_classify(cfg)
    if rank == 0:
        print(format_summary(results))
    return 0


def format_summary(results: dict) -> str:
    """A short text table of the run: weak, ceiling and student accuracy, PGR, misfit vs gain."""
    lines = [f"task {results['task']}  sizes {results['sizes']}"]
    for name, m in results["weak"].items():
        lines.append(f"  weak {name:<28} acc {m['accuracy']:.3f}")
    for student, s in results["students"].items():
        lines.append(f"  [{student}] ceiling acc {s['ceiling']['accuracy']:.3f}")
        for r in s["runs"]:
            sq = r["theory"]["sq_test"]
            p = r["pgr"]["pgr"]
            lines.append(f"  [{student}] {r['teacher']:<40} teacher {r['teacher_test']['accuracy']:.3f} "
                         f"w2s {r['accuracy']:.3f} pgr {'n/a' if p is None else f'{p:+.2f}'} "
                         f"misfit {sq['misfit']:.4f} gain {sq['gain']:+.4f} slack {sq['slack']:+.4f}")
    lines.append(f"  timings_s {results['timings_s']}")
    return "\n".join(lines)
