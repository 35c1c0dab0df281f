"""Experiment 5: choose a weak teacher without training its student, by the score weak_error - misfit.

Under Theorem 1 of Charikar, Pabbaraju & Shiragur (2024) (f* in a convex V_s, f_sw the projection of f_w),
d(f_sw, f*) <= d(f_w, f*) - d(f_sw, f_w): the score weak_error - misfit bounds the student's error, and
the misfit needs no gold labels (:func:`weakstrong.theory.ensembles.rank_weak_models`). This experiment asks
how well the score's ranking of candidate teachers matches the ranking by the students' true errors.

Each world (its own seed) has one task (a random linear head on h*) and ``candidates`` weak teachers:
h* perturbed with relative noise drawn uniformly from ``noise_range``, each with a linear head fitted on
``n_weak`` gold labels. Every candidate's student is the least-squares head on h_s fitted to that
candidate's labels on ``n_w2s`` samples; errors and misfits are measured on ``n_test`` fresh samples.
Per world we report Spearman's rho between the score and the true w2s error (``scipy.stats.spearmanr``),
the same for the weak error alone (the baseline that ignores misfit), and the regret of choosing the
top-scored candidate. In the ``realizable`` setting (h_s = h*, V_s a subspace) the score equals the w2s
error in population, so rho is 1 up to sampling error; the ``perturbed`` setting is not realizable.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.stats import spearmanr

from weakstrong.config import ConfigError
from weakstrong.sim.common import check_choice, check_finite, check_positive_int
from weakstrong.sim.heads import LinearHead
from weakstrong.sim.experiments import Experiment
from weakstrong.sim.parallel import RunOptions, sweep_worlds
from weakstrong.sim.worlds import PERTURBED_SETTINGS as SETTINGS
from weakstrong.sim.worlds import WorldConfig, member_predictions, perturbed_world, sample_task_heads
from weakstrong.theory.bounds import theorem1
from weakstrong.theory.ensembles import rank_weak_models, selection_bound
from weakstrong.theory.records import W2SRecord

NAME = "selection"


@dataclass(frozen=True)
class SelectionConfig:
    """One run of the weak-model selection experiment."""

    # realizable: h_s = h*; perturbed: h_s = h* + strong_noise
    setting: str = field(default="perturbed", metadata={"choices": SETTINGS})
    worlds: int = 50                # independent worlds, one task each
    candidates: int = 6             # candidate weak teachers per world
    noise_range: tuple[float, float] = (0.2, 2.0)   # their relative noise, uniform in this range
    strong_noise: float = 0.3       # perturbed setting only
    n_weak: int = 500               # gold-labelled samples for each weak head
    n_w2s: int = 2000               # weak-labelled samples for each student
    n_test: int = 5000              # fresh samples for every reported error
    seed: int = 0                   # master seed; each world gets its own seed from it

    def validate(self) -> "SelectionConfig":
        """Check every field; raise ``ValueError`` naming the first bad one. Returns self."""
        check_choice("SelectionConfig", "setting", self.setting, SETTINGS)
        check_positive_int("SelectionConfig", "worlds", self.worlds)
        # Spearman's rho of two candidates is always +-1; three is the least that says anything.
        check_positive_int("SelectionConfig", "candidates", self.candidates, minimum=3)
        check_positive_int("SelectionConfig", "n_test", self.n_test)
        for name in ("n_weak", "n_w2s"):
            check_positive_int("SelectionConfig", name, getattr(self, name), minimum=WorldConfig.width + 2)
        check_positive_int("SelectionConfig", "seed", self.seed, minimum=0)
        check_finite("SelectionConfig", "strong_noise", self.strong_noise, minimum=0.0)
        if (not isinstance(self.noise_range, tuple) or len(self.noise_range) != 2):
            raise ConfigError(f"SelectionConfig.noise_range must be a (low, high) tuple, got {self.noise_range!r}")
        for value in self.noise_range:
            check_finite("SelectionConfig", "noise_range[...]", value, minimum=0.0)
        if self.noise_range[0] > self.noise_range[1]:
            raise ConfigError(f"SelectionConfig.noise_range must have low <= high, got {self.noise_range!r}")
        return self


def _world_records(job: tuple[SelectionConfig, int, int]) -> tuple[list[W2SRecord], dict]:
    """The candidates' records of one world and the world's ranking statistics."""
    config, index, seed = job
    rng = np.random.default_rng(seed)
    noises = np.sort(rng.uniform(*config.noise_range, size=config.candidates))
    world, members = perturbed_world(config.setting, config.strong_noise, seed, tuple(noises))
    heads = sample_task_heads(rng, 1, world.width)
    x_weak, x_w2s, x_test = (world.sample_inputs(rng, n) for n in (config.n_weak, config.n_w2s, config.n_test))
    gold_weak, gold_test = heads.labels(world.truth(x_weak)), heads.labels(world.truth(x_test))[0]
    preds = member_predictions(members, x_weak, gold_weak, {"w2s": x_w2s, "test": x_test})
    weak_w2s, weak_test = preds["w2s"][:, 0], preds["test"][:, 0]                  # (m, n)
    student = LinearHead().fit(world.strong(x_w2s), weak_w2s)
    w2s_test = student.predict(world.strong(x_test))                                 # (m, n_test)
    checks = [theorem1(gold_test, weak_test[j], w2s_test[j]) for j in range(config.candidates)]
    weak_err = np.array([c.terms["weak_error"] for c in checks])
    misfit = np.array([c.terms["misfit"] for c in checks])
    w2s_err = np.array([c.terms["w2s_error"] for c in checks])
    ranking = rank_weak_models(weak_err, misfit)
    chosen = selection_bound(weak_err, misfit, w2s_err)
    stats = {"world": index, "seed": seed,
             "spearman_score": float(spearmanr(ranking.scores, w2s_err).statistic),
             "spearman_weak_error": float(spearmanr(weak_err, w2s_err).statistic),
             "chosen": ranking.best, "best": int(np.argmin(w2s_err)),
             "regret": float(w2s_err[ranking.best] - w2s_err.min()),
             "regret_weak_error": float(w2s_err[np.argmin(weak_err)] - w2s_err.min()),
             "selection_bound_holds": chosen.holds}
    score_rank = np.empty(config.candidates, dtype=int)
    score_rank[ranking.order] = np.arange(config.candidates)
    true_rank = np.argsort(np.argsort(w2s_err, kind="stable"), kind="stable")
    records = [W2SRecord.from_errors(
        weak_err[j], w2s_err[j], misfit[j], loss="sq", setting=config.setting, task=f"world-{index}",
        weak=f"perturbed-{noises[j]:.3f}", strong=f"perturbed-{0.0 if config.setting == 'realizable' else config.strong_noise:g}",
        method=f"candidate-{j}", seed=int(seed), **checks[j].record_fields(),
        sizes={"n_weak": config.n_weak, "n_w2s": config.n_w2s, "n_test": config.n_test, "d_s": world.width},
        extra={"weak_noise": float(noises[j]), "score": float(ranking.scores[j]), "score_rank": int(score_rank[j]),
               "true_rank": int(true_rank[j])})
        for j in range(config.candidates)]
    return records, stats


def run(config: SelectionConfig, options: RunOptions = RunOptions()) -> tuple[list[W2SRecord], dict]:
    """Run every world of ``config`` (validated first) and summarise. Returns ``(records, summary)``."""
    start = time.perf_counter()
    results = sweep_worlds(_world_records, config, options)
    records = [r for recs, _ in results for r in recs]
    worlds = [stats for _, stats in results]
    return records, summarize(records, worlds, config, time.perf_counter() - start)


def summarize(records: list[W2SRecord], worlds: list[dict], config: SelectionConfig, seconds: float) -> dict:
    """Spearman rho of score and of weak error alone against the true ranking, and the selection regret."""
    def stats(key: str) -> dict:
        v = np.array([w[key] for w in worlds], dtype=float)
        v = v[np.isfinite(v)]   # a world whose errors all tie has no defined rho
        return {"mean": float(v.mean()), "median": float(np.median(v)), "min": float(v.min()), "n": int(v.size)}

    return {"experiment": NAME, "config": asdict(config), "n_records": len(records),
            "spearman_score": stats("spearman_score"), "spearman_weak_error": stats("spearman_weak_error"),
            "frac_chose_best": float(np.mean([w["chosen"] == w["best"] for w in worlds])),
            "frac_weak_error_chose_best": float(np.mean([w["regret_weak_error"] == 0.0 for w in worlds])),
            "mean_regret": float(np.mean([w["regret"] for w in worlds])),
            "mean_regret_weak_error": float(np.mean([w["regret_weak_error"] for w in worlds])),
            "frac_theorem1_holds": float(np.mean([r.holds for r in records])),
            "frac_selection_bound_holds": float(np.mean([w["selection_bound_holds"] for w in worlds])),
            "worlds": worlds, "seconds": seconds}


def report(summary: dict) -> str:
    """A one-paragraph reading of the summary."""
    cfg, s, b = summary["config"], summary["spearman_score"], summary["spearman_weak_error"]
    return (f"Weak-model selection ({cfg['setting']}, {cfg['worlds']} worlds x {cfg['candidates']} candidates): "
            f"Spearman rho between weak_error - misfit and the true w2s error: mean {s['mean']:.3f}, median "
            f"{s['median']:.3f} (weak error alone: mean {b['mean']:.3f}, median {b['median']:.3f}). The top-scored "
            f"candidate was the best in {summary['frac_chose_best']:.0%} of worlds (weak error alone: "
            f"{summary['frac_weak_error_chose_best']:.0%}); mean regret {summary['mean_regret']:.4f} "
            f"(weak error alone: {summary['mean_regret_weak_error']:.4f}). Theorem 1 held on held-out data for "
            f"{summary['frac_theorem1_holds']:.0%} of candidates. {summary['seconds']:.1f} s.")


EXPERIMENT = Experiment(name=NAME, config=SelectionConfig,
                        run=run, report=report, help='weak-model selection by weak_error - misfit (Spearman rho)',
                        figure='selection', sweeps=True)
