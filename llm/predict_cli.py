"""`weakstrong llm predict`: each candidate weak model's predicted gain and weak-to-strong error, with
intervals, from the misfit on the test split and k gold test labels; ranks the candidates.

The options are generated from :class:`weakstrong.llm.study.predict.PredictConfig`. Light module: the torch work
is imported only when the command runs.

Example (the default ladder's cached features: seconds)::

    weakstrong llm predict --task sciq --strong smollm2-135m --weak tfidf,minilm-l2,minilm-l6 --k 100 \\
        --data-dir ../shared/data --threads 1 --cache-dir results/ladder/cache --n-w2s-train 1500
"""

from __future__ import annotations

import argparse

from weakstrong.config import add_config_arguments, config_from_args
from weakstrong.llm.cli_args import split_commas
from weakstrong.llm.models.options import RunOptions, add_run_arguments

HELP = "predict each weak model's weak-to-strong gain and error from the misfit and k gold labels"


def add_parser(subparsers) -> None:
    """Register ``weakstrong llm predict``."""
    from weakstrong.llm.study.predict import PredictConfig

    parser = subparsers.add_parser(
        "predict", help=HELP,
        description=f"{HELP}. The student is the strong model's probe fitted on w2s-train to each candidate's "
                    f"labels; the misfit uses every test point, and k gold test labels are the only labels "
                    f"used. Prints a table ranked by predicted w2s error; --out writes OUT/results.json.",
        epilog="--weak takes values separated by spaces or commas. Split sizes, seed and feature settings must "
               "match a misfit-study run for its cached features to be reused.")
    add_config_arguments(parser, PredictConfig, title="prediction (PredictConfig)")
    add_run_arguments(parser, cache_help="stage cache (the study's: features are reused from it)",
                      cache_default="results/ladder/cache", out_help="folder for results.json (none: print only)")
    parser.set_defaults(func=run)


def config_from_namespace(args: argparse.Namespace):
    """The validated :class:`PredictConfig` the parsed options describe (:class:`ConfigError` if invalid)."""
    from weakstrong.llm.study.predict import PredictConfig

    return config_from_args(PredictConfig, args, weak=split_commas(args.weak))


def run(args: argparse.Namespace) -> int:
    """Predict; with ``--out``, write ``OUT/results.json`` (holding the folder's lock)."""
    from weakstrong.io import check_output_dir, output_lock, write_json
    from weakstrong.llm.study.predict import run_predict

    config = config_from_namespace(args)
    options = RunOptions(args.cache_dir, args.device, args.threads).validate()
    out = None if args.out is None else check_output_dir(args.out, "--out")
    results = run_predict(config, options)
    if out is not None:
        with output_lock(out, "--out"):
            write_json(out / "results.json", results)
    print(format_table(results))
    return 0


def format_table(results: dict) -> str:
    """One row per candidate, best predicted w2s error first."""
    cfg = results["config"]
    lines = [f"{results['task']}: strong {results['strong']}, k = {results['k']} gold test labels "
             f"({cfg['sampling']} draws, {results['labels_used']} distinct) of {results['n_pool']}; "
             f"{cfg['level']:.0%} {cfg['method']} intervals",
             f"{'rank':>4} {'weak':<18} {'weak err':>8} {'misfit':>7} {'gain [interval]':>27} "
             f"{'w2s err [interval]':>27} {'naive gain':>10}"]
    for row in results["candidates"]:
        gain = f"{row['gain']:+.4f} [{row['gain_ci'][0]:+.4f}, {row['gain_ci'][1]:+.4f}]"
        w2s = f"{row['w2s_error']:.4f} [{row['w2s_error_ci'][0]:.4f}, {row['w2s_error_ci'][1]:.4f}]"
        lines.append(f"{row['rank']:>4} {row['weak']:<18} {row['weak_error']:8.4f} {row['misfit']:7.4f} "
                     f"{gain:>27} {w2s:>27} {row['naive_gain']:+10.4f}")
    return "\n".join(lines)
