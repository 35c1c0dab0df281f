"""Input checks shared by every public function of ``weakstrong.theory``.

Validation happens once, at the boundary, so the solvers and formulas behind it can assume clean arrays.
Every failure is a ``ValueError`` whose message names the argument and says what was expected.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Row sums of a probability vector may differ from 1 by this much (float32 softmax outputs pass).
SIMPLEX_ATOL = 1e-6


def as_finite_array(x: Any, name: str, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """``x`` as a float64 array, checked to be finite and (optionally) of the given number of dimensions."""
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array, got {type(x).__name__}") from exc
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if arr.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{name} must be a {want} array, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must contain only finite values (no NaN or inf)")
    return arr


def check_same_shape(arrays: dict[str, np.ndarray]) -> None:
    """Raise if the named arrays do not all share one shape."""
    shapes = {name: a.shape for name, a in arrays.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise ValueError(f"shape mismatch: expected equal shapes, got {listed}")


def normalized_weights(sample_weight: Any, n: int, name: str = "sample_weight") -> np.ndarray:
    """Sample weights as a probability vector of length ``n`` (uniform when ``sample_weight`` is None).

    Weights must be finite, nonnegative and not all zero; they are rescaled to sum to one, so every
    distance is a weighted *mean* (the empirical measure P_n, or any discrete P).
    """
    if sample_weight is None:
        return np.full(n, 1.0 / n)
    w = as_finite_array(sample_weight, name, ndim=1)
    if w.shape[0] != n:
        raise ValueError(f"{name} must have length {n} (one weight per sample), got length {w.shape[0]}")
    if (w < 0).any():
        raise ValueError(f"{name} must be nonnegative, got minimum {w.min()!r}")
    total = w.sum()
    if not total > 0:
        raise ValueError(f"{name} must not be all zero")
    return w / total


def as_predictions(x: Any, name: str) -> np.ndarray:
    """Predictions on a sample: shape (n,) for scalar outputs or (n, k) for vector outputs."""
    return as_finite_array(x, name, ndim=(1, 2))


def as_probabilities(x: Any, name: str, ndim: int = 2) -> np.ndarray:
    """Rows of probability vectors over the last axis: entries >= 0 and each row summing to 1."""
    p = as_finite_array(x, name, ndim=ndim)
    if p.shape[-1] < 2:
        raise ValueError(f"{name} must have at least 2 classes on its last axis, got shape {p.shape}")
    if np.any(p < 0):
        raise ValueError(f"{name} must be probabilities on the simplex: found a negative entry {p.min()!r}")
    sums = p.sum(axis=-1)
    gap = np.abs(sums - 1.0)
    if np.max(gap) > SIMPLEX_ATOL:
        raise ValueError(
            f"{name} must be probabilities on the simplex: rows must sum to 1 (within {SIMPLEX_ATOL}), "
            f"found a row summing to {float(sums.flat[np.argmax(gap)])!r}"
        )
    return p


def as_simplex_weights(x: Any, name: str, k: int | None = None) -> np.ndarray:
    """Mixture weights: a 1-D probability vector (of length ``k`` when given)."""
    w = as_finite_array(x, name, ndim=1)
    if k is not None and w.shape[0] != k:
        raise ValueError(f"{name} must have length {k} (one weight per member), got length {w.shape[0]}")
    if np.any(w < 0) or abs(w.sum() - 1.0) > SIMPLEX_ATOL:
        raise ValueError(f"{name} must be on the simplex (nonnegative, summing to 1), got sum {w.sum()!r}")
    return w


def check_positive(value: Any, name: str, allow_zero: bool = False) -> float:
    """A finite scalar that is > 0 (or >= 0 with ``allow_zero``)."""
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a number, got {value!r}") from exc
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        want = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {want}, got {value!r}")
    return v
