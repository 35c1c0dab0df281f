"""The shared look of every figure: fonts, palette, the y = x reference, "pending" panels, PDF + PNG output.

Every figure module draws through these helpers so that the whole set reads as one: fonts of at least
9 pt at the final printed size (figures are drawn at their final width, so no rescaling shrinks them),
a colour-blind-safe palette (Okabe & Ito 2008), labelled axes with units, vector PDF for the paper and a
PNG of at most 150 dpi for the README.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

# The figures run headless (CI, servers); the backend must be chosen before pyplot is imported.
os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from weakstrong.io import atomic_path  # noqa: E402

# Okabe-Ito: distinguishable under the common colour-vision deficiencies.
PALETTE = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "green": "#009E73",
    "vermillion": "#D55E00",
    "sky": "#56B4E9",
    "purple": "#CC79A7",
    "yellow": "#F0E442",
    "black": "#000000",
}
CYCLE = [PALETTE[k] for k in ("blue", "orange", "green", "vermillion", "sky", "purple", "black")]
MARKERS = ["o", "s", "^", "D", "v", "P", "X"]

# Widths in inches of a one-column and a full-width figure in the paper (article class, 1in margins).
COLUMN_WIDTH = 3.4
FULL_WIDTH = 6.5
PNG_DPI = 150
MIN_FONT_PT = 9

_RC = {
    "font.size": 9.5,
    "axes.titlesize": 10,
    "axes.labelsize": 9.5,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "figure.titlesize": 10.5,
    "axes.prop_cycle": matplotlib.cycler(color=CYCLE),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.5,
    "lines.markersize": 4,
    "legend.frameon": False,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.03,
    # Type 42 keeps text as text in the PDF (searchable, and accepted by paper submission systems).
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
}


def apply_style() -> None:
    """Set the shared rcParams (idempotent)."""
    plt.rcParams.update(_RC)


def new_figure(ncols: int = 1, nrows: int = 1, width: float = FULL_WIDTH, height: float | None = None,
               **subplot_kw):
    """A figure drawn at its final printed width, so the font sizes above are the printed sizes.

    Returns ``(fig, axes)`` with ``axes`` always a flat array.
    """
    if ncols < 1 or nrows < 1:
        raise ValueError(f"ncols and nrows must be >= 1, got ncols={ncols}, nrows={nrows}")
    apply_style()
    if height is None:
        height = nrows * min(2.6, 0.85 * width / ncols + 0.3)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False,
                             layout="constrained", **subplot_kw)
    return fig, axes.ravel()


def identity_line(ax, values, label: str = "y = x") -> None:
    """Draw the y = x reference over the range spanned by ``values`` (any iterable of numbers)."""
    v = np.asarray([x for x in np.ravel(np.asarray(values, dtype=float)) if np.isfinite(x)])
    if v.size == 0:
        return
    lo, hi = float(v.min()), float(v.max())
    pad = 0.05 * (hi - lo if hi > lo else max(abs(hi), 1.0))
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], ls="--", lw=1.0, color="0.35", label=label, zorder=1)


def pending_panel(ax, title: str, message: str, chars_per_line: int = 36) -> None:
    """An explicit "results pending" panel: no axes, no numbers, only what is missing and how to make it."""
    ax.set_axis_off()
    ax.set_title(title)
    # Wrapped by hand: matplotlib's wrap=True wraps to the figure, not to the panel.
    text = "\n".join(textwrap.fill(part, chars_per_line, break_long_words=False) for part in message.split("\n"))
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=MIN_FONT_PT,
            transform=ax.transAxes, color="0.25",
            bbox={"boxstyle": "round,pad=0.6", "fc": "0.95", "ec": "0.6", "ls": "--"})


def save_figure(fig, name: str, out_dir: str | os.PathLike) -> list[Path]:
    """Write ``out_dir/name.pdf`` (vector) and ``out_dir/name.png`` (``PNG_DPI``), then close the figure.

    Both files are written to a temporary name and renamed, so an interrupted run never leaves a
    truncated image that a later build would pick up.
    """
    if not name or "/" in name:
        raise ValueError(f"name must be a plain file stem, got {name!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    try:
        for ext, kw in (("pdf", {}), ("png", {"dpi": PNG_DPI})):
            final = out / f"{name}.{ext}"
            # Fixed metadata keeps re-renders of identical data byte-stable where the backend allows it.
            meta = {"Creator": "weakstrong"} if ext == "png" else {"Creator": "weakstrong", "CreationDate": None}
            with atomic_path(final) as tmp:   # refuses a symlink, FIFO or device at the image's path
                fig.savefig(tmp, format=ext, metadata=meta, **kw)
            paths.append(final)
    finally:
        plt.close(fig)
    return paths
