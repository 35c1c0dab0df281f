"""The weak-ensemble -> strong classification pipeline, from raw files to the results dict (the CLI writes it to
``DIR/results.json``).

Stages (each cached under ``cache_dir`` by config hash, so a rerun skips what is done):

1. data: seeded, disjoint weak-train / w2s-train / test splits (``weakstrong.llm.data.tasks``);
2. weak: each weak supervisor learns weak-train gold labels and labels w2s-train and test;
3. features: the strong backbone's frozen features on w2s-train and test (probe student);
4. students: the ceiling (gold w2s-train labels) and one student per teacher of each ``--methods``;
5. metrics: accuracy, AUROC, PGR with a bootstrap CI, and the misfit theory on held-out test data (squared
   loss and KL), plus the in-sample squared-loss check on w2s-train where the probe is an exact projection.

The student never sees w2s-train gold labels; only the ceiling and the post-hoc in-sample check use them.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from weakstrong.config import ConfigError, check_choice, check_int
from weakstrong.io import atomic_path, config_hash
from weakstrong.llm.classification.metrics import bootstrap_pgr, task_metrics, theory_check_kl, theory_check_sq
from weakstrong.llm.data.tasks import REGRESSION_TASKS, TASKS, SplitConfig, TaskData, load_task
from weakstrong.llm.models.device import select_device
from weakstrong.llm.models.features import FeatureExtractor
from weakstrong.llm.models.options import RunOptions
from weakstrong.llm.models.precision import describe
from weakstrong.llm.models.registry import check_length
from weakstrong.llm.students.classifier import (LOSSES, ClassifierFinetuneConfig, ProbeConfig, finetune_code,
                                                predict_probes, student_kind)
from weakstrong.llm.supervision.ensemble import METHODS, Teacher, make_teachers
from weakstrong.progress import stage_line
from weakstrong.stages import cached_array, main_process

STUDENTS = ("probe", "finetune")
DEFAULT_WEAK = ("tfidf", "minilm-l1", "minilm-l2", "scratch-tiny")
EVAL_SPLITS = ("w2s_train", "test")


@dataclass(frozen=True)
class ClassifyConfig:
    """What one ``weakstrong llm classify`` run computes; where and how it runs is :class:`RunOptions`.

    Every field is a command-line option except ``probe.seed``, ``finetune.seed`` and ``finetune.max_length``,
    which the command line sets from ``seed`` and ``max_length``.
    """

    # sciq (binary, Burns format), sst2, imdb (polarity) or imdb-rating (regression)
    task: str = field(default="sciq", metadata={"choices": TASKS})
    data_dir: str | None = None  # folder holding <task>/ official files (e.g. ../shared/data); none: the HF hub
    # weak models, by spaces or commas: tfidf, minilm-l1 ... minilm-l6, scratch-tiny, or an HF id or path
    weak: tuple[str, ...] = DEFAULT_WEAK
    strong: str = "minilm-l6"  # strong model: ladder name, HF id or local path
    methods: tuple[str, ...] = METHODS  # teachers from the weak ensemble: single average vote logconf bayes, or all
    students: tuple[str, ...] = ("probe",)  # probe (frozen features, convex head), finetune (end to end), or both
    seed: int = 0  # seed of the splits, the weak models and both students
    n_weak_train: int | None = None  # weak-train size (none: the task default)
    n_w2s_train: int | None = None  # w2s-train size (none: the task default)
    n_test: int | None = None  # test size (none: the task default)
    batch_size: int = 64  # batch of frozen-feature encoding (fine-tuning: --finetune-batch-size)
    max_length: int = 128  # token limit per segment, for encoding and fine-tuning
    n_bootstrap: int = 1000  # bootstrap resamples for the PGR confidence interval
    probe: ProbeConfig = field(default_factory=ProbeConfig, metadata={"flatten": True})
    finetune: ClassifierFinetuneConfig = field(default_factory=ClassifierFinetuneConfig,
                                               metadata={"prefix": "finetune"})

    def validate(self) -> "ClassifyConfig":
        """Check every field, before any data or model is touched; raise :class:`ConfigError` naming the first
        bad one. Returns self."""
        owner = "ClassifyConfig"
        check_choice(owner, "task", self.task, TASKS)
        if self.task in REGRESSION_TASKS and self.data_dir is None:
            raise ConfigError(f"{owner}.task {self.task!r} needs data_dir (--data-dir): the hub copy has no ratings")
        for name, values, allowed in (("methods", self.methods, METHODS), ("students", self.students, STUDENTS)):
            bad = [v for v in values if v not in allowed]
            if not values or bad:
                raise ConfigError(f"{owner}.{name} must be a non-empty subset of {allowed}, got {list(values)}")
        if self.task in REGRESSION_TASKS and "vote" in self.methods:
            raise ConfigError(f"{owner}.methods: 'vote' needs class labels; task {self.task!r} is a regression "
                              f"target")
        if not self.weak or not all(isinstance(w, str) and w for w in self.weak):
            raise ConfigError(f"{owner}.weak must name at least one weak model, got {self.weak!r}")
        if len(set(self.weak)) != len(self.weak):
            raise ConfigError(f"{owner}.weak models must be distinct, got {list(self.weak)}")
        if not isinstance(self.strong, str) or not self.strong:
            raise ConfigError(f"{owner}.strong must name the strong model, got {self.strong!r}")
        check_int(owner, "seed", self.seed, minimum=0)
        for name in ("n_weak_train", "n_w2s_train", "n_test"):
            if getattr(self, name) is not None:
                check_int(owner, name, getattr(self, name))
        for name in ("batch_size", "max_length", "n_bootstrap"):
            check_int(owner, name, getattr(self, name))
        self.probe.validate(f"{owner}.probe")
        self.finetune.validate(f"{owner}.finetune")
        return self


@dataclass
class Prepared:
    """What :func:`prepare` checked and built: the device, the weak models, the strong extractor, the data."""

    device: Any
    weak_models: dict
    strong: Any
    data: TaskData
    timer: "Timer"


class Timer:
    """Wall-clock seconds per named stage of this run, and the cost of each cached stage when computed."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.stages: dict[str, dict] = {}
        # What each stage costs without the cache: its wall clock plus the recorded compute time of every
        # cached stage it reused. Throughput figures read this, so a resumed run does not look free.
        self.compute_seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str):
        start = time.perf_counter()
        # Long stages (model loads, feature passes, training) announce themselves: a run is never silent.
        stage_line(f"stage {stage}")
        before = set(self.stages)
        try:
            yield
        finally:
            wall = time.perf_counter() - start
            reused = sum(v.get("seconds") or 0.0 for k, v in self.stages.items()
                         if k not in before and v.get("cached"))
            self.seconds[stage] = round(self.seconds.get(stage, 0.0) + wall, 3)
            self.compute_seconds[stage] = round(self.compute_seconds.get(stage, 0.0) + wall + reused, 3)


