"""Experiment 1: gain against misfit over many fine-tuning tasks (Charikar et al. 2024, Fig. 2a-c).

``weakstrong sim charikar --setting {realizable,pretrained,perturbed} --tasks 100 --seed S --out DIR``
writes ``DIR/records.jsonl`` (one :class:`W2SRecord` per task), ``DIR/summary.json`` and
``DIR/gain_vs_misfit.png``. Theorem 1 of Charikar, Pabbaraju & Shiragur (2024): when the strong class is
convex and contains the truth, gain >= misfit, with equality for a subspace (unconstrained linear heads);
off realizability, |gain - misfit| <= 2 sqrt(epsilon * misfit). The summary reports the least-squares line
of gain on misfit, how often Theorem 1 held and the largest violation of the non-realizable bound, on
fresh samples and (exactly) on the student's training sample.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from weakstrong.sim.common import check_choice, check_finite, check_positive_int, named_rng
from weakstrong.sim.heads import BallHead, HullHead, LinearHead, l1_ball_vertices
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

    def validate(self) -> "CharikarConfig":
        self.world.validate()
        check_positive_int("CharikarConfig", "tasks", self.tasks)
        check_positive_int("CharikarConfig", "n_train", self.n_train, minimum=self.world.width + 1)
        check_positive_int("CharikarConfig", "n_test", self.n_test, minimum=self.world.width + 1)
        check_choice("CharikarConfig", "head", self.head, HEADS)
        check_finite("CharikarConfig", "radius", self.radius, minimum=0.0, strict=True)
        return self


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
        batch = run_tasks(world, sub, rng, config.n_train, config.n_test, factory, config.shared_inputs)
        records += task_records(batch, config.world.setting, config.world.seed, subspace=config.head == "linear",
                                method=config.head, sizes={"d_s": world.width, "d_w": world.weak.width},
                                task_offset=lo, rtol=SOLVER_RTOL[config.head])
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
            f"{summary['max_nonrealizable_violation_in_sample']:.3g})")


EXPERIMENT = Experiment(name=NAME, config=CharikarConfig, run=run, report=report, help=HELP,
                        figure="gain_vs_misfit")
