"""Experiment 3: non-realizability -- gain - misfit against 2 sqrt(epsilon * misfit) over a sweep of epsilon.

``weakstrong sim epsilon-sweep [--strong-noises 0.01 ... 1] [--tasks 20] --seed S --out DIR``

The strong representation is the truth h* with Gaussian noise of relative scale s on every weight
(the perturbed setting); sweeping s moves the realizability gap epsilon = d(Pi f*, f*) from near 0 upward
while the truth, the weak representation (h* with noise ``weak_noise``) and the tasks stay fixed. For a
subspace strong class, gain = misfit - 2 <r*, r_w> and so |gain - misfit| <= 2 sqrt(epsilon * misfit)
(Charikar, Pabbaraju & Shiragur 2024, non-realizable setting;
:func:`weakstrong.theory.bounds.nonrealizable_bound`). Every record carries its epsilon (the truth's
projection gap on the fresh test sample) and its strong-noise level (``extra["strong_noise"]``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from weakstrong.config import ConfigError
from weakstrong.sim.common import check_finite, check_positive_int, named_rng
from weakstrong.sim.pipeline import nonrealizable_violation, run_tasks, task_records
from weakstrong.sim.experiments import Experiment
from weakstrong.sim.parallel import RunOptions
from weakstrong.sim.worlds import WorldConfig, make_world, sample_task_heads

NAME = "epsilon-sweep"
HELP = "non-realizability: gain - misfit against 2 sqrt(epsilon misfit) over a sweep of strong-noise levels"
DEFAULT_NOISES = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


@dataclass(frozen=True)
class EpsilonSweepConfig:
    world: WorldConfig = field(default_factory=lambda: WorldConfig(setting="perturbed"),
                               metadata={"flatten": True})
    strong_noises: tuple[float, ...] = DEFAULT_NOISES   # relative noise levels of h_s around h*
    tasks: int = 20            # tasks per noise level (the same tasks at every level)
    n_train: int = 2000        # the student's sample per task
    n_test: int = 10000        # fresh samples for every reported error

    def validate(self) -> "EpsilonSweepConfig":
        self.world.validate()
        if self.world.setting != "perturbed":
            raise ConfigError(f"WorldConfig.setting must be 'perturbed' for the epsilon sweep (it perturbs the "
                              f"strong representation), got {self.world.setting!r}")
        if not self.strong_noises:
            raise ConfigError("EpsilonSweepConfig.strong_noises must list at least one noise level")
        for s in self.strong_noises:
            check_finite("EpsilonSweepConfig", "strong_noises", s, minimum=0.0)
        check_positive_int("EpsilonSweepConfig", "tasks", self.tasks)
        check_positive_int("EpsilonSweepConfig", "n_train", self.n_train, minimum=self.world.width + 1)
        check_positive_int("EpsilonSweepConfig", "n_test", self.n_test, minimum=self.world.width + 1)
        return self


def run(config: EpsilonSweepConfig, options: RunOptions = RunOptions()) -> tuple[list, dict]:
    """Run the epsilon sweep. Returns ``(records, summary)``; writes nothing."""
    config.validate()
    start = time.perf_counter()
    noises = config.strong_noises
    if options.progress:
        from tqdm import tqdm

        noises = tqdm(noises, desc="epsilon-sweep", unit="level")
    records = []
    for s in noises:
        world = make_world(replace(config.world, strong_noise=float(s)), cache_dir=options.cache())
        # Same tasks and inputs at every level: only the strong representation changes.
        rng = named_rng(config.world.seed, "epsilon-sweep")
        heads = sample_task_heads(rng, config.tasks, world.width)
        batch = run_tasks(world, heads, rng, config.n_train, config.n_test)
        records += task_records(batch, "perturbed", config.world.seed, sizes={"d_s": world.width},
                                extra={"strong_noise": float(s)})
    return records, summarize(records, config, time.perf_counter() - start)


def summarize(records, config: EpsilonSweepConfig, seconds: float) -> dict:
    levels = []
    for s in config.strong_noises:
        group = [r for r in records if r.extra["strong_noise"] == float(s)]
        levels.append({"strong_noise": float(s),
                       "mean_epsilon": float(np.mean([r.epsilon for r in group])),
                       "mean_misfit": float(np.mean([r.misfit for r in group])),
                       "mean_gain": float(np.mean([r.gain for r in group])),
                       "max_nonrealizable_violation": max(nonrealizable_violation(r) for r in group),
                       "frac_nonrealizable_holds": float(np.mean([r.nonrealizable.holds
                                                                  for r in group]))})
    return {
        "levels": levels,
        "max_nonrealizable_violation": max(nonrealizable_violation(r) for r in records),
        "max_nonrealizable_violation_in_sample": max(nonrealizable_violation(r, True) for r in records),
        "frac_nonrealizable_holds": float(np.mean([r.nonrealizable.holds for r in records])),
        "seconds": seconds,
        "config": asdict(config),
    }


def report(summary: dict) -> str:
    """What ``weakstrong sim epsilon-sweep`` prints: one line per noise level, then the worst violation."""
    config = summary["config"]
    lines = [f"epsilon-sweep: {len(config['strong_noises'])} levels x {config['tasks']} tasks in "
             f"{summary['seconds']:.1f} s"]
    for level in summary["levels"]:
        lines.append(f"  noise {level['strong_noise']:<5g} eps {level['mean_epsilon']:.4g}  misfit "
                     f"{level['mean_misfit']:.4g}  gain {level['mean_gain']:.4g}  bound holds "
                     f"{level['frac_nonrealizable_holds']:.2f}")
    lines.append(f"  max violation {summary['max_nonrealizable_violation']:.3g} (in-sample "
                 f"{summary['max_nonrealizable_violation_in_sample']:.3g})")
    return "\n".join(lines)


EXPERIMENT = Experiment(name="epsilon-sweep", config=EpsilonSweepConfig, run=run, report=report,
                        help="non-realizable sweep: gain - misfit against 2 sqrt(epsilon * misfit)",
                        figure="epsilon_sweep")
