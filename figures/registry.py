"""The registry of figures: what each shows, the data it reads, and how to regenerate it.

Each figure is one module ``figures/fig_<name>.py`` defining ``SPEC`` (a :class:`FigureSpec`) whose
``build(ctx)`` draws the figure into ``ctx.images_dir`` and returns a :class:`FigureOutcome`. A figure whose
data source is not in this build returns ``status="skipped"`` (simulator) or draws an explicit
"results pending" panel with ``status="pending"`` (LLM results not yet committed); it never invents numbers.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from weakstrong.figures.sources import DEFAULT_RESULTS_DIR, REPO_ROOT, DataUnavailable

# Module names, in the order figures appear in the README and the paper.
FIGURE_MODULES = (
    "fig_charikar",
    "fig_finite_sample",
    "fig_epsilon_sweep",
    "fig_ensembles",
    "fig_selection",
    "fig_kl_misfit",
    "fig_llm_gain_misfit",
    "fig_sciq_methods",
    "fig_slurp",
    "fig_throughput",
)

STATUSES = ("ok", "pending", "skipped", "error")
# --quick shrinks every simulator experiment through whichever of these flags it accepts.
QUICK_SIZES = {"tasks": 5, "worlds": 2, "instances": 20}
DEFAULT_IMAGES_DIR = REPO_ROOT / "figures" / "out"


@dataclass
class FigureContext:
    """Where a figure reads and writes, and how big its simulator runs are.

    Attributes
    ----------
    runs_dir : simulator run folders (``runs/`` by default, git-ignored).
    images_dir : where ``NAME.pdf`` and ``NAME.png`` go (``figures/out`` by default).
    results_dir : committed LLM/GPU results (``results/``).
    force : re-run simulator stages even when their ``summary.json`` exists.
    quick : smaller simulator runs (fewer tasks, fewer sweep points), for tests and previews.
    seed : the simulator seed.
    """

    runs_dir: Path = Path("runs")
    images_dir: Path = DEFAULT_IMAGES_DIR
    results_dir: Path = DEFAULT_RESULTS_DIR
    force: bool = False
    quick: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        self.runs_dir, self.images_dir, self.results_dir = map(Path, (self.runs_dir, self.images_dir,
                                                                      self.results_dir))
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {self.seed!r}")

    def sim_sizes(self, **quick_extra) -> dict | None:
        """Run-size options for simulator experiments: small under ``quick`` (``QUICK_SIZES`` plus a figure's
        own ``quick_extra``), the experiment's defaults otherwise."""
        return {**QUICK_SIZES, **quick_extra} if self.quick else None


@dataclass
class FigureOutcome:
    """What happened to one figure: ``status`` in STATUSES, the images written, the data files read."""

    status: str
    images: list[Path] = field(default_factory=list)
    data_files: list[Path] = field(default_factory=list)
    message: str = ""
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")


@dataclass(frozen=True)
class FigureSpec:
    """One figure of the set.

    Attributes
    ----------
    name : file stem of the images and the ``--only`` key.
    kind : ``"sim"`` (regenerated live on CPU) or ``"llm"`` (read from committed results/).
    shows : one sentence, for ``--list``, the README table and the paper caption.
    data : the data file(s) it reads, as written in the README table.
    command : the command that writes that data.
    build : draws the figure; see :class:`FigureContext` / :class:`FigureOutcome`.
    tables : optional; ``tables(ctx) -> {stem: LaTeX}`` for ``paper/generated/``, read from the same data.
    paper_width : fraction of the text width the figure takes in the paper.
    caption : the paper's caption in LaTeX, when ``shows`` needs mathematics (default: ``shows`` escaped).
    """

    name: str
    kind: str
    shows: str
    data: str
    command: str
    build: Callable[[FigureContext], FigureOutcome]
    tables: Callable[[FigureContext], dict[str, str]] | None = None
    paper_width: float = 1.0
    caption: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("sim", "llm"):
            raise ValueError(f"FigureSpec.kind must be 'sim' or 'llm', got {self.kind!r}")
        if not 0 < self.paper_width <= 1:
            raise ValueError(f"FigureSpec.paper_width must be in (0, 1], got {self.paper_width!r}")


def all_figures() -> dict[str, FigureSpec]:
    """Every registered figure, in display order."""
    specs = {}
    for module in FIGURE_MODULES:
        spec = importlib.import_module(f"weakstrong.figures.{module}").SPEC
        specs[spec.name] = spec
    return specs


def select(only: list[str] | None) -> list[FigureSpec]:
    """The figures named in ``only`` (all when empty); unknown names are a ValueError listing the known ones."""
    specs = all_figures()
    if not only:
        return list(specs.values())
    unknown = [n for n in only if n not in specs]
    if unknown:
        raise ValueError(f"--only: unknown figure(s) {unknown}; known: {sorted(specs)}")
    return [specs[n] for n in only]


def run_figure(spec: FigureSpec, ctx: FigureContext) -> FigureOutcome:
    """Build one figure, timing it; a missing data source becomes ``skipped``, a crash becomes ``error``."""
    start = time.perf_counter()
    try:
        outcome = spec.build(ctx)
    except DataUnavailable as exc:
        outcome = FigureOutcome("skipped", message=str(exc))
    except Exception as exc:  # one broken figure must not stop the others from regenerating
        outcome = FigureOutcome("error", message=f"{type(exc).__name__}: {exc}")
    outcome.seconds = time.perf_counter() - start
    return outcome
