"""Experiment 1: gain against misfit over many fine-tuning tasks (Charikar et al. 2024, Fig. 2a-c).

``weakstrong sim charikar --setting {realizable,pretrained,perturbed} --tasks 100 --seed S --out DIR``
writes ``DIR/records.jsonl`` (one :class:`W2SRecord` per task), ``DIR/summary.json`` and
``DIR/gain_vs_misfit.png``. Theorem 1 of Charikar, Pabbaraju & Shiragur (2024): when the strong class is
convex and contains the truth, gain >= misfit, with equality for a subspace (unconstrained linear heads);
off realizability, |gain - misfit| <= 2 sqrt(epsilon * misfit). The summary reports the least-squares line
of gain on misfit, how often Theorem 1 held and the largest violation of the non-realizable bound, on
fresh samples and (exactly) on the student's training sample.

Leverage guard: off realizability the strong heads read only the features active on at least
``min_active_fraction`` of a task's training sample (:class:`~weakstrong.sim.heads.ActiveFeatures`); the
ceiling and the truth's projection read the same features, so the strong class is one subspace per task and
the statements stay exact for it. Each record keeps the count of dropped features
(``sizes["dropped_features"]``) and the largest leverage of its training sample (``extra["max_leverage"]``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from weakstrong.config import check_memory
from weakstrong.sim.common import check_choice, check_finite, check_positive_int, named_rng
from weakstrong.sim.heads import ActiveFeatures, BallHead, HullHead, LinearHead, SelectedHead, l1_ball_vertices
from weakstrong.sim.pipeline import SOLVER_RTOL, nonrealizable_violation, run_tasks, task_records
from weakstrong.sim.experiments import Experiment
from weakstrong.sim.parallel import RunOptions
from weakstrong.sim.stats import gain_misfit_fit
from weakstrong.sim.worlds import WorldConfig, make_world, sample_task_heads

NAME = "charikar"
HELP = "gain vs misfit over fine-tuning tasks (realizable / pretrained / perturbed)"
HEADS = ("linear", "ball", "hull")
# Tasks are processed in chunks of this many: bounded memory for --tasks in the thousands, and the
# progress bar's unit. Fixed, so the random draws do not depend on anything but the seed.
CHUNK = 50


@dataclass(frozen=True)
class CharikarConfig:
    """One run of experiment 1."""

    world: WorldConfig = field(default_factory=WorldConfig, metadata={"flatten": True})
    tasks: int = 100             # fine-tuning tasks (random linear heads on h*)
    n_train: int = 2000          # the protocol's fine-tuning sample per task
    n_test: int = 10000          # fresh samples, shared by all tasks
    head: str = field(default="linear", metadata={"choices": HEADS})   # strong head class
    radius: float = 1.0          # ball: ||coef||_2 bound; hull: L1 radius of the (coef, intercept) ball
    shared_inputs: bool = False  # one training draw for all tasks instead of one per task
    # leverage guard: strong heads drop the features active on fewer than this fraction of a task's training
    # sample (one firing on 1-2 of 2000 samples gets a huge coefficient that explodes on fresh samples); the
    # default, 20 of 2000 samples, leaves no single sample in charge of a coefficient; 0 keeps every
    # feature. Not applied when realizable (dropping a feature of h_s = h* would take f* out of the class)
    min_active_fraction: float = 0.01

    def validate(self) -> "CharikarConfig":
        self.world.validate()
        check_positive_int("CharikarConfig", "tasks", self.tasks)
        check_positive_int("CharikarConfig", "n_train", self.n_train, minimum=self.world.width + 1)
        check_positive_int("CharikarConfig", "n_test", self.n_test, minimum=self.world.width + 1)
        check_choice("CharikarConfig", "head", self.head, HEADS)
        check_finite("CharikarConfig", "radius", self.radius, minimum=0.0, strict=True)
        check_finite("CharikarConfig", "min_active_fraction", self.min_active_fraction, minimum=0.0, maximum=1.0)
        check_finite("CharikarConfig", "radius", self.radius, maximum=1e12)
        w = self.world.width
        # Per-task training features of the strong and weak representations, the shared test features, and
        # every head's predictions on test, in float64.
        check_memory("CharikarConfig", f"{self.tasks} tasks x n_train {self.n_train} x n_test {self.n_test}",
                     8.0 * (self.tasks * self.n_train * (2 * w + self.world.input_dim + 4)
                            + self.n_test * (2 * w + self.world.input_dim) + 4 * self.tasks * self.n_test))
        return self

    def active_fraction(self) -> float:
        """The leverage guard's threshold in effect: ``min_active_fraction``, or 0 when realizable."""
        return 0.0 if self.world.setting == "realizable" else float(self.min_active_fraction)


def strong_head_factory(head: str, radius: float, width: int):
    """A zero-argument factory of the strong head class ``head``."""
    if head == "linear":
        return LinearHead
    if head == "ball":
        return lambda: BallHead(radius)
    vertices, intercepts = l1_ball_vertices(width, radius)
    return lambda: HullHead(vertices, intercepts)


