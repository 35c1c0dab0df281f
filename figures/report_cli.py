"""``weakstrong report``: write docs/results.md, docs/performance.md and docs/limitations.md from results/.

    weakstrong report [--out-dir docs] [--results-dir results] [--check]

``--check`` regenerates into a temporary folder and exits 1, printing the differences, when the committed docs
are not what the committed results give.
"""

from __future__ import annotations

import sys
from pathlib import Path

from weakstrong.config import ConfigError


def _run(args) -> int:
    from weakstrong.figures.registry import FigureContext
    from weakstrong.figures.report import check_docs, write_docs
    from weakstrong.figures.sources import display_path
    from weakstrong.io import check_output_dir

    results = Path(args.results_dir)
    if not results.is_dir():
        raise ConfigError(f"--results-dir must be a folder of committed results, got {results}")
    ctx = FigureContext(results_dir=results)
    if args.check:
        diffs = check_docs(ctx, Path(args.out_dir))
        if diffs:
            print("".join(diffs), end="")
            print(f"weakstrong report: {len(diffs)} generated doc(s) differ from {args.out_dir}/; "
                  f"rerun `weakstrong report`", file=sys.stderr)
            return 1
        print(f"[report] {args.out_dir}/ is up to date with {display_path(results)}/")
        return 0
    out = check_output_dir(args.out_dir, "--out-dir")
    for path in write_docs(ctx, out):
        print(f"[report] wrote {display_path(path)}")
    return 0


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("report", help="generate docs/*.md from the committed results (or --check them)",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--out-dir", default="docs", help="where the docs go (default: docs)")
    p.add_argument("--results-dir", default="results", help="committed results (default: results)")
    p.add_argument("--check", action="store_true", help="fail (exit 1) when the docs differ from a regeneration")
    p.set_defaults(func=_run)
