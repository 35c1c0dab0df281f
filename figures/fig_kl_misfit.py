"""Classification: gain against misfit in KL, for a student that reverse-KL-projects its teacher.

Mulgund & Pabbaraju (2025): when the strong class is convex in probability space, contains the truth, and the
student minimises KL(student ‖ teacher), E KL(g*‖f_sw) ≤ E KL(g*‖f_w) − E KL(f_sw‖f_w), i.e. gain ≥ misfit in
KL. Reads the records (``loss == "kl"``) of ``weakstrong sim classification ... --out DIR``: (a) the
``realizable`` tasks, gain against misfit with y = x, on the projection's own sample (``extra["in_sample"]``,
where the inequality is exact) and on fresh samples; (b) the ``nonrealizable`` tasks, gain − misfit against
the size k of the convex hull of strong heads (``sizes["k"]``): the inequality is approached as k grows.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from weakstrong.figures.plots import gain_vs_misfit, plain_log_ticks
from weakstrong.figures.registry import FigureContext, FigureOutcome, FigureSpec
from weakstrong.figures.sources import (
    DataUnavailable,
    ensure_sim_run,
    first_available,
    in_sample_terms,
    make_sim_run,
    read_records,
)
from weakstrong.figures.style import CYCLE, identity_line, new_figure, save_figure

NAME = "kl_misfit"
EXPERIMENTS = ("classification", "kl", "kl-misfit")
# Hulls of up to 100 probability predictors make the full run minutes long; previews use small hulls.
QUICK = {"ks": [2, 5], "n_test": 1000}


def gap_fresh(record) -> float:
    return record.gain - record.misfit


def gap_own(record) -> float:
    own = in_sample_terms(record)
    return own["gain"] - own["misfit"] if own is not None else np.nan


def draw_realizable(ax, records) -> None:
    values = [r.misfit for r in records] + [r.gain for r in records]
    gain_vs_misfit(ax, [r.misfit for r in records], [r.gain for r in records], color=CYCLE[0],
                   label=f"fresh samples ({len(records)})", identity=False, unit="nats", short=True)
    own = [(t["misfit"], t["gain"]) for t in map(in_sample_terms, records) if t is not None]
    if own:
        ax.scatter(*np.array(own).T, s=22, facecolors="none", edgecolors=CYCLE[1], linewidths=1.1, zorder=4,
                   label="projection's sample")
        values += [v for p in own for v in p]
    identity_line(ax, values)
    ax.set_title("(a) realizable: gain ≥ misfit")
    ax.legend(loc="upper left")


def draw_hull_sweep(ax, records) -> None:
    by_k = defaultdict(list)
    for r in records:
        by_k[int(r.sizes.get("k", 0))].append(r)
    ks = np.array(sorted(by_k), dtype=float)
    for i, (label, gap) in enumerate((("fresh samples", gap_fresh), ("projection's sample", gap_own))):
        per_k = [np.array([gap(r) for r in by_k[int(k)]], dtype=float) for k in ks]
        if all(np.isnan(v).all() for v in per_k):
            continue
        for k, v in zip(ks, per_k):
            ax.scatter(np.full(v.size, k), v, s=9, alpha=0.45, color=CYCLE[i], edgecolors="none")
        ax.plot(ks, [np.nanmedian(v) for v in per_k], marker="o", color=CYCLE[i], label=f"median, {label}")
    ax.axhline(0, color="0.3", lw=0.9, ls="--", label="gain = misfit")
    ax.set_xscale("log")
    plain_log_ticks(ax, "x", ticks=ks)
    # Non-realizable gaps span orders of magnitude on both signs; symlog keeps the small ones visible.
    ax.set_yscale("symlog", linthresh=1e-2)
    ax.set_xlabel("hull size k (strong heads)")
    ax.set_ylabel("gain − misfit (nats)")
    ax.set_title("(b) non-realizable: hull of k heads")
    ax.legend(loc="best")


def build(ctx: FigureContext) -> FigureOutcome:
    experiment = first_available(*EXPERIMENTS)
    run_dir = ensure_sim_run(make_sim_run(experiment, sizes=ctx.sim_sizes(**QUICK), seed=ctx.seed,
                                          progress=False), ctx.runs_dir, ctx.force)
    records = [r for r in read_records(run_dir) if r.loss == "kl"]
    if not records:
        raise DataUnavailable(f"{run_dir}/records.jsonl holds no loss='kl' records")
    realizable = [r for r in records if r.setting == "realizable"]
    others = [r for r in records if r.setting != "realizable"]
    fig, axes = new_figure(ncols=2 if realizable and others else 1, height=3.0)
    if realizable:
        draw_realizable(axes[0], realizable)
    if others:
        draw_hull_sweep(axes[-1], others)
    return FigureOutcome("ok", images=save_figure(fig, NAME, ctx.images_dir),
                         data_files=[run_dir / "records.jsonl", run_dir / "summary.json"])


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
