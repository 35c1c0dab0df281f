"""Experiment 2: finite samples -- how |gain - misfit| and the w2s error settle as the student's sample grows.

``weakstrong sim finite-sample [--sizes 50 ... 100000] [--tasks 10] --seed S --out DIR``

For a fixed weak model (its head fitted once per task on ``n_weak`` gold samples) the weak-to-strong
student is the ERM head on ``n`` weak-labelled samples, for n from 50 to 100,000; every error is measured
on ``n_test`` fresh samples. In the realizable setting with unconstrained linear heads the population
statement is the equality gain = misfit (Charikar, Pabbaraju & Shiragur 2024, Thm. 1 for a subspace), so
|gain - misfit| on fresh samples measures the finite-sample error alone. Theorem 2 bounds it by terms
decaying as n^{-1/4}; :func:`weakstrong.theory.finite_sample.finite_sample_bound` gives the explicit
constants, evaluated here with the ball radius B = the largest ||(coef, intercept)|| of the run's students,
R = the largest ||(h_s(x), 1)|| and M = the largest |f_w(x)| on the test sample, delta = 0.05.

Outputs: ``records.jsonl`` (one W2SRecord per (n, task), ``sizes["n_train"] = n``; Theorem 2's terms and
check in ``finite_sample``), ``summary.json`` (the fitted exponents of n of the median gap and of the
median excess w2s error, beside ``theory_rate = -0.25``), ``finite_sample.png``.
Note: the fresh-sample gap has a floor of order n_test^{-1/2} (the test sample is not the population),
so ``n_test`` should stay well above the largest n.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from weakstrong.config import ConfigError, check_memory
from weakstrong.sim.common import check_finite, check_positive_int, named_rng
from weakstrong.sim.heads import LinearHead
from weakstrong.sim.pipeline import Predictions, TaskBatch, task_records
from weakstrong.sim.experiments import Experiment
from weakstrong.sim.parallel import RunOptions
from weakstrong.sim.worlds import WorldConfig, make_world, sample_task_heads
from weakstrong.theory.finite_sample import finite_sample_bound
from weakstrong.theory.records import FiniteSampleCheck

NAME = "finite-sample"
HELP = "finite samples: |gain - misfit| and w2s error against the student's sample size"
DEFAULT_SIZES = (50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000)
THEORY_RATE = -0.25   # the exponent of n in Theorem 2's sampling terms


@dataclass(frozen=True)
class FiniteSampleConfig:
    world: WorldConfig = field(default_factory=lambda: WorldConfig(setting="realizable"),
                               metadata={"flatten": True})
    sizes: tuple[int, ...] = DEFAULT_SIZES   # the student's sample sizes n
    tasks: int = 10          # tasks per sample size
    n_weak: int = 2000       # gold samples of the weak head (fixed across n)
    n_test: int = 200000     # fresh samples; keep well above max(sizes)
    delta: float = 0.05      # Theorem 2's failure probability

    def validate(self) -> "FiniteSampleConfig":
        self.world.validate()
        if len(self.sizes) < 2:
            raise ConfigError(f"FiniteSampleConfig.sizes needs at least two sample sizes, got {self.sizes!r}")
        for n in self.sizes:
            check_positive_int("FiniteSampleConfig", "sizes", n, minimum=self.world.width + 2)
        check_positive_int("FiniteSampleConfig", "tasks", self.tasks)
        check_positive_int("FiniteSampleConfig", "n_weak", self.n_weak, minimum=self.world.width + 2)
        check_positive_int("FiniteSampleConfig", "n_test", self.n_test, minimum=self.world.width + 2)
        check_finite("FiniteSampleConfig", "delta", self.delta, minimum=0.0, strict=True)
        if self.delta >= 1:
            raise ConfigError(f"FiniteSampleConfig.delta must be in (0, 1), got {self.delta!r}")
        w = self.world.width
        check_memory("FiniteSampleConfig",
                     f"sizes up to {max(self.sizes)} x {self.tasks} tasks and n_test {self.n_test}",
                     8.0 * (self.tasks * max(self.sizes) * (2 * w + self.world.input_dim + 4)
                            + self.n_test * (2 * w + self.world.input_dim + 4 * self.tasks)))
        return self


def fitted_rate(n, values) -> float | None:
    """Least-squares slope of log(values) on log(n) (the empirical exponent), over positive values."""
    n, v = np.asarray(n, dtype=float), np.asarray(values, dtype=float)
    keep = np.isfinite(v) & (v > 0)
    if keep.sum() < 2:
        return None
    return float(np.polyfit(np.log(n[keep]), np.log(v[keep]), 1)[0])


def run(config: FiniteSampleConfig, options: RunOptions = RunOptions()) -> tuple[list, dict]:
    """Run the finite-sample experiment. Returns ``(records, summary)``; writes nothing."""
    config.validate()
    start = time.perf_counter()
    world = make_world(config.world, cache_dir=options.cache())
    rng = named_rng(config.world.seed, "finite-sample")
    heads = sample_task_heads(rng, config.tasks, world.width)
    x_weak = world.sample_inputs(rng, config.n_weak)
    weak_head = LinearHead().fit(world.weak(x_weak), heads.labels(world.truth(x_weak)))
    x_test = world.sample_inputs(rng, config.n_test)
    strong_test = world.strong(x_test)
    truth_test = heads.labels(world.truth(x_test))                       # (T, n_test)
    weak_test = weak_head.predict(world.weak(x_test))
    projection_test = LinearHead().fit(strong_test, truth_test).predict(strong_test)
    sizes = tqdm_or_plain(config.sizes, options.progress)
    records, students = [], []
    for n in sizes:
        x = world.sample_inputs(rng, n)           # one draw per n, shared by the tasks (one Gram matrix)
        strong_fit = world.strong(x)
        gold, weak_labels = heads.labels(world.truth(x)), weak_head.predict(world.weak(x))
        w2s, ceiling = LinearHead().fit(strong_fit, weak_labels), LinearHead().fit(strong_fit, gold)
        ceiling_fit = ceiling.predict(strong_fit)
        batch = TaskBatch(
            Predictions(gold, weak_labels, w2s.predict(strong_fit), ceiling_fit, ceiling_fit),
            Predictions(truth_test, weak_test, w2s.predict(strong_test), ceiling.predict(strong_test),
                        projection_test), n, config.n_test)
        records += task_records(batch, config.world.setting, config.world.seed,
                                sizes={"n_weak": config.n_weak, "d_s": world.width})
        students.append(np.hstack([w2s.coef_, w2s.intercept_[:, None]]))
    _add_theorem2(records, students, strong_test, weak_test, config.delta)
    return records, summarize(records, config, world, time.perf_counter() - start)


def tqdm_or_plain(items, progress: bool):
    if not progress:
        return items
    from tqdm import tqdm

    return tqdm(items, desc="finite-sample", unit="n")


def _add_theorem2(records, students, strong_test, weak_test, delta: float) -> None:
    """Attach Theorem 2's explicit terms and check to every record (constants from the whole run)."""
    radius = float(max(np.linalg.norm(s, axis=1).max() for s in students))
    feature_bound = float(np.sqrt((strong_test ** 2).sum(axis=1).max() + 1.0))
    label_bound = float(np.abs(weak_test).max())
    for r in records:
        check = finite_sample_bound(r.sizes["n_train"], radius, feature_bound, label_bound, delta,
                                    r.epsilon, r.weak_error, r.w2s_error, r.misfit)
        r.finite_sample = FiniteSampleCheck(**check.record_fields(), terms=check.terms, radius=radius,
                                            feature_bound=feature_bound, label_bound=label_bound)


