"""How well the gain predictor does on the real ladder: every single-weak (task, weak, strong) pair of a misfit
study, predicted from k gold test labels, against the gain measured on the whole test split.

``weakstrong llm predict-eval [--study results/ladder/results.json] [--ks 10 30 100] [--draws 200]
--out results/gain_prediction``

For every pair the student is the study's probe (:func:`weakstrong.llm.study.predict.probe_students`), the pool is
the test split, the measured gain uses all its labels, and each prediction uses k of them, drawn ``draws``
times (seeded): uniformly without replacement, or misfit-guided (with replacement, probabilities from the
candidates' disagreement). The k draws of one (task, strong) group are shared by its weak candidates, as
when k points are labelled once and every candidate is scored on them. Reported per k and design:

- gain prediction over the pairs: R^2 (mean over draws of 1 - SSE/SST across pairs), median |error| over
  pairs and draws divided by the standard deviation of the measured gains across pairs ("spread"), and
  coverage of the ``level`` t interval; for the predictor (misfit + k-label cross term) and the naive k-label
  difference of the two errors;
- label-free baselines (no label of the group): the misfit itself (the theory's prediction, gain = misfit
  when realizable), and, calibrated by leave-one-(task, strong)-group-out least squares on the other groups'
  measured gains, the misfit and a representation-overlap score in the spirit of Xue, Li & Mirzasoleiman
  (2025): the misalignment of the weak and strong principal subspaces on w2s-train
  (:func:`weakstrong.theory.representations.subspace_misalignment`);
- weak-model selection per (task, strong): choose the candidate of least predicted w2s error (k-label weak
  error minus each rule's gain), against the least measured w2s error: top-1 accuracy and regret (w2s error
  of the choice minus the best), for the predictor, the naive estimate (= the student's own k-label error),
  the weak error alone, Charikar et al.'s score weak error - misfit, and the overlap score.

Fine-tuned students: when the study holds single-teacher points with ``"student": "finetune"``, the probe-level
predictions (made from frozen features, before any fine-tuning) are checked against the fine-tuned gains:
raw, and calibrated by leave-one-group-out least squares (never fitted on the group it predicts), with their
selection top-1 and regret. Without such points the section says "no fine-tuned points yet".
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np

from weakstrong.config import ConfigError, check_int, check_number
from weakstrong.llm.models.options import RunOptions
from weakstrong.llm.study.predict import load_inputs, probe_students, shared_sampling_prob


DESIGNS = ("uniform", "misfit")
RULES = ("predictor", "naive", "weak_error", "charikar", "overlap")
NO_FINETUNE = "no fine-tuned points yet"


@dataclass(frozen=True)
class EvalConfig:
    """One evaluation of the gain predictor on a misfit study's pairs."""

    study: str = "results/ladder/results.json"  # the misfit study: its config fixes splits, seed and models
    data_dir: str | None = None  # folder of the task files (none: the study's)
    ks: tuple[int, ...] = (10, 30, 100)  # gold labels per prediction
    draws: int = 200  # independent label draws per k
    level: float = 0.9  # coverage of the intervals
    seed: int = 0  # seed of the label draws
    variance: float = 0.9  # share of variance kept in the principal subspaces of the overlap score

    def validate(self) -> "EvalConfig":
        owner = "EvalConfig"
        if not Path(self.study).is_file():
            raise ConfigError(f"{owner}.study: no misfit-study results at {self.study!r} (written by weakstrong "
                              f"llm misfit-study --out DIR)")
        if not self.ks:
            raise ConfigError(f"{owner}.ks must list at least one k")
        for k in self.ks:
            check_int(owner, "ks[...]", k, minimum=2)
        check_int(owner, "draws", self.draws)
        check_int(owner, "seed", self.seed, minimum=0)
        check_number(owner, "level", self.level, minimum=0.0, strict=True, maximum=0.999)
        check_number(owner, "variance", self.variance, minimum=0.0, strict=True, maximum=1.0)
        return self

    def study_cache(self) -> str:
        """The study's stage cache, where its features are (the study's folder/cache)."""
        return str(Path(self.study).parent / "cache")


