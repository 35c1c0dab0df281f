"""Experiment 6: the misfit inequality in KL, for classification.

Mulgund & Pabbaraju (2025): if the strong class V_s is convex in probability space and the student is the
reverse-KL (information) projection f_sw = argmin_{f in V_s} E KL(f || f_w) of the weak teacher, then

    E KL(g* || f_sw) <= E KL(g* || f_w) - E KL(f_sw || f_w)     whenever g* in V_s,

i.e. gain >= misfit in KL (:func:`weakstrong.theory.bounds.kl_theorem`). Softmax-linear heads are not convex
in probability space; the convex hull of k probability predictors on h_s is, and the student is then
:func:`weakstrong.theory.projections.kl_project_onto_hull`.

Each world (its own seed; h_s and h_w are h* perturbed with ``strong_noise`` and ``weak_noise``) yields:

- a ``realizable`` task: the k_realizable components are random softmax heads on h* (``torch.nn.Linear``
  default init, logits times ``logit_scale``) and g* = sum_j beta_j p_j with beta ~ Dirichlet(1), so g* is in
  the hull by construction;
- a ``nonrealizable`` task for each k of ``ks``: g* = softmax of a random head on h*; the components are a
  cloud of softmax heads on h_s around the multinomial logistic regression fitted on h_s to gold labels
  (in standardised feature coordinates, coefficients and intercepts plus Gaussian noise of ``spread``
  times the coefficients' root mean square); the hulls are
  nested (the first k of one pool), so the realizability gap can only shrink as k grows.

The weak teacher is a multinomial logistic regression (scikit-learn) on h_w fitted to ``n_weak`` labels
drawn from g*. The student projects the teacher's probabilities on ``n_w2s`` samples; the strong ceiling
projects g* itself by the same rule. Record fields are measured on ``n_test`` fresh samples (``loss="kl"``);
``in_sample`` repeats the check on the projection's own sample, where the inequality is exact for a
realizable g*. In the non-realizable case the summary reports the violation max(0, -slack) against k.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
from scipy.special import softmax

from weakstrong.config import ConfigError
from weakstrong.sim.common import check_finite, check_positive_int
from weakstrong.sim.mlp import torch_default_linear_init
from weakstrong.sim.experiments import Experiment
from weakstrong.sim.parallel import RunOptions, sweep_worlds
from weakstrong.sim.stats import gain_misfit_fit
from weakstrong.sim.worlds import WorldConfig, make_world
from weakstrong.theory.bounds import kl_theorem
from weakstrong.theory.distances import kl_divergence
from weakstrong.theory.projections import kl_project_onto_hull
from weakstrong.theory.records import SampleCheck, W2SRecord

NAME = "classification"
METHOD = "reverse-kl-hull"


@dataclass(frozen=True)
class ClassificationConfig:
    """One run of the KL experiment."""

    worlds: int = 8                   # independent worlds; each gives one realizable and len(ks) other tasks
    classes: int = 3                  # C
    k_realizable: int = 10            # components of the realizable hull
    ks: tuple[int, ...] = (2, 5, 10, 20, 50, 100)   # hull sizes of the non-realizable sweep
    logit_scale: float = 2.0          # multiplies every random head's logits (sharper g*)
    spread: float = 0.5               # relative noise of the non-realizable component cloud
    strong_noise: float = 0.3         # relative noise of h_s on h*
    weak_noise: float = 1.0           # relative noise of h_w on h*
    n_weak: int = 500                 # gold labels for the weak teacher (and for the cloud's centre)
    n_w2s: int = 1000                 # samples on which the student projects the teacher
    n_test: int = 5000                # fresh samples for every reported error
    seed: int = 0                   # master seed; each world gets its own seed from it

    def validate(self) -> "ClassificationConfig":
        """Check every field; raise ``ValueError`` naming the first bad one. Returns self."""
        for name in ("worlds", "n_w2s", "n_test"):
            check_positive_int("ClassificationConfig", name, getattr(self, name))
        check_positive_int("ClassificationConfig", "classes", self.classes, minimum=2)
        check_positive_int("ClassificationConfig", "k_realizable", self.k_realizable, minimum=1)
        check_positive_int("ClassificationConfig", "n_weak", self.n_weak, minimum=2 * self.classes)
        check_positive_int("ClassificationConfig", "seed", self.seed, minimum=0)
        if not isinstance(self.ks, tuple) or not self.ks:
            raise ConfigError(f"ClassificationConfig.ks must be a non-empty tuple of hull sizes, got {self.ks!r}")
        for k in self.ks:
            check_positive_int("ClassificationConfig", "ks[...]", k)
        for name in ("logit_scale", "spread", "strong_noise", "weak_noise"):
            check_finite("ClassificationConfig", name, getattr(self, name), minimum=0.0)
        return self


def _random_softmax_heads(rng: np.random.Generator, k: int, width: int, classes: int, scale: float):
    """k random heads (k, width, C), (k, C) drawn like ``torch.nn.Linear(width, C)``, logits times ``scale``."""
    pairs = [torch_default_linear_init(rng, width, classes) for _ in range(k)]
    return scale * np.stack([W for W, _ in pairs]), scale * np.stack([b for _, b in pairs])


def _probs(features: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    """Softmax probabilities of heads (k, width, C), (k, C) on features (n, width) -> (k, n, C)."""
    return softmax(np.einsum("nw,kwc->knc", features, coef) + intercept[:, None, :], axis=-1)


def _sample_labels(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One class per row of ``probs`` (n, C), by inverse-CDF sampling."""
    u = rng.random(probs.shape[0])[:, None]
    return np.minimum((np.cumsum(probs, axis=1) < u).sum(axis=1), probs.shape[1] - 1)


