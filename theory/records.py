"""The one record every weak-to-strong experiment writes, synthetic or LLM.

A record is one (task, weak, strong, method) measurement. ``gain = weak_error - w2s_error`` and
``misfit = d(f_sw, f_w)`` are the two numbers the misfit theory relates (Charikar et al. 2024, Thm. 1);
``bound``/``slack``/``holds`` say how a stated inequality fared on this record. Records are JSON lines;
``W2SRecord.from_dict`` validates them when read back, so figures and the paper never consume a malformed file.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

LOSSES = ("sq", "kl")

# Fields that must be present and finite in every record.
_REQUIRED_FLOATS = ("weak_error", "w2s_error", "misfit", "gain")
# Fields that may be None ("not known / not applicable") but otherwise must be finite.
_OPTIONAL_FLOATS = ("strong_error", "epsilon", "bound", "slack")


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
    extra : anything experiment-specific (task metrics, cross terms, timings).
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
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in _REQUIRED_FLOATS:
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(float(value)):
                raise ValueError(f"W2SRecord.{name} must be a finite number, got {value!r}")
            setattr(self, name, float(value))
        for name in _OPTIONAL_FLOATS:
            value = getattr(self, name)
            if value is None:
                continue
            if not isinstance(value, (int, float)) or not math.isfinite(float(value)):
                raise ValueError(f"W2SRecord.{name} must be a finite number or None, got {value!r}")
            setattr(self, name, float(value))
        if self.loss not in LOSSES:
            raise ValueError(f"W2SRecord.loss must be one of {LOSSES}, got {self.loss!r}")
        if self.holds is not None and not isinstance(self.holds, bool):
            raise ValueError(f"W2SRecord.holds must be a bool or None, got {self.holds!r}")
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
        """Validate a dict read from JSON. Unknown keys are an error: they signal a schema drift."""
        if not isinstance(data, dict):
            raise ValueError(f"record must be a JSON object, got {type(data).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"record has unknown fields {sorted(unknown)}; known fields: {sorted(names)}")
        missing = [n for n in _REQUIRED_FLOATS if n not in data]
        if missing:
            raise ValueError(f"record is missing required fields {missing}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
