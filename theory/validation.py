"""Input checks shared by every public function of ``weakstrong.theory``.

Validation happens once, at the boundary, so the solvers and formulas behind it can assume clean arrays.
Every failure is a ``ValueError`` whose message names the argument and says what was expected. Numbers are
real numbers: booleans, complex values and strings (even numeric ones) are rejected rather than coerced.

Range. The statements combine squared distances, which must be representable in float64: the predictions
of one instance (all arrays of a statement together) must have their largest magnitude in
:data:`VALUE_RANGE` (or be all zero), and scalar squared distances must be at most :data:`MAX_SQUARED`.
Outside that range a square overflows to inf or underflows to 0 and the verdict would be meaningless, so
it is an error. Projections and sample weights have no such limit: they are rescaled internally.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

# Row sums of a probability vector may differ from 1 by this much (float32 softmax outputs pass).
SIMPLEX_ATOL = 1e-6
# Largest magnitude of the predictions of one instance: squares stay within (1e-300, 1e300), leaving 1e8
# of headroom for sums over samples and outputs and for the relative tolerances of the statements.
VALUE_RANGE = (1e-150, 1e150)
# Largest squared distance (error, misfit, epsilon) a statement accepts as a number.
MAX_SQUARED = 1e300
# Sample sizes beyond 2**53 are not exactly representable as floats.
MAX_COUNT = 2**53


def _float_array(x: Any, name: str) -> np.ndarray:
    """``x`` as a float64 array; booleans, complex numbers, strings and other objects are rejected."""
    try:
        raw = np.asarray(x)
    except (TypeError, ValueError) as exc:  # ragged nested sequences
        raise ValueError(f"{name} must be a numeric array, got {type(x).__name__}") from exc
    kind = raw.dtype.kind
    if kind == "O":
        bad = [v for v in raw.flat if not isinstance(v, numbers.Real) or isinstance(v, (bool, np.bool_))]
        if bad:
            raise ValueError(f"{name} must be a numeric array of real numbers, found {bad[0]!r}")
    elif kind == "b":
        raise ValueError(f"{name} must be a numeric array, got booleans")
    elif kind == "c":
        raise ValueError(f"{name} must be a real array, got complex values")
    elif kind not in "fiu":
        raise ValueError(f"{name} must be a numeric array, got dtype {raw.dtype} ({type(x).__name__})")
    try:
        with np.errstate(over="raise"):
            return raw.astype(float)
    except (TypeError, ValueError, OverflowError, FloatingPointError) as exc:
        raise ValueError(f"{name} must be a numeric array of float64 values, got {type(x).__name__}") from exc


def as_real_array(x: Any, name: str, ndim: int | tuple[int, ...] | None = None, allow_inf: bool = False
                  ) -> np.ndarray:
    """``x`` as a non-empty float64 array without NaN (and without inf unless ``allow_inf``)."""
    arr = _float_array(x, name)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if arr.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{name} must be a {want} array, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if np.isnan(arr).any() or (not allow_inf and np.isinf(arr).any()):
        raise ValueError(f"{name} must contain only finite values (no NaN{'' if allow_inf else ' or inf'})")
    return arr


def as_finite_array(x: Any, name: str, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """``x`` as a float64 array, checked to be finite and (optionally) of the given number of dimensions."""
    return as_real_array(x, name, ndim)


def as_nonnegative_array(x: Any, name: str, ndim: int = 1, maximum: float = MAX_SQUARED) -> np.ndarray:
    """A finite array of squared distances: entries in [0, ``maximum``]."""
    arr = as_finite_array(x, name, ndim=ndim)
    if (arr < 0).any():
        raise ValueError(f"{name} must be nonnegative (squared distances), got minimum {float(arr.min())!r}")
    if (arr > maximum).any():
        raise ValueError(f"{name} must be at most {maximum:g} (larger squares overflow), got {float(arr.max())!r}")
    return arr


def check_same_shape(arrays: dict[str, np.ndarray]) -> None:
    """Raise if the named arrays do not all share one shape."""
    shapes = {name: a.shape for name, a in arrays.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise ValueError(f"shape mismatch: expected equal shapes, got {listed}")


def check_scale(arrays: dict[str, np.ndarray]) -> None:
    """Raise unless the largest magnitude over all the named arrays is 0 or inside :data:`VALUE_RANGE`.

    The arrays are the predictors of one instance: a tiny prediction beside a large one is fine, an
    instance whose every value is tiny (or one huge value) is not, because its squares under- or overflow.
    """
    top = max(float(np.max(np.abs(a))) for a in arrays.values())
    low, high = VALUE_RANGE
    if top != 0.0 and not low <= top <= high:
        names = ", ".join(arrays)
        raise ValueError(
            f"{names} must have their largest magnitude in [{low:g}, {high:g}] (or be all zero) so that "
            f"squared distances are representable in float64, got {top:.3g}; rescale the units"
        )


def normalized_weights(sample_weight: Any, n: int, name: str = "sample_weight") -> np.ndarray:
    """Sample weights as a probability vector of length ``n`` (uniform when ``sample_weight`` is None).

    Weights must be finite, nonnegative and not all zero; they are rescaled to sum to one, so every
    distance is a weighted *mean* (the empirical measure P_n, or any discrete P). Any finite scale works:
    the weights are divided by their maximum first, so neither 1e308 nor subnormal weights over- or
    underflow.
    """
    if sample_weight is None:
        return np.full(n, 1.0 / n)
    w = as_finite_array(sample_weight, name, ndim=1)
    if w.shape[0] != n:
        raise ValueError(f"{name} must have length {n} (one weight per sample), got length {w.shape[0]}")
    if (w < 0).any():
        raise ValueError(f"{name} must be nonnegative, got minimum {float(w.min())!r}")
    top = w.max()
    if not top > 0:
        raise ValueError(f"{name} must not be all zero")
    w = w / top
    return w / w.sum()


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


def as_real_scalar(value: Any, name: str) -> float:
    """A real number as a float: ints, floats and numpy real scalars; not bools, strings or complex."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    try:
        return float(value)
    except OverflowError as exc:  # an int beyond the float range
        raise ValueError(f"{name} must be a finite number, got an integer too large for float64") from exc


