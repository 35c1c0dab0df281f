"""Which figure draws a simulator experiment's run: ``weakstrong sim X --out DIR`` draws ``DIR/<figure>.png``
with the same drawing function the full figure uses (one drawing function per figure)."""

from __future__ import annotations

import importlib
import os

from weakstrong.runs import RunData

# ``weakstrong sim`` experiment -> the figure module that draws it.
FIGURE_OF = {
    "charikar": "fig_charikar",
    "finite-sample": "fig_finite_sample",
    "epsilon-sweep": "fig_epsilon_sweep",
    "ensembles": "fig_ensembles",
    "selection": "fig_selection",
    "classification": "fig_kl_misfit",
    "gain-prediction": "fig_gain_prediction",
}


def draw_run(experiment: str, run: RunData, path: str | os.PathLike) -> None:
    """Draw one run of ``experiment`` with its figure's ``draw`` and save it atomically as a PNG at ``path``."""
    import matplotlib.pyplot as plt

    from weakstrong.figures.style import PNG_DPI
    from weakstrong.io import atomic_path

    module = importlib.import_module(f"weakstrong.figures.{FIGURE_OF[experiment]}")
    fig = module.draw([run])
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=PNG_DPI, metadata={"Creator": "weakstrong"})
    plt.close(fig)
