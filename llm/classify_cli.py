"""`weakstrong llm classify`: weak-ensemble -> strong classification, results in ``OUT/results.json``.

The options are generated from :class:`weakstrong.llm.classification.classify.ClassifyConfig` (its nested
:class:`~weakstrong.llm.students.classifier.ProbeConfig` flattened, its
:class:`~weakstrong.llm.students.classifier.ClassifierFinetuneConfig` as ``--finetune-*``), so every default and help
text lives in the dataclass. Light module: the pipeline's torch work is imported only when it runs.

Example (offline ladder, probe student, every method)::

    weakstrong llm classify --task sst2 --data-dir ../shared/data --weak tfidf,minilm-l1,minilm-l2,scratch-tiny \\
        --strong minilm-l6 --methods single,average,vote,logconf,bayes --students probe --seed 0 --out results/sst2
"""

from __future__ import annotations

import argparse

from weakstrong.config import add_config_arguments, config_from_args
from weakstrong.llm.classification.classify import STUDENTS, ClassifyConfig, run_classify
from weakstrong.llm.cli_args import expand_all, split_commas
from weakstrong.llm.students.classifier import ClassifierFinetuneConfig, ProbeConfig
from weakstrong.llm.supervision.ensemble import METHODS

HELP = "weak-ensemble -> strong classification (SciQ, SST-2, IMDB)"
# Sub-config fields with no option of their own: each follows the named top-level option.
DERIVED = {"probe.seed": "--seed", "finetune.seed": "--seed", "finetune.max_length": "--max-length"}


def add_parser(subparsers) -> None:
    """Register ``weakstrong llm classify``."""
    parser = subparsers.add_parser(
        "classify", help=HELP, description=f"{HELP}. Writes OUT/results.json.",
        epilog="List options take values separated by spaces or commas; --methods and --students also take "
               "'all'. The probe's and the fine-tuned student's seeds follow --seed; the fine-tuning token "
               "limit follows --max-length.")
    add_config_arguments(parser, ClassifyConfig, exclude=tuple(DERIVED), title="experiment (ClassifyConfig)")
    where = parser.add_argument_group("where and how it runs (not part of the result)")
    where.add_argument("--out", default="results/classify", help="output folder; results.json is written there "
                                                                   "(default: results/classify)")
    where.add_argument("--cache-dir", default=None, help="stage cache (default: OUT/cache)")
    where.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.set_defaults(func=run)


def config_from_namespace(args: argparse.Namespace) -> ClassifyConfig:
    """The validated :class:`ClassifyConfig` the parsed options describe (:class:`ConfigError` if invalid)."""
    return config_from_args(
        ClassifyConfig, args, weak=split_commas(args.weak),
        methods=expand_all(split_commas(args.methods), METHODS),
        students=expand_all(split_commas(args.students), STUDENTS),
        probe=config_from_args(ProbeConfig, args, "probe__", seed=args.seed),
        finetune=config_from_args(ClassifierFinetuneConfig, args, "finetune__", seed=args.seed,
                                  max_length=args.max_length))


def run(args: argparse.Namespace) -> int:
    from weakstrong.llm.models.device import distributed_from_env

    with distributed_from_env():  # under torchrun: DDP fine-tuning; the group is torn down at the end
        results = run_into(config_from_namespace(args), args.out, args.cache_dir, args.device)
    if results is not None:
        print(format_summary(results))
    return 0


def run_into(config: ClassifyConfig, out: str, cache_dir: str | None = None, device: str | None = None) -> dict | None:
    """Check everything (config, models, data), then take ``out`` (locked) and run; ``OUT/results.json`` is
    written by rank 0 only. Returns the results on rank 0, None on the other ranks of a torchrun."""
    from contextlib import nullcontext
    from pathlib import Path

    from weakstrong.io import check_output_dir, output_lock, write_json
    from weakstrong.llm.classification.classify import prepare
    from weakstrong.llm.models.options import RunOptions
    from weakstrong.llm.models.device import init_distributed_from_env

    rank, _ = init_distributed_from_env()  # under torchrun: DDP fine-tuning
    RunOptions(cache_dir, device).validate()
    folder = check_output_dir(out, "--out")
    cache = check_output_dir(cache_dir, "--cache-dir") if cache_dir else Path(folder) / "cache"
    options = RunOptions(str(cache), device)
    prepared = prepare(config, options)  # every bad input fails here, before the folder is taken
    with output_lock(folder, "--out") if rank == 0 else nullcontext():
        results = run_classify(config, options, prepared)
        if rank != 0:
            return None
        write_json(Path(folder) / "results.json", results)
    return results


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
                         f"misfit {sq['misfit']:.4f} gain {sq['gain']:+.4f} "
                         f"slack {'n/a' if sq['slack'] is None else format(sq['slack'], '+.4f')}")
    lines.append(f"  timings_s {results['timings_s']}")
    return "\n".join(lines)