def study_config_of(results: dict, cfg: EvalConfig):
    """The :class:`~weakstrong.llm.study.misfit.MisfitStudyConfig` a results.json was written with (fields this
    version does not know are dropped; new ones keep their defaults), without fine-tuning or extra seeds."""
    from weakstrong.llm.students.classifier import ProbeConfig
    from weakstrong.llm.study.misfit import MisfitStudyConfig

    saved = dict(results["config"])
    known = {f.name: f for f in fields(MisfitStudyConfig)}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in saved.items() if k in known}
    values["probe"] = ProbeConfig(**{k: v for k, v in saved.get("probe", {}).items()
                                     if k in {f.name for f in fields(ProbeConfig)}})
    for name, value in (("finetune_tasks", ()), ("extra_seeds", ()), ("extra_seed_tasks", ()), ("ensembles", ())):
        if name in known:
            values[name] = value
    values.pop("finetune", None)
    study = MisfitStudyConfig(**values)
    if cfg.data_dir is not None:
        study = replace(study, data_dir=cfg.data_dir)
    return study.validate()


def _overlap_bases(study, inputs, variance: float) -> dict:
    """Principal subspace of every model's representation on w2s-train (tf-idf: its bag of words)."""
    from weakstrong.llm.supervision.weak import TfidfWeak
    from weakstrong.theory.representations import principal_subspace

    bases = {}
    for name in dict.fromkeys(study.weak + study.strong):
        if (name, "w2s_train") in inputs.feats:
            bases[name] = principal_subspace(inputs.feats[(name, "w2s_train")], variance)
        elif name == "tfidf":
            vectorizer = TfidfWeak(seed=study.seed).fit(inputs.data.weak_train).vectorizer_
            bases[name] = principal_subspace(vectorizer.transform(inputs.data.w2s_train.joined()), variance)
    return bases


def group_pairs(task: str, strong: str, names, weak: np.ndarray, students: np.ndarray, y: np.ndarray,
                overlap: dict, cfg: EvalConfig, group_key: tuple[int, ...]) -> list[dict]:
    """The pairs of one (task, strong) group: measured terms, overlap score, and the draws per k and design.

    ``weak``, ``students``: (m, n) test predictions of the m candidates and of their students; ``overlap``:
    {weak name: score}; ``group_key``: integers naming the group in the draws' seed, so that the candidates
    of a group share their draws (uniform: the same positions; misfit-guided: one shared design).
    """
    from weakstrong.theory.gain.predictor import gain_decomposition
    from weakstrong.theory.gain.simulation import draw_summary, repeated_predictions

    prob = shared_sampling_prob(weak, students)
    pairs = []
    for j, name in enumerate(names):
        pair = {"task": task, "weak": name, "strong": strong, "student": "probe",
                "measured": gain_decomposition(weak[j], students[j], y), "overlap": overlap.get(name),
                "draws": {}, "summary": {}}
        for k in cfg.ks:
            for d, design in enumerate(DESIGNS):
                seed = int(np.random.SeedSequence([cfg.seed, *group_key, k, d]).generate_state(1)[0])
                pred = repeated_predictions(weak[j], students[j], y, k, cfg.draws, seed, level=cfg.level,
                                            sampling=design, sampling_prob=prob if design == "misfit" else None)
                pair["draws"][(k, design)] = pred
                pair["summary"].setdefault(str(k), {})[design] = {
                    **draw_summary(pred),
                    "example": {"gain": float(pred["gain"][0]), "ci": [float(pred["gain_lo"][0]),
                                                                         float(pred["gain_hi"][0])]}}
        pairs.append(pair)
    return pairs


def _task_pairs(study, cfg: EvalConfig, options: RunOptions, task: str, log) -> list[dict]:
    """Every (weak, strong) pair of ``task``, from the study's stage cache."""
    from weakstrong.theory.representations import subspace_misalignment

    inputs = load_inputs(study, task, Path(options.cache_dir or cfg.study_cache()), options)
    bases = _overlap_bases(study, inputs, cfg.variance)
    pairs = []
    for s_index, strong in enumerate(study.strong):
        students = probe_students(study, inputs, strong)
        overlap = {name: subspace_misalignment(bases[name], bases[strong]) for name in study.weak
                   if name in bases and strong in bases}
        pairs += group_pairs(task, strong, study.weak, inputs.weak_out["test"], students, inputs.data.test.target,
                             overlap, cfg, (study.tasks.index(task), s_index))
        log(f"{task}/{strong}: {len(study.weak)} pairs")
    return pairs


