"""Random instances of every statement of ``weakstrong.theory``, and their summary table.

Each generator draws one instance (predictors on a sample, sample weights, a convex class), builds the
student with the exact solver of ``weakstrong.theory.projections`` and returns the statement's
:class:`BoundCheck`. Instances are deliberately awkward: rank-deficient features, zero sample weights,
scales from 1e-2 to 1e2, truths on the boundary of the class. ``weakstrong theory check`` runs every
generator and reports, per statement, the largest and the worst slack and the number of violations.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import asdict, dataclass
from typing import Callable, ClassVar

import numpy as np

from . import bounds
from .boundcheck import BoundCheck
from .distances import sq_distance
from .projections import (
    kl_project_onto_hull,
    project_onto_ball,
    project_onto_box,
    project_onto_cone,
    project_onto_hull,
    project_onto_subspace,
)

FINITE_SAMPLE_DELTA = 0.05


@dataclass(frozen=True)
class InstanceSize:
    """Dimensions of one instance: samples n, features d, predictors k, classes c."""

    n: int
    d: int
    k: int
    c: int


@dataclass
class CheckConfig:
    """Settings of ``weakstrong theory check``."""

    instances: int = 200  # random instances per statement
    seed: int = 0  # random seed
    max_samples: int = 40  # n is drawn from [2, max_samples]
    max_dim: int = 6  # d from [1, max_dim]
    max_predictors: int = 6  # k from [1, max_predictors]
    max_classes: int = 5  # c from [2, max_classes]

    def __post_init__(self) -> None:
        self.validate()

    # The smallest valid value of each field; validate() checks every field against it.
    MINIMUMS: ClassVar[dict[str, int]] = {
        "instances": 1, "seed": 0, "max_samples": 2, "max_dim": 1, "max_predictors": 1, "max_classes": 2,
    }

    def validate(self) -> "CheckConfig":
        """Raise :class:`~weakstrong.config.ConfigError` naming the first bad field. Returns self."""
        from dataclasses import fields

        from weakstrong.config import check_int

        for f in fields(self):
            check_int("CheckConfig", f.name, getattr(self, f.name), minimum=self.MINIMUMS[f.name])
        return self

    def draw_size(self, rng: np.random.Generator) -> InstanceSize:
        return InstanceSize(
            n=int(rng.integers(2, self.max_samples + 1)),
            d=int(rng.integers(1, self.max_dim + 1)),
            k=int(rng.integers(1, self.max_predictors + 1)),
            c=int(rng.integers(2, self.max_classes + 1)),
        )


# ----------------------------------------------------------------------------------------------- drawing
def _scale(rng: np.random.Generator) -> float:
    return float(10.0 ** rng.uniform(-2, 2))


def _weights(rng: np.random.Generator, n: int) -> np.ndarray | None:
    kind = rng.integers(3)
    if kind == 0:
        return None
    w = rng.exponential(size=n)
    if kind == 2:  # some samples carry no weight at all
        w[rng.random(n) < 0.3] = 0.0
        w[rng.integers(n)] += 1.0
    return w


def _features(rng: np.random.Generator, size: InstanceSize) -> np.ndarray:
    x = rng.normal(size=(size.n, size.d)) * 10.0 ** rng.uniform(-1, 1, size=size.d)
    if size.d >= 2 and rng.random() < 0.25:  # collinear columns: a rank-deficient design
        x[:, -1] = rng.normal() * x[:, 0]
    return x


def _in_ball(rng: np.random.Generator, d: int, radius: float) -> np.ndarray:
    direction = rng.normal(size=d)
    direction /= np.linalg.norm(direction)
    fraction = 1.0 if rng.random() < 0.3 else rng.random() ** (1.0 / d)  # often on the sphere itself
    return radius * fraction * direction


def _simplex(rng: np.random.Generator, k: int) -> np.ndarray:
    a = rng.dirichlet(np.full(k, rng.uniform(0.3, 3.0)))
    if k >= 2 and rng.random() < 0.3:  # a point on a face of the simplex
        a[rng.random(k) < 0.5] = 0.0
        a[rng.integers(k)] += 1e-3
        a /= a.sum()
    return a


def _probabilities(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.dirichlet(np.full(shape[-1], rng.uniform(0.5, 3.0)), size=shape[:-1])


# -------------------------------------------------------------------------------------------- statements
def theorem1_subspace(rng: np.random.Generator, size: InstanceSize, equality: bool = False) -> BoundCheck:
    x, w, s = _features(rng, size), _weights(rng, size.n), _scale(rng)
    intercept = bool(rng.random() < 0.5)
    truth = s * (x @ rng.normal(size=size.d) + (rng.normal() if intercept else 0.0))
    weak = truth + s * rng.normal(size=size.n) * rng.uniform(0.1, 3.0)
    w2s = project_onto_subspace(x, weak, w, fit_intercept=intercept).fitted
    if equality:
        return bounds.subspace_equality(truth, weak, w2s, w, features=x, fit_intercept=intercept)
    return bounds.theorem1(truth, weak, w2s, w)


def theorem1_ball(rng: np.random.Generator, size: InstanceSize) -> BoundCheck:
    x, w, radius = _features(rng, size), _weights(rng, size.n), _scale(rng)
    truth = x @ _in_ball(rng, size.d, radius)
    weak = truth + rng.normal(size=size.n) * (np.std(truth) + radius) * rng.uniform(0.1, 3.0)
    return bounds.theorem1(truth, weak, project_onto_ball(x, weak, radius, w).fitted, w)


def theorem1_hull(rng: np.random.Generator, size: InstanceSize) -> BoundCheck:
    preds, w = _scale(rng) * rng.normal(size=(size.n, size.k)), _weights(rng, size.n)
    truth = preds @ _simplex(rng, size.k)
    weak = truth + rng.normal(size=size.n) * np.std(preds) * rng.uniform(0.1, 3.0)
    return bounds.theorem1(truth, weak, project_onto_hull(preds, weak, w).fitted, w)


def theorem1_box(rng: np.random.Generator, size: InstanceSize) -> BoundCheck:
    s, w = _scale(rng), _weights(rng, size.n)
    lower, upper = -s * rng.uniform(0, 1, size.n), s * rng.uniform(0, 1, size.n)
    truth = np.where(rng.random(size.n) < 0.3, upper, rng.uniform(lower, upper))
    weak = 2.0 * s * rng.normal(size=size.n)
    return bounds.theorem1(truth, weak, project_onto_box(weak, lower, upper).fitted, w)


def theorem1_cone(rng: np.random.Generator, size: InstanceSize) -> BoundCheck:
    s, w = _scale(rng), _weights(rng, size.n)
    truth = np.where(rng.random(size.n) < 0.3, 0.0, s * np.abs(rng.normal(size=size.n)))
    weak = s * rng.normal(size=size.n)
    return bounds.theorem1(truth, weak, project_onto_cone(weak).fitted, w)


def subspace_equality(rng: np.random.Generator, size: InstanceSize) -> BoundCheck:
    return theorem1_subspace(rng, size, equality=True)


def _nonrealizable_subspace(rng: np.random.Generator, size: InstanceSize):
    x, w, s = _features(rng, size), _weights(rng, size.n), _scale(rng)
    intercept = bool(rng.random() < 0.5)
    truth = s * (x @ rng.normal(size=size.d) + rng.normal(size=size.n) * rng.uniform(0.01, 2.0))
    weak = truth + s * rng.normal(size=size.n) * rng.uniform(0.1, 3.0)
    truth_projection = project_onto_subspace(x, truth, w, fit_intercept=intercept).fitted
    w2s = project_onto_subspace(x, weak, w, fit_intercept=intercept).fitted
    return truth, weak, w2s, truth_projection, w, x, intercept


def nonrealizable_identity(rng: np.random.Generator, size: InstanceSize) -> BoundCheck:
    truth, weak, w2s, truth_projection, w, x, intercept = _nonrealizable_subspace(rng, size)
    return bounds.nonrealizable_identity(truth, weak, w2s, truth_projection, w, features=x,
                                         fit_intercept=intercept)


def nonrealizable_bound(rng: np.random.Generator, size: InstanceSize) -> BoundCheck:
    truth, weak, w2s, truth_projection, w, _, _ = _nonrealizable_subspace(rng, size)
    return bounds.nonrealizable_bound(truth, weak, w2s, sq_distance(truth_projection, truth, w), w)


def convex_nonrealizable_ball(rng: np.random.Generator, size: InstanceSize) -> BoundCheck:
    x, w, radius = _features(rng, size), _weights(rng, size.n), _scale(rng)
    truth = x @ _in_ball(rng, size.d, 2.0 * radius) + radius * rng.normal(size=size.n)
    weak = truth + rng.normal(size=size.n) * (np.std(truth) + radius) * rng.uniform(0.1, 3.0)
    epsilon = sq_distance(project_onto_ball(x, truth, radius, w).fitted, truth, w)
    return bounds.convex_nonrealizable_bound(truth, weak, project_onto_ball(x, weak, radius, w).fitted, epsilon, w)


def convex_nonrealizable_hull(rng: np.random.Generator, size: InstanceSize) -> BoundCheck:
    preds, w = _scale(rng) * rng.normal(size=(size.n, size.k)), _weights(rng, size.n)
    truth = preds @ _simplex(rng, size.k) + np.std(preds) * rng.normal(size=size.n)
    weak = truth + rng.normal(size=size.n) * np.std(preds) * rng.uniform(0.1, 3.0)
    epsilon = sq_distance(project_onto_hull(preds, truth, w).fitted, truth, w)
    return bounds.convex_nonrealizable_bound(truth, weak, project_onto_hull(preds, weak, w).fitted, epsilon, w)


def kl_theorem(rng: np.random.Generator, size: InstanceSize) -> BoundCheck:
    comps, w = _probabilities(rng, (size.k, size.n, size.c)), _weights(rng, size.n)
    truth = np.tensordot(_simplex(rng, size.k), comps, axes=1)
    teacher = _probabilities(rng, (size.n, size.c))
    if rng.random() < 0.3:  # a teacher close to the class, so the misfit is small
        teacher = 0.9 * comps[rng.integers(size.k)] + 0.1 * teacher
    w2s = kl_project_onto_hull(comps, teacher, w).fitted
    return bounds.kl_theorem(truth, teacher, w2s, w)


def ambiguity_decomposition(rng: np.random.Generator, size: InstanceSize) -> BoundCheck:
    s = _scale(rng)
    members, truth = s * rng.normal(size=(size.k, size.n)), s * rng.normal(size=size.n)
    return bounds.ambiguity_decomposition(members, _simplex(rng, size.k), truth, _weights(rng, size.n))


def _ball_instance(rng: np.random.Generator, size: InstanceSize):
    x, w, radius = _features(rng, size), _weights(rng, size.n), _scale(rng)
    truth = x @ _in_ball(rng, size.d, radius)
    return x, w, radius, truth, np.std(truth) + radius


def ensemble_theorem1(rng: np.random.Generator, size: InstanceSize) -> BoundCheck:
    x, w, radius, truth, spread = _ball_instance(rng, size)
    members = truth + spread * rng.uniform(0.1, 3.0, size=(size.k, 1)) * rng.normal(size=(size.k, size.n))
    alpha = _simplex(rng, size.k)
    w2s = project_onto_ball(x, alpha @ members, radius, w).fitted
    return bounds.ensemble_theorem1(members, alpha, truth, w2s, w)


def weak_model_selection(rng: np.random.Generator, size: InstanceSize) -> BoundCheck:
    x, w, radius, truth, spread = _ball_instance(rng, size)
    weak_errors, misfits, w2s_errors = [], [], []
    for _ in range(max(size.k, 2)):
        weak = truth + spread * rng.uniform(0.1, 3.0) * (rng.normal(size=size.n) + rng.normal())
        terms = bounds.misfit_terms(truth, weak, project_onto_ball(x, weak, radius, w).fitted, w)
        weak_errors.append(terms["weak_error"])
        misfits.append(terms["misfit"])
        w2s_errors.append(terms["w2s_error"])
    return bounds.selection_bound(weak_errors, misfits, w2s_errors)


def finite_sample_bound(rng: np.random.Generator, size: InstanceSize) -> BoundCheck:
    """ERM on n draws from a known discrete P (N support points), so every population term is exact."""
    support, d = 4 * size.n, size.d
    feature_bound, radius, label_bound = _scale(rng), _scale(rng), _scale(rng)
    x = rng.normal(size=(support, d))
    x *= feature_bound * rng.random((support, 1)) ** (1.0 / d) / np.linalg.norm(x, axis=1, keepdims=True)
    p = rng.dirichlet(np.ones(support))
    weak = label_bound * np.tanh(x @ rng.normal(size=d) / feature_bound + 0.5 * rng.normal(size=support))
    truth = weak + label_bound * rng.uniform(0.0, 1.0) * rng.normal(size=support)
    counts = np.bincount(rng.choice(support, size=size.n, p=p), minlength=support).astype(float)
    student = project_onto_ball(x, weak, radius, counts).fitted  # the ERM head, evaluated on all of P
    epsilon = sq_distance(project_onto_ball(x, truth, radius, p).fitted, truth, p)
    terms = bounds.misfit_terms(truth, weak, student, p)
    return bounds.finite_sample_bound(
        size.n, radius, feature_bound, label_bound, FINITE_SAMPLE_DELTA, epsilon,
        terms["weak_error"], terms["w2s_error"], terms["misfit"],
    )


@dataclass(frozen=True)
class Statement:
    name: str
    generate: Callable[[np.random.Generator, InstanceSize], BoundCheck]
    must_hold: bool = True  # False for high-probability statements


STATEMENTS: tuple[Statement, ...] = (
    Statement("theorem1/subspace", theorem1_subspace),
    Statement("theorem1/ball", theorem1_ball),
    Statement("theorem1/hull", theorem1_hull),
    Statement("theorem1/box", theorem1_box),
    Statement("theorem1/cone", theorem1_cone),
    Statement("subspace_equality", subspace_equality),
    Statement("nonrealizable_identity", nonrealizable_identity),
    Statement("nonrealizable_bound", nonrealizable_bound),
    Statement("convex_nonrealizable_bound/ball", convex_nonrealizable_ball),
    Statement("convex_nonrealizable_bound/hull", convex_nonrealizable_hull),
    Statement("kl_theorem", kl_theorem),
    Statement("ambiguity_decomposition", ambiguity_decomposition),
    Statement("ensemble_theorem1", ensemble_theorem1),
    Statement("weak_model_selection", weak_model_selection),
    Statement("finite_sample_bound", finite_sample_bound, must_hold=False),
)


# ------------------------------------------------------------------------------------------------ summary
@dataclass
class StatementSummary:
    """One row of the check table.

    ``worst_slack`` is the most negative slack of an inequality, or the slack of largest magnitude of an
    equality; ``worst_relative`` divides it by that instance's scale (the sum of |terms|), the quantity the
    relative tolerance ``rtol`` is compared with.
    """

    statement: str
    kind: str
    instances: int
    max_slack: float
    worst_slack: float
    worst_relative: float
    rtol: float
    violations: int
    must_hold: bool
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


def _summarise(statement: Statement, checks: list[BoundCheck], seconds: float) -> StatementSummary:
    slacks = np.array([c.slack for c in checks])
    scales = np.array([max(c.scale, np.finfo(float).tiny) for c in checks])
    equality = checks[0].equality
    worst = int(np.argmax(np.abs(slacks))) if equality else int(np.argmin(slacks))
    return StatementSummary(
        statement=statement.name,
        kind="=" if equality else "<=",
        instances=len(checks),
        max_slack=float(slacks.max()),
        worst_slack=float(slacks[worst]),
        worst_relative=float(slacks[worst] / scales[worst]),
        rtol=checks[worst].rtol,
        violations=int(sum(not c.holds for c in checks)),
        must_hold=statement.must_hold,
        seconds=seconds,
    )


def check_report(config: CheckConfig) -> dict:
    """:func:`run_checks` on one BLAS thread (tiny matrices: more threads only add contention), as data:
    ``{"config", "seconds", "violated" (statements that must hold and failed), "statements", "rows"}``."""
    from threadpoolctl import threadpool_limits

    start = time.perf_counter()
    with threadpool_limits(1):
        rows = run_checks(config)
    return {"config": {"instances": config.instances, "seed": config.seed},
            "seconds": time.perf_counter() - start,
            "violated": [r.statement for r in rows if r.must_hold and r.violations],
            "statements": [r.to_dict() for r in rows], "rows": rows}


def run_checks(config: CheckConfig, statements: tuple[Statement, ...] | None = None) -> list[StatementSummary]:
    """Evaluate ``config.instances`` random instances of every statement (default :data:`STATEMENTS`).

    Each statement draws from its own stream, seeded by (seed, CRC-32 of its name), so a row does not depend
    on which other statements ran or in which order.
    """
    rows = []
    for statement in STATEMENTS if statements is None else statements:
        rng = np.random.default_rng([config.seed, zlib.crc32(statement.name.encode())])
        start = time.perf_counter()
        checks = [statement.generate(rng, config.draw_size(rng)) for _ in range(config.instances)]
        rows.append(_summarise(statement, checks, time.perf_counter() - start))
    return rows


def format_table(rows: list[StatementSummary]) -> str:
    """A fixed-width text table of the summaries."""
    header = ("statement", "kind", "instances", "max slack", "worst slack", "worst rel", "rtol", "violations")
    lines = [
        (r.statement + ("" if r.must_hold else " (w.p. >= 1-delta)"), r.kind, str(r.instances),
         f"{r.max_slack:.3e}", f"{r.worst_slack:.3e}", f"{r.worst_relative:.1e}", f"{r.rtol:.0e}",
         str(r.violations))
        for r in rows
    ]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]

    def fmt(cells) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *(fmt(line) for line in lines)])
