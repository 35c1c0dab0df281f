"""Task metrics (accuracy, AUROC, PGR with a bootstrap CI) and the misfit theory checked on held-out data.

PGR, the performance gap recovered (Burns et al. 2023): (acc_w2s - acc_weak) / (acc_ceiling - acc_weak).

The theory check compares three predictors on labelled data — the truth f* (gold labels), the teacher f_w and
the student f_sw — with the strong ceiling f_s (the student trained on gold labels) standing in for the
projection of the truth onto the strong class:

- squared loss on probabilities: weak_error = d(f_w, f*), w2s_error = d(f_sw, f*), misfit = d(f_sw, f_w),
  gain = weak_error - w2s_error;
- KL (Mulgund & Pabbaraju 2025): errors E KL(f* || f), misfit E KL(f_sw || f_w).

A record states only what is proved for the student that was fitted (:data:`STUDENT_KINDS`): Theorem 1
(Charikar et al. 2024) and the non-realizable identity gain = misfit - 2<r*, r_w> (r* = f* - f_s,
r_w = f_w - f_sw, epsilon = d(f_s, f*)) for a least-squares probe, a subspace projection; Theorem 1 and the
convex non-realizable bound for a ball-constrained probe; nothing for a fine-tuned student, which is not a
projection of its teacher. The terms are recorded for every student.

Every distance and bound comes from ``weakstrong.theory``; this module only arranges them into records.
"""

from __future__ import annotations

import numpy as np

from weakstrong.theory import bounds
from weakstrong.theory.resampling import bootstrap_indices, percentile_interval
from weakstrong.theory.distances import kl_divergence, sq_distance
from weakstrong.theory.records import BoundTerms, W2SRecord

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
    idx = bootstrap_indices(y.size, n_boot, seed)
    acc = correct[:, idx].mean(axis=2)  # (3, n_boot)
    gap = acc[2] - acc[0]
    valid = gap > 0
    values = (acc[1, valid] - acc[0, valid]) / gap[valid]
    point = pgr(*correct.mean(axis=1))
    if values.size == 0:
        return {"pgr": point, "ci": [None, None], "n_valid": 0}
    return {"pgr": point, "ci": percentile_interval(values, level), "n_valid": int(values.size)}


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


# The kinds of fitted student a record can describe, each with the statements proved for it. A record carries
# only its student's statements; the other statement fields stay None, meaning "not applicable".
STUDENT_KINDS = {
    "subspace": "least-squares probe, the L2 projection of the teacher onto a linear span: Theorem 1, the "
                "non-realizable identity (cross term) and the non-realizable bound",
    "ball": "ball-constrained probe, the L2 projection of the teacher onto a norm ball (a convex class): "
            "Theorem 1 and the convex non-realizable bound; the identity and its cross term need a subspace",
    "ridge": "ridge probe, the L2 projection of the teacher onto a norm ball whose radius depends on the teacher "
             "(the ceiling lies in another ball, so epsilon is unknown): Theorem 1 only",
    "kl-projection": "reverse-KL projection of the teacher onto a convex set of probability predictors: the KL "
                     "inequality",
    "none": "none guaranteed: the student is not a projection of its teacher",
}
SQ_KINDS = ("subspace", "ball", "ridge")


def _check_kind(kind: str) -> None:
    if kind not in STUDENT_KINDS:
        raise ValueError(f"kind must be one of {tuple(STUDENT_KINDS)}, got {kind!r}")