def summarize(records, config: FiniteSampleConfig, world, seconds: float) -> dict:
    ns = sorted({r.sizes["n_train"] for r in records})
    by_n = {n: [r for r in records if r.sizes["n_train"] == n] for n in ns}
    gap = [float(np.median([abs(r.gain - r.misfit) for r in by_n[n]])) for n in ns]
    w2s = [float(np.median([r.w2s_error for r in by_n[n]])) for n in ns]
    floor = float(np.median([r.in_sample.w2s_error for r in by_n[ns[-1]]]))
    # The excess of the w2s error over the largest-n value, the part that still depends on n.
    excess = [float(np.median([r.w2s_error for r in by_n[n]]) - np.median([r.w2s_error for r in by_n[ns[-1]]]))
              for n in ns[:-1]]
    theory = [float(np.median([r.finite_sample.terms["estimation"] for r in by_n[n]])) for n in ns]
    gaps = [np.abs([r.gain - r.misfit for r in by_n[n]]) for n in ns]
    return {
        "sizes": ns,
        "median_gap": gap,
        "gap_quartiles": [[float(np.quantile(g, 0.25)), float(np.quantile(g, 0.75))] for g in gaps],
        "mean_errors": {f: [float(np.mean([getattr(r, f) for r in by_n[n]])) for n in ns]
                        for f in ("weak_error", "w2s_error", "strong_error")},
        "median_w2s_error": w2s,
        "median_theory_estimation_term": theory,
        "empirical_rate": fitted_rate(ns, gap),
        "w2s_excess_rate": fitted_rate(ns[:-1], excess),
        "theory_rate": THEORY_RATE,
        "theory_fitted_rate": fitted_rate(ns, theory),
        "frac_theorem2_holds": float(np.mean([r.finite_sample.holds for r in records])),
        "frac_theorem1_holds": float(np.mean([r.holds for r in records])),
        "w2s_error_in_sample_at_max_n": floor,
        "seconds": seconds,
        "pretrain_loss": world.pretrain_loss,
        "config": asdict(config),
    }


def report(summary: dict) -> str:
    """What ``weakstrong sim finite-sample`` prints."""
    config = summary["config"]

    def rate(x):  # a rate needs two sizes (the excess rate three): n/a below that
        return "n/a" if x is None else f"n^{x:.3f}"

    return (f"finite-sample {config['world']['setting']}: n = {summary['sizes'][0]}..{summary['sizes'][-1]}, "
            f"{config['tasks']} tasks, {summary['seconds']:.1f} s\n"
            f"  median |gain - misfit| rate {rate(summary['empirical_rate'])} (theory n^{THEORY_RATE:g}); "
            f"w2s excess rate {rate(summary['w2s_excess_rate'])}\n"
            f"  Theorem 2 holds on {summary['frac_theorem2_holds']:.2f} of records")


EXPERIMENT = Experiment(name="finite-sample", config=FiniteSampleConfig, run=run, report=report,
                        help="finite samples: |gain - misfit| against the student's sample size n",
                        figure="finite_sample")
