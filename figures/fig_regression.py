"""The misfit paper's real-data regression study: gain against misfit on molecules and on IMDB ratings.

Data: ``weakstrong llm regression-study --data-dir ../shared/data --threads 1 --out results/regression`` →
``results/regression/results.json``: per data set, split, strong representation and weak model, one point (weak
error, w2s error, misfit, gain, ε, cross term) measured on test, the fits of gain on misfit, and the selection
rule's table. The figure shows, per data set, the strong representation with the best gold ceiling.
"""

from __future__ import annotations

from weakstrong.figures.plots import results_figure
from weakstrong.figures.registry import FigureContext, FigureOutcome, FigureSpec
from weakstrong.figures.sources import display_path
from weakstrong.figures.style import MARKERS, new_figure
from weakstrong.figures.tables import Table, fmt, fmt_interval, latex_escape, pending_table
from weakstrong.io import read_json

NAME = "regression"
EXPERIMENT = "regression"
COMMAND = "weakstrong llm regression-study --data-dir ../shared/data --threads 1 --out results/regression"


def _colors(n: int) -> list:
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def draw(data: dict):
    """One panel per data set: gain against misfit of every (weak, split) point of its best strong
    representation; colour = weak model (the same in every panel), marker = split, hollow = the ceiling does not
    beat the weak model (not a weak-to-strong pair, left out of the fit); the fit over the filled points and
    y = x. One legend for all panels, below them."""
    names = list(data["datasets"])
    fig, axes = new_figure(ncols=len(names), height=3.2)
    weak = list(dict.fromkeys(p["weak"] for p in data["points"]))
    splits = list(dict.fromkeys(p["split"] for p in data["points"]))
    colors = dict(zip(weak, _colors(len(weak))))
    shown: set[str] = set()
    for i_ax, (ax, name) in enumerate(zip(axes, names)):
        d = data["datasets"][name]
        strong = d["best_strong"]
        pts = [p for p in data["points"] if p["dataset"] == name and p["strong"] == strong]
        for p in pts:
            c = colors[p["weak"]]
            ax.scatter(p["misfit"], p["gain"], s=16, marker=MARKERS[splits.index(p["split"]) % len(MARKERS)],
                       zorder=3, facecolors=c if p["ceiling_beats_weak"] else "none", edgecolors=c, linewidths=0.8)
            shown.update((p["weak"], p["split"]))
        xs = [p["misfit"] for p in pts] + [0.0]
        top = max(xs + [p["gain"] for p in pts])
        ax.plot([0, top], [0, top], ls="--", lw=1.0, color="0.35", zorder=1)
        fit = d["by_strong"][strong]["fit"]
        if fit["slope"] is not None:
            ax.plot([0, max(xs)], [fit["intercept"], fit["intercept"] + fit["slope"] * max(xs)], lw=1.0,
                    color="0.1", zorder=2)
            ci = fit["ci"]["slope"]
            stats = f"slope {fit['slope']:.2f} [{ci[0]:.2f}, {ci[1]:.2f}], $R^2$ {fit['r2']:.2f}, {fit['n']} pairs"
        else:
            stats = f"no fit ({fit['n']} pairs)"
        ax.axhline(0.0, lw=0.6, color="0.7", zorder=0)
        ax.set_title(f"({'abcdef'[i_ax]}) {name}, strong {strong}\n{stats}", fontsize=7)
        ax.set_xlabel("misfit")
        if i_ax == 0:
            ax.set_ylabel("gain (squared error, standardised labels)")
    handles = [axes[0].scatter([], [], s=16, color=colors[w], label=w) for w in weak if w in shown]
    handles += [axes[0].scatter([], [], s=16, marker=MARKERS[i % len(MARKERS)], facecolors="none",
                                edgecolors="0.3", label=sp) for i, sp in enumerate(splits) if sp in shown]
    handles.append(axes[0].scatter([], [], s=16, facecolors="none", edgecolors="0.6",
                                   label="hollow: ceiling does not beat the weak model"))
    fig.legend(handles=handles, loc="outside lower center", ncols=6, fontsize=5.5, frameon=False)
    return fig


