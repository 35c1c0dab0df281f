"""Throughput: the simulator's speed against the original protocol, and where LLM pipelines spend their time.

(a) reads the simulator benchmark (``python -m weakstrong.sim.bench``, committed as
``results/sim_bench/bench.json``): seconds of the same workload under the original protocol (minibatch
AdamW heads, timed on a few heads and extrapolated), a plain numpy implementation, and the toolkit.
(b) reads ``timings_s`` (seconds per pipeline stage) of every committed ``results/*/results.json``.
Each panel is an explicit "pending" panel while its data is not committed.
"""

from __future__ import annotations

import numpy as np

from weakstrong.figures.registry import FigureContext, FigureOutcome, FigureSpec
from weakstrong.figures.sources import find_llm_results
from weakstrong.figures.style import CYCLE, FULL_WIDTH, new_figure, pending_panel, save_figure
from weakstrong.io import read_json

NAME = "throughput"
BENCH_EXPERIMENT = "sim_bench"
BENCH_COMMAND = "python -m weakstrong.sim.bench (make bench), committed to results/sim_bench/bench.json"


def bench_rows(bench: dict) -> list[tuple[str, float]]:
    """``(label, seconds)`` pairs from a bench.json: every entry under ``rows`` with a name and seconds."""
    rows = bench.get("rows", bench.get("results", []))
    out = []
    for row in rows if isinstance(rows, list) else []:
        seconds = row.get("seconds", row.get("median_s"))
        name = row.get("name", row.get("label", row.get("impl")))
        if name is not None and isinstance(seconds, (int, float)) and seconds > 0:
            out.append((str(name), float(seconds)))
    return out


def stage_timings(ctx: FigureContext) -> list[tuple[str, dict[str, float]]]:
    """``(experiment, {stage: seconds})`` of every committed result that records its timings."""
    out = []
    for res in find_llm_results("", ctx.results_dir):
        timings = res.data.get("timings_s")
        if isinstance(timings, dict) and timings:
            out.append((res.path.parent.name, {k: float(v) for k, v in timings.items()
                                               if isinstance(v, (int, float))}))
    return out


def build(ctx: FigureContext) -> FigureOutcome:
    timings = stage_timings(ctx)
    n_bars = sum(len(stages) for _, stages in timings)
    fig, axes = new_figure(nrows=2, width=FULL_WIDTH * 0.8, height=2.2 + max(1.6, 0.2 * n_bars))
    data_files, status = [], "ok"
    bench_path = ctx.results_dir / BENCH_EXPERIMENT / "bench.json"
    rows = bench_rows(read_json(bench_path)) if bench_path.is_file() else []
    if rows:
        names, secs = zip(*rows)
        axes[0].barh(np.arange(len(rows)), secs, color=[CYCLE[i % len(CYCLE)] for i in range(len(rows))])
        axes[0].set_yticks(np.arange(len(rows)), names)
        axes[0].set_xscale("log")
        axes[0].set_xlabel("wall-clock time (s, log scale)")
        axes[0].invert_yaxis()
        axes[0].set_title("(a) simulator benchmark")
        data_files.append(bench_path)
    else:
        status = "pending"
        pending_panel(axes[0], "(a) simulator benchmark", f"Pending: {BENCH_COMMAND}.")
    if timings:
        labels, start = [], 0
        for i, (experiment, stages) in enumerate(timings):
            pos = np.arange(start, start + len(stages))
            # Stages shorter than a millisecond are drawn at 1 ms so the log axis can show them.
            axes[1].barh(pos, [max(s, 1e-3) for s in stages.values()], color=CYCLE[i % len(CYCLE)],
                         label=experiment)
            labels += list(stages)
            start += len(stages)
        axes[1].set_yticks(np.arange(len(labels)), labels)
        axes[1].legend(loc="lower right")
        axes[1].set_xscale("log")
        axes[1].set_xlabel("stage time (s, log scale)")
        axes[1].invert_yaxis()
        axes[1].set_title("(b) LLM pipeline stages")
        data_files += [ctx.results_dir / e / "results.json" for e, _ in timings]
    else:
        status = "pending"
        pending_panel(axes[1], "(b) LLM pipeline stages", "Pending: no results/*/results.json with timings_s.")
    message = "" if status == "ok" else "part of its data is not committed yet"
    return FigureOutcome(status, images=save_figure(fig, NAME, ctx.images_dir), data_files=data_files,
                         message=message)


SPEC = FigureSpec(
    name=NAME,
    kind="llm",
    shows="Throughput: the simulator against the original protocol and a plain numpy implementation, and the "
          "time each LLM pipeline stage took.",
    data="results/sim_bench/bench.json; results/*/results.json (timings_s)",
    command=BENCH_COMMAND + "; weakstrong llm classify|generate ... --out results/<run>",
    build=build,
    paper_width=0.8,
)
