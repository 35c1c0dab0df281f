"""Throughput: the simulator's speed against the original protocol, and where LLM pipelines spend their time.

(a) reads the simulator benchmark (``python -m weakstrong.sim.bench``, committed as
``results/sim_bench/bench.json``): seconds of the same workload under the original protocol (minibatch
AdamW heads, timed on a few heads and extrapolated), a plain numpy implementation, and the toolkit.
(b) reads ``stage_compute_s`` (seconds per stage as if nothing were cached; else ``timings_s``) of every
committed ``results/*/results.json``, summed
by top-level step when a pipeline records many stages.
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


def bench_rows(bench: dict) -> list[dict]:
    """``[{"workload", "implementation", "seconds", "kind"}]`` from a bench.json's ``rows``.

    A row's name reads ``"<workload>: <implementation> (<note>)"``; rows without seconds are dropped.
    """
    out = []
    for row in bench.get("rows", []) if isinstance(bench.get("rows"), list) else []:
        seconds, name = row.get("seconds"), str(row.get("name", ""))
        if not isinstance(seconds, (int, float)) or seconds <= 0 or not name:
            continue
        workload, _, impl = name.partition(": ")
        out.append({"workload": workload if impl else "", "implementation": (impl or name).split(" (")[0],
                    "seconds": float(seconds), "kind": str(row.get("kind", "measured"))})
    return out


def draw_bench(ax, rows: list[dict]) -> None:
    """Horizontal bars per workload, one per implementation; extrapolated timings are hatched."""
    workloads = list(dict.fromkeys(r["workload"] for r in rows))
    ticks, labels, y = [], [], 0.0
    for w in workloads:
        group = [r for r in rows if r["workload"] == w]
        ax.text(0.0, y - 0.75, w, transform=ax.get_yaxis_transform(), fontsize=9, fontweight="bold",
                va="center", ha="left")
        for r in group:
            extrapolated = r["kind"] != "measured"
            color = CYCLE[0] if r["implementation"].startswith("ours") else CYCLE[1]
            ax.barh(y, r["seconds"], color=color, hatch="//" if extrapolated else None,
                    edgecolor="white" if extrapolated else color, height=0.8)
            ax.text(r["seconds"], y, f" {r['seconds']:.3g} s", va="center", fontsize=9)
            ticks.append(y)
            labels.append(r["implementation"])
            y += 1.0
        y += 1.2  # room for the next workload's heading
    ax.set_yticks(ticks, labels)
    ax.set_ylim(y - 1.0, -1.4)
    ax.set_xscale("log")
    ax.set_xlim(right=max(r["seconds"] for r in rows) * 30)  # room for the value labels
    ax.set_xlabel("seconds (wall clock unless the workload says CPU s; log scale; hatched: extrapolated)")


MAX_STAGES = 10


def group_stages(timings: dict[str, float], max_stages: int = MAX_STAGES) -> dict[str, float]:
    """Stage seconds as recorded, or summed by top-level step (``students/bayes/model`` → ``students``)
    when a pipeline records more than ``max_stages`` stages, so every bar keeps a readable label."""
    if len(timings) <= max_stages:
        return dict(timings)
    grouped: dict[str, float] = {}
    for stage, seconds in timings.items():
        top = stage.split("/", 1)[0]
        grouped[top] = grouped.get(top, 0.0) + seconds
    return grouped


def stage_timings(ctx: FigureContext) -> list[tuple[str, dict[str, float]]]:
    """``(experiment, {stage: seconds})`` of every committed result that records its timings."""
    out = []
    for res in find_llm_results("", ctx.results_dir):
        # stage_compute_s counts a stage reused from the cache at what it cost when computed.
        timings = res.data.get("stage_compute_s") or res.data.get("timings_s")
        if isinstance(timings, dict) and timings:
            # A multi-task study nests {task: {stage: s}}: its stages are summed over tasks.
            flat: dict[str, float] = {}
            for key, value in timings.items():
                for stage, seconds in (value.items() if isinstance(value, dict) else [(key, value)]):
                    if isinstance(seconds, (int, float)):
                        flat[stage] = flat.get(stage, 0.0) + float(seconds)
            if flat:
                out.append((res.path.parent.name, group_stages(flat)))
    return out


def build(ctx: FigureContext) -> FigureOutcome:
    timings = stage_timings(ctx)
    bench_path = ctx.results_dir / BENCH_EXPERIMENT / "bench.json"
    rows = bench_rows(read_json(bench_path)) if bench_path.is_file() else []
    # Each panel gets height in proportion to its bars (plus headings), so bar labels never overlap.
    heights = [max(1.4, 0.24 * (len(rows) + 2 * len({r["workload"] for r in rows}))),
               max(1.4, 0.24 * sum(len(stages) for _, stages in timings))]
    fig, axes = new_figure(nrows=2, width=FULL_WIDTH * 0.85, height=sum(heights) + 1.6,
                           gridspec_kw={"height_ratios": heights})
    data_files, status = [], "ok"
    if rows:
        draw_bench(axes[0], rows)
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
        if len(timings) > 1:
            axes[1].legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=3)
        axes[1].set_xscale("log")
        axes[1].set_xlabel("stage time (s, log scale)")
        axes[1].invert_yaxis()
        axes[1].set_title("(b) LLM pipeline stages" + (f": {timings[0][0]}" if len(timings) == 1 else ""))
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