def _fingerprint(data: TaskData) -> str:
    return config_hash({s: getattr(data, s).uid for s in ("weak_train", "w2s_train", "test")}, 16)


def run_weak(cfg: ClassifyConfig, data: TaskData, weak_models: dict, cache_dir: Path, timer: Timer) -> dict:
    """{split: (n_weak, n) outputs} of every weak supervisor on w2s-train and test (cached per model)."""
    fp = _fingerprint(data)
    rows = {s: [] for s in EVAL_SPLITS}
    for name, model in weak_models.items():
        def compute(model=model):
            model.fit(data.weak_train)
            return {s: np.asarray(model.predict(getattr(data, s)), dtype=float) for s in EVAL_SPLITS}

        with timer(f"weak/{name}"):
            out = cached_array(cache_dir, f"weak-{name.replace('/', '_')[-40:]}",
                               {"weak": model.config(), "data": fp, "seed": cfg.seed}, compute, timer.stages)
        for s in EVAL_SPLITS:
            rows[s].append(out[s])
    return {s: np.stack(r) for s, r in rows.items()}


def _probe_runs(cfg, data, teachers, strong, timer) -> tuple[dict, list]:
    with timer("features/strong"):
        feats = {s: strong(getattr(data, s).text, getattr(data, s).pair, s) for s in EVAL_SPLITS}
    with timer("students/probe"):
        methods = ["average"] + [t.method for t in teachers]  # row 0: the ceiling, on gold labels
        targets = np.stack([data.w2s_train.target] + [t.probs["w2s_train"] for t in teachers])
        conf = np.stack([np.ones(len(data.w2s_train))] + [t.confidence["w2s_train"] for t in teachers])
        out = predict_probes(methods, feats["w2s_train"], targets, conf, feats, cfg.probe)  # (not cached)
    ceiling = {s: out[s][0] for s in EVAL_SPLITS}
    preds = [{s: out[s][j + 1] for s in EVAL_SPLITS} for j in range(len(teachers))]
    return ceiling, preds