def check_positive(value: Any, name: str, allow_zero: bool = False, maximum: float | None = None) -> float:
    """A finite real scalar that is > 0 (or >= 0 with ``allow_zero``), and <= ``maximum`` when given."""
    v = as_real_scalar(value, name)
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        want = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {want}, got {value!r}")
    if maximum is not None and v > maximum:
        raise ValueError(f"{name} must be at most {maximum:g}, got {value!r}")
    return v


def check_integer(value: Any, name: str, minimum: int = 0, maximum: int = MAX_COUNT) -> int:
    """An integer in [``minimum``, ``maximum``]: an int, a numpy integer or an integral float; not a bool."""
    v = as_real_scalar(value, name)
    if not math.isfinite(v) or v != math.floor(v) or not minimum <= v <= maximum:
        raise ValueError(f"{name} must be an integer in [{minimum}, {maximum}], got {value!r}")
    return int(value)


def as_index_array(x: Any, name: str, n: int, minimum_size: int = 1, unique: bool = False) -> np.ndarray:
    """Positions into a sample of ``n`` points: a 1-D integer array with entries in [0, ``n``).

    Integral floats are accepted (as from a JSON list), booleans are not (a boolean mask is a different
    thing). ``unique`` rejects repeated positions (a sample drawn without replacement).
    """
    arr = as_finite_array(x, name, ndim=1)
    if not np.all(arr == np.floor(arr)):
        raise ValueError(f"{name} must hold integer positions, found {float(arr[arr != np.floor(arr)][0])!r}")
    if arr.min() < 0 or arr.max() >= n:
        raise ValueError(f"{name} must hold positions in [0, {n}), got range [{arr.min():g}, {arr.max():g}]")
    if arr.size < minimum_size:
        raise ValueError(f"{name} must hold at least {minimum_size} positions, got {arr.size}")
    idx = arr.astype(np.int64)
    if unique and np.unique(idx).size != idx.size:
        raise ValueError(f"{name} must not repeat a position (a sample drawn without replacement); "
                         f"pass replace=True for a sample drawn with replacement")
    return idx