def _r2(pred: np.ndarray, truth: np.ndarray) -> float:
    """1 - SSE/SST over pairs; ``pred`` (pairs,) or (pairs, draws) -> mean over draws."""
    pred = pred if pred.ndim == 2 else pred[:, None]
    sst = float(np.sum((truth - truth.mean()) ** 2))
    return float(np.mean(1.0 - np.sum((pred - truth[:, None]) ** 2, axis=0) / sst))


def _fit_stats(pred: np.ndarray, truth: np.ndarray, lo=None, hi=None) -> dict:
    """R^2, median |error| / spread (SD of the truth across pairs), RMSE and, with an interval, coverage
    (R^2 and the relative error are None when the truth does not vary)."""
    pred2 = pred if pred.ndim == 2 else pred[:, None]
    err = np.abs(pred2 - truth[:, None])
    spread = float(np.std(truth))
    out = {"r2": _r2(pred2, truth) if spread > 0 else None,
           "median_abs_error_over_spread": float(np.median(err) / spread) if spread > 0 else None,
           "rmse": float(np.sqrt(np.mean(err**2)))}
    if lo is not None:
        out["coverage"] = float(np.mean((lo <= truth[:, None]) & (truth[:, None] <= hi)))
    return out


def _logo(score: np.ndarray, target: np.ndarray, groups: list) -> np.ndarray:
    """Leave-one-group-out least-squares prediction of ``target`` from ``score`` (pairs,) or (pairs, draws):
    each group's values come from a line fitted on the other groups only."""
    score2 = score if score.ndim == 2 else score[:, None]
    out = np.empty_like(score2, dtype=float)
    for key in dict.fromkeys(groups):
        held = np.array([g == key for g in groups])
        for r in range(score2.shape[1]):
            slope, intercept = np.polyfit(score2[~held, r], target[~held], 1)
            out[held, r] = slope * score2[held, r] + intercept
    return out if score.ndim == 2 else out[:, 0]


def _selection(groups: list, w2s_true: np.ndarray, w2s_pred: np.ndarray) -> dict:
    """Top-1 accuracy and mean regret of choosing, per group (of two candidates or more) and draw, the least
    predicted w2s error."""
    hits, regrets = [], []
    for key in dict.fromkeys(groups):
        rows = np.array([g == key for g in groups])
        if rows.sum() < 2:
            continue
        truth, pred = w2s_true[rows], w2s_pred[rows]                               # (m,), (m, draws)
        chosen = np.argmin(pred, axis=0)
        hits.append(chosen == np.argmin(truth))
        regrets.append(truth[chosen] - truth.min())
    if not hits:
        return {"top1": None, "regret": None, "groups": 0}
    return {"top1": float(np.mean(hits)), "regret": float(np.mean(regrets)), "groups": len(hits)}


