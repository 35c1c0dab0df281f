"""LLM gain against misfit, probe students against fine-tuned students.

With a frozen backbone and a least-squares head (``--students probe``) the strong class is a subspace of
functions of the features, so Theorem 1 of Charikar et al. (2024) applies to the measured probabilities;
a fine-tuned student (``--students finetune``) leaves the class and need not obey it. Each point is one
W2SRecord of a committed ``results/<experiment>/results.json`` written by ``weakstrong llm classify``.
"""

from __future__ import annotations

from weakstrong.figures.plots import gain_vs_misfit, marker, pending_figure
from weakstrong.figures.registry import FigureContext, FigureOutcome, FigureSpec
from weakstrong.figures.sources import LLMResult, find_llm_results
from weakstrong.figures.style import CYCLE, new_figure, save_figure

NAME = "llm_gain_misfit"
TASK_PREFIXES = ("sciq", "sst2", "imdb")
STUDENTS = ("probe", "finetune")


def student_of(record) -> str:
    """The student mode ``llm classify`` stores with every record (``extra["student"]``)."""
    mode = record.extra["student"]
    if mode not in STUDENTS:
        raise ValueError(f"record of {record.weak!r}: extra['student'] must be one of {STUDENTS}, got {mode!r}")
    return mode


def is_held_out(record) -> bool:
    """Records measured on the test split (``extra["split"]``); in-sample ones are left out, since in-sample
    the probe's gain equals its misfit by construction and would hide the held-out scatter."""
    return record.extra["split"] == "test"


def classification_results(ctx: FigureContext) -> list[LLMResult]:
    return [r for prefix in TASK_PREFIXES for r in find_llm_results(prefix, ctx.results_dir)]


def build(ctx: FigureContext) -> FigureOutcome:
    results = [r for r in classification_results(ctx) if any(is_held_out(rec) for rec in r.records)]
    if not results:
        images = pending_figure(NAME, ctx.images_dir, [(
            "LLM gain vs misfit: results pending",
            "No results/{sciq,sst2,imdb}*/results.json with records yet.\n"
            "Written by: weakstrong llm classify --students {probe,finetune} --out results/<run>")])
        return FigureOutcome("pending", images=images, message="no classification results committed")
    fig, axes = new_figure(ncols=2, height=2.9)
    for ax, loss, unit in zip(axes, ("sq", "kl"), ("squared error", "nats")):
        for i, student in enumerate(STUDENTS):
            recs = [rec for res in results for rec in res.records
                    if rec.loss == loss and student_of(rec) == student and is_held_out(rec)]
            if recs:
                gain_vs_misfit(ax, [r.misfit for r in recs], [r.gain for r in recs], color=CYCLE[i],
                               marker=marker(i), label=f"{student} ({len(recs)})", identity=False, unit=unit, short=True)
        if ax.collections:
            # Misfit is a divergence (>= 0): the reference starts at the origin, not in the x < 0 half.
            top = max(ax.get_xlim()[1], ax.get_ylim()[1])
            ax.plot([0, top], [0, top], ls="--", lw=1.0, color="0.35", label="y = x", zorder=1)
            ax.legend(loc="best")
        else:
            ax.set_axis_off()
            ax.text(0.5, 0.5, f"no '{loss}' records", ha="center", transform=ax.transAxes)
        ax.set_title("(a) squared loss on probabilities" if loss == "sq" else "(b) KL divergence")
    images = save_figure(fig, NAME, ctx.images_dir)
    return FigureOutcome("ok", images=images, data_files=[r.path for r in results])


SPEC = FigureSpec(
    name=NAME,
    kind="llm",
    shows="Measured gain vs misfit of real-model students: frozen-feature probes (Theorem 1 applies) vs "
          "fine-tuned students (it need not).",
    data="results/{sciq,sst2,imdb}*/results.json",
    command="weakstrong llm classify --task sciq --students {probe,finetune} ... --out results/<run>",
    build=build,
)
