"""Predict each candidate weak model's gain and weak-to-strong error before the student is judged on labels
(``weakstrong llm predict``).

The protocol of the misfit study (:mod:`weakstrong.llm.study.misfit`, whose stage cache this reads): seeded
weak-train / w2s-train / test splits; each candidate weak model is a probe on gold weak-train labels; the
student is the strong model's least-squares probe fitted on w2s-train to the candidate's soft labels (w2s-train
gold labels are never read). On the test split, the pool:

- the misfit mean (f_sw - f_w)^2 is computed on every test point: no labels;
- k test points are drawn (uniformly without replacement, or with the misfit-guided probabilities of
  :func:`~weakstrong.theory.gain.predictor.misfit_sampling_prob`, averaged over the candidates so that all
  of them share the same k draws), and their gold labels are the only labels used, for every candidate: the
  cross term, the weak error, and so the predicted w2s error = weak error - predicted gain;
- :func:`weakstrong.theory.gain.predictor.predict_gain` gives each prediction and its interval; candidates
  are ranked by predicted w2s error.

Features, weak outputs and splits come from the study's stage cache when the same sizes, seed and models were
run there (``results/ladder/cache``: seconds); otherwise they are computed and cached.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from weakstrong.config import ConfigError, check_choice, check_int, check_number, option_names
from weakstrong.llm.models.options import RunOptions
from weakstrong.llm.study.misfit import (DEFAULT_WEAK, STUDY_TASKS, TEXT_MODELS, MisfitStudyConfig,
                                       check_frozen_options)

SAMPLINGS = ("uniform", "misfit")
METHODS = ("t", "bootstrap")


@dataclass(frozen=True)
class PredictConfig:
    """One ``weakstrong llm predict`` run. Split sizes and feature settings default to the misfit study's, so
    that its cached features are reused."""

    task: str = field(default="sciq", metadata={"choices": STUDY_TASKS})  # task: sciq, sst2 or imdb
    strong: str = "smollm2-135m"  # strong model: its probe, fitted to each candidate's labels, is the student
    weak: tuple[str, ...] = DEFAULT_WEAK  # candidate weak models, by spaces or commas
    k: int = 100  # gold labels drawn from the test split: the only labels the prediction uses
    # how the k test points are drawn: uniform (without replacement) or misfit (more where students and
    # teachers disagree, with replacement; unbiased by reweighting)
    sampling: str = field(default="uniform", metadata={"choices": SAMPLINGS})
    level: float = 0.9  # coverage of the intervals
    method: str = field(default="t", metadata={"choices": METHODS})  # interval: t or bootstrap
    label_seed: int = 0  # seed of the draw of the k labelled test points
    seed: int = 0  # seed of the splits, the weak models and the probes (the study's --seed)
    n_weak_train: int = MisfitStudyConfig.n_weak_train  # weak-train examples (the study's)
    n_w2s_train: int = MisfitStudyConfig.n_w2s_train  # w2s-train examples, the student's unlabelled sample
    n_test: int = MisfitStudyConfig.n_test  # test examples, the pool the k labels are drawn from
    data_dir: str | None = None  # folder holding <task>/ official files (e.g. ../shared/data); none: the HF hub
    batch_size: int = MisfitStudyConfig.batch_size  # texts per forward pass when features are not cached
    max_length: int = MisfitStudyConfig.max_length  # token limit per text
    # SciQ input of decoders, as in the study: joined or pair
    decoder_pairs: str = field(default=MisfitStudyConfig.decoder_pairs, metadata={"choices": ("joined", "pair")})
    bf16: bool = MisfitStudyConfig.bf16  # bf16 weights for frozen passes where the device runs bf16 natively

    def validate(self) -> "PredictConfig":
        """Check every field before any data or model is touched; :class:`ConfigError` names the first bad
        one. Returns self."""
        owner = "PredictConfig"
        check_choice(owner, "task", self.task, STUDY_TASKS)
        for name in ("sampling", "method", "decoder_pairs"):
            check_choice(owner, name, getattr(self, name), self.__dataclass_fields__[name].metadata["choices"])
        if not isinstance(self.strong, str) or not self.strong.strip() or self.strong in TEXT_MODELS:
            raise ConfigError(f"{owner}.strong must name a model with frozen features (not {TEXT_MODELS}), got "
                              f"{self.strong!r}")
        if not self.weak or not all(isinstance(w, str) and w.strip() for w in self.weak) \
                or len(set(self.weak)) != len(self.weak):
            raise ConfigError(f"{owner}.weak must name distinct candidate weak models, got {list(self.weak)!r}")
        check_int(owner, "k", self.k, minimum=2)
        for name in ("n_weak_train", "n_w2s_train", "n_test", "batch_size", "max_length"):
            check_int(owner, name, getattr(self, name))
        if self.sampling == "uniform" and self.k > self.n_test:
            raise ConfigError(f"{owner}.k must be <= n_test={self.n_test} (the k labels are drawn from the test "
                              f"split without replacement), got {self.k}")
        check_number(owner, "level", self.level, minimum=0.0, strict=True, maximum=0.999)
        for name in ("seed", "label_seed"):
            check_int(owner, name, getattr(self, name), minimum=0)
        check_frozen_options(owner, self)
        study_config(self)
        return self


def study_config(cfg: PredictConfig) -> MisfitStudyConfig:
    """The misfit-study config whose cache keys the features, weak outputs and splits of ``cfg`` share."""
    known = {f.name for f in fields(MisfitStudyConfig)}
    wanted = dict(tasks=(cfg.task,), weak=tuple(cfg.weak), strong=(cfg.strong,), ensembles=(), seed=cfg.seed,
                  n_weak_train=cfg.n_weak_train, n_w2s_train=cfg.n_w2s_train, n_test=cfg.n_test,
                  data_dir=cfg.data_dir, batch_size=cfg.batch_size, max_length=cfg.max_length,
                  decoder_pairs=cfg.decoder_pairs, bf16=cfg.bf16, extra_seeds=(), extra_seed_tasks=(),
                  finetune_tasks=())
    study = MisfitStudyConfig(**{k: v for k, v in wanted.items() if k in known})
    try:
        return study.validate()
    except ConfigError as exc:
        raise ConfigError(option_names(str(exc), {"MisfitStudyConfig.weak": "PredictConfig.weak",
                                                  "MisfitStudyConfig.strong": "PredictConfig.strong"})) from None


@dataclass
class TaskInputs:
    """One task's splits, frozen features {(model, split): array}, and the weak models' soft labels
    {split: (n_weak, n)} on w2s-train and test."""

    data: object
    feats: dict
    weak_out: dict
    stages: dict


def load_inputs(study: MisfitStudyConfig, task: str, cache_dir: Path | None, options: RunOptions) -> TaskInputs:
    """Splits, features and weak outputs of ``task``, through the study's stage cache (computed if absent;
    ``cache_dir`` None: not cached), on the options' device and threads."""
    from weakstrong.llm.classification.classify import Timer, run_weak
    from weakstrong.llm.data.tasks import SplitConfig, load_task
    from weakstrong.llm.models.device import torch_threads
    from weakstrong.llm.study.misfit import checked_models

    with torch_threads(options.threads):
        timer = Timer()
        models = checked_models(study, cache_dir, timer.stages, options.device)
        data = load_task(task, study.data_dir, SplitConfig(study.n_weak_train, study.n_w2s_train, study.n_test,
                                                           study.seed))
        with timer("features"):
            feats = models.features(task, data)
        weak_out = run_weak(study, data, models.weak, cache_dir, timer)
    return TaskInputs(data, feats, weak_out, timer.stages)