def evaluate(pairs: list[dict], cfg: EvalConfig) -> dict:
    """The metrics of the module docstring over the probe pairs (calibrated baselines need three groups)."""
    groups = [(p["task"], p["strong"]) for p in pairs]
    if len(pairs) < 2:
        return {"n_pairs": len(pairs), "n_groups": len(set(groups)), "note": "fewer than two pairs"}
    calibrate = len(set(groups)) >= 3
    gain = np.array([p["measured"]["gain"] for p in pairs])
    w2s = np.array([p["measured"]["w2s_error"] for p in pairs])
    misfit = np.array([p["measured"]["misfit"] for p in pairs])
    overlap = np.array([np.nan if p["overlap"] is None else p["overlap"] for p in pairs])
    have_overlap = bool(np.all(np.isfinite(overlap)))
    label_free = {"misfit": _fit_stats(misfit, gain)}
    overlap_gain = _logo(overlap, gain, groups) if have_overlap and calibrate else None
    if calibrate:
        label_free["misfit_calibrated"] = _fit_stats(_logo(misfit, gain, groups), gain)
    if overlap_gain is not None:
        label_free["overlap_calibrated"] = _fit_stats(overlap_gain, gain)
    by_k = {}
    for k in cfg.ks:
        entry = {}
        for design in DESIGNS:
            draws = [p["draws"][(k, design)] for p in pairs]
            stack = {name: np.stack([d[name] for d in draws]) for name in
                     ("gain", "gain_lo", "gain_hi", "naive", "naive_lo", "naive_hi", "weak", "w2s", "naive_w2s")}
            rules = {"predictor": stack["w2s"], "naive": stack["naive_w2s"], "weak_error": stack["weak"],
                     "charikar": stack["weak"] - misfit[:, None]}
            if overlap_gain is not None:
                rules["overlap"] = stack["weak"] - overlap_gain[:, None]
            entry[design] = {
                "predictor": _fit_stats(stack["gain"], gain, stack["gain_lo"], stack["gain_hi"]),
                "naive": _fit_stats(stack["naive"], gain, stack["naive_lo"], stack["naive_hi"]),
                "selection": {rule: _selection(groups, w2s, pred) for rule, pred in rules.items()}}
        by_k[str(k)] = entry
    out = {"n_pairs": len(pairs), "n_groups": len(set(groups)), "gain_sd": float(np.std(gain)),
           "gain_range": [float(gain.min()), float(gain.max())], "label_free": label_free, "by_k": by_k}
    if not calibrate:
        out["note"] = "fewer than 3 (task, strong) groups: no leave-one-group-out calibration"
    return out


def evaluate_finetune(pairs: list[dict], study_results: dict, cfg: EvalConfig) -> dict:
    """Probe-level predictions (uniform draws) against the fine-tuned students' measured gains."""
    seed = study_results["config"].get("seed", 0)
    tuned = {(p["task"], p["weak"], p["strong"]): p["sq"] for p in study_results.get("points", [])
             if p.get("student") == "finetune" and p.get("method") == "single" and p.get("seed", seed) == seed}
    rows = [(p, tuned[(p["task"], p["weak"], p["strong"])]) for p in pairs
            if (p["task"], p["weak"], p["strong"]) in tuned]
    if not rows:
        return {"status": NO_FINETUNE}
    groups = [(p["task"], p["strong"]) for p, _ in rows]
    gain = np.array([t["gain"] for _, t in rows])
    w2s = np.array([t["w2s_error"] for _, t in rows])
    probe_gain = np.array([p["measured"]["gain"] for p, _ in rows])
    k_show = str(max(cfg.ks))
    out = {"status": "ok", "n_pairs": len(rows), "n_groups": len(set(groups)), "gain_sd": float(np.std(gain)),
           "probe_measured_gain": _fit_stats(probe_gain, gain), "by_k": {},
           "pairs": [{"task": p["task"], "weak": p["weak"], "strong": p["strong"], "gain": t["gain"],
                      "w2s_error": t["w2s_error"], "probe_gain": p["measured"]["gain"],
                      "example_k": int(k_show), "example": p["summary"][k_show]["uniform"]["example"]}
                     for p, t in rows]}
    calibrate = len(set(groups)) >= 3
    for k in cfg.ks:
        draws = [p["draws"][(k, "uniform")] for p, _ in rows]
        pred = np.stack([d["gain"] for d in draws])
        lo, hi = np.stack([d["gain_lo"] for d in draws]), np.stack([d["gain_hi"] for d in draws])
        weak = np.stack([d["weak"] for d in draws])
        entry = {"raw": _fit_stats(pred, gain, lo, hi),
                 "selection_raw": _selection(groups, w2s, weak - pred) if len(rows) > 1 else None}
        if calibrate:
            calibrated = _logo(pred, gain, groups)
            entry["calibrated"] = _fit_stats(calibrated, gain)
            entry["selection_calibrated"] = _selection(groups, w2s, weak - calibrated)
        out["by_k"][str(k)] = entry
    if not calibrate:
        out["note"] = "fewer than 3 (task, strong) groups: no leave-one-group-out calibration"
    return out