def tables(ctx: FigureContext) -> dict[str, str]:
    """``regression_fits_table``: per data set and strong representation, the fit of gain on misfit with its
    CIs, ε and the statements' shares; ``regression_selection_table``: the selection rule per weak model (means
    over the splits, best strong representation)."""
    path = ctx.results_dir / EXPERIMENT / "results.json"
    stems = ("regression_fits_table", "regression_selection_table")
    if not path.is_file():
        return {s: pending_table(f"tab:{s.removesuffix('_table').replace('_', '-')}",
                                 "No real-data regression results are committed yet.", COMMAND) for s in stems}
    data = read_json(path)
    rows = []
    for name, d in data["datasets"].items():
        for strong, b in d["by_strong"].items():
            f = b["fit"]
            rows.append([latex_escape(name), latex_escape(strong), f"{b['counted']}/{b['points']}", fmt(f["slope"], 2),
                         fmt_interval(f["ci"]["slope"], 2), fmt(f["intercept"]), fmt(f["r2"], 2),
                         fmt(b["mean_epsilon"]), fmt(b["frac_nonrealizable_holds"], 2),
                         f"{b['selection_picks_best']}/{b['selection_splits']}"])
    fits = Table(columns=["data", "strong", "pairs", "slope", "95\\% CI", "intercept", "$R^2$", "$\\bar\\varepsilon$",
                          "NR", "pick"],
                 rows=rows, label="tab:regression-fits", sources=[display_path(path)], align="llrrrrrrrr",
                 caption="Gain on misfit in the real-data regression study, per data set and strong representation "
                         "(test split, standardised squared error). Pairs: (weak, split) points whose strong "
                         "ceiling beats the weak model, of all points; the fit (bootstrap CI over pairs) uses "
                         "those. $\\bar\\varepsilon$: mean ceiling error; NR: share of all points with "
                         "$|\\mathrm{gain}-\\mathrm{misfit}| \\le 2\\sqrt{\\varepsilon\\cdot\\mathrm{misfit}}$; "
                         "pick: splits where ranking weak models by weak error $-$ misfit picks the best student.")
    sel_rows = []
    for name, d in data["datasets"].items():
        strong = d["best_strong"]
        tables_ = [t for t in data["selection"] if t["dataset"] == name and t["strong"] == strong]
        for w in dict.fromkeys(r["weak"] for t in tables_ for r in t["rows"]):
            mine = [r for t in tables_ for r in t["rows"] if r["weak"] == w]
            mean = {k: sum(r[k] for r in mine) / len(mine) for k in ("weak_error", "misfit", "score", "w2s_error")}
            sel_rows.append([latex_escape(name), latex_escape(w), fmt(mean["weak_error"]), fmt(mean["misfit"]),
                             fmt(mean["score"]), fmt(mean["w2s_error"]),
                             str(sum(t["pick"] == w for t in tables_)), str(sum(t["best"] == w for t in tables_))])
    selection = Table(columns=["data", "weak model", "weak err.", "misfit", "weak $-$ misfit", "w2s err.", "picked",
                               "best"],
                      rows=sel_rows, label="tab:regression-selection", sources=[display_path(path)],
                      align="llrrrrrr",
                      caption="Weak-model selection (the paper's Table 1) with each data set's best strong "
                              "representation: means over the splits of each weak model's test errors, misfit and "
                              "the rule's score, and in how many splits the rule picks it and it gives the best "
                              "student.")
    return {"regression_fits_table": fits.to_latex(), "regression_selection_table": selection.to_latex()}


def build(ctx: FigureContext) -> FigureOutcome:
    return results_figure(ctx, NAME, EXPERIMENT, "real-data regression", COMMAND, draw)


SPEC = FigureSpec(
    name=NAME,
    kind="llm",
    shows="Real-data regression (the misfit paper's molecule study and its text analogue): gain vs misfit on "
          "FreeSolv, solubility and IMDB ratings, colour = weak model, marker = split.",
    data="results/regression/results.json",
    command=COMMAND,
    build=build,
    tables=tables,
)
