"""The real-model ladder: probe accuracy of every model per task, and gain against misfit over its pairs.

Data: ``weakstrong llm misfit-study --data-dir ../shared/data --threads 1 --out results/ladder`` →
``results/ladder/results.json``: per task the test accuracy of each model's probe (as a weak model on gold
weak-train labels, and as the strong ceiling on gold w2s-train labels), and one W2SRecord per (task, weak,
strong) point in squared loss and in KL, measured on the test split.
"""

from __future__ import annotations

from weakstrong.figures.plots import gain_vs_misfit, marker, pending_figure, rotate_ticks
from weakstrong.figures.registry import FigureContext, FigureOutcome, FigureSpec
from weakstrong.figures.style import CYCLE, new_figure, save_figure
from weakstrong.io import read_json
from weakstrong.theory.records import W2SRecord

NAME = "ladder"
EXPERIMENT = "ladder"


def _accuracy(row: dict) -> float | None:
    """A model's probe accuracy: its logistic probe as a weak model when it was one, else its least-squares
    probe as the strong ceiling."""
    probe = row.get("weak_probe") or row.get("ceiling")
    return None if probe is None else probe["accuracy"]


def draw(data: dict):
    """(a) probe accuracy per model and task, models in the study's order (weak models: logistic probe on
    gold weak-train labels; strong-only models: the least-squares ceiling); (b, c) gain against misfit of
    every single-weak point in squared loss and in KL, one colour per task, with the fit over all of them."""
    tasks = list(data["tasks"])
    fig, axes = new_figure(ncols=3, height=3.0)
    models = [row["model"] for row in data["tasks"][tasks[0]]["ladder"]]
    for i, task in enumerate(tasks):
        acc = {row["model"]: _accuracy(row) for row in data["tasks"][task]["ladder"]}
        xs = [k for k, m in enumerate(models) if acc.get(m) is not None]
        axes[0].plot(xs, [acc[models[k]] for k in xs], marker=marker(i), color=CYCLE[i], label=task)
    axes[0].set_xticks(range(len(models)), models)
    rotate_ticks(axes[0], 60)
    axes[0].set_ylabel("test accuracy of a probe")
    axes[0].set_title("(a) ladder")
    axes[0].legend(loc="best", fontsize=7)
    records = [W2SRecord.from_dict(r) for r in data["records"]]
    for ax, loss, unit, title in ((axes[1], "sq", "squared error", "(b) squared loss"),
                                  (axes[2], "kl", "nats", "(c) KL")):
        for i, task in enumerate(tasks):
            recs = [r for r in records if r.loss == loss and r.task == task and r.method == "single"]
            if recs:
                gain_vs_misfit(ax, [r.misfit for r in recs], [r.gain for r in recs], color=CYCLE[i],
                               marker=marker(i), label=f"{task} ({len(recs)})", identity=False, unit=unit,
                               short=True)
        top = max(ax.get_xlim()[1], ax.get_ylim()[1])
        ax.plot([0, top], [0, top], ls="--", lw=1.0, color="0.35", label="y = x", zorder=1)
        fit = data["fits"][loss]["overall"]
        ax.set_title(f"{title}\nfit: slope {fit['slope']:.2f}, $R^2$ {fit['r2']:.2f}", fontsize=9)
        ax.legend(loc="upper left", fontsize=7)
    return fig


def build(ctx: FigureContext) -> FigureOutcome:
    path = ctx.results_dir / EXPERIMENT / "results.json"
    if not path.is_file():
        images = pending_figure(NAME, ctx.images_dir, [(
            "real-model ladder: results pending",
            f"No {path} yet.\nWritten by: weakstrong llm misfit-study --data-dir ../shared/data --out "
            f"results/{EXPERIMENT}")])
        return FigureOutcome("pending", images=images, message=f"{path} not committed")
    return FigureOutcome("ok", images=save_figure(draw(read_json(path)), NAME, ctx.images_dir), data_files=[path])


SPEC = FigureSpec(
    name=NAME,
    kind="llm",
    shows="Real-model ladder: probe accuracy of each model per task (SmolLM2 and Gemma3 truncations, MiniLM, "
          "tf-idf), and gain vs misfit of every weak-to-strong probe pair in squared loss and KL.",
    data="results/ladder/results.json",
    command="weakstrong llm misfit-study --data-dir ../shared/data --threads 1 --out results/ladder",
    build=build,
)
