"""Plot primitives shared by several figures (gain-vs-misfit scatter, grouped bars with intervals)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from weakstrong.figures.style import CYCLE, MARKERS, identity_line


MISFIT_LABEL = r"misfit $d(f_{{sw}}, f_w)$ ({unit})"
GAIN_LABEL = r"gain $=$ err(weak) $-$ err(w2s) ({unit})"


def share_labels(fig, axes, xlabel: str, ylabel: str) -> None:
    """One x and one y label for a row of panels, so long labels never collide between panels."""
    for ax in axes:
        ax.set_xlabel("")
        ax.set_ylabel("")
    fig.supxlabel(xlabel, fontsize=9.5)
    fig.supylabel(ylabel, fontsize=9.5)


def gain_vs_misfit(ax, misfit, gain, *, label: str | None = None, color: str = CYCLE[0], marker: str = "o",
                   identity: bool = True, unit: str = "squared error", short: bool = False) -> None:
    """Scatter of gain (y) against misfit (x), with the y = x line Theorem 1 predicts in the realizable case.

    ``short`` labels the axes "misfit (unit)" / "gain (unit)" for panels too narrow for the definitions.
    """
    misfit, gain = np.asarray(misfit, dtype=float), np.asarray(gain, dtype=float)
    ax.scatter(misfit, gain, s=12, alpha=0.75, color=color, marker=marker, label=label, zorder=3,
               edgecolors="none")
    if identity:
        identity_line(ax, np.concatenate([misfit, gain]))
    ax.set_xlabel(f"misfit ({unit})" if short else MISFIT_LABEL.format(unit=unit))
    ax.set_ylabel(f"gain ({unit})" if short else GAIN_LABEL.format(unit=unit))


def rotate_ticks(ax, angle: float = 35) -> None:
    """Slanted category labels, anchored at their right end so they sit under their own bar group."""
    for label in ax.get_xticklabels():
        label.set(rotation=angle, ha="right", rotation_mode="anchor")


def grouped_bars(ax, groups: Sequence[str], series: dict[str, Sequence[float]],
                 intervals: dict[str, Sequence[tuple[float, float] | None]] | None = None,
                 ylabel: str = "") -> None:
    """Bars for each series within each group, with optional (low, high) interval whiskers."""
    n_series = max(len(series), 1)
    width = 0.8 / n_series
    xs = np.arange(len(groups))
    for j, (name, values) in enumerate(series.items()):
        pos = xs - 0.4 + width * (j + 0.5)
        vals = np.asarray([np.nan if v is None else v for v in values], dtype=float)
        ax.bar(pos, vals, width=width * 0.92, color=CYCLE[j % len(CYCLE)], label=name, zorder=2)
        ints = (intervals or {}).get(name)
        if ints:
            lo = [v - i[0] if i else 0.0 for v, i in zip(vals, ints)]
            hi = [i[1] - v if i else 0.0 for v, i in zip(vals, ints)]
            ax.errorbar(pos, vals, yerr=[lo, hi], fmt="none", ecolor="0.2", capsize=2, lw=0.9, zorder=3)
    ax.set_xticks(xs, groups)
    ax.set_ylabel(ylabel)


def marker(i: int) -> str:
    return MARKERS[i % len(MARKERS)]


def results_figure(ctx, name: str, experiment: str, title: str, command: str, draw, needs: str | None = None):
    """The :class:`~weakstrong.figures.registry.FigureOutcome` of an LLM figure drawn from
    ``ctx.results_dir/experiment/results.json`` by ``draw(data) -> Figure``, or a "pending" panel naming
    ``command`` when that file (or its key ``needs``) is not there."""
    from weakstrong.figures.registry import FigureOutcome
    from weakstrong.figures.style import save_figure
    from weakstrong.io import read_json

    path = ctx.results_dir / experiment / "results.json"
    data = read_json(path) if path.is_file() else None
    if data is None or (needs is not None and not data.get(needs)):
        what = f"No results/{experiment}/results.json yet." if data is None else f"No {needs} in {path} yet."
        images = pending_figure(name, ctx.images_dir, [(f"{title}: results pending",
                                                        f"{what}\nWritten by: {command}")])
        missing = "not committed" if data is None else f"has no {needs}"
        return FigureOutcome("pending", images=images, message=f"{path} {missing}")
    return FigureOutcome("ok", images=save_figure(draw(data), name, ctx.images_dir), data_files=[path])


def pending_figure(name: str, images_dir, panels: Sequence[tuple[str, str]], width: float | None = None):
    """Draw one explicit "results pending" panel per ``(title, message)`` and save it as ``name``.

    Returns the image paths. Used by LLM figures until their results.json is committed: the figure exists
    (so the paper builds) and says what is missing, with no numbers on it.
    """
    from weakstrong.figures.style import COLUMN_WIDTH, FULL_WIDTH, new_figure, pending_panel, save_figure

    width = width or (FULL_WIDTH if len(panels) > 1 else COLUMN_WIDTH + 0.6)
    fig, axes = new_figure(ncols=len(panels), width=width, height=1.9)
    for ax, (title, message) in zip(axes, panels):
        pending_panel(ax, title, message)
    return save_figure(fig, name, images_dir)


def plain_log_ticks(ax, axis: str = "both", ticks: Sequence[float] | None = None) -> None:
    """Log axes labelled with plain numbers (no ``2×10^0`` minor labels colliding with each other).

    ``ticks`` puts the major ticks exactly at those values (e.g. the swept sizes of an experiment).
    """
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

    plain = FuncFormatter(lambda v, _: f"{v:g}")
    for name in ("x", "y") if axis == "both" else (axis,):
        target = ax.xaxis if name == "x" else ax.yaxis
        target.set_major_locator(FixedLocator(list(ticks)) if ticks is not None
                                 else LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        target.set_major_formatter(plain)
        target.set_minor_formatter(NullFormatter())
