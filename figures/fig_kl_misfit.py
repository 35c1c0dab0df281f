"""Classification: gain against misfit in KL, for a student that reverse-KL-projects its teacher.

Mulgund & Pabbaraju (2025): when the strong class is convex in probability space, contains the truth, and the
student minimises KL(student ‖ teacher), E KL(g*‖f_sw) ≤ E KL(g*‖f_w) − E KL(f_sw‖f_w), i.e. gain ≥ misfit in
KL. Reads the records (``loss == "kl"``) of ``weakstrong sim classification ... --out DIR``: (a) the
``realizable`` tasks, gain against misfit with y = x, on the projection's own sample (``in_sample``,
where the inequality is exact) and on fresh samples; (b) the ``nonrealizable`` tasks, gain − misfit against
the size k of the convex hull of strong heads (``sizes["k"]``): the inequality is approached as k grows.
"""

from __future__ import annotations


import numpy as np

from weakstrong.figures.plots import gain_vs_misfit, plain_log_ticks
from weakstrong.figures.registry import FigureContext, FigureOutcome, FigureSpec, sim_run
from weakstrong.figures.style import CYCLE, identity_line, new_figure, save_figure
from weakstrong.runs import RunData
from weakstrong.sim.classification import ClassificationConfig

NAME = "kl_misfit"


def config(ctx: FigureContext) -> ClassificationConfig:
    """The run this figure reads. Hulls of up to 100 probability predictors make the full run minutes long;
    previews (--quick) use two worlds and small hulls."""
    return ctx.sized(ClassificationConfig(seed=ctx.seed), worlds=2, ks=(2, 5), n_test=1000)


def draw_realizable(ax, records) -> None:
    values = [r.misfit for r in records] + [r.gain for r in records]
    gain_vs_misfit(ax, [r.misfit for r in records], [r.gain for r in records], color=CYCLE[0],
                   label=f"fresh samples ({len(records)})", identity=False, unit="nats", short=True)
    own = np.array([(r.in_sample.misfit, r.in_sample.gain) for r in records])
    ax.scatter(*own.T, s=22, facecolors="none", edgecolors=CYCLE[1], linewidths=1.1, zorder=4,
               label="projection's sample")
    identity_line(ax, values + list(own.ravel()))
    ax.set_title("(a) realizable: gain ≥ misfit")
    ax.legend(loc="upper left")


def draw_hull_sweep(ax, records, by_k: dict) -> None:
    """Every task's gain - misfit per hull size k, and the per-k medians from the run's summary."""
    ks = np.array(sorted(int(k) for k in by_k), dtype=float)
    for i, (label, key) in enumerate((("fresh samples", "median_gap"),
                                      ("projection's sample", "median_gap_in_sample"))):
        for r in records:
            gap = r.gain - r.misfit if key == "median_gap" else r.in_sample.gain - r.in_sample.misfit
            ax.scatter([r.sizes["k"]], [gap], s=9, alpha=0.45, color=CYCLE[i], edgecolors="none")
        ax.plot(ks, [by_k[str(int(k))][key] for k in ks], marker="o", color=CYCLE[i], label=f"median, {label}")
    ax.axhline(0, color="0.3", lw=0.9, ls="--", label="gain = misfit")
    ax.set_xscale("log")
    plain_log_ticks(ax, "x", ticks=ks)
    # Non-realizable gaps span orders of magnitude on both signs; symlog keeps the small ones visible.
    ax.set_yscale("symlog", linthresh=1e-2)
    ax.set_xlabel("hull size k (strong heads)")
    ax.set_ylabel("gain − misfit (nats)")
    ax.set_title("(b) non-realizable: hull of k heads")
    ax.legend(loc="best")


def draw(runs: list[RunData]):
    """(a) the realizable hull's gain against misfit; (b) the non-realizable gap against the hull size."""
    (run,) = runs
    fig, axes = new_figure(ncols=2, height=3.0)
    draw_realizable(axes[0], [r for r in run.records if r.setting == "realizable"])
    draw_hull_sweep(axes[1], [r for r in run.records if r.setting == "nonrealizable"],
                    run.summary["nonrealizable_by_k"])
    return fig


def build(ctx: FigureContext) -> FigureOutcome:
    run = sim_run(ctx, "classification", config(ctx))
    return FigureOutcome("ok", images=save_figure(draw([run]), NAME, ctx.images_dir), data_files=run.files)


SPEC = FigureSpec(
    name=NAME,
    kind="sim",
    shows="Classification in KL: gain vs misfit for the reverse-KL projection onto a convex hull that contains "
          "the truth (Mulgund and Pabbaraju 2025), and gain - misfit against the hull size when it does not.",
    data="runs/classification-<hash>/records.jsonl",
    command="weakstrong sim classification --seed 0 --out DIR",
    caption=(r"Classification in KL \cite{mulgund2025}: (a) gain against misfit for the reverse-KL projection "
             r"onto a convex hull of probability predictors that contains the truth; (b) "
             r"$\mathrm{gain}-\mathrm{misfit}$ against the hull size $k$ when it does not."),
    build=build,
)