def run(config: CharikarConfig, options: RunOptions = RunOptions()) -> tuple[list, dict]:
    """Run experiment 1. Returns ``(records, summary)``; writes nothing."""
    config.validate()
    start = time.perf_counter()
    world = make_world(config.world, cache_dir=options.cache())
    rng = named_rng(config.world.seed, "charikar-tasks")
    heads = sample_task_heads(rng, config.tasks, world.width)
    factory = strong_head_factory(config.head, config.radius, world.width)
    chunks = range(0, config.tasks, CHUNK)
    if options.progress:
        from tqdm import tqdm

        chunks = tqdm(chunks, desc=f"charikar {config.world.setting}", unit="chunk")
    records = []
    for lo in chunks:
        hi = min(lo + CHUNK, config.tasks)
        sub = type(heads)(heads.coef[lo:hi], heads.intercept[lo:hi])
        # One selection per batch: fitted on the training sample by the first strong head, reused by the
        # ceiling and by the truth's projection on the fresh sample, so all read one subspace per task.
        selection = ActiveFeatures(config.active_fraction())
        batch = run_tasks(world, sub, rng, config.n_train, config.n_test,
                          lambda: SelectedHead(factory(), selection), config.shared_inputs)
        chunk = task_records(batch, config.world.setting, config.world.seed, subspace=config.head == "linear",
                             method=config.head, sizes={"d_s": world.width, "d_w": world.weak.width},
                             task_offset=lo, rtol=SOLVER_RTOL[config.head])
        dropped = np.broadcast_to(selection.dropped_, (hi - lo,))
        leverage = np.broadcast_to(selection.max_leverage_, (hi - lo,))
        for record, n_dropped, lev in zip(chunk, dropped, leverage):
            record.sizes["dropped_features"] = int(n_dropped)
            record.extra["max_leverage"] = float(lev)
        records += chunk
    seconds = time.perf_counter() - start
    return records, summarize(records, config, world, seconds)


def summarize(records, config: CharikarConfig, world, seconds: float) -> dict:
    """The contract's summary: line of gain on misfit, Theorem 1 rate, worst non-realizable violation."""
    misfit = np.array([r.misfit for r in records])
    gain = np.array([r.gain for r in records])

    def mean(field_):
        return float(np.mean([getattr(r, field_) for r in records]))

    in_sample = [r.in_sample for r in records]
    return {
        **gain_misfit_fit(misfit, gain),
        "frac_theorem1_holds": float(np.mean([r.holds for r in records])),
        "max_nonrealizable_violation": max(nonrealizable_violation(r) for r in records),
        "frac_theorem1_holds_in_sample": float(np.mean([s.holds for s in in_sample])),
        "max_nonrealizable_violation_in_sample": max(nonrealizable_violation(r, True) for r in records),
        "frac_gain_ge_misfit": float(np.mean(gain >= misfit)),
        # The leverage guard: its threshold, and over tasks the most features it dropped and the largest
        # hat-matrix diagonal entry of the strong design on a training sample (kept features).
        "min_active_fraction": config.active_fraction(),
        "max_dropped_features": max(r.sizes["dropped_features"] for r in records),
        "max_leverage": max(r.extra["max_leverage"] for r in records),
        # The same line on the student's training sample, where the projection is exact: slope 1, r2 1
        # for a subspace class in the realizable setting, up to rounding.
        "in_sample": gain_misfit_fit([s.misfit for s in in_sample], [s.gain for s in in_sample]),
        "seconds": seconds,
        "pretrain_loss": world.pretrain_loss,
        "pretrain_seconds": world.pretrain_seconds,
        "mean": {f: mean(f) for f in ("weak_error", "w2s_error", "strong_error", "epsilon", "misfit", "gain")},
        "tasks": len(records),
        "config": asdict(config),
    }


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def report(summary: dict) -> str:
    """What ``weakstrong sim charikar`` prints: the means, the line of gain on misfit and the bound checks."""
    m, setting = summary["mean"], summary["config"]["world"]["setting"]
    return (f"charikar {setting}: {summary['tasks']} tasks in {summary['seconds']:.1f} s "
            f"(pretraining {summary['pretrain_seconds']:.1f} s, loss {summary['pretrain_loss']})\n"
            f"  weak {m['weak_error']:.4f}  w2s {m['w2s_error']:.4f}  ceiling {m['strong_error']:.4f}  "
            f"misfit {m['misfit']:.4f}\n"
            f"  gain on misfit: slope {_fmt(summary['slope'])}  intercept {_fmt(summary['intercept'])}  "
            f"r2 {_fmt(summary['r2'])} (in-sample r2 {_fmt(summary['in_sample']['r2'])})\n"
            f"  theorem 1 holds {summary['frac_theorem1_holds']:.2f} (in-sample "
            f"{summary['frac_theorem1_holds_in_sample']:.2f}); max non-realizable violation "
            f"{summary['max_nonrealizable_violation']:.3g} (in-sample "
            f"{summary['max_nonrealizable_violation_in_sample']:.3g})\n"
            f"  leverage guard (features active on < {summary['min_active_fraction']:.3g} of a training sample "
            f"dropped): at most {summary['max_dropped_features']} dropped per task, max leverage "
            f"{summary['max_leverage']:.3f}")


EXPERIMENT = Experiment(name=NAME, config=CharikarConfig, run=run, report=report, help=HELP,
                        figure="gain_vs_misfit")
