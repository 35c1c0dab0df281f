"""The real-model ladder: probe accuracy of every model per task, and gain against misfit over its pairs.

Data: ``weakstrong llm misfit-study --data-dir ../shared/data --threads 1 --out results/ladder`` →
``results/ladder/results.json``: per task the test accuracy of each model's probe (as a weak model on gold
weak-train labels, and as the strong ceiling on gold w2s-train labels), and one W2SRecord per (task, weak,
strong) point in squared loss and in KL, measured on the test split.
"""

from __future__ import annotations

from weakstrong.figures.plots import gain_vs_misfit, marker, results_figure, rotate_ticks
from weakstrong.figures.registry import FigureContext, FigureOutcome, FigureSpec
from weakstrong.figures.sources import display_path
from weakstrong.figures.style import CYCLE, new_figure
from weakstrong.figures.tables import Table, fmt, latex_escape, pending_table
from weakstrong.io import read_json
from weakstrong.theory.records import W2SRecord

NAME = "ladder"
EXPERIMENT = "ladder"
STUDENT_MARKERS = {"probe": "o", "finetune": "^"}  # colour: task; marker: student


def _accuracy(row: dict) -> float | None:
    """A model's probe accuracy: its logistic probe as a weak model when it was one, else its least-squares
    probe as the strong ceiling."""
    probe = row.get("weak_probe") or row.get("ceiling")
    return None if probe is None else probe["accuracy"]


def draw(data: dict):
    """(a) probe accuracy per model and task, models in the study's order (weak models: logistic probe on
    gold weak-train labels; strong-only models: the least-squares ceiling), and the fine-tuned ceilings
    (hollow triangles); (b, c) gain against misfit of
    every single-weak point at the main seed in squared loss and in KL, colour = task, marker = student
    (probe, fine-tuned), with each student's fit over all tasks."""
    tasks = list(data["tasks"])
    fig, axes = new_figure(ncols=3, height=3.0)
    models = [row["model"] for row in data["tasks"][tasks[0]]["ladder"]]
    for i, task in enumerate(tasks):
        acc = {row["model"]: _accuracy(row) for row in data["tasks"][task]["ladder"]}
        xs = [k for k, m in enumerate(models) if acc.get(m) is not None]
        axes[0].plot(xs, [acc[models[k]] for k in xs], marker=marker(i), color=CYCLE[i], label=task)
        tuned = data["tasks"][task].get("finetune_ceilings", {})
        if tuned:
            axes[0].scatter([models.index(m) for m in tuned], [t["accuracy"] for t in tuned.values()], s=30,
                            marker=STUDENT_MARKERS["finetune"], facecolors="none", edgecolors=CYCLE[i], zorder=4,
                            label=f"{task}, top-{data['config']['top_k']} FT")
    axes[0].set_xticks(range(len(models)), models)
    rotate_ticks(axes[0], 60)
    axes[0].set_ylabel("test accuracy of a probe")
    axes[0].set_title("(a) ladder")
    low, high = axes[0].get_ylim()
    axes[0].set_ylim(low - 0.6 * (high - low), high)  # room below the lines for the legend
    axes[0].legend(loc="lower right", fontsize=5.5, ncols=2, frameon=False)
    records = [W2SRecord.from_dict(r) for r in data["records"]
               if r["method"] == "single" and r["seed"] == data["config"]["seed"]]
    students = [s for s in STUDENT_MARKERS if any(r.extra["student"] == s for r in records)]
    for ax, loss, unit, title in ((axes[1], "sq", "squared error", "(b) squared loss"),
                                  (axes[2], "kl", "nats", "(c) KL")):
        for i, task in enumerate(tasks):
            for student in students:
                recs = [r for r in records if r.loss == loss and r.task == task and r.extra["student"] == student]
                if recs:
                    gain_vs_misfit(ax, [r.misfit for r in recs], [r.gain for r in recs], color=CYCLE[i],
                                   marker=STUDENT_MARKERS[student], label=f"{task}, {student} ({len(recs)})",
                                   identity=False, unit=unit, short=True)
        top = max(ax.get_xlim()[1], ax.get_ylim()[1])
        ax.plot([0, top], [0, top], ls="--", lw=1.0, color="0.35", label="y = x", zorder=1)
        fits = "\n".join(f"{student}: slope {f['slope']:.2f}, $R^2$ {f['r2']:.2f}"
                         for student in students
                         for f in [data["fits"][student][loss]["overall"]] if f["slope"] is not None)
        ax.set_title(f"{title}\n{fits}", fontsize=7)
        ax.legend(loc="upper left", fontsize=6)
    return fig