def run_eval(cfg: EvalConfig, options: RunOptions = RunOptions(threads=1), log=print) -> dict:
    """Evaluate every pair of ``cfg.study`` (features through ``options.cache_dir``, none: the study's);
    returns the results and writes no results file."""
    from weakstrong.io import read_json

    cfg.validate()
    options.validate()
    start = time.perf_counter()
    study_results = read_json(cfg.study)
    study = study_config_of(study_results, cfg)
    pairs = [p for task in study.tasks for p in _task_pairs(study, cfg, options, task, log)]
    points = {(p["task"], p["weak"], p["strong"]): p["sq"]["gain"] for p in study_results.get("points", [])
              if p.get("student", "probe") == "probe" and p.get("method") == "single"
              and p.get("seed", study.seed) == study.seed}
    for p in pairs:
        p["study_gain"] = points.get((p["task"], p["weak"], p["strong"]))
    consistency = [abs(p["study_gain"] - p["measured"]["gain"]) for p in pairs if p["study_gain"] is not None]
    # The study's points: pairs whose strong ceiling beats the weak model; the others are listed as skipped
    # (there a probe on features wider than w2s-train can interpolate its teacher and extrapolate wildly).
    in_study = [p for p in pairs if p["study_gain"] is not None]
    results = {"config": asdict(cfg), "study_config": asdict(study), "ks": list(cfg.ks), "draws": cfg.draws,
               "level": cfg.level, "designs": list(DESIGNS), "rules": list(RULES),
               "probe": {"points": evaluate(in_study, cfg), "all": evaluate(pairs, cfg)},
               "finetune": evaluate_finetune(pairs, study_results, cfg),
               "max_abs_diff_to_study_gain": max(consistency) if consistency else None,
               "n_study_points": len(consistency),
               "pairs": [{key: v for key, v in p.items() if key != "draws"} for p in pairs],
               "seconds": time.perf_counter() - start}
    return results


def format_summary(results: dict) -> str:
    """The numbers of the evaluation as a text table."""
    diff = results["max_abs_diff_to_study_gain"]
    lines = [f"{results['draws']} draws per k; largest |measured - study gain| "
             f"{'n/a' if diff is None else format(diff, '.2e')} over {results['n_study_points']} study points"]
    for subset, probe in results["probe"].items():
        lines += _probe_lines(subset, probe)
    ft = results["finetune"]
    if ft["status"] != "ok":
        lines.append(f"fine-tuned students: {ft['status']}")
    else:
        for k, e in ft["by_k"].items():
            cal = e.get("calibrated")
            lines.append(f"fine-tuned k={k}: raw R2 {_num(e['raw']['r2'])} coverage {e['raw']['coverage']:.3f}"
                         + ("" if cal is None else f"; calibrated R2 {_num(cal['r2'])}"))
    return "\n".join(lines)


def _num(value) -> str:
    return "n/a" if value is None else f"{value:+.3f}"


def _probe_lines(subset: str, probe: dict) -> list[str]:
    if "by_k" not in probe:
        return [f"[{subset}] {probe['n_pairs']} probe pairs: {probe['note']}"]
    lines = [f"[{subset}] {probe['n_pairs']} probe pairs in {probe['n_groups']} (task, strong) groups; measured "
             f"gain SD {probe['gain_sd']:.4f}, range [{probe['gain_range'][0]:+.3f}, {probe['gain_range'][1]:+.3f}]",
             "label-free: " + "; ".join(f"{name} R2 {_num(s['r2'])}, medAE/spread "
                                        f"{_num(s['median_abs_error_over_spread'])}"
                                        for name, s in probe["label_free"].items())]
    for k, entry in probe["by_k"].items():
        for design, e in entry.items():
            sel = ", ".join(f"{rule} {_num(s['top1'])}/{_num(s['regret'])}" for rule, s in e["selection"].items())
            pred, naive = e["predictor"], e["naive"]
            lines.append(f"k={k:>4} {design:<7} predictor R2 {_num(pred['r2'])} medAE/spread "
                         f"{_num(pred['median_abs_error_over_spread'])} coverage {pred['coverage']:.3f} | naive R2 "
                         f"{_num(naive['r2'])} medAE/spread {_num(naive['median_abs_error_over_spread'])} coverage "
                         f"{naive['coverage']:.3f}")
            lines.append(f"         selection top1/regret: {sel}")
    return lines