def probe_students(study: MisfitStudyConfig, inputs: TaskInputs, strong: str) -> np.ndarray:
    """(n_weak, n_test) test predictions of the strong probe fitted on w2s-train to each weak model's labels:
    the study's single-teacher student (:func:`~weakstrong.llm.students.classifier.predict_probes`)."""
    from weakstrong.llm.students.classifier import predict_probes

    targets = inputs.weak_out["w2s_train"]
    return predict_probes(["single"] * targets.shape[0], inputs.feats[(strong, "w2s_train")], targets,
                          np.ones_like(targets), {"test": inputs.feats[(strong, "test")]}, study.probe)["test"]


def shared_sampling_prob(weak: np.ndarray, students: np.ndarray) -> np.ndarray:
    """The mean over candidates of their misfit-guided probabilities: one design all candidates share."""
    from weakstrong.theory.gain.predictor import misfit_sampling_prob

    return np.mean([misfit_sampling_prob(w, s) for w, s in zip(weak, students)], axis=0)


def draw_labelled(n: int, k: int, seed: int, prob: np.ndarray | None = None) -> np.ndarray:
    """k positions of the pool: uniformly without replacement, or with replacement with ``prob``."""
    rng = np.random.default_rng(seed)
    return rng.choice(n, size=k, replace=False) if prob is None else rng.choice(n, size=k, p=prob)


def run_predict(cfg: PredictConfig, options: RunOptions = RunOptions()) -> dict:
    """Predict every candidate's gain and w2s error (features through ``options.cache_dir``); returns the
    results and writes no results file."""
    from weakstrong.io import check_output_dir
    from weakstrong.theory.gain.predictor import predict_gain

    cfg.validate()
    options.validate()
    study = study_config(cfg)
    cache_dir = check_output_dir(options.cache_dir, "--cache-dir") if options.cache_dir else None
    inputs = load_inputs(study, cfg.task, cache_dir, options)
    students = probe_students(study, inputs, cfg.strong)
    weak = inputs.weak_out["test"]                                                # (n_weak, n_test)
    n = weak.shape[1]
    prob = shared_sampling_prob(weak, students) if cfg.sampling == "misfit" else None
    idx = draw_labelled(n, cfg.k, cfg.label_seed, prob)
    labels = inputs.data.test.target[idx]       # the k gold labels: the only labels read
    rows = []
    for name, f_w, f_sw in zip(cfg.weak, weak, students):
        p = predict_gain(f_w, f_sw, idx, labels, level=cfg.level, method=cfg.method, sampling_prob=prob,
                         seed=cfg.label_seed)
        rows.append({"weak": name, **p.to_dict()})
    order = np.argsort([r["w2s_error"] for r in rows], kind="stable")
    for rank, j in enumerate(order, start=1):
        rows[j]["rank"] = rank
    results = {"config": asdict(cfg), "task": cfg.task, "strong": cfg.strong, "k": cfg.k, "n_pool": n,
               "labels_used": int(np.unique(idx).size), "labelled_uids": [inputs.data.test.uid[i] for i in idx],
               "pool": "test split: misfit on every point, gold labels on the k drawn points only",
               "student": "least-squares probe of the strong model fitted on w2s-train to the weak labels",
               "candidates": [rows[j] for j in order], "cached_stages": inputs.stages}
    return results
