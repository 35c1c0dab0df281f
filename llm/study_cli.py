"""`weakstrong llm misfit-study`: every (weak, strong) pair of a pretrained-model ladder, probe students, gain
against misfit; results in ``OUT/results.json``.

The options are generated from :class:`weakstrong.llm.study.misfit.MisfitStudyConfig` (its nested
:class:`~weakstrong.llm.students.classifier.ProbeConfig` flattened), so every default and help text lives in the
dataclass. Light module: the study's torch work is imported only when it runs.

Example (the full default study on the offline ladder; ~35 min cold on 2 shared CPU cores, where one torch
thread runs the bf16 passes several times faster than two)::

    weakstrong llm misfit-study --data-dir ../shared/data --threads 1 --out results/ladder
"""

from __future__ import annotations

import argparse

from weakstrong.config import add_config_arguments, config_from_args
from weakstrong.llm.cli_args import split_commas
from weakstrong.llm.models.options import RunOptions, add_run_arguments
from weakstrong.llm.students.classifier import ClassifierFinetuneConfig, ProbeConfig

HELP = "real-model misfit study: every (weak, strong) pair of a pretrained ladder, probe students"
# Sub-config fields with no option of their own: each follows the named top-level option.
DERIVED = {"probe.seed": "--seed", "finetune.seed": "--seed", "finetune.max_length": "--max-length"}


def add_parser(subparsers) -> None:
    """Register ``weakstrong llm misfit-study``."""
    from weakstrong.llm.study.misfit import MisfitStudyConfig

    parser = subparsers.add_parser(
        "misfit-study", help=HELP,
        description=f"{HELP} (SciQ, SST-2, IMDB). Writes OUT/results.json: the ladder's accuracies, one record "
                    f"per (task, weak, strong, method), fits of gain on misfit, stage times and tokens/s.",
        epilog="List options take values separated by spaces or commas; --ensembles, --finetune-tasks and "
               "--extra-seed-tasks also take 'all' or 'none'. CPU time is feature extraction (linear in "
               "--n-weak-train, --n-w2s-train, --n-test and the models' depth) and the fine-tuned students (linear "
               "in --n-w2s-train, --finetune-epochs and --top-k). The probes' and students' seed follows --seed.")
    add_config_arguments(parser, MisfitStudyConfig, exclude=tuple(DERIVED),
                         title="experiment (MisfitStudyConfig)")
    add_run_arguments(parser, cache_help="stage cache (default: OUT/cache)", out_default="results/ladder",
                      out_help="output folder; results.json is written there")
    parser.set_defaults(func=run)


def config_from_namespace(args: argparse.Namespace):
    """The validated :class:`MisfitStudyConfig` the parsed options describe (:class:`ConfigError` if invalid)."""
    from weakstrong.llm.study.misfit import ENSEMBLES, STUDY_TASKS, MisfitStudyConfig

    def listed(values, every=()):
        values = split_commas(values)
        return every if values == ("all",) else () if values == ("none",) else values

    return config_from_args(MisfitStudyConfig, args, tasks=split_commas(args.tasks), weak=split_commas(args.weak),
                            strong=split_commas(args.strong), ensembles=listed(args.ensembles, ENSEMBLES),
                            finetune_tasks=listed(args.finetune_tasks, STUDY_TASKS),
                            extra_seed_tasks=listed(args.extra_seed_tasks, STUDY_TASKS),
                            finetune_strong=split_commas(args.finetune_strong),
                            probe=config_from_args(ProbeConfig, args, "probe__", seed=args.seed),
                            finetune=config_from_args(ClassifierFinetuneConfig, args, "finetune__", seed=args.seed,
                                                      max_length=args.max_length))


def run(args: argparse.Namespace) -> int:
    """Check everything, then run the study and write ``OUT/results.json`` (holding the folder's lock)."""
    from weakstrong.io import check_output_dir, output_lock, write_json
    from weakstrong.llm.models.device import torch_threads
    from weakstrong.llm.study.misfit import prepare_study, run_study

    config = config_from_namespace(args)
    out = check_output_dir(args.out, "--out")
    options = RunOptions(args.cache_dir or str(out / "cache"), args.device, args.threads).validate()
    with torch_threads(options.threads):
        prepared = prepare_study(config, options)
    with output_lock(out, "--out"):
        results = run_study(config, options, prepared)
        write_json(out / "results.json", results)
    print(format_summary(results))
    return 0


def format_summary(results: dict) -> str:
    """A short text table: each model's accuracy per task, the points' count, the fits and the throughput."""
    lines = []
    for task, t in results["tasks"].items():
        lines.append(f"task {task}  sizes {t['sizes']}")
        for row in t["ladder"]:
            weak = "-" if row["weak_probe"] is None else f"{row['weak_probe']['accuracy']:.3f}"
            ceiling = "-" if row["ceiling"] is None else f"{row['ceiling']['accuracy']:.3f}"
            lines.append(f"  {row['model']:<20} layers {row['layers'] or '-':>3}  weak probe {weak}  "
                         f"ceiling {ceiling}")
    singles = sum(p["method"] == "single" for p in results["points"])
    lines.append(f"points {singles} single + {len(results['points']) - singles} ensemble, "
                 f"skipped {len(results['skipped'])}")
    for student, fits in results["fits"].items():
        for loss, fit in fits.items():
            f = fit["overall"]
            shown = "n/a" if f["slope"] is None else f"slope {f['slope']:+.3f} intercept {f['intercept']:+.4f} " \
                                                     f"r2 {f['r2'] if f['r2'] is None else round(f['r2'], 3)}"
            lines.append(f"gain ~ misfit ({student}, {loss}, n={f['n']}): {shown}")
    for row in results.get("comparison", []):
        shown = ", ".join(f"{m} {d['mean']:+.3f} [{d['ci'][0]:+.3f}, {d['ci'][1]:+.3f}]"
                          for m, d in row["bayes_minus"].items())
        if shown:
            lines.append(f"bayes minus ({row['task']}, {row['strong']}, {row['student']}, seeds {row['seeds']}): "
                         f"{shown}")
    for name, t in results["throughput"].items():
        lines.append(f"  {name:<20} {t['tokens_per_s']:8.1f} tokens/s")
    return "\n".join(lines)
