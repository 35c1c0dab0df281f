"""Experiment 4: an ensemble of weak teachers supervises one strong student.

Several weak representations h_w^1..h_w^m of one world (copies of the truth h* perturbed with different
noise levels, :meth:`MLP.perturbed`) each get a linear head fitted on gold labels. Their predictions are
combined into one teacher f_bar = sum_j alpha_j f_j with simplex weights alpha chosen by one of four rules
(:data:`COMBINERS`), and the weak-to-strong student is the least-squares head on h_s fitted to f_bar's labels,
i.e. the L2(P_n) projection of f_bar onto V_s. Because f_bar is itself a predictor, Theorem 1 of Charikar,
Pabbaraju & Shiragur (2024) applies to it unchanged (:func:`weakstrong.theory.ensembles.ensemble_theorem1`),
and the ambiguity decomposition d(f_bar, f*) = sum_j alpha_j d(f_j, f*) - sum_j alpha_j d(f_j, f_bar)
(Krogh & Vedelsby 1995) says how much better than its average member the teacher is.

Questions: does the ensemble's misfit predict its gain, and does the ensemble's student beat the student of
the best single member? None of the source papers ran this synthetic check; Cui et al. (2024) ensemble
weak LLMs instead.

Combination rules (weights computed per task on a held-out gold split of ``n_holdout`` samples, with
err_j the mean squared error of member j there):

- ``naive``: alpha_j = 1/m;
- ``inverse-error``: alpha_j proportional to 1/err_j;
- ``bayes``: the posterior probability that member j is the data-generating model, under a uniform prior
  over members and the Gaussian likelihood y = f_j(x) + N(0, sigma^2) with sigma^2 fixed at the best
  member's held-out error: alpha_j proportional to exp(-n_holdout * err_j / (2 sigma^2)) (Bayesian model
  averaging; it concentrates on the best member as n_holdout grows);
- ``stacked``: the simplex weights minimising the held-out squared error (the L2 projection of the gold
  labels onto the members' convex hull, :func:`weakstrong.theory.projections.project_onto_hull`).

Records: one per (world, task, teacher), teachers being every member (``method="member-<j>"``) and every
combination rule. Error fields are measured on ``n_test`` fresh samples (the protocol's estimate of the
population statement); ``in_sample`` repeats the check on the student's own training sample, where
Theorem 1 is exact (``setting="realizable"``: gain = misfit there, V_s being a subspace containing f*).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from weakstrong.config import ConfigError
from weakstrong.sim.common import check_choice, check_finite, check_positive_int
from weakstrong.sim.heads import LinearHead
from weakstrong.sim.experiments import Experiment
from weakstrong.sim.parallel import RunOptions, sweep_worlds
from weakstrong.sim.stats import gain_misfit_fit
from weakstrong.sim.worlds import PERTURBED_SETTINGS as SETTINGS
from weakstrong.sim.worlds import WorldConfig, member_predictions, perturbed_world, sample_task_heads
from weakstrong.theory.bounds import theorem1
from weakstrong.theory.ensembles import ensemble_theorem1
from weakstrong.theory.projections import project_onto_hull
from weakstrong.theory.records import MemberComparison, SampleCheck, W2SRecord

NAME = "ensembles"
COMBINERS = ("naive", "inverse-error", "bayes", "stacked")


@dataclass(frozen=True)
class EnsembleConfig:
    """One run of the ensemble experiment. Sizes follow the synthetic protocol (2000 training samples)."""

    # realizable: h_s = h*; perturbed: h_s = h* + strong_noise
    setting: str = field(default="realizable", metadata={"choices": SETTINGS})
    worlds: int = 4                 # independent worlds (truth, representations), run by the sweep
    tasks: int = 25                 # fine-tuning tasks (random linear heads on h*) per world
    weak_noises: tuple[float, ...] = (0.6, 0.9, 1.2, 1.5, 1.8)   # relative noise of each weak member
    strong_noise: float = 0.1       # perturbed setting only
    n_weak: int = 500               # gold-labelled samples for each weak head
    n_holdout: int = 200            # gold-labelled samples for the combination weights
    n_w2s: int = 2000               # weak-labelled samples for the student
    n_test: int = 10000             # fresh samples for every reported error
    seed: int = 0                   # master seed; each world gets its own seed from it

    def validate(self) -> "EnsembleConfig":
        """Check every field; raise ``ValueError`` naming the first bad one. Returns self."""
        check_choice("EnsembleConfig", "setting", self.setting, SETTINGS)
        for name in ("worlds", "tasks", "n_test"):
            check_positive_int("EnsembleConfig", name, getattr(self, name))
        # A head on width-16 features needs more samples than parameters to be determined.
        for name in ("n_weak", "n_holdout", "n_w2s"):
            check_positive_int("EnsembleConfig", name, getattr(self, name), minimum=WorldConfig.width + 2)
        check_positive_int("EnsembleConfig", "seed", self.seed, minimum=0)
        check_finite("EnsembleConfig", "strong_noise", self.strong_noise, minimum=0.0)
        if not isinstance(self.weak_noises, tuple) or len(self.weak_noises) < 2:
            raise ConfigError(f"EnsembleConfig.weak_noises must be a tuple of at least 2 noise levels, "
                             f"got {self.weak_noises!r}")
        for noise in self.weak_noises:
            check_finite("EnsembleConfig", "weak_noises[...]", noise, minimum=0.0)
        return self


def combination_weights(rule: str, holdout_errors: np.ndarray, n_holdout: int,
                        member_holdout: np.ndarray | None = None, gold_holdout: np.ndarray | None = None
                        ) -> np.ndarray:
    """Simplex weights (m,) of one task's members under ``rule`` (see the module docstring).

    Parameters
    ----------
    rule : one of :data:`COMBINERS`.
    holdout_errors : (m,) mean squared error of each member on the held-out gold split.
    n_holdout : the size of that split (the Bayesian rule's likelihood exponent).
    member_holdout, gold_holdout : (m, n) member predictions and (n,) gold labels there (``stacked`` only).
    """
    check_choice("combination_weights", "rule", rule, COMBINERS)
    err = np.asarray(holdout_errors, dtype=float)
    m = err.size
    if rule == "naive":
        return np.full(m, 1.0 / m)
    # Exact ties at zero error would divide by zero; such a member is the truth and takes all the weight.
    floor = np.finfo(float).tiny
    if rule == "inverse-error":
        inv = 1.0 / np.maximum(err, floor)
        return inv / inv.sum()
    if rule == "bayes":
        log_post = -n_holdout * err / (2.0 * max(err.min(), floor))
        post = np.exp(log_post - log_post.max())
        return post / post.sum()
    return project_onto_hull(member_holdout.T, gold_holdout).weights


def _world_records(job: tuple[EnsembleConfig, int, int]) -> list[W2SRecord]:
    """Every record of one world: members and combination rules on each task."""
    config, index, seed = job
    strong_noise = 0.0 if config.setting == "realizable" else config.strong_noise
    world, members = perturbed_world(config.setting, config.strong_noise, seed, config.weak_noises)
    rng = np.random.default_rng(seed)
    heads = sample_task_heads(rng, config.tasks, world.width)
    split = {name: world.sample_inputs(rng, n) for name, n in
             (("weak", config.n_weak), ("holdout", config.n_holdout), ("w2s", config.n_w2s),
              ("test", config.n_test))}
    gold = {name: heads.labels(world.truth(x)) for name, x in split.items()}           # (T, n) each
    # Member predictions (m, T, n) on every split from heads fitted on the weak split's gold labels.
    preds = member_predictions(members, split["weak"], gold["weak"],
                               {name: split[name] for name in ("holdout", "w2s", "test")})
    m, T = len(members), config.tasks
    hold_err = np.mean((preds["holdout"] - gold["holdout"]) ** 2, axis=-1).T         # (T, m)
    alphas = {rule: np.stack([combination_weights(rule, hold_err[t], config.n_holdout,
                                                  preds["holdout"][:, t], gold["holdout"][t])
                              for t in range(T)]) for rule in COMBINERS}           # (T, m) each
    # One least-squares fit of the strong head serves every teacher and the gold ceiling (shared Gram).
    teachers = [preds["w2s"][j] for j in range(m)]
    teachers += [np.einsum("tm,mtn->tn", alphas[rule], preds["w2s"]) for rule in COMBINERS]
    targets = np.concatenate(teachers + [gold["w2s"]])                                 # ((m + c + 1) T, n)
    strong_w2s, strong_test = world.strong(split["w2s"]), world.strong(split["test"])
    student = LinearHead().fit(strong_w2s, targets)
    fit_w2s = student.predict(strong_w2s).reshape(-1, T, config.n_w2s)
    fit_test = student.predict(strong_test).reshape(-1, T, config.n_test)
    ceiling = np.mean((fit_test[-1] - gold["test"]) ** 2, axis=-1)                     # (T,)

    records = []
    common = dict(setting=config.setting, strong=f"perturbed-{strong_noise:g}", seed=int(seed),
                  sizes={"n_weak": config.n_weak, "n_holdout": config.n_holdout, "n_w2s": config.n_w2s,
                         "n_test": config.n_test, "d_s": world.width, "members": m})
    for t in range(T):
        task = f"world-{index}/task-{t}"
        chosen = int(np.argmin(hold_err[t]))
        for j in range(m):
            test = theorem1(gold["test"][t], preds["test"][j, t], fit_test[j, t])
            own = theorem1(gold["w2s"][t], preds["w2s"][j, t], fit_w2s[j, t])
            records.append(_record(test, own, ceiling[t], task=task, weak=f"perturbed-{config.weak_noises[j]:g}",
                                   method=f"member-{j}", extra={"weak_noise": config.weak_noises[j]}, **common))
        member_w2s = np.array([r.w2s_error for r in records[-m:]])
        for c, rule in enumerate(COMBINERS):
            alpha = alphas[rule][t]
            test = ensemble_theorem1(preds["test"][:, t], alpha, gold["test"][t], fit_test[m + c, t])
            own = ensemble_theorem1(preds["w2s"][:, t], alpha, gold["w2s"][t], fit_w2s[m + c, t])
            extra = {"alpha": alpha.tolist(), "mean_member_error": test.terms["mean_member_error"],
                     "ambiguity": test.terms["ambiguity"]}
            members = MemberComparison(best_member=int(np.argmin(member_w2s)),
                                       best_member_w2s_error=float(member_w2s.min()), selected_member=chosen,
                                       selected_member_w2s_error=float(member_w2s[chosen]))
            records.append(_record(test, own, ceiling[t], task=task, weak="ensemble", method=rule, extra=extra,
                                   members=members, **common))
    return records


def _record(test, own, ceiling: float, extra: dict, **fields) -> W2SRecord:
    """A W2SRecord from the held-out check ``test`` and the in-sample check ``own`` (both BoundChecks)."""
    terms = test.terms
    weak_error = terms.get("weak_error", terms.get("ensemble_error"))
    own_weak = own.terms.get("weak_error", own.terms.get("ensemble_error"))
    in_sample = SampleCheck(own_weak, own.terms["w2s_error"], own.terms["misfit"], own.terms["gain"],
                            slack=own.slack, holds=own.holds)
    return W2SRecord.from_errors(weak_error, terms["w2s_error"], terms["misfit"], strong_error=float(ceiling),
                                 epsilon=float(ceiling), loss="sq", extra=extra, in_sample=in_sample,
                                 **test.record_fields(), **fields)


def run(config: EnsembleConfig, options: RunOptions = RunOptions()) -> tuple[list[W2SRecord], dict]:
    """Run every world of ``config`` (validated first) and summarise. Returns ``(records, summary)``."""
    start = time.perf_counter()
    records = [r for world in sweep_worlds(_world_records, config, options) for r in world]
    return records, summarize(records, config, time.perf_counter() - start)


def summarize(records: list[W2SRecord], config: EnsembleConfig, seconds: float) -> dict:
    """Per teacher kind: the gain-on-misfit line, how often Theorem 1 held, and ensemble vs members."""
    methods: dict[str, dict] = {}
    for method in [f"member-{j}" for j in range(len(config.weak_noises))] + list(COMBINERS):
        recs = [r for r in records if r.method == method]
        row = gain_misfit_fit([r.misfit for r in recs], [r.gain for r in recs])
        row.update({key: float(np.mean([getattr(r, key) for r in recs]))
                    for key in ("weak_error", "w2s_error", "misfit", "gain")})
        row["frac_theorem1_holds"] = float(np.mean([r.holds for r in recs]))
        row["frac_in_sample_holds"] = float(np.mean([r.in_sample.holds for r in recs]))
        if method in COMBINERS:
            best = np.array([r.members.best_member_w2s_error for r in recs])
            selected = np.array([r.members.selected_member_w2s_error for r in recs])
            w2s = np.array([r.w2s_error for r in recs])
            # "Beats" means by more than rounding: a posterior concentrated on one member reproduces its
            # student to the last bits, and such ties must not count either way.
            best, selected = best * (1 - 1e-9), selected * (1 - 1e-9)
            row.update(ambiguity=float(np.mean([r.extra["ambiguity"] for r in recs])),
                       frac_beats_best_member=float(np.mean(w2s < best)),
                       frac_beats_selected_member=float(np.mean(w2s < selected)),
                       mean_w2s_minus_best_member=float(np.mean(w2s - best / (1 - 1e-9))))
        methods[method] = row
    return {"experiment": NAME, "config": asdict(config), "n_records": len(records),
            "strong_error": float(np.mean([r.strong_error for r in records])), "methods": methods,
            "seconds": seconds}


def report(summary: dict) -> str:
    """A one-paragraph reading of the summary."""
    parts = []
    for rule in COMBINERS:
        row = summary["methods"][rule]
        slope = "n/a" if row["slope"] is None else f"{row['slope']:.3f}"
        r2 = "n/a" if row["r2"] is None else f"{row['r2']:.3f}"
        parts.append(f"{rule}: w2s error {row['w2s_error']:.4f}, gain on misfit slope {slope} (R^2 {r2}), "
                     f"beats the best member's student in {row['frac_beats_best_member']:.0%} of tasks "
                     f"(mean difference {row['mean_w2s_minus_best_member']:+.4f})")
    best_member = min((v["w2s_error"], k) for k, v in summary["methods"].items() if k.startswith("member"))
    cfg = summary["config"]
    return (f"Weak ensembles ({cfg['setting']}, {cfg['worlds']} worlds x {cfg['tasks']} tasks, "
            f"{len(cfg['weak_noises'])} members): " + "; ".join(parts)
            + f". Best single member on average: {best_member[1]} (w2s error {best_member[0]:.4f}); "
            f"strong ceiling {summary['strong_error']:.4f}. {summary['seconds']:.1f} s.")


EXPERIMENT = Experiment(name=NAME, config=EnsembleConfig,
                        run=run, report=report, help="weak ensembles: does the ensemble's misfit predict its gain?",
                        figure='ensembles', sweeps=True)