def fit_softmax_head(features: np.ndarray, labels: np.ndarray, classes: int):
    """Multinomial logistic regression (scikit-learn, L2 with C = 1) on standardised features.

    Returns ``(coef (width, C), intercept (C,), standardise)`` where ``standardise(features)`` maps raw
    features to the coordinates the head acts on (the fit sample's mean and scale); classes absent from
    ``labels`` get a very negative intercept rather than being dropped, so every head has C outputs.
    Why standardised coordinates: ReLU units with a tiny spread would get huge raw-scale coefficients, and a
    cloud of heads drawn around them would put exactly zero probability on some classes.
    """
    from sklearn.linear_model import LogisticRegression

    mean, scale = features.mean(axis=0), features.std(axis=0)
    scale = np.where(scale > 1e-12 * max(float(scale.max()), 1e-300), scale, 1.0)   # dead units: unscaled

    def standardise(f: np.ndarray) -> np.ndarray:
        return (f - mean) / scale

    model = LogisticRegression(max_iter=2000).fit(standardise(features), labels)
    coef = np.zeros((features.shape[1], classes))
    intercept = np.full(classes, -30.0)
    present = model.classes_.astype(int)
    if present.size == 2:   # binary: scikit-learn keeps one logit, class 1 against class 0
        W = np.stack([-model.coef_[0], model.coef_[0]]) / 2
        b = np.array([-model.intercept_[0], model.intercept_[0]]) / 2
    else:
        W, b = model.coef_, model.intercept_
    coef[:, present] = W.T
    intercept[present] = b
    return coef, intercept, standardise


def _task_records(components: dict, truth: dict, teacher: dict, common: dict) -> W2SRecord:
    """Project teacher and truth onto the hull of ``components`` and check the KL inequality."""
    student = kl_project_onto_hull(components["w2s"], teacher["w2s"])
    ceiling = kl_project_onto_hull(components["w2s"], truth["w2s"])
    own = kl_theorem(truth["w2s"], teacher["w2s"], student.fitted)
    test = kl_theorem(truth["test"], teacher["test"], np.tensordot(student.weights, components["test"], axes=1))
    ceiling_test = np.tensordot(ceiling.weights, components["test"], axes=1)
    return W2SRecord.from_errors(
        test.terms["weak_error"], test.terms["w2s_error"], test.terms["misfit"],
        strong_error=kl_divergence(truth["test"], ceiling_test), loss="kl", method=METHOD,
        **test.record_fields(), **common,
        in_sample=SampleCheck(**{k: own.terms[k] for k in ("weak_error", "w2s_error", "misfit", "gain")},
                              slack=own.slack, holds=own.holds),
        extra={"projection_gap": student.optimality_gap,
               "reverse_epsilon": kl_divergence(ceiling_test, truth["test"]),
               "in_sample_reverse_epsilon": kl_divergence(ceiling.fitted, truth["w2s"]),
               "violation": max(0.0, -test.slack), "in_sample_violation": max(0.0, -own.slack)})


