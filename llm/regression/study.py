"""The misfit paper's real-data regression study (Charikar, Pabbaraju & Shiragur 2024, Fig. 2(d–f), Tables 1–3),
on molecules (FreeSolv, aqueous solubility) and on IMDB ratings (the appendix's text analogue).

Protocol, per data set, split, strong representation S and weak model W (squared loss, labels standardised
by the weak-train mean and standard deviation):

1. the weak model f_w: a ridge head (RidgeCV, leave-one-out choice of the penalty) on W's standardised
   representation, fitted on gold weak-train labels; FreeSolv's ``calc`` is a weak teacher with no training;
2. f_w labels w2s-train; the student f_sw is the exact least-squares projection of those labels onto V_s =
   {a + b·z(x)}, z the first ``strong_dim`` principal components of S's standardised representation (fitted on
   the weak-train and w2s-train inputs, no labels), so V_s is a fixed subspace and the subspace statements apply;
3. the ceiling is the projection of the gold w2s-train labels onto the same V_s; its test error estimates ε;
4. on test: weak error, w2s error, misfit d(f_sw, f_w), gain, ε, the cross term, Theorem 1 and the
   non-realizable bound |gain − misfit| ≤ 2√(ε·misfit); on w2s-train (the student's own sample) the
   identity gain = misfit − 2⟨r*, r_w⟩ is exact.

Then per (data set, strong): gain on misfit with bootstrap CIs over the (weak, split) points where the strong
ceiling beats the weak model on test (a weak-to-strong pair, the rule of the LLM ladder study; ``fit_all`` over
every point), and the paper's
selection table: per split, each weak model's weak error, misfit, weak error − misfit (the rule's score, a
bound on the w2s error under Theorem 1) and true w2s error, and whether the rule picks the best student.

``run(config, options)`` returns the results dict; it writes nothing but the stage cache (features).
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass

import numpy as np

from weakstrong.config import ConfigError, check_int, check_number
from weakstrong.io import config_hash
from weakstrong.llm.classification.metrics import theory_check_sq
from weakstrong.llm.regression import datasets as ds
from weakstrong.llm.regression import representations as reps
from weakstrong.theory import bounds
from weakstrong.theory.ensembles import rank_weak_models
from weakstrong.theory.fits import bootstrap_gain_misfit_fit
from weakstrong.theory.projections import project_onto_subspace
from weakstrong.theory.records import BoundTerms, SampleCheck

DEFAULT_MOLECULE_WEAK = ("desc8", "maccs", "morgan1-64", "minilm-l2", "minilm-l6", "smollm2-135m-l4",
                         "smollm2-135m-l8", "calc")
DEFAULT_MOLECULE_STRONG = ("smollm2-135m", "gemma3-270m", "rdkit-desc")
DEFAULT_TEXT_WEAK = ("tfidf", "minilm-l2", "minilm-l6", "smollm2-135m-l4", "smollm2-135m-l8")
DEFAULT_TEXT_STRONG = ("smollm2-135m", "tfidf")
RIDGE_ALPHAS = tuple(float(a) for a in np.logspace(-2, 6, 17))
SCHEMA = 1
CLIP = 5.0  # standardised features are clipped to [-CLIP, CLIP] (see standardize)


@dataclass(frozen=True)
class RegressionStudyConfig:
    """What ``weakstrong llm regression-study`` computes; every field enters the result's config hash."""

    datasets: tuple[str, ...] = ds.DATASETS  # freesolv, solubility (molecules), imdb-rating (text)
    # weak models on molecules: classic RDKit representations (desc8 maccs morgan1-64 morgan2-2048 rdkit-desc),
    # ladder names (frozen SMILES embeddings) and calc (FreeSolv's physics-based estimate; freesolv only)
    molecule_weak: tuple[str, ...] = DEFAULT_MOLECULE_WEAK
    molecule_strong: tuple[str, ...] = DEFAULT_MOLECULE_STRONG  # strong representations on molecules
    text_weak: tuple[str, ...] = DEFAULT_TEXT_WEAK  # weak models on imdb-rating: tfidf or ladder names
    text_strong: tuple[str, ...] = DEFAULT_TEXT_STRONG  # strong representations on imdb-rating
    random_splits: tuple[int, ...] = (0, 1, 2)  # seeds of the random splits
    scaffold_split: bool = True  # one scaffold split more on the molecule sets (test = the rarest scaffolds)
    test_fraction: float = 0.2  # share of each data set held out as test; the rest is halved (weak / w2s train)
    # principal components of the strong representation that span the student's subspace (the same k for every
    # strong representation; each w2s-train set must have more rows than k)
    strong_dim: int = 64
    n_text: int = 2000  # IMDB reviews drawn (seed 0) for imdb-rating; feature time is linear in it
    max_length: int = 128  # token limit per input of the neural representations
    batch_size: int = 32  # inputs per forward pass
    bf16: bool = True  # bf16 weights for the frozen passes where the device runs bf16 natively (else float32)
    max_bad_fraction: float = 0.05  # unusable rows per file past which a data file is an error
    n_bootstrap: int = 1000  # bootstrap resamples of the points for the fits' confidence intervals
    seed: int = 0  # seed of the bootstrap

    def validate(self) -> "RegressionStudyConfig":
        """Check every field before any data or model is touched; :class:`ConfigError` names the first bad one."""
        owner = "RegressionStudyConfig"
        bad = [d for d in self.datasets if d not in ds.DATASETS]
        if not self.datasets or bad or len(set(self.datasets)) != len(self.datasets):
            raise ConfigError(f"{owner}.datasets must be distinct values from {ds.DATASETS}, got {list(self.datasets)}")
        for name, classic in (("molecule_weak", reps.CLASSIC_MOLECULE), ("molecule_strong", reps.CLASSIC_MOLECULE),
                              ("text_weak", reps.CLASSIC_TEXT), ("text_strong", reps.CLASSIC_TEXT)):
            values = getattr(self, name)
            if not values or len(set(values)) != len(values) or not all(isinstance(v, str) and v.strip()
                                                                         for v in values):
                raise ConfigError(f"{owner}.{name} must name at least one distinct representation, got {values!r}")
            other = reps.CLASSIC_TEXT if classic is reps.CLASSIC_MOLECULE else reps.CLASSIC_MOLECULE
            wrong = [v for v in values if v in other or (v in reps.TEACHERS and not name.startswith("molecule_weak"))]
            if wrong:
                raise ConfigError(f"{owner}.{name}: {wrong} cannot be read from these inputs (allowed classic "
                                  f"representations: {sorted(classic)}; calc is a molecule weak teacher)")
        if not self.random_splits and not self.scaffold_split:
            raise ConfigError(f"{owner}: no split (give --random-splits or --scaffold-split)")
        for s in self.random_splits:
            check_int(owner, "random_splits", s, minimum=0)
        if len(set(self.random_splits)) != len(self.random_splits):
            raise ConfigError(f"{owner}.random_splits must be distinct seeds, got {list(self.random_splits)}")
        check_number(owner, "test_fraction", self.test_fraction, minimum=0.05, maximum=0.5)
        check_int(owner, "strong_dim", self.strong_dim, minimum=1)
        check_int(owner, "n_text", self.n_text, minimum=20)
        for name in ("max_length", "batch_size", "n_bootstrap"):
            check_int(owner, name, getattr(self, name))
        check_int(owner, "seed", self.seed, minimum=0)
        check_number(owner, "max_bad_fraction", self.max_bad_fraction, minimum=0.0, maximum=1.0)
        if not isinstance(self.bf16, bool) or not isinstance(self.scaffold_split, bool):
            raise ConfigError(f"{owner}.bf16 and scaffold_split must be true or false")
        return self

    def models(self, dataset: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(weak, strong) names for ``dataset``; ``calc`` only where the data set has it."""
        if dataset in ds.MOLECULE_SETS:
            weak = tuple(w for w in self.molecule_weak if w != "calc" or dataset == "freesolv")
            return weak, self.molecule_strong
        return self.text_weak, self.text_strong

    def splits(self, dataset: str) -> list[tuple[str, str, int]]:
        """(split name, kind, seed) for ``dataset``."""
        out = [(f"random-{s}", "random", s) for s in self.random_splits]
        if self.scaffold_split and dataset in ds.MOLECULE_SETS:
            out.append(("scaffold", "scaffold", 0))
        return out


@dataclass(frozen=True)
class RunOptions:
    """Where and how a run goes; never part of a result's identity."""

    data_dir: str | None = None  # folder holding imdb/ (e.g. ../shared/data), for imdb-rating
    cache_dir: str | None = None  # stage cache of the representations (None: no caching)
    device: str | None = None  # torch device (None: cuda if available, else cpu)
    threads: int | None = None  # torch CPU threads (None: torch's own setting)
    progress: bool = True  # stage lines on stderr


# --- the protocol on arrays ------------------------------------------------------------------------------------

def standardize(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Columns of ``x`` centred and scaled by their mean and SD over the rows ``ref``, clipped to ±:data:`CLIP`;
    constant columns dropped. No labels are read.

    The clip is a fixed feature transform (the same for every representation and split): RDKit descriptors
    and fingerprint counts are heavy-tailed, and a molecule 50 SDs out on one descriptor gives the least-squares
    student a leverage point that dominates its fit (FreeSolv, ``rdkit-desc``, 64 components: ceiling error
    0.60 unclipped, 0.21 clipped; the neural representations move by < 0.01).
    """
    x = np.asarray(x, dtype=float)
    mu, sd = x[ref].mean(0), x[ref].std(0)
    keep = sd > 1e-12 * max(1.0, float(np.abs(mu).max(initial=0.0)))
    if not keep.any():
        raise ValueError("every column of the representation is constant on the reference rows")
    return np.clip((x[:, keep] - mu[keep]) / sd[keep], -CLIP, CLIP)


def principal_coordinates(x: np.ndarray, ref: np.ndarray, k: int) -> np.ndarray:
    """(n, k') coordinates of every row on the first k' = min(k, rank) principal axes of the rows ``ref`` (after
    :func:`standardize`). No labels are read."""
    z = standardize(x, ref)
    _, s, vt = np.linalg.svd(z[ref] - z[ref].mean(0), full_matrices=False)
    rank = int(np.sum(s > s[0] * max(z.shape) * np.finfo(float).eps)) if s.size else 0
    return z @ vt[:min(k, rank)].T


def ridge_predictions(x: np.ndarray, y: np.ndarray, train: np.ndarray) -> tuple[np.ndarray, float]:
    """A ridge head on the standardised ``x`` fitted on ``y[train]`` (penalty by leave-one-out over
    :data:`RIDGE_ALPHAS`): its predictions on every row, and the penalty chosen."""
    from sklearn.linear_model import RidgeCV

    z = standardize(x, train)
    head = RidgeCV(alphas=RIDGE_ALPHAS).fit(z[train], y[train])
    return head.predict(z), float(head.alpha_)


def subspace_predictions(z: np.ndarray, target: np.ndarray, train: np.ndarray) -> np.ndarray:
    """The exact least-squares projection of ``target[train]`` onto {a + b·z} (theory's projection), on every row."""
    proj = project_onto_subspace(z[train], target[train])
    return z @ proj.coef + proj.intercept


def w2s_point(weak: np.ndarray, z: np.ndarray, y: np.ndarray, split: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The student f_sw (projection of the weak labels on w2s-train) and the ceiling (of the gold labels) on every
    row, for a weak model's predictions ``weak`` and strong coordinates ``z``."""
    w2s = split["w2s_train"]
    return {"student": subspace_predictions(z, weak, w2s), "ceiling": subspace_predictions(z, y, w2s)}


def in_sample_check(y, weak, student, ceiling, z) -> SampleCheck:
    """The terms on the student's own sample, with the exact identity gain = misfit − 2⟨r*, r_w⟩ as its statement
    and the non-realizable bound."""
    identity = bounds.nonrealizable_identity(y, weak, student, ceiling, features=z)
    bound = bounds.nonrealizable_bound(y, weak, student, identity.terms["epsilon"])
    t = identity.terms
    return SampleCheck(t["weak_error"], t["w2s_error"], t["misfit"], t["gain"], epsilon=t["epsilon"],
                       strong_error=t["epsilon"], bound=identity.bound, slack=identity.slack,
                       holds=bool(identity.holds),
                       nonrealizable=BoundTerms(bound=bound.bound, slack=bound.slack, holds=bool(bound.holds)))


def selection_table(points: list[dict]) -> dict:
    """The weak-model selection rule on one (data set, strong, split): rank the weak models by weak error −
    misfit (:func:`~weakstrong.theory.ensembles.rank_weak_models`) and compare the pick with the best student.

    ``points``: dicts with ``weak``, ``weak_error``, ``misfit``, ``w2s_error``. Returns the rows in the rule's
    order, the pick, the best, whether they agree, the pick's regret (its w2s error minus the best one's) and
    whether the pick's score bounds its w2s error (Theorem 1's promise for a realizable class).
    """
    ranking = rank_weak_models([p["weak_error"] for p in points], [p["misfit"] for p in points])
    rows = [{"weak": points[i]["weak"], "weak_error": points[i]["weak_error"], "misfit": points[i]["misfit"],
             "score": float(ranking.scores[i]), "w2s_error": points[i]["w2s_error"]} for i in ranking.order]
    pick = rows[0]
    best = min(rows, key=lambda r: r["w2s_error"])
    return {"rows": rows, "pick": pick["weak"], "best": best["weak"], "picks_best": pick["weak"] == best["weak"],
            "regret": pick["w2s_error"] - best["w2s_error"], "score_bounds_pick": pick["w2s_error"] <= pick["score"]}


# --- the study --------------------------------------------------------------------------------------------------

class _Log:
    def __init__(self, enabled: bool):
        self.enabled, self.start = enabled, time.perf_counter()

    def __call__(self, msg: str) -> None:
        if self.enabled:
            print(f"[regression-study {time.perf_counter() - self.start:6.1f}s] {msg}", file=sys.stderr, flush=True)


def _features(cfg, data: ds.RegressionSet, names, options, device, dtype, stages: dict, log) -> dict:
    """{name: (n, d)} for every representation ``names`` of this data set (cached)."""
    out = {}
    neural = [n for n in names if not reps.is_classic(n)]
    for n in names:
        if reps.is_classic(n):
            log(f"{data.name}: {n} ({len(data)} inputs)")
            out[n] = reps.classic_features(n, data.inputs, options.cache_dir, stages)
    if neural:
        log(f"{data.name}: frozen {', '.join(neural)} ({len(data)} inputs)")
        out.update(reps.neural_features(neural, data.inputs, data.name, device, dtype, cfg.batch_size,
                                        cfg.max_length, options.cache_dir, stages))
    return out


def make_splits(cfg: RegressionStudyConfig, data: ds.RegressionSet) -> dict[str, tuple[str, int, dict]]:
    """{split name: (kind, seed, index sets)} of ``data``, checked against ``strong_dim`` (before any feature)."""
    scaffolds = ds.murcko_scaffolds(data.inputs) if data.molecules and cfg.scaffold_split else None
    out = {}
    for split_name, kind, seed in cfg.splits(data.name):
        try:
            idx = ds.split_indices(len(data), kind, seed, cfg.test_fraction, scaffolds)
        except ValueError as exc:
            raise ConfigError(f"RegressionStudyConfig: data set {data.name}: {exc}") from None
        if len(idx["w2s_train"]) <= cfg.strong_dim + 1 or len(idx["weak_train"]) < 3:
            raise ConfigError(f"RegressionStudyConfig.strong_dim (--strong-dim) = {cfg.strong_dim} needs more "
                              f"w2s-train rows than that; {data.name} split {split_name} has {len(idx['w2s_train'])} "
                              f"(and {len(idx['weak_train'])} weak-train rows)")
        out[split_name] = (kind, seed, idx)
    return out


def _dataset(cfg: RegressionStudyConfig, data: ds.RegressionSet, splits: dict, feats: dict, log) -> dict:
    """Points, records, fits, selection tables and the representation ladder of one data set."""
    weak_names, strong_names = cfg.models(data.name)
    points, records, selection, ladder = [], [], [], {}
    for split_name, (kind, seed, idx) in splits.items():
        wt, w2s, test = idx["weak_train"], idx["w2s_train"], idx["test"]
        mu, sd = float(data.target[wt].mean()), float(data.target[wt].std())
        y = (data.target - mu) / sd
        pool = np.concatenate([wt, w2s])
        weak_pred, alphas = {}, {}
        for w in weak_names:
            if w == "calc":
                weak_pred[w], alphas[w] = (data.calc - mu) / sd, None
            else:
                weak_pred[w], alphas[w] = ridge_predictions(feats[w], y, wt)
        coords = {s: principal_coordinates(feats[s], pool, cfg.strong_dim) for s in strong_names}
        # The ladder: every representation as a weak ridge head and as a ceiling in its own strong subspace.
        for name in dict.fromkeys([w for w in weak_names if w != "calc"] + list(strong_names)):
            z = coords[name] if name in coords else principal_coordinates(feats[name], pool, cfg.strong_dim)
            ceil = subspace_predictions(z, y, w2s)
            row = ladder.setdefault(name, {"representation": name, "describe": reps.describe(name),
                                           "dim": int(feats[name].shape[1]), "weak_error": {}, "ceiling_error": {}})
            row["ceiling_error"][split_name] = float(np.mean((ceil[test] - y[test]) ** 2))
            if name in weak_pred:
                row["weak_error"][split_name] = float(np.mean((weak_pred[name][test] - y[test]) ** 2))
        for s in strong_names:
            z = coords[s]
            split_points = []
            for w in weak_names:
                if w == s:
                    continue
                p = w2s_point(weak_pred[w], z, y, idx)
                sizes = {"n_weak_train": len(wt), "n_w2s_train": len(w2s), "n_test": len(test), "d_s": z.shape[1]}
                extra = {"split": split_name, "split_kind": kind, "ridge_alpha": alphas[w],
                         "weak_kind": reps.kind(w),
                         "label_mean": mu, "label_sd": sd}
                record = theory_check_sq(y[test], weak_pred[w][test], p["student"][test], p["ceiling"][test],
                                         "subspace", setting="regression", task=data.name, weak=w, strong=s,
                                         method="single", seed=seed, sizes=sizes, extra=extra)
                record.in_sample = in_sample_check(y[w2s], weak_pred[w][w2s], p["student"][w2s], p["ceiling"][w2s],
                                                   z[w2s])
                records.append(record.to_dict())
                point = {"dataset": data.name, "split": split_name, "weak": w, "strong": s,
                         "weak_error": record.weak_error, "w2s_error": record.w2s_error, "misfit": record.misfit,
                         "gain": record.gain, "epsilon": record.epsilon, "cross": record.cross,
                         "nonrealizable_bound": record.nonrealizable.bound,
                         "theorem1_holds": record.holds, "nonrealizable_holds": record.nonrealizable.holds,
                         "ceiling_beats_weak": record.strong_error < record.weak_error,
                         "in_sample_identity_holds": record.in_sample.holds}
                points.append(point)
                split_points.append(point)
            if split_points:
                selection.append({"dataset": data.name, "strong": s, "split": split_name,
                                  **selection_table(split_points)})
        log(f"{data.name}: split {split_name} done ({len(points)} points so far)")
    return {"points": points, "records": records, "selection": selection,
            "ladder": [{**row, "mean_weak_error": _mean(row["weak_error"]),
                        "mean_ceiling_error": _mean(row["ceiling_error"])} for row in ladder.values()]}


def _mean(values: dict) -> float | None:
    return float(np.mean(list(values.values()))) if values else None


def _summaries(cfg, out: dict, strong_names) -> dict:
    """Per strong representation: the fit of gain on misfit (bootstrap CIs over points), per split too, the
    shares of points where each statement holds, the selection rule's record; and the best strong."""
    def fit(pts):
        return bootstrap_gain_misfit_fit([p["misfit"] for p in pts], [p["gain"] for p in pts], cfg.n_bootstrap,
                                         cfg.seed)

    by_strong = {}
    for s in dict.fromkeys(p["strong"] for p in out["points"]):
        pts = [p for p in out["points"] if p["strong"] == s]
        counted = [p for p in pts if p["ceiling_beats_weak"]]
        sel = [t for t in out["selection"] if t["strong"] == s]
        by_strong[s] = {
            "fit": fit(counted), "fit_all": fit(pts),
            "by_split": {sp: fit([p for p in counted if p["split"] == sp])
                         for sp in dict.fromkeys(p["split"] for p in pts)},
            "points": len(pts), "counted": len(counted),
            "mean_epsilon": float(np.mean([p["epsilon"] for p in pts])),
            "mean_abs_cross": float(np.mean([abs(p["cross"]) for p in pts])),
            "frac_theorem1_holds": float(np.mean([p["theorem1_holds"] for p in pts])),
            "frac_nonrealizable_holds": float(np.mean([p["nonrealizable_holds"] for p in pts])),
            "frac_in_sample_identity_holds": float(np.mean([p["in_sample_identity_holds"] for p in pts])),
            "frac_ceiling_beats_weak": float(np.mean([p["ceiling_beats_weak"] for p in pts])),
            "selection_picks_best": int(sum(t["picks_best"] for t in sel)), "selection_splits": len(sel),
            "selection_mean_regret": float(np.mean([t["regret"] for t in sel])) if sel else None,
        }
    ceilings = {r["representation"]: r["mean_ceiling_error"] for r in out["ladder"]
                if r["representation"] in strong_names}
    return {"by_strong": by_strong, "best_strong": min(ceilings, key=ceilings.get)}


@dataclass
class Prepared:
    """What :func:`prepare` read and checked: the data sets, their splits and the neural models' names."""

    data: dict[str, ds.RegressionSet]
    splits: dict[str, dict]
    neural: list[str]


def prepare(cfg: RegressionStudyConfig, options: RunOptions = RunOptions()) -> Prepared:
    """Every check that can fail on bad input, before any feature is computed: the config, the model names, the
    data files (bad rows counted) and the split sizes against ``strong_dim``. Seconds."""
    cfg.validate()
    neural = sorted({n for d in cfg.datasets for n in sum(cfg.models(d), ()) if not reps.is_classic(n)
                     and n not in reps.TEACHERS})
    reps.check_neural(neural, cfg.max_length)
    data = {d: ds.load_dataset(d, options.data_dir, cfg.n_text, 0, cfg.max_bad_fraction) for d in cfg.datasets}
    return Prepared(data, {d: make_splits(cfg, x) for d, x in data.items()}, neural)


def run(cfg: RegressionStudyConfig, options: RunOptions = RunOptions(), prepared: Prepared | None = None) -> dict:
    """The study: every data set, split, strong and weak representation of ``cfg``. Returns the results dict.

    ``prepared``: the result of :func:`prepare` for this config and options (read again when None).
    """
    from weakstrong.llm.models.device import select_device, torch_threads
    from weakstrong.llm.models.precision import describe, inference_dtype

    log = _Log(options.progress)
    started = time.perf_counter()
    prepared = prepared or prepare(cfg, options)
    results = {"schema": SCHEMA, "config": asdict(cfg), "config_hash": config_hash(asdict(cfg)), "datasets": {},
               "points": [], "records": [], "selection": [], "stage_seconds": {}, "cached_stages": {}}
    with torch_threads(options.threads):
        device = select_device(options.device) if prepared.neural else None
        dtype = inference_dtype(device) if prepared.neural and cfg.bf16 else None
        results["device"] = None if device is None else str(device)
        results["precision"] = None if device is None else describe(device)
        results["dtype"] = "float32" if dtype is None else str(dtype).removeprefix("torch.")
        for name, data in prepared.data.items():
            weak, strong = cfg.models(name)
            splits = prepared.splits[name]
            stages: dict = {}
            t0 = time.perf_counter()
            feats = _features(cfg, data, [n for n in dict.fromkeys(weak + strong) if n not in reps.TEACHERS],
                              options, device, dtype, stages, log)
            t1 = time.perf_counter()
            out = _dataset(cfg, data, splits, feats, log)
            results["datasets"][name] = {
                "data": data.info(), "weak": list(weak), "strong": list(strong),
                "splits": {sp: {"kind": k, "seed": sd, **{part: len(ix) for part, ix in idx.items()}}
                           for sp, (k, sd, idx) in splits.items()},
                "representations": {n: reps.describe(n) for n in weak + strong},
                "ladder": out["ladder"], **_summaries(cfg, out, strong)}
            results["points"] += out["points"]
            results["records"] += out["records"]
            results["selection"] += out["selection"]
            results["stage_seconds"][name] = {"features": round(t1 - t0, 3),
                                              "heads": round(time.perf_counter() - t1, 3)}
            results["cached_stages"][name] = stages
    results["seconds"] = round(time.perf_counter() - started, 3)
    return results
