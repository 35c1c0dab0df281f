"""One batch of fine-tuning tasks in a world: weak head, weak labels, weak-to-strong head, strong ceiling.

The protocol of Charikar, Pabbaraju & Shiragur (2024, Sec. 5), with every head solved exactly:

1. each task draws ``n_train`` inputs (its own, or one draw shared by all tasks) and gold labels
   ``f*(x) = g . h*(x) + c``;
2. the weak head is the least-squares head on frozen h_w fitted to the gold labels (``f_w``);
3. the weak-to-strong head is the strong class's fit on frozen h_s to the weak labels ``f_w(x)`` on the
   same inputs (``f_sw``, the L2(P_n) projection of f_w onto V_s);
4. the strong ceiling is the strong class's fit on h_s to the gold labels;
5. everything is evaluated on ``n_test`` fresh inputs shared by all tasks (the population estimate), where
   the truth's own projection onto V_s gives ``epsilon = d(Pi f*, f*)``.

:func:`task_records` turns the predictions into :class:`W2SRecord` objects, every number computed by
:mod:`weakstrong.theory`: the statements on fresh samples (estimates of the population statements) and,
in ``in_sample`` (a :class:`~weakstrong.theory.records.SampleCheck`), on the student's training sample, where the projection is exact and so are
Theorem 1 and the non-realizable bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from weakstrong.sim.common import check_positive_int
from weakstrong.sim.heads import LinearHead
from weakstrong.sim.worlds import TaskHeads, World
from weakstrong.theory.bounds import (convex_nonrealizable_bound, nonrealizable_bound, nonrealizable_identity,
                                      theorem1)
from weakstrong.theory.boundcheck import INEQUALITY_RTOL
from weakstrong.theory.distances import sq_distance
from weakstrong.theory.records import BoundTerms, SampleCheck, W2SRecord


# Relative tolerance of the statements for the hull class. Its solver stops at a duality gap of 1e-13 times
# the mean squared target, so the student is within sqrt(gap) of the exact projection in L2(P_n), which
# moves Theorem 1's slack by at most 2 sqrt(gap) (sqrt(misfit) + sqrt(w2s_error)) + 4 gap: ~1e-6 relative.
SOLVER_RTOL = {"linear": INEQUALITY_RTOL, "ball": INEQUALITY_RTOL, "hull": 1e-6}


@dataclass
class Predictions:
    """Predictions of every model on one sample, task-first: each array is (T, n)."""

    truth: np.ndarray
    weak: np.ndarray
    w2s: np.ndarray
    ceiling: np.ndarray
    projection: np.ndarray   # the strong class's fit to the truth on this very sample (Pi f*)


@dataclass
class TaskBatch:
    """Predictions on the student's training sample and on the fresh test sample."""

    train: Predictions
    test: Predictions
    n_train: int
    n_test: int


def run_tasks(world: World, heads: TaskHeads, rng: np.random.Generator, n_train: int, n_test: int,
              strong_head: Callable[[], object] = LinearHead, shared_inputs: bool = False) -> TaskBatch:
    """Fit the weak, weak-to-strong and ceiling heads of every task and predict on train and test.

    Parameters
    ----------
    world : the representations.
    heads : the tasks' true heads on h*.
    rng : draws the inputs (training, then test).
    n_train, n_test : sample sizes; ``n_train`` must exceed the feature width (an exact least-squares
        head on fewer samples than features interpolates).
    strong_head : a factory of the strong head class (``LinearHead``, ``lambda: BallHead(r)``, ...).
    shared_inputs : all tasks share one training draw (one Gram matrix for all of them) instead of
        drawing their own, as the original protocol does.
    """
    check_positive_int("run_tasks", "n_train", n_train, minimum=world.width + 1)
    check_positive_int("run_tasks", "n_test", n_test, minimum=world.width + 1)
    T = heads.n_tasks
    x = world.sample_inputs(rng, n_train) if shared_inputs else world.sample_inputs(rng, T, n_train)
    x_test = world.sample_inputs(rng, n_test)

    truth_fit, strong_fit, weak_fit = world.truth(x), world.strong(x), world.weak(x)
    gold = heads.labels(truth_fit)                                   # (T, n_train)
    weak_head = LinearHead().fit(weak_fit, gold)
    weak_labels = weak_head.predict(weak_fit)
    w2s_head = strong_head().fit(strong_fit, weak_labels)
    ceiling_head = strong_head().fit(strong_fit, gold)
    ceiling_fit = ceiling_head.predict(strong_fit)
    # On the training sample the ceiling is exactly Pi f*, the truth's projection onto V_s.
    train = Predictions(gold, weak_labels, w2s_head.predict(strong_fit), ceiling_fit, ceiling_fit)
    strong_test = world.strong(x_test)
    gold_test = heads.labels(world.truth(x_test))                    # (T, n_test)
    projection = strong_head().fit(strong_test, gold_test).predict(strong_test)
    test = Predictions(gold_test, weak_head.predict(world.weak(x_test)), w2s_head.predict(strong_test),
                       ceiling_head.predict(strong_test), projection)
    return TaskBatch(train, test, n_train, n_test)


