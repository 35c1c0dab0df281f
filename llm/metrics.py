"""Task metrics (accuracy, AUROC, PGR with a bootstrap CI) and the misfit theory checked on held-out data.

PGR, the performance gap recovered (Burns et al. 2023): (acc_w2s - acc_weak) / (acc_ceiling - acc_weak).

The theory check compares three predictors on labelled data — the truth f* (gold labels), the teacher f_w and
the student f_sw — with the strong ceiling f_s (the student trained on gold labels) standing in for the
projection of the truth onto the strong class:

- squared loss on probabilities: weak_error = d(f_w, f*), w2s_error = d(f_sw, f*), misfit = d(f_sw, f_w),
  gain = weak_error - w2s_error, Theorem 1 slack (Charikar et al. 2024), and the terms of the non-realizable
  identity gain = misfit - 2<r*, r_w> with r* = f* - f_s, r_w = f_w - f_sw and epsilon = d(f_s, f*);
- KL (Mulgund & Pabbaraju 2025): errors E KL(f* || f), misfit E KL(f_sw || f_w), and that inequality's slack.

Every distance and bound comes from ``weakstrong.theory``; this module only arranges them into records.
"""

from __future__ import annotations

import numpy as np

from weakstrong.theory import bounds
from weakstrong.theory.distances import kl_divergence, sq_distance
from weakstrong.theory.records import W2SRecord

# Probabilities are clipped into [PROB_EPS, 1 - PROB_EPS] for the KL view (least-squares heads can leave [0, 1]).
PROB_EPS = 1e-6


def accuracy(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> float:
    """Share of examples with ``(scores > threshold) == labels``."""
    return float(np.mean((np.asarray(scores) > threshold) == np.asarray(labels, dtype=bool)))


def auroc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve, or None when only one class is present."""
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels)
    if labels.min() == labels.max():
        return None
    return float(roc_auc_score(labels, scores))


def pgr(weak: float, student: float, ceiling: float, min_gap: float = 1e-9) -> float | None:
    """Performance gap recovered, (student - weak) / (ceiling - weak), for any score where higher is better
    (accuracy, SLU-F1, exact match); None unless the ceiling beats the weak score by more than ``min_gap``."""
    gap = ceiling - weak
    return None if gap <= min_gap else float((student - weak) / gap)


def bootstrap_pgr(labels, weak_scores, w2s_scores, ceiling_scores, n_boot: int = 1000, seed: int = 0,
                  level: float = 0.95) -> dict:
    """PGR on the test set with a percentile bootstrap CI over test examples.

    Resamples where the ceiling does not beat the weak model (PGR undefined) are dropped; ``n_valid`` says how
    many remained.
    """
    y = np.asarray(labels, dtype=bool)
    correct = np.stack([(np.asarray(s) > 0.5) == y for s in (weak_scores, w2s_scores, ceiling_scores)])  # (3, n)
    idx = np.random.default_rng(seed).integers(0, y.size, size=(n_boot, y.size))
    acc = correct[:, idx].mean(axis=2)  # (3, n_boot)
    gap = acc[2] - acc[0]
    valid = gap > 0
    values = (acc[1, valid] - acc[0, valid]) / gap[valid]
    point = pgr(*correct.mean(axis=1))
    if values.size == 0:
        return {"pgr": point, "ci": [None, None], "n_valid": 0}
    lo, hi = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return {"pgr": point, "ci": [float(lo), float(hi)], "n_valid": int(values.size)}


def task_metrics(labels, scores) -> dict:
    return {"accuracy": accuracy(labels, scores), "auroc": auroc(labels, scores)}


def _two_class(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), PROB_EPS, 1 - PROB_EPS)
    return np.stack([1 - p, p], axis=1)


def _check(truth, teacher, student, ceiling) -> tuple[np.ndarray, ...]:
    arrays = [np.asarray(a, dtype=float) for a in (truth, teacher, student, ceiling)]
    if len({a.shape for a in arrays}) != 1 or arrays[0].ndim != 1:
        raise ValueError(f"truth, teacher, student and ceiling must be (n,) arrays of one length, got "
                         f"{[a.shape for a in arrays]}")
    return tuple(arrays)


def theory_check_sq(truth, teacher, student, ceiling, **ident) -> W2SRecord:
    """Squared-loss record: Theorem 1 slack plus the non-realizable identity's terms (in ``extra``).

    Parameters
    ----------
    truth : (n,) gold targets (labels in {0, 1} or ratings in [0, 1]).
    teacher, student, ceiling : (n,) predictions of the teacher f_w, the weak-to-strong student f_sw and the
        gold-trained student f_s on the same examples.
    ident : identifying fields of the record (task, weak, strong, method, seed, setting, sizes, extra).
    """
    truth, weak, w2s, ceiling = _check(truth, teacher, student, ceiling)
    t1 = bounds.theorem1(truth, weak, w2s)
    epsilon = sq_distance(ceiling, truth)
    identity = bounds.nonrealizable_identity(truth, weak, w2s, ceiling)
    nonreal = bounds.nonrealizable_bound(truth, weak, w2s, epsilon)
    extra = dict(ident.pop("extra", {}))
    extra.update({"nonrealizable_identity": _bound_dict(identity), "nonrealizable_bound": _bound_dict(nonreal),
                  "theorem1": _bound_dict(t1)})
    terms = t1.terms
    return W2SRecord.from_errors(
        terms["weak_error"], terms["w2s_error"], terms["misfit"], loss="sq",
        strong_error=epsilon, epsilon=epsilon, bound=t1.bound, slack=t1.slack, holds=bool(t1.holds),
        extra=extra, **ident)


def theory_check_kl(truth, teacher, student, ceiling, **ident) -> W2SRecord:
    """KL record on clipped two-class probabilities: E KL(f*||f) errors, misfit E KL(f_sw||f_w)."""
    truth, weak, w2s, ceiling = (_two_class(a) for a in _check(truth, teacher, student, ceiling))
    check = bounds.kl_theorem(truth, weak, w2s)
    extra = dict(ident.pop("extra", {}))
    extra.update({"kl_theorem": _bound_dict(check), "prob_clip": PROB_EPS})
    terms = check.terms
    return W2SRecord.from_errors(
        terms["weak_error"], terms["w2s_error"], terms["misfit"], loss="kl", strong_error=kl_divergence(truth, ceiling),
        bound=check.bound, slack=check.slack, holds=bool(check.holds), extra=extra, **ident)


def _bound_dict(check) -> dict:
    return {"name": check.name, "terms": {k: float(v) for k, v in dict(check.terms).items()},
            "lhs": check.lhs, "bound": check.bound, "slack": check.slack, "holds": bool(check.holds),
            "tol": check.tol}
