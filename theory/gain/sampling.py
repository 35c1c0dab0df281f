"""Estimating a pool mean from k labelled draws: the sampling designs behind the gain predictor's intervals.

A quantity of the form mean_n(a) + mean_n(b) over a pool of n points, with a known everywhere (label-free)
and b known only at k labelled draws, is estimated by mean_n(a) plus an unbiased estimate of mean_n(b):

- uniform draws without replacement (simple random sampling): the plain mean of b over the draws, with
  variance (1 - k/n) S_b^2 / k (the finite-population correction, Cochran 1977, Ch. 2);
- uniform draws with replacement: the same mean, variance sigma_b^2 / k;
- draws with replacement with probabilities p (probability proportional to size): the Hansen-Hurwitz
  estimate mean_j b_j / (n p_j), variance Var(b_j / (n p_j)) / k (Hansen & Hurwitz 1943; Cochran 1977,
  Ch. 9A).

For the population behind an i.i.d. pool the pool's own sampling error adds (Var(a) + Var(b) +
2 Cov(a, b)) / n (two-phase sampling, Cochran 1977, Ch. 12). Intervals are t intervals or percentile
bootstraps of the same estimator (:meth:`LabelDesign.bootstrap`).

References
----------
Cochran (1977), "Sampling Techniques", 3rd ed., Wiley. Hansen & Hurwitz (1943), "On the theory of sampling
from finite populations", Ann. Math. Statist. 14.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from ..validation import as_finite_array, as_index_array

# Bootstrap replicates held in memory at once when the population target resamples the whole pool.
_BOOTSTRAP_CHUNK = 64


@dataclass(frozen=True)
class LabelDesign:
    """How the labelled points were drawn, and the estimator of a pool mean that follows from it
    (see the module docstring; build it with :func:`labelled_design`).

    Every quantity is mean_n(a) + mean_n(b) with a known on the whole pool (label-free, possibly zero) and b
    known at the labelled draws only; b's mean is estimated by mean_j b_j / (n p_j) over the k draws (the
    Hansen-Hurwitz estimator; plain mean of b_j under uniform sampling, p_j = 1/n).
    """

    idx: np.ndarray      # (k,) labelled positions
    scale: np.ndarray    # (k,) 1 / (n p_j)
    n: int
    fpc: float           # 1 - k/n for a uniform sample without replacement, else 1
    target: str

    @property
    def k(self) -> int:
        return self.idx.size

    def estimate(self, pool: np.ndarray | None, labelled: np.ndarray) -> tuple[float, float]:
        """(estimate, SE) of mean_n(pool) + mean_n(b) from b's values ``labelled`` at the draws.

        Pool target: the pool part is exact, only the draws vary, Var = fpc Var(v)/k with v = b_j / (n p_j).
        Population target (an i.i.d. pool): plus (Var(a) + Var(b) + 2 Cov(a, b)) / n, the pool's own sampling
        error, Var(b) and Cov(a, b) estimated from the draws (weighted by 1 / (n p_j)).
        """
        v = labelled * self.scale
        pool_mean = 0.0 if pool is None else float(pool.mean())
        var = self.fpc * variance(v) / self.k
        if self.target == "population":
            a_at = np.zeros(self.k) if pool is None else pool[self.idx]
            b_mean = float(v.mean())
            var_b = float(np.mean(labelled**2 * self.scale)) - b_mean**2
            cov = float(np.mean(a_at * labelled * self.scale)) - pool_mean * b_mean
            var += ((0.0 if pool is None else variance(pool)) + var_b + 2.0 * cov) / self.n
        return pool_mean + float(v.mean()), math.sqrt(max(var, 0.0))

    def bootstrap(self, pool: dict[str, np.ndarray | None], labelled: dict[str, np.ndarray], level: float,
                  n_boot: int, seed: int) -> dict[str, tuple[float, float]]:
        """Percentile intervals of :meth:`estimate` for each quantity.

        Pool target: the k draws are resampled, and the deviations from the estimate are rescaled by
        sqrt(fpc k / (k - 1)) so that their variance is the corrected one of :meth:`estimate`. Population
        target (uniform draws only): the whole two-phase sample is resampled, the pool with replacement and
        the labelled points with it.
        """
        rng = np.random.default_rng(seed)
        k, n = self.k, self.n
        reps = {}
        if self.target == "pool":
            draw = rng.integers(0, k, size=(n_boot, k))
            factor = math.sqrt(self.fpc * k / (k - 1))
            for q, b in labelled.items():
                v = b * self.scale
                point = (0.0 if pool[q] is None else float(pool[q].mean())) + float(v.mean())
                reps[q] = point + factor * (v[draw].mean(axis=1) - float(v.mean()))
        else:
            reps = {q: np.empty(n_boot) for q in labelled}
            done = 0
            while done < n_boot:
                rows = min(_BOOTSTRAP_CHUNK, n_boot - done)
                counts = rng.multinomial(n, np.full(n, 1.0 / n), size=rows)        # (rows, n) pool resample
                lab_counts = counts[:, self.idx]                                   # (rows, k)
                lab_total = lab_counts.sum(axis=1)
                for q, b in labelled.items():
                    pool_mean = 0.0 if pool[q] is None else counts @ pool[q] / n
                    with np.errstate(invalid="ignore", divide="ignore"):
                        reps[q][done:done + rows] = pool_mean + (lab_counts @ b) / lab_total
                done += rows
        out = {}
        for q, r in reps.items():
            r = r[np.isfinite(r)]   # a population resample without a labelled point has no estimate
            out[q] = (float(np.quantile(r, 0.5 - level / 2)), float(np.quantile(r, 0.5 + level / 2)))
        return out


def variance(values: np.ndarray) -> float:
    return float(np.var(values, ddof=1)) if values.size > 1 else 0.0


def t_interval(point: float, se: float, k: int, level: float) -> tuple[float, float]:
    half = float(stats.t.ppf(0.5 + level / 2, df=k - 1)) * se
    return point - half, point + half


def labelled_design(sampling_prob: Any, labelled_idx: Any, n: int, replace: bool, target: str) -> LabelDesign:
    """The validated design of k >= 2 draws at positions ``labelled_idx`` of a pool of ``n``: uniform
    (``sampling_prob`` None; without replacement unless ``replace``) or with replacement with probabilities
    ``sampling_prob`` (any nonnegative weights, normalised; positive at every draw)."""
    if sampling_prob is None:
        idx = as_index_array(labelled_idx, "labelled_idx", n, minimum_size=2, unique=not replace)
        return LabelDesign(idx, np.ones(idx.size), n, 1.0 if replace else 1.0 - idx.size / n, target)
    p = as_finite_array(sampling_prob, "sampling_prob", ndim=1)
    if p.shape[0] != n or p.min() < 0 or not p.sum() > 0:
        raise ValueError(f"sampling_prob must be {n} nonnegative probabilities (one per pool point), got shape "
                         f"{p.shape} and minimum {p.min()!r}")
    p = p / p.sum()
    idx = as_index_array(labelled_idx, "labelled_idx", n, minimum_size=2)
    if np.any(p[idx] <= 0):
        raise ValueError("labelled_idx holds a position of zero sampling_prob (it cannot have been drawn)")
    return LabelDesign(idx, 1.0 / (n * p[idx]), n, 1.0, target)
