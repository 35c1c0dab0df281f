"""`weakstrong llm predict-eval`: how well the gain predictor does on a misfit study's pairs
(``OUT/results.json``, drawn by ``figures/fig_gain_prediction.py``).

The options are generated from :class:`weakstrong.llm.study.predict_eval.EvalConfig`. Light module: the
evaluation (and torch) is imported only when it runs.

Example (the committed ladder study's cached features: about a minute)::

    weakstrong llm predict-eval --study results/ladder/results.json --out results/gain_prediction
"""

from __future__ import annotations

import argparse
import sys

from weakstrong.config import add_config_arguments, config_from_args
from weakstrong.llm.models.options import RunOptions, add_run_arguments

HELP = "evaluate gain prediction on the real ladder's pairs (results/gain_prediction)"


def add_parser(subparsers) -> None:
    """Register ``weakstrong llm predict-eval``."""
    from weakstrong.llm.study.predict_eval import EvalConfig

    parser = subparsers.add_parser(
        "predict-eval", help=HELP,
        description=f"{HELP}: every single-weak pair of a misfit study, predicted from k gold test labels, "
                    f"against the gain measured on the whole test split. Writes OUT/results.json.")
    add_config_arguments(parser, EvalConfig, title="evaluation (EvalConfig)")
    add_run_arguments(parser, cache_help="the study's stage cache (default: the study's folder/cache)",
                      out_default="results/gain_prediction", out_help="folder for results.json", threads_default=1)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check the options, evaluate, and write ``OUT/results.json`` (holding the folder's lock)."""
    from weakstrong.io import check_output_dir, output_lock, write_json
    from weakstrong.llm.study.predict_eval import EvalConfig, format_summary, run_eval

    config = config_from_args(EvalConfig, args)
    options = RunOptions(args.cache_dir, args.device, args.threads).validate()
    out = check_output_dir(args.out, "--out")
    results = run_eval(config, options, log=lambda m: print(m, file=sys.stderr))
    with output_lock(out, "--out"):
        write_json(out / "results.json", results)
    print(format_summary(results))
    print(f"  wrote {out / 'results.json'}")
    return 0