def _statements(p: Predictions, t: int, subspace: bool, rtol: float) -> dict:
    """Every statement of one task on one sample, from the theory layer."""
    truth, weak, w2s = p.truth[t], p.weak[t], p.w2s[t]
    epsilon = sq_distance(p.projection[t], truth)
    thm1 = theorem1(truth, weak, w2s, rtol=rtol)
    nonreal = (nonrealizable_bound if subspace else convex_nonrealizable_bound)(truth, weak, w2s, epsilon,
                                                                               rtol=rtol)
    out = {**thm1.terms, "epsilon": epsilon, "strong_error": sq_distance(p.ceiling[t], truth),
           "theorem1": thm1.record_fields(), "nonrealizable": nonreal.record_fields()}
    if subspace:
        out["cross"] = nonrealizable_identity(truth, weak, w2s, p.projection[t]).terms["cross"]
    return out


def task_records(batch: TaskBatch, setting: str, seed: int, subspace: bool = True, method: str = "linear",
                 sizes: dict | None = None, task_offset: int = 0, extra: dict | None = None,
                 rtol: float = INEQUALITY_RTOL) -> list[W2SRecord]:
    """One :class:`W2SRecord` per task (fresh-sample numbers; exact in-sample numbers in ``extra``).

    ``subspace`` says whether the strong class is a subspace (unconstrained linear heads): then the
    two-sided bound |gain - misfit| <= 2 sqrt(eps * misfit) applies, otherwise its one-sided convex form.
    ``rtol`` is the statements' relative tolerance: the theory's default for closed-form heads; iterative
    solvers pass their certified precision (see :data:`SOLVER_RTOL`).
    """
    records = []
    T = batch.test.truth.shape[0]
    for t in range(T):
        test = _statements(batch.test, t, subspace, rtol)
        train = _statements(batch.train, t, subspace, rtol)
        records.append(W2SRecord.from_errors(
            test["weak_error"], test["w2s_error"], test["misfit"],
            strong_error=test["strong_error"], epsilon=test["epsilon"], **test["theorem1"],
            loss="sq", setting=setting, task=str(task_offset + t), weak="h_w", strong="h_s", method=method,
            seed=seed, sizes={"n_train": batch.n_train, "n_test": batch.n_test, **(sizes or {})},
            nonrealizable=BoundTerms(**test["nonrealizable"]), cross=test.get("cross"),
            in_sample=SampleCheck(**{k: train[k] for k in ("weak_error", "w2s_error", "misfit", "gain", "epsilon",
                                                           "strong_error")}, **train["theorem1"],
                                  nonrealizable=BoundTerms(**train["nonrealizable"])),
            extra=dict(extra or {})))
    return records


def nonrealizable_violation(record: W2SRecord, in_sample: bool = False) -> float:
    """Excess of |gain - misfit| over 2 sqrt(epsilon * misfit) (<= 0 when the bound holds): ``-slack``."""
    source = record.in_sample if in_sample else record
    return -float(source.nonrealizable.slack)
