"""The gain predictor's sampling distribution on a fully labelled pool: many label draws at once.

On a pool whose every label is known, the exact gain is known too, so the predictor of
:mod:`weakstrong.theory.gain.predictor` can be judged by drawing its k labelled points again and again:
:func:`repeated_predictions` does that for ``draws`` independent draws in one vectorised pass (the same
estimates and t intervals as :func:`~weakstrong.theory.gain.predictor.predict_gain` with ``target="pool"``,
which the tests check draw by draw), and :func:`draw_summary` turns them into coverage, errors and the
ratio of the predictor's RMSE to the naive k-label estimate's. The simulator's experiment and the real-ladder
evaluation both use these two functions, so the two report the same statistics.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from .predictor import (LOSSES, checked_choice, checked_labels, checked_predictions, misfit_sampling_prob,
                        pointwise_terms)
from ..validation import as_finite_array, check_integer, check_positive

SAMPLINGS = ("uniform", "misfit")


def _interval(est: np.ndarray, se: np.ndarray, k: int, level: float) -> tuple[np.ndarray, np.ndarray]:
    half = float(stats.t.ppf(0.5 + level / 2, df=k - 1)) * se
    return est - half, est + half


def repeated_predictions(weak_pred: Any, student_pred: Any, labels: Any, k: int, draws: int, seed: int = 0, *,
                         loss: str = "sq", level: float = 0.9, sampling: str = "uniform",
                         uniform_share: float = 0.1, sampling_prob: Any = None) -> dict[str, Any]:
    """``draws`` independent k-label predictions of the gain on a fully labelled pool of n points.

    Parameters
    ----------
    weak_pred, student_pred, labels : f_w, f_sw and the gold labels on all n pool points (as in
        :func:`~weakstrong.theory.gain.predictor.gain_decomposition`).
    k : labelled points per draw, 2 <= k (<= n for uniform draws, which are without replacement).
    draws : independent draws.
    seed : seed of the draws.
    sampling : ``"uniform"`` (simple random samples without replacement) or ``"misfit"`` (with replacement,
        probabilities from :func:`~weakstrong.theory.gain.predictor.misfit_sampling_prob` with
        ``uniform_share``, or ``sampling_prob`` when given: e.g. one design shared by several candidates, so
        that the same seed gives them the same draws).

    Returns
    -------
    dict with ``exact`` (the pool's weak_error, w2s_error, misfit, cross, gain) and, each of shape
    (draws,): ``gain``, ``gain_se``, ``gain_lo``, ``gain_hi`` (the predictor), ``naive``, ``naive_se``,
    ``naive_lo``, ``naive_hi`` (the naive k-label difference), ``weak`` (k-label weak error), ``w2s``,
    ``w2s_lo``, ``w2s_hi`` (predicted w2s error) and ``naive_w2s`` (the student's k-label error).
    """
    loss = checked_choice(loss, "loss", LOSSES)
    sampling = checked_choice(sampling, "sampling", SAMPLINGS)
    level = check_positive(level, "level")
    if level >= 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    f_w, f_sw = checked_predictions(weak_pred, student_pred, loss)
    n = f_w.shape[0]
    y = checked_labels(labels, f_w.shape, loss)
    k = check_integer(k, "k", minimum=2, maximum=n if sampling == "uniform" else 2**53)
    draws = check_integer(draws, "draws", minimum=1)
    terms = pointwise_terms(f_w, f_sw, y, np.arange(n), loss)
    rng = np.random.default_rng(check_integer(seed, "seed"))
    if sampling == "uniform":
        idx = np.argsort(rng.random((draws, n)), axis=1)[:, :k]                     # (draws, k)
        scale, fpc = np.ones((draws, k)), 1.0 - k / n
    else:
        if sampling_prob is None:
            p = misfit_sampling_prob(f_w, f_sw, loss, uniform_share)
        else:
            p = as_finite_array(sampling_prob, "sampling_prob", ndim=1)
            if p.shape[0] != n or p.min() <= 0:
                raise ValueError(f"sampling_prob must be {n} positive probabilities, got shape {p.shape}")
            p = p / p.sum()
        idx = rng.choice(n, size=(draws, k), p=p)
        scale, fpc = 1.0 / (n * p[idx]), 1.0

    def estimate(pool_mean: float, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        v = values[idx] * scale
        return pool_mean + v.mean(axis=1), np.sqrt(fpc * v.var(axis=1, ddof=1) / k)

    misfit = float(terms.misfit.mean())
    out: dict[str, Any] = {"k": k, "n": n, "sampling": sampling}
    out["gain"], out["gain_se"] = estimate(misfit, terms.cross)
    out["naive"], out["naive_se"] = estimate(0.0, terms.weak - terms.w2s)
    out["weak"], _ = estimate(0.0, terms.weak)
    out["w2s"], w2s_se = estimate(-misfit, terms.weak - terms.cross)
    out["naive_w2s"], _ = estimate(0.0, terms.w2s)
    for name, se in (("gain", out["gain_se"]), ("naive", out["naive_se"]), ("w2s", w2s_se)):
        out[f"{name}_lo"], out[f"{name}_hi"] = _interval(out[name], se, k, level)
    weak_error, w2s_error = float(terms.weak.mean()), float(terms.w2s.mean())
    out["exact"] = {"weak_error": weak_error, "w2s_error": w2s_error, "misfit": misfit,
                    "cross": float(terms.cross.mean()), "gain": weak_error - w2s_error}
    return out


def draw_summary(pred: dict[str, Any]) -> dict[str, float]:
    """Coverage, mean absolute error and RMSE over the draws of :func:`repeated_predictions`, for the
    predictor and the naive estimate, and ``rmse_ratio`` = predictor RMSE / naive RMSE (< 1: the control
    variate helps)."""
    exact = pred["exact"]["gain"]
    out = {}
    for name in ("gain", "naive"):
        err = pred[name] - exact
        out[f"{name}_coverage"] = float(np.mean((pred[f"{name}_lo"] <= exact) & (exact <= pred[f"{name}_hi"])))
        out[f"{name}_mae"] = float(np.mean(np.abs(err)))
        out[f"{name}_rmse"] = float(np.sqrt(np.mean(err**2)))
        out[f"{name}_mean_se"] = float(np.mean(pred[f"{name}_se"]))
    w2s = pred["exact"]["w2s_error"]
    out["w2s_coverage"] = float(np.mean((pred["w2s_lo"] <= w2s) & (w2s <= pred["w2s_hi"])))
    out["rmse_ratio"] = out["gain_rmse"] / out["naive_rmse"] if out["naive_rmse"] > 0 else float("nan")
    return out
