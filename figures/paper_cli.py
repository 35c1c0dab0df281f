"""``weakstrong paper``: regenerate figures and tables from the toolkit's outputs, then build the PDF.

    weakstrong paper [--install] [--no-pdf] [figures options: --out-dir runs --quick --force ...]

Writes ``paper/generated/*.tex`` and ``figures/out/*.pdf``, then runs ``latexmk -pdf`` in ``paper/`` into
``paper/build/main.pdf``. Without latexmk it prints the exact ``apt-get install`` line and exits non-zero;
``--install`` runs that line (as root) first.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from weakstrong.config import ConfigError
from weakstrong.figures.cli import add_arguments, context_from_args, format_table, regenerate
from weakstrong.figures.paper import (
    INSTALL_COMMAND,
    PAPER_DIR,
    build_pdf,
    generate,
    install_toolchain,
    require_latexmk,
)
from weakstrong.figures.sources import display_path
from weakstrong.io import output_lock


def _run(args) -> int:
    paper_dir = Path(args.paper_dir)
    if not (paper_dir / "main.tex").is_file():
        raise ConfigError(f"--paper-dir must hold main.tex, got {paper_dir}")
    if args.install and shutil.which("latexmk") is None:
        code = install_toolchain()
        if code != 0:
            print(f"weakstrong paper: '{INSTALL_COMMAND}' exited {code}")
            return code
    if not args.no_pdf:
        require_latexmk()
    ctx = context_from_args(args)
    only = [n.strip() for n in args.only.split(",") if n.strip()]
    rows = regenerate(ctx, only)
    print(format_table(rows))
    with output_lock(paper_dir / "generated", "--paper-dir"):
        written = generate(ctx, rows, paper_dir / "generated")
    print(f"[paper] wrote {len(written)} generated files under {display_path(written[0].parent)}")
    if args.no_pdf:
        return 1 if any(out.status == "error" for _, out in rows) else 0
    pdf = build_pdf(paper_dir)
    print(f"[paper] built {display_path(pdf)}")
    return 1 if any(out.status == "error" for _, out in rows) else 0


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("paper", help="regenerate figures/tables and build the LaTeX paper",
                              description=__doc__.split("\n\n")[0])
    add_arguments(p)
    p.add_argument("--install", action="store_true",
                   help=f"install the LaTeX toolchain when missing (root): {INSTALL_COMMAND}")
    p.add_argument("--paper-dir", default=str(PAPER_DIR), help="folder holding main.tex (default: paper)")
    p.add_argument("--no-pdf", action="store_true", help="write the generated .tex files, skip latexmk")
    p.set_defaults(func=_run)
