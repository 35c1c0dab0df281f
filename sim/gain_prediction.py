"""Experiment 7: predict the weak-to-strong gain from the misfit and k gold labels, and check the interval.

``weakstrong sim gain-prediction [--ks 10 30 100 300 1000] [--strong-noises 0 0.1 0.3] --seed S --out DIR``

The predictor of :mod:`weakstrong.theory.gain.predictor`: gain = misfit (label-free, on the whole pool) +
a cross term estimated from k gold labels, with a t interval. Each world (its own seed) is h* with a weak
representation (h* with relative weight noise ``weak_noise``) and, for each level s of ``strong_noises``, a
strong one (h* with noise s: s = 0 is the realizable case h_s = h*). Per task the weak head is fitted on
``n_weak`` gold labels, the student is the least-squares head on h_s fitted to the weak labels on ``n_w2s``
other points (``student_sample="separate"``) or on the pool itself (``"pool"``, where the student is the exact
in-sample projection and the cross term is -2 <r_w, y>); the pool has ``n_pool`` points, all labelled, so
the exact gain is known. For every k in ``ks`` the k labelled points are drawn ``draws`` times, uniformly
without replacement and by the misfit-guided design (:func:`~weakstrong.theory.gain.predictor.misfit_sampling_prob`),
and :func:`~weakstrong.theory.gain.simulation.draw_summary` gives the interval's coverage, the mean absolute
error, and the ratio of the predictor's RMSE to the naive k-label difference's (< 1: the misfit, used as a
control variate, reduces the error).

Outputs: ``records.jsonl`` (one W2SRecord per (world, strong-noise level, task): the pool's exact errors,
misfit and gain; ``extra["cross_term"]`` = gain - misfit; per design and k, the coverage, MAE and RMSE
ratio), ``summary.json`` (the same per k, averaged over tasks and worlds, per level and overall),
``gain_prediction.png``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from weakstrong.config import ConfigError
from weakstrong.sim.common import check_choice, check_finite, check_positive_int, named_rng
from weakstrong.sim.experiments import Experiment
from weakstrong.sim.heads import LinearHead
from weakstrong.sim.parallel import RunOptions, sweep_worlds
from weakstrong.sim.worlds import WorldConfig, make_world, sample_task_heads
from weakstrong.theory.gain.simulation import SAMPLINGS, draw_summary, repeated_predictions
from weakstrong.theory.records import W2SRecord

NAME = "gain-prediction"
STUDENT_SAMPLES = ("separate", "pool")
# The statistics each record keeps per (design, k), and the summary averages.
STATS = ("gain_coverage", "naive_coverage", "gain_mae", "naive_mae", "gain_rmse", "naive_rmse", "rmse_ratio")


@dataclass(frozen=True)
class GainPredictionConfig:
    """One run of the gain-prediction experiment."""

    strong_noises: tuple[float, ...] = (0.0, 0.1, 0.3)  # relative noise of h_s around h* (0: realizable)
    weak_noise: float = 0.5         # relative noise of h_w around h*
    worlds: int = 5                 # independent worlds
    tasks: int = 4                  # tasks per world (and per strong-noise level)
    ks: tuple[int, ...] = (10, 30, 100, 300, 1000)  # labelled points per prediction
    draws: int = 200                # independent label draws per (task, k, design)
    n_weak: int = 500               # gold-labelled samples of the weak head
    n_w2s: int = 2000               # weak-labelled samples of the student (student_sample=separate)
    n_pool: int = 2000              # the pool: misfit on all of it, k labels drawn from it
    # the student's sample: separate (n_w2s other points) or pool (the exact in-sample projection)
    student_sample: str = field(default="separate", metadata={"choices": STUDENT_SAMPLES})
    level: float = 0.9              # nominal coverage of the intervals
    seed: int = 0                   # master seed; each world gets its own seed from it

    def validate(self) -> "GainPredictionConfig":
        """Check every field; raise :class:`ConfigError` naming the first bad one. Returns self."""
        owner = "GainPredictionConfig"
        if not self.strong_noises:
            raise ConfigError(f"{owner}.strong_noises must list at least one noise level")
        for s in self.strong_noises:
            check_finite(owner, "strong_noises[...]", s, minimum=0.0)
        check_finite(owner, "weak_noise", self.weak_noise, minimum=0.0)
        for name in ("worlds", "tasks", "draws"):
            check_positive_int(owner, name, getattr(self, name))
        for name in ("n_weak", "n_w2s", "n_pool"):
            check_positive_int(owner, name, getattr(self, name), minimum=WorldConfig.width + 2)
        if not self.ks:
            raise ConfigError(f"{owner}.ks must list at least one k")
        for k in self.ks:
            check_positive_int(owner, "ks[...]", k, minimum=2)
            if k > self.n_pool:
                raise ConfigError(f"{owner}.ks: every k must be <= n_pool={self.n_pool} (uniform draws are "
                                  f"without replacement), got {k}")
        check_choice(owner, "student_sample", self.student_sample, STUDENT_SAMPLES)
        check_finite(owner, "level", self.level, minimum=0.0, strict=True)
        if self.level >= 1:
            raise ConfigError(f"{owner}.level must be in (0, 1), got {self.level!r}")
        check_positive_int(owner, "seed", self.seed, minimum=0)
        return self


def _world(job: tuple[GainPredictionConfig, int, int]) -> list[W2SRecord]:
    """The records of one world: every strong-noise level and task, with the draw statistics per (design, k)."""
    config, index, seed = job
    records = []
    draw_seeds = named_rng(seed, "gain-prediction-draws").integers(
        0, 2**32, size=(len(config.strong_noises), config.tasks, len(SAMPLINGS), len(config.ks)))
    for level, noise in enumerate(config.strong_noises):
        world = make_world(WorldConfig(setting="perturbed", seed=seed, strong_noise=float(noise),
                                       weak_noise=config.weak_noise))
        # The same tasks and inputs at every level: only the strong representation changes.
        rng = named_rng(seed, "gain-prediction")
        heads = sample_task_heads(rng, config.tasks, world.width)
        x_weak, x_w2s, x_pool = (world.sample_inputs(rng, n) for n in (config.n_weak, config.n_w2s, config.n_pool))
        weak = LinearHead().fit(world.weak(x_weak), heads.labels(world.truth(x_weak)))
        weak_pool = weak.predict(world.weak(x_pool))                                        # (T, n_pool)
        strong_pool = world.strong(x_pool)
        if config.student_sample == "pool":
            student = LinearHead().fit(strong_pool, weak_pool)
        else:
            student = LinearHead().fit(world.strong(x_w2s), weak.predict(world.weak(x_w2s)))
        w2s_pool = student.predict(strong_pool)
        gold_pool = heads.labels(world.truth(x_pool))
        for t in range(config.tasks):
            extra: dict = {"strong_noise": float(noise), "weak_noise": float(config.weak_noise)}
            exact = None
            for d, sampling in enumerate(SAMPLINGS):
                for j, k in enumerate(config.ks):
                    pred = repeated_predictions(weak_pool[t], w2s_pool[t], gold_pool[t], k, config.draws,
                                                seed=int(draw_seeds[level, t, d, j]),
                                                level=config.level, sampling=sampling)
                    exact = pred["exact"]
                    stats = draw_summary(pred)
                    extra.update({f"{sampling}/k{k}/{name}": stats[name] for name in STATS})
            extra["cross_term"] = exact["cross"]
            records.append(W2SRecord.from_errors(
                exact["weak_error"], exact["w2s_error"], exact["misfit"], loss="sq", setting=f"perturbed-{noise:g}",
                task=f"world-{index}/task-{t}", weak=f"perturbed-{config.weak_noise:g}",
                strong=f"perturbed-{noise:g}", method="probe", seed=int(seed),
                sizes={"n_weak": config.n_weak, "n_w2s": config.n_w2s, "n_pool": config.n_pool, "d_s": world.width},
                extra=extra))
    return records


def run(config: GainPredictionConfig, options: RunOptions = RunOptions()) -> tuple[list[W2SRecord], dict]:
    """Run every world of ``config`` (validated first) and summarise. Returns ``(records, summary)``."""
    start = time.perf_counter()
    records = [r for recs in sweep_worlds(_world, config, options) for r in recs]
    return records, summarize(records, config, time.perf_counter() - start)


def _by_k(records: list[W2SRecord], config: GainPredictionConfig) -> dict:
    """Per design: each statistic per k, averaged over ``records`` (the RMSE ratio also as a median, and
    pooled as sqrt(mean MSE of the predictor / mean MSE of the naive estimate))."""
    out = {}
    for sampling in SAMPLINGS:
        row: dict = {name: [] for name in STATS}
        row.update(rmse_ratio_median=[], rmse_ratio_pooled=[], frac_rmse_ratio_below_1=[])
        for k in config.ks:
            values = {name: np.array([r.extra[f"{sampling}/k{k}/{name}"] for r in records]) for name in STATS}
            for name in STATS:
                row[name].append(float(np.mean(values[name])))
            row["rmse_ratio_median"].append(float(np.median(values["rmse_ratio"])))
            row["rmse_ratio_pooled"].append(float(np.sqrt(np.mean(values["gain_rmse"] ** 2)
                                                          / np.mean(values["naive_rmse"] ** 2))))
            row["frac_rmse_ratio_below_1"].append(float(np.mean(values["rmse_ratio"] < 1)))
        out[sampling] = row
    return out


def summarize(records: list[W2SRecord], config: GainPredictionConfig, seconds: float) -> dict:
    """The draw statistics per k, per strong-noise level and overall."""
    levels = [{"strong_noise": float(s), "mean_gain": float(np.mean([r.gain for r in group])),
               "mean_misfit": float(np.mean([r.misfit for r in group])),
               "sd_gain": float(np.std([r.gain for r in group])), "by_k": _by_k(group, config)}
              for s in config.strong_noises
              for group in [[r for r in records if r.extra["strong_noise"] == float(s)]]]
    return {"experiment": NAME, "config": asdict(config), "ks": list(config.ks), "samplings": list(SAMPLINGS),
            "n_records": len(records), "levels": levels, "overall": _by_k(records, config), "seconds": seconds}


def report(summary: dict) -> str:
    """What ``weakstrong sim gain-prediction`` prints: per design, coverage and errors against k."""
    cfg = summary["config"]
    lines = [f"gain-prediction: {cfg['worlds']} worlds x {len(cfg['strong_noises'])} strong-noise levels x "
             f"{cfg['tasks']} tasks, {cfg['draws']} draws per k, nominal coverage {cfg['level']:g}, "
             f"{summary['seconds']:.1f} s"]
    for sampling, row in summary["overall"].items():
        lines.append(f"  {sampling} labels:   k  coverage (naive)   MAE (naive)        RMSE ratio (median)")
        for i, k in enumerate(summary["ks"]):
            lines.append(f"    {k:>14d}  {row['gain_coverage'][i]:.3f} ({row['naive_coverage'][i]:.3f})    "
                         f"{row['gain_mae'][i]:.4f} ({row['naive_mae'][i]:.4f})   "
                         f"{row['rmse_ratio_pooled'][i]:.3f} ({row['rmse_ratio_median'][i]:.3f})")
    return "\n".join(lines)


EXPERIMENT = Experiment(name=NAME, config=GainPredictionConfig, run=run, report=report,
                        help="predict the gain from the misfit and k gold labels: coverage, error, vs naive",
                        figure="gain_prediction", sweeps=True)