def _finetune_one(cfg, data, targets, weights, loss, key, cache_dir, log, device=None):
    """Fine-tune a fresh strong backbone; predictions and checkpoint cached by config hash."""
    import torch
    from safetensors.torch import save_model

    from weakstrong.llm.models.registry import load_backbone
    from weakstrong.llm.students.classifier import make_classifier, predict_classifier, train_classifier

    def compute():
        model, tokenizer, kind = load_backbone(cfg.strong, select_device(device))
        torch.manual_seed(cfg.finetune.seed)  # the head's initialisation must not depend on the stages before
        clf = make_classifier(model, kind)
        train_classifier(clf, tokenizer, data.w2s_train.text, data.w2s_train.pair, targets, loss, cfg.finetune,
                         weights, progress=f"finetune {key['teacher']}")
        if cache_dir is not None and main_process():  # under torchrun, rank 0 alone writes
            with atomic_path(Path(cache_dir) / f"finetune-{config_hash(key)}.safetensors") as tmp:
                save_model(clf, tmp)  # safetensors: the weights load back without unpickling anything
        return {s: predict_classifier(clf, tokenizer, getattr(data, s).text, getattr(data, s).pair, cfg.finetune,
                                      loss) for s in EVAL_SPLITS}

    return cached_array(cache_dir, "finetune-preds", key, compute, log)


def _finetune_runs(cfg, data, teachers, cache_dir, timer, device=None) -> tuple[dict, list]:
    base = {"strong": cfg.strong, "data": _fingerprint(data), "train": asdict(cfg.finetune), "code": finetune_code()}
    with timer("students/finetune"):
        ceiling = _finetune_one(cfg, data, data.w2s_train.target, None, "xent", {**base, "teacher": "gold"},
                                cache_dir, timer.stages, device)
        preds = []
        for t in teachers:
            key = {**base, "teacher": t.name, "method": t.method,
                   "targets": config_hash(t.probs["w2s_train"].round(8).tolist(), 16)}
            # the reference's bayes has no per-sample weights; the entropy weights are an ablation
            weights = t.confidence["w2s_train"] if t.method == "bayes" and cfg.finetune.entropy_weights else None
            preds.append(_finetune_one(cfg, data, t.probs["w2s_train"], weights, LOSSES[t.method], key,
                                       cache_dir, timer.stages, device))
    return ceiling, preds


def _evaluate(cfg, data, student, teachers, ceiling, preds) -> tuple[dict, list[dict]]:
    sizes = data.sizes()
    y, truth = data.test.label, data.test.target
    runs, records = [], []
    for t, p in zip(teachers, preds):
        ident = dict(task=cfg.task, weak=t.name, strong=cfg.strong, method=t.method, seed=cfg.seed, sizes=sizes)
        kind, note = student_kind(student, t.method, cfg.probe)
        held_out = [check(truth, t.probs["test"], p["test"], ceiling["test"], kind, note, setting=f"{student}/test",
                          extra={"student": student, "split": "test"}, **ident)
                    for check in (theory_check_sq, theory_check_kl)]
        in_sample = theory_check_sq(data.w2s_train.target, t.probs["w2s_train"], p["w2s_train"],
                                    ceiling["w2s_train"], kind, note, setting=f"{student}/w2s_train",
                                    extra={"student": student, "split": "w2s_train"}, **ident)
        teacher_m = task_metrics(y, t.probs["test"])
        run = {"teacher": t.name, "method": t.method, "teacher_test": teacher_m,
               **task_metrics(y, p["test"]),
               "pgr": bootstrap_pgr(y, t.probs["test"], p["test"], ceiling["test"], cfg.n_bootstrap, cfg.seed),
               "theory": {"sq_test": _summary(held_out[0]), "kl_test": _summary(held_out[1]),
                          "sq_w2s_train": _summary(in_sample)}}
        runs.append(run)
        records += [r.to_dict() for r in (*held_out, in_sample)]
    return {"ceiling": task_metrics(y, ceiling["test"]), "runs": runs}, records


def _summary(record) -> dict:
    keys = ("weak_error", "w2s_error", "misfit", "gain", "strong_error", "epsilon", "bound", "slack", "holds",
            "cross")
    out = {k: getattr(record, k) for k in keys}
    for name in ("nonrealizable_identity", "nonrealizable_bound", "convex_nonrealizable_bound", "statements"):
        if name in record.extra:
            out[name] = record.extra[name]
    return out