def _world_records(job: tuple[ClassificationConfig, int, int]) -> list[W2SRecord]:
    """One realizable record and one non-realizable record per hull size, for one world."""
    config, index, seed = job
    C = config.classes
    world = make_world(WorldConfig(setting="perturbed", strong_noise=config.strong_noise,
                                   weak_noise=config.weak_noise, seed=seed))
    rng = np.random.default_rng(seed)
    x = {name: world.sample_inputs(rng, n) for name, n in
         (("weak", config.n_weak), ("w2s", config.n_w2s), ("test", config.n_test))}
    truth_feats = {name: world.truth(v) for name, v in x.items()}
    strong_feats = {name: world.strong(v) for name, v in x.items()}
    weak_feats = {name: world.weak(v) for name, v in x.items()}
    sizes = {"n_weak": config.n_weak, "n_w2s": config.n_w2s, "n_test": config.n_test, "d_s": world.width,
             "classes": C}

    def teacher_of(truth: dict) -> dict:
        coef, intercept, standardise = fit_softmax_head(weak_feats["weak"], _sample_labels(rng, truth["weak"]), C)
        return {name: _probs(standardise(weak_feats[name]), coef[None], intercept[None])[0]
                for name in ("w2s", "test")}

    records = []
    # Realizable: g* is a Dirichlet mixture of the components, which are heads on h* itself.
    coef, intercept = _random_softmax_heads(rng, config.k_realizable, world.width, C, config.logit_scale)
    comps = {name: _probs(truth_feats[name], coef, intercept) for name in x}
    beta = rng.dirichlet(np.ones(config.k_realizable))
    truth = {name: np.tensordot(beta, comps[name], axes=1) for name in x}
    records.append(_task_records(comps, truth, teacher_of(truth),
                                 dict(setting="realizable", task=f"world-{index}", weak=f"perturbed-{config.weak_noise:g}",
                                      strong="h*", seed=int(seed), sizes=dict(sizes, k=config.k_realizable))))
    # Non-realizable: g* a softmax head on h*; components a cloud around the gold-fitted head on h_s.
    coef, intercept = _random_softmax_heads(rng, 1, world.width, C, config.logit_scale)
    truth = {name: _probs(truth_feats[name], coef, intercept)[0] for name in x}
    teacher = teacher_of(truth)
    centre_coef, centre_b, standardise = fit_softmax_head(strong_feats["weak"],
                                                          _sample_labels(rng, truth["weak"]), C)
    rms = float(np.sqrt(np.mean(centre_coef ** 2)))
    k_max = max(config.ks)
    cloud_coef = centre_coef + config.spread * rms * rng.standard_normal((k_max, *centre_coef.shape))
    cloud_b = centre_b + config.spread * rms * rng.standard_normal((k_max, C))
    pool = {name: _probs(standardise(strong_feats[name]), cloud_coef, cloud_b) for name in ("w2s", "test")}
    for k in config.ks:
        comps = {name: p[:k] for name, p in pool.items()}
        records.append(_task_records(comps, truth, teacher,
                                     dict(setting="nonrealizable", task=f"world-{index}",
                                          weak=f"perturbed-{config.weak_noise:g}",
                                          strong=f"perturbed-{config.strong_noise:g}", seed=int(seed),
                                          sizes=dict(sizes, k=k))))
    return records


def run(config: ClassificationConfig, options: RunOptions = RunOptions()) -> tuple[list[W2SRecord], dict]:
    """Run every world of ``config`` (validated first) and summarise. Returns ``(records, summary)``."""
    start = time.perf_counter()
    records = [r for world in sweep_worlds(_world_records, config, options) for r in world]
    return records, summarize(records, config, time.perf_counter() - start)


def _group_stats(recs: list[W2SRecord]) -> dict:
    row = gain_misfit_fit([r.misfit for r in recs], [r.gain for r in recs])
    row.update({key: float(np.mean([getattr(r, key) for r in recs]))
                for key in ("weak_error", "w2s_error", "misfit", "gain", "strong_error")})
    row.update(n=len(recs), frac_holds=float(np.mean([r.holds for r in recs])),
               frac_in_sample_holds=float(np.mean([r.in_sample.holds for r in recs])),
               min_in_sample_slack=float(min(r.in_sample.slack for r in recs)),
               mean_violation=float(np.mean([r.extra["violation"] for r in recs])),
               mean_in_sample_violation=float(np.mean([r.extra["in_sample_violation"] for r in recs])),
               median_gap=float(np.median([r.gain - r.misfit for r in recs])),
               median_gap_in_sample=float(np.median([r.in_sample.gain - r.in_sample.misfit
                                                     for r in recs])))
    return row


def summarize(records: list[W2SRecord], config: ClassificationConfig, seconds: float) -> dict:
    """The realizable check, and the non-realizable terms and violation for each hull size k."""
    nonreal = {str(k): _group_stats([r for r in records if r.setting == "nonrealizable" and r.sizes["k"] == k])
               for k in config.ks}
    return {"experiment": NAME, "config": asdict(config), "n_records": len(records),
            "realizable": _group_stats([r for r in records if r.setting == "realizable"]),
            "nonrealizable_by_k": nonreal, "seconds": seconds}


def report(summary: dict) -> str:
    """A one-paragraph reading of the summary."""
    real, by_k = summary["realizable"], summary["nonrealizable_by_k"]
    ks = list(by_k)
    trend = ", ".join(f"k={k}: {by_k[k]['mean_in_sample_violation']:.2e} (ceiling {by_k[k]['strong_error']:.3f})"
                      for k in ks)
    return (f"Classification/KL ({summary['config']['worlds']} worlds, {summary['config']['classes']} classes): "
            f"realizable (g* in the hull of {summary['config']['k_realizable']}): gain >= misfit held on the "
            f"projection's sample in {real['frac_in_sample_holds']:.0%} of tasks (min slack "
            f"{real['min_in_sample_slack']:.2e} nats) and on held-out data in {real['frac_holds']:.0%}; mean gain "
            f"{real['gain']:.4f} vs misfit {real['misfit']:.4f} nats. Non-realizable, mean violation "
            f"max(0, misfit - gain) on the projection's sample against k: {trend}. {summary['seconds']:.1f} s.")


EXPERIMENT = Experiment(name=NAME, config=ClassificationConfig,
                        run=run, report=report, help='the misfit inequality in KL (reverse-KL projection onto a hull)',
                        figure='classification', sweeps=True)
