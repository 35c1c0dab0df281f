"""``weakstrong figures``: regenerate every figure (or ``--only`` some) and print what each one read.

    weakstrong figures [--only NAME[,NAME...]] [--out-dir runs] [--images-dir figures/out]
                       [--results-dir results] [--force] [--quick] [--seed 0] [--list]

Simulator figures get their runs from the runs layer under ``--out-dir`` (reused when the same config and
code already finished); LLM figures read ``--results-dir``. Every output goes under the working directory
(or the folders given). The exit status is 1 when any figure failed (its traceback is printed); real-model
results not yet committed (pending) do not fail the command, they are reported in the table.
"""

from __future__ import annotations

import os
from pathlib import Path

from weakstrong.figures.registry import (
    DEFAULT_IMAGES_DIR,
    FigureContext,
    FigureOutcome,
    FigureSpec,
    run_figure,
    select,
)
from weakstrong.config import ascii_int
from weakstrong.figures.sources import DEFAULT_RESULTS_DIR, display_path
from weakstrong.io import check_output_dir, output_lock


def add_arguments(p) -> None:
    """The options shared by ``weakstrong figures`` and ``weakstrong paper``."""
    p.add_argument("--only", default="", help="comma-separated figure names (default: all; see --list)")
    p.add_argument("--out-dir", default="runs", help="folder for simulator run data (default: runs)")
    p.add_argument("--images-dir", default=str(DEFAULT_IMAGES_DIR),
                   help="folder for NAME.pdf / NAME.png (default: figures/out)")
    p.add_argument("--results-dir", default=str(DEFAULT_RESULTS_DIR),
                   help="committed LLM/GPU results (default: results)")
    p.add_argument("--force", action="store_true", help="re-run simulator stages even when cached")
    p.add_argument("--quick", action="store_true", help="small simulator runs (previews and tests)")
    p.add_argument("--seed", type=ascii_int, default=0, help="simulator seed (default: 0)")


def context_from_args(args) -> FigureContext:
    """The context of parsed options; output folders are checked before any work."""
    check_output_dir(args.out_dir, "--out-dir")
    check_output_dir(args.images_dir, "--images-dir")
    return FigureContext(runs_dir=Path(args.out_dir), images_dir=Path(args.images_dir),
                         results_dir=Path(args.results_dir), force=args.force, quick=args.quick,
                         seed=args.seed)


def format_table(rows: list[tuple[FigureSpec, FigureOutcome]]) -> str:
    """The end-of-run table: figure → status → data file → seconds (and why, when not ok)."""
    lines = ["| figure | status | data file | seconds |", "|---|---|---|---:|"]
    notes = []
    for spec, out in rows:
        data = ", ".join(sorted({display_path(p) for p in out.data_files})) or "—"
        if len(data) > 90:
            data = f"{display_path(out.data_files[0])} (+{len(out.data_files) - 1} more)"
        lines.append(f"| {spec.name} | {out.status} | {data} | {out.seconds:.1f} |")
        if out.message:
            notes.append(f"  {spec.name}: {out.message}")
    return "\n".join(lines + ([""] + notes if notes else []))


def regenerate(ctx: FigureContext, only: list[str] | None = None, echo: bool = True):
    """Build the selected figures in order; returns ``[(spec, outcome), ...]``."""
    rows = []
    specs = select(only)
    with output_lock(ctx.images_dir, "--images-dir"):
        for spec in specs:
            if echo:
                print(f"[figures] {spec.name} ...", flush=True)
            rows.append((spec, run_figure(spec, ctx)))
    return rows


def _run(args) -> int:
    only = [n.strip() for n in args.only.split(",") if n.strip()]
    if args.list:
        for spec in select(only):
            print(f"{spec.name:20s} {spec.kind:4s} {spec.shows}\n{'':25s}data: {spec.data}\n"
                  f"{'':25s}command: {spec.command}")
        return 0
    rows = regenerate(context_from_args(args), only)
    print(format_table(rows))
    return 1 if any(out.status == "error" for _, out in rows) else 0


def add_parser(subparsers) -> None:
    os.environ.setdefault("MPLBACKEND", "Agg")
    p = subparsers.add_parser("figures", help="regenerate every figure (simulator live, LLM from results/)",
                              description=__doc__.split("\n\n")[0])
    add_arguments(p)
    p.add_argument("--list", action="store_true", help="list the figures, their data and commands, then exit")
    p.set_defaults(func=_run)