def _compare(results: dict) -> list[dict]:
    """Probe vs fine-tuned student per teacher: accuracy and how far each is from the misfit theory."""
    rows = []
    probe, ft = results["students"]["probe"]["runs"], results["students"]["finetune"]["runs"]
    for a, b in zip(probe, ft):
        sa, sb = a["theory"]["sq_test"], b["theory"]["sq_test"]
        rows.append({"teacher": a["teacher"], "accuracy_probe": a["accuracy"], "accuracy_finetune": b["accuracy"],
                     "accuracy_diff": b["accuracy"] - a["accuracy"],
                     "gain_minus_misfit_probe": sa["gain"] - sa["misfit"],
                     "gain_minus_misfit_finetune": sb["gain"] - sb["misfit"],
                     # a fine-tuned student has no Theorem 1 statement (not a projection): no slack of its own
                     "theorem1_slack_probe": sa["slack"]})
    return rows


def prepare(cfg: ClassifyConfig, options: RunOptions = RunOptions()) -> Prepared:
    """Every check that can fail on bad input (the config, the device, model names, their position limits, the
    data files, labels, leakage), before any training or output folder."""
    from weakstrong.llm.supervision.weak import make_weak

    cfg.validate()
    options.validate()
    timer = Timer()
    cache_dir = None if options.cache_dir is None else Path(options.cache_dir)
    device = select_device(options.device)
    regression = cfg.task in REGRESSION_TASKS
    weak_models = {n: make_weak(n, regression, cfg.seed, device, cfg.batch_size, cfg.max_length, cache_dir,
                                timer.stages) for n in cfg.weak}
    strong = FeatureExtractor(cfg.strong, device, cfg.batch_size, cfg.max_length, cache_dir, timer.stages)
    backbones = [strong.spec] + [m.features.spec for m in weak_models.values()
                                 if isinstance(getattr(m, "features", None), FeatureExtractor)]
    check_length("ClassifyConfig", "max_length", cfg.max_length, backbones)
    with timer("data"):
        data = load_task(cfg.task, cfg.data_dir, SplitConfig(cfg.n_weak_train, cfg.n_w2s_train, cfg.n_test,
                                                             cfg.seed))
    return Prepared(device, weak_models, strong, data, timer)


def run_classify(cfg: ClassifyConfig, options: RunOptions = RunOptions(),
                 prepared: Prepared | None = None) -> dict:
    """Run the pipeline; returns the results dict and writes nothing but the stage cache (the CLI writes
    ``results.json``). ``prepared``: :func:`prepare`'s result for this config and options."""
    p = prepared or prepare(cfg, options)
    cache_dir = None if options.cache_dir is None else Path(options.cache_dir)
    return _run_checked(cfg, p.data, p.weak_models, p.strong, p.device, cache_dir, p.timer)


def _run_checked(cfg: ClassifyConfig, data, weak_models, strong, device, cache_dir: Path | None,
                 timer: Timer) -> dict:
    """The stages of :func:`run_classify` after its checks: weak labels, students, metrics."""
    weak_out = run_weak(cfg, data, weak_models, cache_dir, timer)
    teachers: list[Teacher] = [t for m in cfg.methods
                               for t in make_teachers(list(cfg.weak), weak_out, m, data.regression)]
    results = {"task": cfg.task, "config": asdict(cfg), "config_hash": config_hash(asdict(cfg)),
               "sizes": data.sizes(), "data": data.info, "device": str(device), "precision": describe(device),
               "features": "pair-aware [q, a, q*a, |q-a|, cos] from separately embedded question and answer"
               if data.test.pair is not None else "mean-pooled text embedding",
               "weak": {n: task_metrics(data.test.label, weak_out["test"][i]) for i, n in enumerate(cfg.weak)},
               "students": {}, "records": []}
    for student in cfg.students:
        if student == "probe":
            ceiling, preds = _probe_runs(cfg, data, teachers, strong, timer)
        else:
            ceiling, preds = _finetune_runs(cfg, data, teachers, cache_dir, timer, device)
        with timer(f"metrics/{student}"):
            summary, records = _evaluate(cfg, data, student, teachers, ceiling, preds)
        results["students"][student] = summary
        results["records"] += records
    if set(STUDENTS) <= set(cfg.students):
        results["probe_vs_finetune"] = _compare(results)
    results["timings_s"] = timer.seconds  # this run's wall clock per stage (cached stages load in ~0 s)
    results["cached_stages"] = timer.stages  # each cached stage: seconds it took when computed, and if reused
    results["stage_compute_s"] = timer.compute_seconds  # per stage, as if nothing had been cached
    return results