def tables(ctx: FigureContext) -> dict[str, str]:
    """``ladder_table``: each model's accuracy per task (probe, and the fine-tuned ceiling where run);
    ``ladder_fits_table``: gain on misfit per student and loss, overall and per task."""
    path = ctx.results_dir / EXPERIMENT / "results.json"
    if not path.is_file():
        return {stem: pending_table(f"tab:{stem}", "No real-model ladder results are committed yet.", SPEC.command)
                for stem in ("ladder_table", "ladder_fits_table")}
    data = read_json(path)
    tasks = list(data["tasks"])
    models = [row["model"] for row in data["tasks"][tasks[0]]["ladder"]]
    body = []
    for m in models:
        cells = [latex_escape(m)]
        for task in tasks:
            row = next(r for r in data["tasks"][task]["ladder"] if r["model"] == m)
            tuned = data["tasks"][task].get("finetune_ceilings", {}).get(m)
            cells += [fmt(_accuracy(row)), fmt(None if tuned is None else tuned["accuracy"])]
        body.append(cells)
    columns = ["model"] + [f"{latex_escape(t)} {kind}" for t in tasks for kind in ("probe", "fine-tuned")]
    k = data["config"]["top_k"]
    ladder = Table(columns=columns, rows=body, label="tab:ladder", sources=[display_path(path)],
                   caption=f"Test accuracy of each model of the ladder (seed {data['config']['seed']}): its probe "
                           f"(weak models: logistic probe on gold weak-train labels; strong-only models: "
                           f"least-squares ceiling on gold w2s-train labels) and, for the decoder strong models, "
                           f"the top-{k} fine-tuned ceiling.")
    fit_rows = []
    for student, fits in data["fits"].items():
        for loss, fit in fits.items():
            for scope, f in [("all", fit["overall"])] + list(fit["by_task"].items()):
                if f["n"]:
                    fit_rows.append([student, loss, latex_escape(scope), str(f["n"]), fmt(f["slope"]),
                                     fmt(f["intercept"], 4), fmt(f["r2"])])
    fits = Table(columns=["student", "loss", "task", "points", "slope", "intercept", "$R^2$"], rows=fit_rows,
                 label="tab:ladder-fits", sources=[display_path(path)], align="lllrrrr",
                 caption="Least-squares fit of gain on misfit over the single-weak points of the real ladder "
                         "(test split). Theorem 1 predicts slope 1 and intercept 0 for a subspace probe in the "
                         "realizable case; fine-tuned students carry no guarantee.")
    return {"ladder_table": ladder.to_latex(), "ladder_fits_table": fits.to_latex()}


def build(ctx: FigureContext) -> FigureOutcome:
    return results_figure(ctx, NAME, EXPERIMENT, "real-model ladder", SPEC.command, draw)


SPEC = FigureSpec(
    name=NAME,
    kind="llm",
    shows="Real-model ladder: probe accuracy of each model per task (SmolLM2 and Gemma3 truncations, MiniLM, "
          "tf-idf), and gain vs misfit of every weak-to-strong probe pair in squared loss and KL.",
    data="results/ladder/results.json",
    command="weakstrong llm misfit-study --data-dir ../shared/data --threads 1 --out results/ladder",
    build=build,
    tables=tables,
)
