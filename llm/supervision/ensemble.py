"""Aggregating a weak ensemble into one teacher: soft labels plus a per-sample confidence.

Each weak model gives, on every example, a number in [0, 1]: P(y = 1) for classification, or the predicted
target (a rating scaled to [0, 1]) for regression. The teacher of each method (``--methods``) is:

- ``single``: one weak model alone (one teacher per weak model).
- ``average``: the mean of the weak probabilities (a convex combination, so Theorem 1's ensemble form applies).
- ``vote``: the majority of the weak models' hard labels; a tie falls to the averaged probability.
- ``logconf``: the averaged probabilities; the student adds Burns et al.'s (2023) auxiliary confidence loss.
- ``bayes``: the averaged probabilities with confidence weights, for the evidential student of Bayesian
  WeakS-to-Strong (Cui et al. 2024).

Confidence is ``1 - H(p)/log 2`` of the teacher's probability p (0 at p = 1/2, 1 at a certain label), floored
at ``min_confidence`` so that no example is dropped entirely.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

METHODS = ("single", "average", "vote", "logconf", "bayes")


@dataclass
class Teacher:
    """The supervision a student receives.

    Attributes
    ----------
    name : e.g. ``"average(tfidf,minilm-l1)"`` or ``"single(tfidf)"``.
    method : one of :data:`METHODS`.
    probs : {split: (n,) soft labels in [0, 1]} (the teacher f_w on w2s_train and on test).
    confidence : {split: (n,) per-sample confidence in (0, 1]}.
    """

    name: str
    method: str
    probs: dict[str, np.ndarray]
    confidence: dict[str, np.ndarray]


def confidence_weights(probs: np.ndarray, min_confidence: float = 0.05) -> np.ndarray:
    """Per-sample confidence ``max(1 - H(p) / log 2, min_confidence)`` for Bernoulli probabilities ``p``."""
    p = np.clip(np.asarray(probs, dtype=float), 1e-12, 1 - 1e-12)
    entropy = -(p * np.log(p) + (1 - p) * np.log(1 - p)) / np.log(2.0)
    return np.maximum(1.0 - entropy, min_confidence)


def _check_weak(weak_probs: np.ndarray) -> np.ndarray:
    p = np.asarray(weak_probs, dtype=float)
    if p.ndim != 2 or p.shape[0] < 1 or p.shape[1] < 1:
        raise ValueError(f"weak_probs must have shape (n_weak, n) with n_weak >= 1, got {p.shape}")
    if not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1:
        raise ValueError("weak_probs must be finite and in [0, 1]")
    return p


def aggregate(weak_probs: np.ndarray, method: str, index: int | None = None,
              regression: bool = False) -> np.ndarray:
    """Combine (n_weak, n) weak outputs into the teacher's (n,) soft labels.

    Parameters
    ----------
    weak_probs : (n_weak, n) outputs in [0, 1].
    method : one of :data:`METHODS`.
    index : for ``single``, which weak model.
    regression : outputs are regression targets; ``vote`` is then undefined.
    """
    p = _check_weak(weak_probs)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "single":
        if index is None or not 0 <= index < p.shape[0]:
            raise ValueError(f"method 'single' needs index in [0, {p.shape[0]}), got {index!r}")
        return p[index]
    mean = p.mean(axis=0)
    if method != "vote":
        return mean
    if regression:
        raise ValueError("method 'vote' needs class labels; it is undefined for a regression target")
    share = (p > 0.5).mean(axis=0)  # fraction of weak models voting 1
    return np.where(share > 0.5, 1.0, np.where(share < 0.5, 0.0, (mean > 0.5).astype(float)))


def make_teachers(weak_names: list[str], weak_probs: dict[str, np.ndarray], method: str,
                  regression: bool = False, min_confidence: float = 0.05) -> list[Teacher]:
    """Build the teacher(s) of ``method`` on every split.

    Parameters
    ----------
    weak_names : names of the weak models, in the order of the rows of each ``weak_probs`` array.
    weak_probs : {split: (n_weak, n) weak outputs}.
    """
    indices = range(len(weak_names)) if method == "single" else [None]
    teachers = []
    for j in indices:
        probs = {s: aggregate(p, method, j, regression) for s, p in weak_probs.items()}
        label = weak_names[j] if j is not None else ",".join(weak_names)
        teachers.append(Teacher(f"{method}({label})", method, probs,
                                {s: confidence_weights(p, min_confidence) for s, p in probs.items()}))
    return teachers


def balanced_threshold(strong_scores: np.ndarray, weak_probs: np.ndarray) -> float:
    """Threshold on the student's scores that keeps the weak labels' class balance (Burns et al. 2023).

    The share of examples scored above it equals the share the teacher labels 1.
    """
    s = np.asarray(strong_scores, dtype=float)
    positive_share = float(np.mean(np.asarray(weak_probs) > 0.5))
    return float(np.quantile(s, 1.0 - positive_share))


def logconf_target(weak_probs: np.ndarray, strong_scores: np.ndarray, conf: float) -> np.ndarray:
    """Burns' auxiliary-confidence target ``(1 - c) * weak + c * hardened(strong)``, as (n,) P(y = 1).

    The student's scores are hardened at :func:`balanced_threshold`, then mixed by
    ``weakstrong.llm.supervision.losses.confidence_target`` (the same target the fine-tuned student uses).
    """
    import torch

    from weakstrong.llm.supervision.losses import confidence_target

    if not 0.0 <= conf <= 1.0:
        raise ValueError(f"conf must be in [0, 1], got {conf!r}")
    w = np.asarray(weak_probs, dtype=float)
    shifted = np.asarray(strong_scores, dtype=float) - balanced_threshold(strong_scores, w)
    logits = torch.from_numpy(np.stack([np.zeros_like(shifted), shifted], axis=1))
    weak2 = torch.from_numpy(np.stack([1 - w, w], axis=1))
    return confidence_target(weak2, logits, conf)[:, 1].numpy()
