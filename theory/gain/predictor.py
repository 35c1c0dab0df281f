"""Predicting the weak-to-strong gain from the misfit and k gold labels, with a confidence interval.

The decomposition (exact algebra, any student)
----------------------------------------------
Let D be the Bregman divergence of a potential phi: squared loss, phi(u) = ||u||^2 and D(u, v) = ||u - v||^2;
KL, phi(u) = sum_c u_c log u_c on the simplex and D(u, v) = KL(u || v). For the gold label y, a teacher f_w
and *any* student f_sw, the three-point property of Bregman divergences gives, point by point,

    D(y, f_w) - D(y, f_sw) = D(f_sw, f_w) + < grad phi(f_sw) - grad phi(f_w), y - f_sw >.          (1)

(Expand the three divergences: phi(y) and phi(f_w) cancel, and what is left is the inner product.) Averaged
over a pool of n points, err(f) = mean_i D(y_i, f_i):

    gain = err(f_w) - err(f_sw) = misfit + cross,   misfit = mean_i D(f_sw,i, f_w,i),   cross = mean_i c_i,
    c_i = < grad phi(f_sw,i) - grad phi(f_w,i), y_i - f_sw,i >.

The misfit needs no labels; the cross term is linear in y. In the two losses, with d = f_w - f_sw,

- squared loss: c_i = -2 d_i (y_i - f_sw,i), so gain = mean d^2 + 2 mean d (f_sw - y);
- KL with C classes: c_i = sum_c (y_ic - p_sw,ic) log(p_sw,ic / p_w,ic); for a binary target (p = P(y = 1)),
  c_i = (y_i - p_sw,i) (logit p_sw,i - logit p_w,i). The entropy of y cancels from the gain, which is why
  the cross term is linear in y although KL(y || f) is not (Mulgund & Pabbaraju 2025 state the misfit
  inequality for this KL; (1) is its exact form for any student).

Subspace student, in-sample. If f_sw = Pi f_w is the L2(P_n) projection of f_w onto a linear span V_s fitted
on the pool itself, r_w = f_w - Pi f_w = d is orthogonal to V_s, which contains f_sw and Pi y, so
<d, f_sw> = 0 and the squared-loss cross term is cross = -2 <r_w, y> = -2 <r_w, y - Pi y> = -2 <r_w, r*>:
the non-realizable identity gain = misfit - 2 <r*, r_w> (:func:`weakstrong.theory.bounds.nonrealizable_identity`),
and gain = misfit when y lies in V_s (Theorem 1 of Charikar, Pabbaraju & Shiragur 2024 with equality). For
a ball or hull student Theorem 1 is an inequality (cross >= 0 in-sample when y is in the class), but (1)
holds for every student, so the estimator below stays unbiased for ball and hull probes, for a student
fitted on another sample and evaluated on this pool, and for a fine-tuned model.

The estimator (a control variate)
---------------------------------
With k gold labels at positions L of the pool, drawn at random independently of the labels,

    predicted gain = misfit (whole pool, exact) + estimate of cross from the k labelled points,

an unbiased estimate of the pool's gain whose only labels are the k of L. The naive estimate is the k-label
mean of the pointwise gain D(y_i, f_w,i) - D(y_i, f_sw,i) = m_i + c_i (m_i the pointwise misfit); the
predictor replaces its label-free part, the k-label mean of m_i, by the pool's exact mean: the control
variate (difference estimator) of survey sampling (Cochran 1977, Ch. 7). Equivalently (squared loss),
the pointwise gain is 2 s_i (y_i - g_i) + 2 s_i (g_i - (f_w,i + f_sw,i)/2) with s = f_sw - f_w for any
label-free proxy g of y; the second part is computed on the pool and only the first is estimated
(prediction-powered inference, Angelopoulos et al. 2023). The predictor is g = f_sw; the naive estimate is
the midpoint g = (f_w + f_sw)/2. Their variances are Var(c)/k and Var(m + c)/k: the predictor wins
exactly when Var(m) + 2 Cov(m, c) > 0. That holds when m and c are not strongly negatively correlated,
as in the near-realizable synthetic worlds; it is not guaranteed, and on real probe pairs, where the student often errs
exactly where it departs from its teacher, Cov(m, c) can be negative enough to reverse it
(``weakstrong llm predict-eval`` measures both).

Sampling conditions of the interval
-----------------------------------
- ``target="pool"`` (default): the quantity predicted is the gain on this pool.
  Uniform draws, ``replace=False``: L is a simple random sample without replacement,
  Var = (1 - k/n) S_c^2 / k (finite-population correction; at k = n the interval shrinks to the exact
  gain). ``replace=True``: k independent uniform draws, Var = sigma_c^2 / k. Weighted draws
  (``sampling_prob`` p, with replacement, e.g. :func:`misfit_sampling_prob`): the Hansen-Hurwitz estimate
  mean_j c_j / (n p_j), Var = Var(c_j / (n p_j)) / k. Every variance is estimated from the k draws (ddof 1).
- ``target="population"``: the pool is an i.i.d. sample of the population and L a random subset of it
  (two-phase sampling, Cochran 1977, Ch. 12); the pool's own sampling error counts:
  Var = Var_design + (Var(m) + Var(c) + 2 Cov(m, c)) / n, which for a uniform sample without replacement is
  Var(m)/n + Var(c)/k + 2 Cov(m, c)/n. Var(m) comes from the pool, Var(c) and Cov(m, c) from the draws.
  Labels from an independent sample of the same distribution: append those points to the pool (they are
  unlabelled points too) and pass their positions.
- ``method="t"``: estimate +- t_{k-1} SE (a CLT interval); ``method="bootstrap"``: a percentile bootstrap of
  the same estimator, resampling the k draws (pool target; deviations rescaled by sqrt(fpc k / (k - 1)) so
  that their variance is the corrected one) or the whole two-phase sample (population target, uniform
  draws).
- Sample weights on the pool are not supported: every mean is the uniform mean over the n points.

The predicted weak-to-strong error is weak_error - predicted gain. With the weak error estimated on the
same k labels, it equals the k-label error of the student plus (k-label mean of m) - misfit, so when the
student is at hand it is no better than evaluating the student on the k labels (``naive_w2s_error``); its
use is when the student is not (a fine-tuned student predicted from its probe), or when ``weak_error`` is
known from elsewhere (it is then taken as exact).

References
----------
Charikar, Pabbaraju & Shiragur (2024), "Quantifying the Gain in Weak-to-Strong Generalization", Thm. 1 and
the non-realizable setting. Mulgund & Pabbaraju (2025), the Bregman/KL misfit inequality. Cochran (1977),
"Sampling Techniques", 3rd ed.: simple random sampling (Ch. 2), the difference estimator (Ch. 7), sampling
with unequal probabilities (Ch. 9A), double sampling (Ch. 12); Hansen & Hurwitz (1943). Angelopoulos, Bates,
Fannjiang, Jordan & Zrnic (2023), "Prediction-powered inference", Science 382.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import special

from .sampling import labelled_design, t_interval
from ..projections import project_onto_subspace
from ..validation import (
    as_finite_array,
    as_predictions,
    as_probabilities,
    as_real_scalar,
    check_integer,
    check_positive,
    check_same_shape,
    check_scale,
)

LOSSES = ("sq", "kl")
METHODS = ("t", "bootstrap")
TARGETS = ("pool", "population")


@dataclass(frozen=True)
class GainPrediction:
    """A predicted gain, its interval, and the pieces it is made of.

    Attributes
    ----------
    gain, gain_se, gain_ci : predicted gain = misfit + cross, its standard error and ``level`` interval.
    w2s_error, w2s_error_se, w2s_error_ci : predicted err(f_sw) = weak_error - gain.
    weak_error, weak_error_se : err(f_w) from the k labels (or as given, with SE 0).
    misfit : mean D(f_sw, f_w) over the whole pool (no labels).
    cross, cross_se : mean over the k labelled points of the cross term c_i, and its standard error.
    naive_gain, naive_gain_se, naive_gain_ci : mean over the k labelled points of D(y, f_w) - D(y, f_sw).
    naive_w2s_error, naive_w2s_error_se : mean over the k labelled points of D(y, f_sw).
    k, n : labelled points and pool size.
    loss, level, method, target, replace, sampling : how it was computed (``sampling``: ``"uniform"`` or
        ``"weighted"``, drawn with ``sampling_prob``).
    """

    gain: float
    gain_se: float
    gain_ci: tuple[float, float]
    w2s_error: float
    w2s_error_se: float
    w2s_error_ci: tuple[float, float]
    weak_error: float
    weak_error_se: float
    misfit: float
    cross: float
    cross_se: float
    naive_gain: float
    naive_gain_se: float
    naive_gain_ci: tuple[float, float]
    naive_w2s_error: float
    naive_w2s_error_se: float
    k: int
    n: int
    loss: str
    level: float
    method: str
    target: str
    replace: bool
    sampling: str

    def to_dict(self) -> dict[str, Any]:
        return {key: list(v) if isinstance(v, tuple) else v for key, v in asdict(self).items()}


@dataclass(frozen=True)
class PointwiseTerms:
    """Per-point pieces of (1) on the pool, and the label-dependent ones on the labelled points."""

    misfit: np.ndarray   # (n,) D(f_sw, f_w)
    cross: np.ndarray    # (k,) c_i
    weak: np.ndarray     # (k,) D(y, f_w)
    w2s: np.ndarray      # (k,) D(y, f_sw)


def checked_choice(value: Any, name: str, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    return value


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _rows(a: np.ndarray) -> np.ndarray:
    return a if a.ndim == 1 else a.sum(axis=1)


def _binary_or_simplex(x: Any, name: str, strict: bool) -> np.ndarray:
    """(n,) P(y = 1) as two-class rows, or (n, C) probability rows; ``strict``: every entry in (0, 1)."""
    arr = as_finite_array(x, name, ndim=(1, 2))
    if arr.ndim == 1:
        if arr.min() < 0 or arr.max() > 1:
            raise ValueError(f"{name} must be probabilities in [0, 1], got range [{arr.min():g}, {arr.max():g}]")
        arr = np.stack([1.0 - arr, arr], axis=1)
    else:
        arr = as_probabilities(arr, name)
    if strict and arr.min() <= 0:
        raise ValueError(f"{name} must be strictly inside (0, 1) for the KL cross term (it takes logs); clip it, "
                         f"e.g. to [1e-6, 1 - 1e-6]")
    return arr


def checked_predictions(weak_pred: Any, student_pred: Any, loss: str) -> tuple[np.ndarray, np.ndarray]:
    if loss == "kl":
        f_w = _binary_or_simplex(weak_pred, "weak_pred", strict=True)
        f_sw = _binary_or_simplex(student_pred, "student_pred", strict=True)
    else:
        f_w, f_sw = as_predictions(weak_pred, "weak_pred"), as_predictions(student_pred, "student_pred")
        check_scale({"weak_pred": f_w, "student_pred": f_sw})
    check_same_shape({"weak_pred": f_w, "student_pred": f_sw})
    return f_w, f_sw


def checked_labels(labels: Any, shape: tuple[int, ...], loss: str) -> np.ndarray:
    if loss == "kl":
        y = _binary_or_simplex(labels, "labels", strict=False)
    else:
        y = as_predictions(labels, "labels")
        check_scale({"labels": y})
    if y.shape != shape:
        raise ValueError(f"labels must have shape {shape} (one label per labelled position, shaped like the "
                         f"predictions), got {y.shape}")
    return y


def pointwise_terms(f_w: np.ndarray, f_sw: np.ndarray, y: np.ndarray, idx: np.ndarray, loss: str) -> PointwiseTerms:
    """The terms of (1): misfit on the whole pool, the label-dependent ones at ``idx`` (y is y at idx)."""
    w, s = f_w[idx], f_sw[idx]
    if loss == "sq":
        misfit = _rows((f_sw - f_w) ** 2)
        return PointwiseTerms(misfit, _rows(2.0 * (s - w) * (y - s)), _rows((w - y) ** 2), _rows((s - y) ** 2))
    misfit = special.rel_entr(f_sw, f_w).sum(axis=1)
    log_ratio = np.log(s) - np.log(w)
    return PointwiseTerms(misfit, ((y - s) * log_ratio).sum(axis=1), special.rel_entr(y, w).sum(axis=1),
                      special.rel_entr(y, s).sum(axis=1))


def gain_decomposition(weak_pred: Any, student_pred: Any, labels: Any, loss: str = "sq") -> dict[str, float]:
    """The exact terms of (1) on a fully labelled pool: weak_error, w2s_error, misfit, cross, gain.

    ``gain == misfit + cross`` up to rounding for any student (the identity the predictor rests on).

    Parameters
    ----------
    weak_pred, student_pred : (n,) or (n, m) predictions (``loss="sq"``); for ``loss="kl"``, (n,) P(y = 1)
        or (n, C) probability rows, strictly inside (0, 1).
    labels : (n,) or (n, m) gold labels (``"kl"``: (n,) in [0, 1] or (n, C) probability rows).
    loss : ``"sq"`` or ``"kl"``.
    """
    loss = checked_choice(loss, "loss", LOSSES)
    f_w, f_sw = checked_predictions(weak_pred, student_pred, loss)
    y = checked_labels(labels, f_w.shape, loss)
    terms = pointwise_terms(f_w, f_sw, y, np.arange(f_w.shape[0]), loss)
    weak_error, w2s_error = float(terms.weak.mean()), float(terms.w2s.mean())
    return {"weak_error": weak_error, "w2s_error": w2s_error, "misfit": float(terms.misfit.mean()),
            "cross": float(terms.cross.mean()), "gain": weak_error - w2s_error}


def misfit_sampling_prob(weak_pred: Any, student_pred: Any, loss: str = "sq", uniform_share: float = 0.1
                         ) -> np.ndarray:
    """Label-sampling probabilities that follow the student-teacher disagreement: p_i proportional to
    ||grad phi(f_sw,i) - grad phi(f_w,i)||, mixed with the uniform distribution.

    The cross term at a point is c_i = <delta_i, y_i - f_sw,i> with delta_i that gradient difference, so
    |c_i| <= ||delta_i|| ||y_i - f_sw,i||: where the student agrees with its teacher a label says little about
    the gain. Drawing the k labels (with replacement) with these probabilities and passing them to
    :func:`predict_gain` as ``sampling_prob`` keeps the estimate unbiased (Hansen-Hurwitz) and spends the
    labels where the cross term varies (probability proportional to size, Cochran 1977, Ch. 9A). The uniform
    share (``uniform_share`` of the mass) bounds every weight 1 / (n p_i) by 1 / ``uniform_share``. The design
    serves the cross term: the weak error, estimated from the same reweighted draws, can get a more skewed
    estimate than under uniform draws (its t interval then covers less than its level).

    Returns
    -------
    (n,) probabilities summing to one.
    """
    loss = checked_choice(loss, "loss", LOSSES)
    share = check_positive(uniform_share, "uniform_share", maximum=1.0)
    f_w, f_sw = checked_predictions(weak_pred, student_pred, loss)
    delta = f_sw - f_w if loss == "sq" else np.log(f_sw) - np.log(f_w)
    size = np.abs(delta) if delta.ndim == 1 else np.linalg.norm(delta, axis=1)
    n = size.shape[0]
    total = float(size.sum())
    if total == 0.0:
        return np.full(n, 1.0 / n)
    return (1.0 - share) * size / total + share / n


def predict_gain(
    weak_pred: Any,
    student_pred: Any,
    labelled_idx: Any,
    labels: Any,
    *,
    loss: str = "sq",
    level: float = 0.9,
    method: str = "t",
    target: str = "pool",
    replace: bool = False,
    sampling_prob: Any = None,
    weak_error: float | None = None,
    n_bootstrap: int = 2000,
    seed: int = 0,
) -> GainPrediction:
    """Predict gain = err(f_w) - err(f_sw) on a pool from its misfit and k gold labels (module docstring).

    Parameters
    ----------
    weak_pred, student_pred : predictions of the teacher f_w and the student f_sw on all n pool points:
        (n,) or (n, m) for ``loss="sq"``; (n,) P(y = 1) or (n, C) probability rows, strictly inside (0, 1),
        for ``loss="kl"``.
    labelled_idx : (k,) positions in the pool of the labelled points, k >= 2, drawn at random independently
        of the labels: uniformly (without replacement unless ``replace``), or with replacement with
        probabilities ``sampling_prob``.
    labels : (k,) or (k, m) gold labels at those positions (``"kl"``: in [0, 1], or probability rows).
    loss : ``"sq"`` (squared error) or ``"kl"`` (E KL(y || f)).
    level : coverage of the intervals, in (0, 1).
    method : ``"t"`` (t interval with k - 1 degrees of freedom) or ``"bootstrap"`` (percentile).
    target : ``"pool"`` (the gain on this pool) or ``"population"`` (the pool an i.i.d. sample of it).
    replace : the uniform draws were made with replacement (no finite-population correction).
    sampling_prob : (n,) the probabilities the k positions were drawn with, with replacement (e.g.
        :func:`misfit_sampling_prob`); None: uniform.
    weak_error : err(f_w) when known from elsewhere (then exact); None estimates it from the k labels.
    n_bootstrap, seed : bootstrap replicates and their seed (``method="bootstrap"``).

    Returns
    -------
    GainPrediction

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.normal(size=1000); f_w = y + rng.normal(size=1000); f_sw = 0.5 * f_w
    >>> idx = rng.choice(1000, size=100, replace=False)
    >>> p = predict_gain(f_w, f_sw, idx, y[idx])
    >>> bool(p.gain_ci[0] < p.gain < p.gain_ci[1])
    True
    """
    loss = checked_choice(loss, "loss", LOSSES)
    method = checked_choice(method, "method", METHODS)
    target = checked_choice(target, "target", TARGETS)
    replace = _flag(replace, "replace")
    level = check_positive(level, "level")
    if level >= 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    n_bootstrap = check_integer(n_bootstrap, "n_bootstrap", minimum=10)
    seed = check_integer(seed, "seed")
    f_w, f_sw = checked_predictions(weak_pred, student_pred, loss)
    n = f_w.shape[0]
    design = labelled_design(sampling_prob, labelled_idx, n, replace, target)
    idx = design.idx
    if sampling_prob is not None and method == "bootstrap" and target == "population":
        raise ValueError("method 'bootstrap' with target 'population' needs uniform draws (sampling_prob=None); "
                         "use method='t'")
    y = checked_labels(labels, (idx.size,) + f_w.shape[1:], loss)
    if weak_error is not None:
        weak_error = as_real_scalar(weak_error, "weak_error")
        if not math.isfinite(weak_error) or weak_error < 0:
            raise ValueError(f"weak_error must be a finite number >= 0 (an error), got {weak_error!r}")
    terms = pointwise_terms(f_w, f_sw, y, idx, loss)
    k = idx.size
    cross, cross_se = design.estimate(None, terms.cross)
    gain, gain_se = design.estimate(terms.misfit, terms.cross)
    if weak_error is None:
        weak, weak_se = design.estimate(None, terms.weak)
        w2s_labelled = terms.weak - terms.cross             # w2s = mean (e_w - c) - misfit
    else:
        weak, weak_se = weak_error, 0.0
        w2s_labelled = weak_error - terms.cross
    w2s, w2s_se = design.estimate(-terms.misfit, w2s_labelled)
    naive_values = terms.weak - terms.w2s
    naive, naive_se = design.estimate(None, naive_values)
    naive_w2s, naive_w2s_se = design.estimate(None, terms.w2s)
    if method == "t":
        cis = {"gain": t_interval(gain, gain_se, k, level), "w2s": t_interval(w2s, w2s_se, k, level),
               "naive": t_interval(naive, naive_se, k, level)}
    else:
        cis = design.bootstrap({"gain": terms.misfit, "w2s": -terms.misfit, "naive": None},
                               {"gain": terms.cross, "w2s": w2s_labelled, "naive": naive_values}, level,
                               n_bootstrap, seed)
    return GainPrediction(
        gain=gain, gain_se=gain_se, gain_ci=cis["gain"], w2s_error=w2s, w2s_error_se=w2s_se,
        w2s_error_ci=cis["w2s"], weak_error=weak, weak_error_se=weak_se, misfit=float(terms.misfit.mean()),
        cross=cross, cross_se=cross_se, naive_gain=naive, naive_gain_se=naive_se, naive_gain_ci=cis["naive"],
        naive_w2s_error=naive_w2s, naive_w2s_error_se=naive_w2s_se, k=k, n=n, loss=loss, level=level,
        method=method, target=target, replace=replace, sampling="uniform" if sampling_prob is None else "weighted")


def subspace_student(strong_features: Any, weak_pred: Any, fit_features: Any = None, fit_weak: Any = None,
                     fit_intercept: bool = True, ridge: float = 0.0) -> np.ndarray:
    """The subspace student's predictions on the pool: the L2 projection of the teacher onto the linear heads
    over the strong features, fitted on the pool itself (in-sample) or on (``fit_features``, ``fit_weak``).
    """
    if (fit_features is None) != (fit_weak is None):
        raise ValueError("fit_features and fit_weak must be given together (the student's own sample) or not "
                         "at all (the student is fitted on the pool)")
    x = as_finite_array(strong_features, "strong_features", ndim=2)
    f_w = as_predictions(weak_pred, "weak_pred")
    if f_w.shape[0] != x.shape[0]:
        raise ValueError(f"weak_pred must have one row per row of strong_features ({x.shape[0]}), got {f_w.shape}")
    if fit_features is None:
        return project_onto_subspace(x, f_w, fit_intercept=fit_intercept, ridge=ridge).fitted
    x_fit = as_finite_array(fit_features, "fit_features", ndim=2)
    y_fit = as_predictions(fit_weak, "fit_weak")
    if x_fit.shape[1] != x.shape[1] or y_fit.shape[0] != x_fit.shape[0] or y_fit.shape[1:] != f_w.shape[1:]:
        raise ValueError(f"fit_features {x_fit.shape} and fit_weak {y_fit.shape} must match strong_features "
                         f"{x.shape} in columns and weak_pred {f_w.shape} in output shape, one row each")
    proj = project_onto_subspace(x_fit, y_fit, fit_intercept=fit_intercept, ridge=ridge)
    return x @ proj.coef + (proj.intercept if fit_intercept else 0.0)


def predict_subspace_gain(strong_features: Any, weak_pred: Any, labelled_idx: Any, labels: Any, *,
                          fit_features: Any = None, fit_weak: Any = None, fit_intercept: bool = True,
                          ridge: float = 0.0, **kwargs: Any) -> GainPrediction:
    """:func:`predict_gain` for the subspace student of :func:`subspace_student` (squared loss).

    In-sample (no ``fit_features``), ridge 0: the student is the exact projection of ``weak_pred`` on the pool,
    and the cross term is -2 <r_w, y> with r_w = weak_pred - student (module docstring). The remaining
    keyword arguments go to :func:`predict_gain` (``loss`` must stay ``"sq"``: a projection is not a
    probability).
    """
    if kwargs.get("loss", "sq") != "sq":
        raise ValueError(f"loss must be 'sq' for a subspace student (its predictions need not be probabilities), "
                         f"got {kwargs['loss']!r}")
    student = subspace_student(strong_features, weak_pred, fit_features, fit_weak, fit_intercept, ridge)
    return predict_gain(weak_pred, student, labelled_idx, labels, **kwargs)