def theory_check_sq(truth, teacher, student, ceiling, kind: str, note: str | None = None, **ident) -> W2SRecord:
    """Squared-loss record with the statements that hold for a student of ``kind`` (:data:`STUDENT_KINDS`).

    ``subspace``: Theorem 1 (bound/slack/holds), the non-realizable bound (``nonrealizable``) and the
    identity's cross term (``cross``); ``ball``: Theorem 1 and the convex non-realizable bound; ``ridge``:
    Theorem 1; any other kind: none of them. ``epsilon = d(ceiling, truth)`` is set where the ceiling is the
    truth's projection onto the student's own class (subspace, ball). ``extra["statements"]`` says which
    statements the record carries and why (``note`` replaces the default reason).

    Parameters
    ----------
    truth : (n,) gold targets (labels in {0, 1} or ratings in [0, 1]).
    teacher, student, ceiling : (n,) predictions of the teacher f_w, the weak-to-strong student f_sw and the
        gold-trained student f_s on the same examples.
    kind : what the student is, a key of :data:`STUDENT_KINDS`.
    ident : identifying fields of the record (task, weak, strong, method, seed, setting, sizes, extra).
    """
    _check_kind(kind)
    truth, weak, w2s, ceiling = _check(truth, teacher, student, ceiling)
    extra = dict(ident.pop("extra", {}))
    strong_error = sq_distance(ceiling, truth)
    fields: dict = {}
    if kind in SQ_KINDS:
        t1 = bounds.theorem1(truth, weak, w2s)
        extra["theorem1"] = _bound_dict(t1)
        fields.update(bound=t1.bound, slack=t1.slack, holds=bool(t1.holds))
    if kind == "subspace":
        identity = bounds.nonrealizable_identity(truth, weak, w2s, ceiling)
        nonreal = bounds.nonrealizable_bound(truth, weak, w2s, strong_error)
        extra.update(nonrealizable_identity=_bound_dict(identity), nonrealizable_bound=_bound_dict(nonreal))
        fields.update(epsilon=strong_error, cross=identity.terms["cross"], nonrealizable=_bound_terms(nonreal))
    elif kind == "ball":
        nonreal = bounds.convex_nonrealizable_bound(truth, weak, w2s, strong_error)
        extra["convex_nonrealizable_bound"] = _bound_dict(nonreal)
        fields.update(epsilon=strong_error, nonrealizable=_bound_terms(nonreal))
    extra["statements"] = note or (STUDENT_KINDS[kind] if kind in SQ_KINDS else STUDENT_KINDS["none"])
    terms = bounds.misfit_terms(truth, weak, w2s)
    return W2SRecord.from_errors(terms["weak_error"], terms["w2s_error"], terms["misfit"], loss="sq",
                                 strong_error=strong_error, extra=extra, **fields, **ident)


def theory_check_kl(truth, teacher, student, ceiling, kind: str, note: str | None = None, **ident) -> W2SRecord:
    """KL record on clipped two-class probabilities: E KL(f*||f) errors, misfit E KL(f_sw||f_w).

    The KL inequality (bound/slack/holds) is stated only for ``kind="kl-projection"``, the student it is
    proved for; least-squares probes and fine-tuned students get the terms alone, with the reason in
    ``extra["statements"]`` (``note`` replaces the default one).
    """
    _check_kind(kind)
    truth, weak, w2s, ceiling = (_two_class(a) for a in _check(truth, teacher, student, ceiling))
    check = bounds.kl_theorem(truth, weak, w2s)
    extra = dict(ident.pop("extra", {}))
    extra["prob_clip"] = PROB_EPS
    fields: dict = {}
    if kind == "kl-projection":
        extra["kl_theorem"] = _bound_dict(check)
        fields.update(bound=check.bound, slack=check.slack, holds=bool(check.holds))
        extra["statements"] = note or STUDENT_KINDS[kind]
    else:
        extra["statements"] = note or ("none guaranteed: the KL inequality needs a reverse-KL projection onto a "
                                       "convex set of probability predictors, which this student is not")
    terms = check.terms
    return W2SRecord.from_errors(
        terms["weak_error"], terms["w2s_error"], terms["misfit"], loss="kl", strong_error=kl_divergence(truth, ceiling),
        extra=extra, **fields, **ident)


def _bound_terms(check) -> BoundTerms:
    return BoundTerms(bound=check.bound, slack=check.slack, holds=bool(check.holds))


def _bound_dict(check) -> dict:
    return {"name": check.name, "terms": {k: float(v) for k, v in dict(check.terms).items()},
            "lhs": check.lhs, "bound": check.bound, "slack": check.slack, "holds": bool(check.holds),
            "tol": check.tol}
