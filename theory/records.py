"""The one record every weak-to-strong experiment writes, synthetic or LLM.

A record is one (task, weak, strong, method) measurement. ``gain = weak_error - w2s_error`` and
``misfit = d(f_sw, f_w)`` are the two numbers the misfit theory relates (Charikar et al. 2024, Thm. 1);
``bound``/``slack``/``holds`` say how a stated inequality fared on this record. Records are JSON lines;
``W2SRecord.from_dict`` validates them when read back, so figures and the paper never consume a malformed file.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import asdict, dataclass, field, fields
from typing import Any

LOSSES = ("sq", "kl")


def _finite(owner: str, name: str, value: Any, optional: bool) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        kind = "a finite number or None" if optional else "a finite number"
        raise ValueError(f"{owner}.{name} must be {kind}, got {value!r}")
    return float(value)


def _holds(owner: str, value: Any) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise ValueError(f"{owner}.holds must be a bool or None, got {value!r}")
    return value


@dataclass
class BoundTerms:
    """One inequality checked on a sample: ``slack = bound - lhs``, ``holds`` when slack >= -tol."""

    bound: float | None = None
    slack: float | None = None
    holds: bool | None = None

    def __post_init__(self) -> None:
        self.bound = _finite("BoundTerms", "bound", self.bound, True)
        self.slack = _finite("BoundTerms", "slack", self.slack, True)
        self.holds = _holds("BoundTerms", self.holds)


@dataclass
class SampleCheck:
    """A record's terms and statement repeated on the student's own training sample.

    The projection is computed there, so the statements are exact on it (up to the solver's precision), while
    the record's own fields are measured on fresh samples and include sampling error. ``bound``/``slack``/
    ``holds`` are the record's main statement (Theorem 1, its ensemble or KL form); ``nonrealizable`` the
    non-realizable bound where it applies.
    """

    weak_error: float
    w2s_error: float
    misfit: float
    gain: float
    epsilon: float | None = None
    strong_error: float | None = None
    bound: float | None = None
    slack: float | None = None
    holds: bool | None = None
    nonrealizable: BoundTerms | None = None

    def __post_init__(self) -> None:
        for name in ("weak_error", "w2s_error", "misfit", "gain"):
            setattr(self, name, _finite("SampleCheck", name, getattr(self, name), False))
        for name in ("epsilon", "strong_error", "bound", "slack"):
            setattr(self, name, _finite("SampleCheck", name, getattr(self, name), True))
        self.holds = _holds("SampleCheck", self.holds)


@dataclass
class MemberComparison:
    """An ensemble's student against its members' students: the best one, and the one the selection rule
    (weak error - misfit) picked."""

    best_member: int
    best_member_w2s_error: float
    selected_member: int
    selected_member_w2s_error: float

    def __post_init__(self) -> None:
        for name in ("best_member_w2s_error", "selected_member_w2s_error"):
            setattr(self, name, _finite("MemberComparison", name, getattr(self, name), False))


@dataclass
class FiniteSampleCheck:
    """Theorem 2's explicit finite-sample bound on a record, with its terms and the constants it used."""

    bound: float
    slack: float
    holds: bool
    terms: dict[str, float]
    radius: float          # B, the largest student head norm of the run
    feature_bound: float   # R, the largest feature norm (intercept included)
    label_bound: float     # M, the largest |weak label|

    def __post_init__(self) -> None:
        for name in ("bound", "slack", "radius", "feature_bound", "label_bound"):
            setattr(self, name, _finite("FiniteSampleCheck", name, getattr(self, name), False))
        self.holds = _holds("FiniteSampleCheck", self.holds)

# Fields that must be present and finite in every record.
_REQUIRED_FLOATS = ("weak_error", "w2s_error", "misfit", "gain")
# Fields that may be None ("not known / not applicable") but otherwise must be finite.
_OPTIONAL_FLOATS = ("strong_error", "epsilon", "bound", "slack", "cross")


@dataclass
class W2SRecord:
    """One weak-to-strong measurement.

    Attributes
    ----------
    weak_error : d(f_w, f*) on held-out data (squared L2 or KL, see ``loss``).
    w2s_error : d(f_sw, f*) for the weak-to-strong student.
    misfit : d(f_sw, f_w), the student's distance to its teacher (needs no gold labels).
    gain : weak_error - w2s_error. Checked against the other fields on construction.
    strong_error : the strong ceiling d(f_s, f*) (student trained on gold labels), if measured.
    epsilon : the realizability gap d(Pi f*, f*) when known (equals strong_error for exact projections).
    bound, slack, holds : the inequality checked on this record: ``slack = bound - lhs`` with ``holds``
        true when slack >= -tol. For Theorem 1, bound = weak_error - misfit and lhs = w2s_error.
    loss : "sq" (squared L2) or "kl" (KL, first argument the truth).
    setting, task, weak, strong, method, seed : identifying fields.
    sizes : sample sizes and dimensions, e.g. {"n_train": 2000, "n_test": 10000, "d_s": 16}.
    nonrealizable : the non-realizable bound |gain - misfit| <= 2 sqrt(eps * misfit) (or its convex form) here.
    cross : the cross term 2<r*, r_w> of the subspace identity gain = misfit - cross.
    in_sample : the same terms and statements on the student's own training sample (:class:`SampleCheck`).
    members : an ensemble's student against its members' (:class:`MemberComparison`).
    finite_sample : Theorem 2's explicit bound (:class:`FiniteSampleCheck`).
    extra : other experiment-specific scalars (task metrics, noise levels, weights, timings).
    """

    weak_error: float
    w2s_error: float
    misfit: float
    gain: float
    strong_error: float | None = None
    epsilon: float | None = None
    bound: float | None = None
    slack: float | None = None
    holds: bool | None = None
    loss: str = "sq"
    setting: str = ""
    task: str = ""
    weak: str = ""
    strong: str = ""
    method: str = ""
    seed: int | None = None
    sizes: dict[str, int] = field(default_factory=dict)
    nonrealizable: BoundTerms | None = None
    cross: float | None = None
    in_sample: SampleCheck | None = None
    members: MemberComparison | None = None
    finite_sample: FiniteSampleCheck | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in _REQUIRED_FLOATS:
            setattr(self, name, _finite("W2SRecord", name, getattr(self, name), False))
        for name in _OPTIONAL_FLOATS:
            setattr(self, name, _finite("W2SRecord", name, getattr(self, name), True))
        if self.loss not in LOSSES:
            raise ValueError(f"W2SRecord.loss must be one of {LOSSES}, got {self.loss!r}")
        self.holds = _holds("W2SRecord", self.holds)
        expected = self.weak_error - self.w2s_error
        if not math.isclose(self.gain, expected, rel_tol=1e-6, abs_tol=1e-9):
            raise ValueError(
                f"W2SRecord.gain must equal weak_error - w2s_error = {expected!r}, got {self.gain!r}"
            )

    @classmethod
    def from_errors(cls, weak_error: float, w2s_error: float, misfit: float, **kwargs: Any) -> "W2SRecord":
        """Build a record, computing ``gain`` from the two errors."""
        return cls(weak_error=weak_error, w2s_error=w2s_error, misfit=misfit,
                   gain=float(weak_error) - float(w2s_error), **kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "W2SRecord":
        """Validate a dict read from JSON, sub-records included. Unknown keys are an error: they signal a
        schema drift."""
        missing = [n for n in _REQUIRED_FLOATS if isinstance(data, dict) and n not in data]
        if missing:
            raise ValueError(f"record is missing required fields {missing}")
        return _typed(cls, data, "record")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _typed(cls: type, data: Any, where: str):
    """``cls(**data)`` with nested dataclass fields built the same way; unknown keys are a ValueError."""
    if not isinstance(data, dict):
        raise ValueError(f"{where} must be a JSON object, got {type(data).__name__}")
    names = {f.name for f in fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"{where} has unknown fields {sorted(unknown)}; known fields: {sorted(names)}")
    hints = typing.get_type_hints(cls)
    values = dict(data)
    for name, value in data.items():
        sub = [a for a in typing.get_args(hints[name]) if dataclasses.is_dataclass(a)]
        if sub and value is not None:
            values[name] = _typed(sub[0], value, f"{where}.{name}")
    try:
        return cls(**values)
    except TypeError as exc:   # a missing required field of a sub-record
        raise ValueError(f"{where}: {exc}") from None
