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

from weakstrong.sim.common import check_finite, check_positive_int, named_rng
from weakstrong.sim.pipeline import nonrealizable_violation, run_tasks, task_records
from weakstrong.sim.sweep import add_run_arguments, write_run
from weakstrong.sim.worlds import (WorldConfig, add_world_arguments, default_cache_dir, make_world,
                                   sample_task_heads, world_config_from_args)

NAME = "epsilon-sweep"
HELP = "non-realizability: gain - misfit against 2 sqrt(epsilon misfit) over a sweep of strong-noise levels"
DEFAULT_NOISES = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


@dataclass(frozen=True)
class EpsilonSweepConfig:
    world: WorldConfig = field(default_factory=lambda: WorldConfig(setting="perturbed"))
    strong_noises: tuple[float, ...] = DEFAULT_NOISES
    tasks: int = 20            # tasks per noise level (the same tasks at every level)
    n_train: int = 2000
    n_test: int = 10000

    def validate(self) -> "EpsilonSweepConfig":
        self.world.validate()
        if self.world.setting != "perturbed":
            raise ValueError(f"EpsilonSweepConfig.world.setting must be 'perturbed', got {self.world.setting!r}")
        if not self.strong_noises:
            raise ValueError("EpsilonSweepConfig.strong_noises must list at least one noise level")
        for s in self.strong_noises:
            check_finite("EpsilonSweepConfig", "strong_noises", s, minimum=0.0)
        check_positive_int("EpsilonSweepConfig", "tasks", self.tasks)
        check_positive_int("EpsilonSweepConfig", "n_train", self.n_train, minimum=self.world.width + 1)
        check_positive_int("EpsilonSweepConfig", "n_test", self.n_test, minimum=self.world.width + 1)
        return self


def run(config: EpsilonSweepConfig, cache_dir=None, progress: bool = False) -> tuple[list, dict]:
    config.validate()
    start = time.perf_counter()
    noises = config.strong_noises
    if progress:
        from tqdm import tqdm

        noises = tqdm(noises, desc="epsilon-sweep", unit="level")
    records = []
    for s in noises:
        world = make_world(replace(config.world, strong_noise=float(s)), cache_dir=cache_dir)
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
                       "frac_nonrealizable_holds": float(np.mean([r.extra["nonrealizable"]["holds"]
                                                                  for r in group]))})
    return {
        "levels": levels,
        "max_nonrealizable_violation": max(nonrealizable_violation(r) for r in records),
        "max_nonrealizable_violation_in_sample": max(nonrealizable_violation(r, True) for r in records),
        "frac_nonrealizable_holds": float(np.mean([r.extra["nonrealizable"]["holds"] for r in records])),
        "seconds": seconds,
        "config": asdict(config),
    }


def draw(records):
    def _draw(fig):
        ax = fig.subplots()
        eps = np.array([r.epsilon for r in records])
        bound = 2 * np.sqrt(np.clip(eps, 0, None) * np.array([r.misfit for r in records]))
        gap = np.array([r.gain - r.misfit for r in records])
        sc = ax.scatter(bound, gap, c=np.log10(np.clip(eps, 1e-12, None)), s=12, cmap="viridis")
        top = float(bound.max()) if bound.size else 1.0
        ax.plot([0, top], [0, top], "--", color="0.4", lw=1, label="y = +-2 sqrt(eps misfit)")
        ax.plot([0, top], [0, -top], "--", color="0.4", lw=1)
        ax.set_xlabel("2 sqrt(epsilon * misfit)")
        ax.set_ylabel("gain - misfit")
        fig.colorbar(sc, ax=ax, label="log10 epsilon")
        ax.legend(loc="upper left")
    return _draw


def add_arguments(parser) -> None:
    d = EpsilonSweepConfig()
    add_world_arguments(parser, settings=("perturbed",), default_setting="perturbed")
    parser.add_argument("--strong-noises", type=float, nargs="+", default=list(d.strong_noises),
                        help="relative noise levels of h_s around h*")
    parser.add_argument("--tasks", type=int, default=d.tasks, help=f"tasks per level (default {d.tasks})")
    parser.add_argument("--n-train", type=int, default=d.n_train)
    parser.add_argument("--n-test", type=int, default=d.n_test)
    add_run_arguments(parser, sweep=False)


def main(args) -> int:
    config = EpsilonSweepConfig(world=world_config_from_args(args), strong_noises=tuple(args.strong_noises),
                                tasks=args.tasks, n_train=args.n_train, n_test=args.n_test).validate()
    records, summary = run(config, cache_dir=getattr(args, "cache_dir", default_cache_dir()),
                           progress=bool(args.progress))
    paths = write_run(args.out, "epsilon_sweep", records, summary, draw(records))
    print(f"epsilon-sweep: {len(config.strong_noises)} levels x {config.tasks} tasks in {summary['seconds']:.1f} s")
    for level in summary["levels"]:
        print(f"  noise {level['strong_noise']:<5g} eps {level['mean_epsilon']:.4g}  misfit {level['mean_misfit']:.4g}"
              f"  gain {level['mean_gain']:.4g}  bound holds {level['frac_nonrealizable_holds']:.2f}")
    print(f"  max violation {summary['max_nonrealizable_violation']:.3g} (in-sample "
          f"{summary['max_nonrealizable_violation_in_sample']:.3g}); wrote {paths['records'].parent}")
    return 0
