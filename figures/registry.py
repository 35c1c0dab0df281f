"""The registry of figures: what each shows, the data it reads, and how to regenerate it.

Each figure is one module ``figures/fig_<name>.py`` defining ``SPEC`` (a :class:`FigureSpec`) whose
``build(ctx)`` draws the figure into ``ctx.images_dir`` and returns a :class:`FigureOutcome`. A simulator
figure asks the runs layer for its data with typed configs (:func:`sim_run`) and only draws. An LLM figure
whose results are not committed yet draws an explicit "results pending" panel (``status="pending"``); it
never invents numbers. A figure whose data cannot be produced is an error, never a skip.
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from weakstrong.config import ConfigError
from weakstrong.figures.sources import DEFAULT_RESULTS_DIR

# Module names, in the order figures appear in the README and the paper.
FIGURE_MODULES = (
    "fig_charikar",
    "fig_finite_sample",
    "fig_epsilon_sweep",
    "fig_ensembles",
    "fig_selection",
    "fig_kl_misfit",
    "fig_llm_gain_misfit",
    "fig_ladder",
    "fig_ladder_methods",
    "fig_sciq_methods",
    "fig_slurp",
    "fig_throughput",
    "fig_gain_prediction",
    "fig_regression",
)

# "skipped" only marks a figure that ``weakstrong paper --only`` left out of this build.
STATUSES = ("ok", "pending", "error", "skipped")
# Relative to the working directory, never inside the installed package.
DEFAULT_IMAGES_DIR = Path("figures") / "out"


@dataclass
class FigureContext:
    """Where a figure reads and writes, and how big its simulator runs are.

    Attributes
    ----------
    runs_dir : simulator run folders (``runs/`` by default, git-ignored).
    images_dir : where ``NAME.pdf`` and ``NAME.png`` go (``figures/out`` under the working directory).
    results_dir : committed LLM/GPU results (``results/``).
    force : re-run simulator stages even when their ``summary.json`` exists.
    quick : smaller simulator runs (each figure says how), for tests and previews.
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
            raise ConfigError(f"--seed must be a non-negative integer, got {self.seed!r}")

    def sized(self, config, **quick):
        """``config``, or under ``quick`` a copy with the given fields replaced (``dataclasses.replace``)."""
        import dataclasses

        return dataclasses.replace(config, **quick) if self.quick else config

    def world(self, setting: str, seed: int | None = None):
        """The simulator world of ``setting`` (seed: ``self.seed``); under ``quick`` its representations are
        pretrained by the fast 60-epoch Adam rather than the protocol's 1000 epochs of AdamW."""
        from weakstrong.sim.pretrain import PretrainConfig
        from weakstrong.sim.worlds import WorldConfig

        world = WorldConfig(setting=setting, seed=self.seed if seed is None else seed)
        return self.sized(world, pretrain=PretrainConfig(optimizer="adam", epochs=60))


def sim_run(ctx: FigureContext, experiment: str, config):
    """The finished run of simulator ``experiment`` on ``config``, from the runs layer (computed if needed)."""
    from weakstrong.sim.experiments import run_cached

    return run_cached(experiment, config, ctx.runs_dir, force=ctx.force)


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
        raise ConfigError(f"--only: unknown figure(s) {unknown}; known: {sorted(specs)}")
    return [specs[n] for n in only]


def run_figure(spec: FigureSpec, ctx: FigureContext) -> FigureOutcome:
    """Build one figure, timing it. A crash becomes ``error`` with its traceback printed to stderr, so the
    other figures still regenerate and the command still fails."""
    start = time.perf_counter()
    try:
        outcome = spec.build(ctx)
    except Exception as exc:  # one broken figure must not stop the others; the traceback is kept
        traceback.print_exc(file=sys.stderr)
        outcome = FigureOutcome("error", message=f"{type(exc).__name__}: {exc}")
    outcome.seconds = time.perf_counter() - start
    return outcome
