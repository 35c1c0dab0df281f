"""The real-model misfit study: every (weak, strong) pair of a pretrained-model ladder, probe students, gain
against misfit, from raw files to ``DIR/results.json`` (``weakstrong llm misfit-study``).

Per task (SciQ in Burns' binary format, SST-2, IMDB; seeded, disjoint weak-train / w2s-train / test splits):

1. features: frozen features of every model on the splits it needs, last-token pooled for decoders and mean
   pooled for encoders. The depths of one backbone (``smollm2-135m-l4``, ``-l8``, ``smollm2-135m``) come
   from one forward pass (:class:`weakstrong.llm.models.features.DepthGroup`), each cached under the key its own
   extractor uses;
2. weak: each weak model is a logistic probe (TF-IDF + LR for ``tfidf``) on gold weak-train labels, as in
   ``llm classify``; it labels w2s-train and test with soft labels;
3. students: per strong model, the ceiling (a probe on gold w2s-train labels) and one probe per teacher: each
   weak model alone, and each ensemble of all of them (``--ensembles``), fitted as in ``llm classify``;
4. metrics on test: accuracy, AUROC, PGR with a bootstrap CI, and squared-loss and KL records with misfit,
   gain, epsilon from the ceiling and the statements proved for that student. A (weak, strong) pair is a
   point when the ceiling beats the weak model's test accuracy; the others are listed as skipped;
5. fits of gain on misfit (least squares) per task and overall, and the ladder: each model's accuracy.

Features, weak labels and probes are cached under the options' ``cache_dir``, so an interrupted run resumes
stage by stage. :func:`prepare_study` checks every input before any work; :func:`run_study` returns the
results and writes nothing but its stage cache (the command writes ``results.json``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from weakstrong.config import ConfigError, check_choice, check_int
from weakstrong.io import check_output_dir, config_hash
from weakstrong.llm.classification.classify import Timer, run_weak
from weakstrong.llm.classification.metrics import bootstrap_pgr, task_metrics, theory_check_kl, theory_check_sq
from weakstrong.llm.data.tasks import SplitConfig, TaskData, load_task
from weakstrong.llm.models.device import select_device, torch_threads
from weakstrong.llm.models.options import RunOptions
from weakstrong.llm.models.features import DepthGroup, FeatureExtractor
from weakstrong.llm.models.precision import describe
from weakstrong.llm.models.registry import (backbone_kind, backbone_layers, check_length, inference_dtype,
                                            resolve_model)
from weakstrong.llm.students.classifier import (ClassifierFinetuneConfig, ProbeConfig, predict_probes, probe_code,
                                                student_kind)
from weakstrong.llm.supervision.ensemble import make_teachers
from weakstrong.stages import cached_array
from weakstrong.theory.fits import gain_misfit_fit
from weakstrong.theory.resampling import bootstrap_indices, percentile_interval  # noqa: F401  (re-exported for the study's callers)

STUDY_TASKS = ("sciq", "sst2", "imdb")
ENSEMBLES = ("average", "vote", "logconf", "bayes")
TEXT_MODELS = ("tfidf", "scratch-tiny")  # weak models without frozen features (they cannot be strong)
DEFAULT_WEAK = ("tfidf", "minilm-l2", "minilm-l6", "smollm2-135m-l4", "smollm2-135m-l8")
DEFAULT_STRONG = ("smollm2-135m-l16", "smollm2-135m", "gemma3-270m", "minilm-l6")
STUDENTS = ("probe", "finetune")
SPLITS = ("weak_train", "w2s_train", "test")
SQ_TERMS = ("weak_error", "w2s_error", "misfit", "gain", "strong_error", "epsilon", "cross", "slack", "holds")
KL_TERMS = SQ_TERMS[:5]


@dataclass(frozen=True)
class MisfitStudyConfig:
    """What one ``weakstrong llm misfit-study`` run computes; each field enters the cache keys it affects. Where
    and how it runs (folder, cache, device, threads) is :class:`~weakstrong.llm.models.options.RunOptions`.

    Every field is a command-line option except ``probe.seed``, which follows ``seed``.
    """

    tasks: tuple[str, ...] = STUDY_TASKS  # tasks: sciq (binary, Burns format), sst2, imdb (polarity)
    data_dir: str | None = None  # folder holding <task>/ official files (e.g. ../shared/data); none: the HF hub
    # weak models, each a logistic probe on its frozen features (tfidf: TF-IDF + LR): ladder names, HF ids, paths
    weak: tuple[str, ...] = DEFAULT_WEAK
    strong: tuple[str, ...] = DEFAULT_STRONG  # strong models (frozen features, probe students)
    ensembles: tuple[str, ...] = ENSEMBLES  # ensemble teachers of all weak models: average vote logconf bayes, or none
    seed: int = 0  # seed of the splits, the weak models, the probes and the fine-tuned students
    # more seeds of the splits, weak models and probes (probe students only) on --extra-seed-tasks, for the
    # Bayesian-vs-naive ensemble comparison over seeds; none: no extra seed
    extra_seeds: tuple[int, ...] = (1, 2)
    extra_seed_tasks: tuple[str, ...] = ("sciq", "sst2")  # tasks run again at each of --extra-seeds
    # weak-train examples per task; feature extraction dominates the CPU time and scales linearly with the
    # three sizes (at the defaults ~25 min for all three tasks on 2 shared CPU cores with --threads 1)
    n_weak_train: int = 1500
    n_w2s_train: int = 2000  # w2s-train examples per task (CPU time scales with it)
    n_test: int = 500  # test examples per task (CPU time scales with it)
    batch_size: int = 32  # texts per forward pass of frozen-feature extraction
    max_length: int = 128  # token limit per text (IMDB reviews are cut there)
    # SciQ input of decoders: one "Q: ... A: ..." text read to its last token (joined), or question and answer
    # embedded apart with pair-aware features (pair, what encoders always get)
    decoder_pairs: str = field(default="joined", metadata={"choices": ("joined", "pair")})
    bf16: bool = True  # bf16 weights for the frozen passes where the device runs bf16 natively (else float32)
    n_bootstrap: int = 1000  # bootstrap resamples for the PGR confidence interval
    probe: ProbeConfig = field(default_factory=ProbeConfig, metadata={"flatten": True})
    # fine-tuned (top-K) students, at --seed: on these tasks (none: no fine-tuned student) ...
    finetune_tasks: tuple[str, ...] = ("sciq", "sst2")
    finetune_strong: tuple[str, ...] = ("all",)  # ... for these decoder models of --strong (all: every decoder)
    # ... and at each of --extra-seeds too, on the --extra-seed-tasks (false: at --seed only)
    finetune_extra_seeds: bool = True
    top_k: int = 2  # fine-tuned students train the last K transformer layers (+ final norm and head)
    # the fine-tuned students' head: standardized (per-example standardised input, zero-initialised, as Burns
    # et al.) or plain (ablation: the earlier default-initialised head on raw features, which collapses on
    # Gemma-3's ~30x larger features)
    topk_head: str = field(default="standardized", metadata={"choices": ("standardized", "plain")})
    finetune_bf16: bool = True  # bf16 autocast while fine-tuning where the device runs bf16 natively
    finetune: ClassifierFinetuneConfig = field(
        default_factory=lambda: ClassifierFinetuneConfig(epochs=2, lr=5e-4, batch_size=32),
        metadata={"prefix": "finetune"})

    def validate(self) -> "MisfitStudyConfig":
        """Check every field, before any data or model is touched; raise :class:`ConfigError` naming the first
        bad one. Returns self."""
        owner = "MisfitStudyConfig"
        for name, values, allowed, empty in (("tasks", self.tasks, STUDY_TASKS, False),
                                             ("ensembles", self.ensembles, ENSEMBLES, True),
                                             ("finetune_tasks", self.finetune_tasks, STUDY_TASKS, True),
                                             ("extra_seed_tasks", self.extra_seed_tasks, STUDY_TASKS, True)):
            bad = [v for v in values if v not in allowed]
            if bad or (not values and not empty) or len(set(values)) != len(values):
                raise ConfigError(f"{owner}.{name} must be distinct values from {allowed}"
                                  f"{'' if empty else ', at least one'}, got {list(values)}")
        for name in ("weak", "strong"):
            values = getattr(self, name)
            if not values or not all(isinstance(v, str) and v.strip() for v in values):
                raise ConfigError(f"{owner}.{name} must name at least one model, got {values!r}")
            if len(set(values)) != len(values):
                raise ConfigError(f"{owner}.{name} models must be distinct, got {list(values)}")
        text_only = [s for s in self.strong if s in TEXT_MODELS]
        if text_only:
            raise ConfigError(f"{owner}.strong: {text_only} have no frozen features for a probe student")
        check_int(owner, "seed", self.seed, minimum=0)
        for extra in self.extra_seeds:
            check_int(owner, "extra_seeds", extra, minimum=0)
        if self.seed in self.extra_seeds or len(set(self.extra_seeds)) != len(self.extra_seeds):
            raise ConfigError(f"{owner}.extra_seeds must be distinct seeds other than seed={self.seed}, "
                              f"got {list(self.extra_seeds)}")
        if self.finetune_tasks and self.finetune_strong != ("all",):
            not_strong = [s for s in self.finetune_strong if s not in self.strong]
            if not_strong or not self.finetune_strong or len(set(self.finetune_strong)) != len(self.finetune_strong):
                raise ConfigError(f"{owner}.finetune_strong must be 'all' or distinct models of strong "
                                  f"{list(self.strong)}, got {list(self.finetune_strong)}")
        check_int(owner, "top_k", self.top_k)
        if not isinstance(self.finetune_extra_seeds, bool):
            raise ConfigError(f"{owner}.finetune_extra_seeds must be true or false, got {self.finetune_extra_seeds!r}")
        if not isinstance(self.finetune_bf16, bool):
            raise ConfigError(f"{owner}.finetune_bf16 must be true or false, got {self.finetune_bf16!r}")
        self.finetune.validate(f"{owner}.finetune")
        for name in ("n_weak_train", "n_w2s_train", "n_test", "batch_size", "max_length", "n_bootstrap"):
            check_int(owner, name, getattr(self, name))
        check_choice(owner, "decoder_pairs", self.decoder_pairs, ("joined", "pair"))
        check_choice(owner, "topk_head", self.topk_head, ("standardized", "plain"))
        check_frozen_options(owner, self)
        self.probe.validate(f"{owner}.probe")
        return self


def check_frozen_options(owner: str, cfg) -> None:
    """The settings every frozen-feature config shares: ``bf16``, and ``data_dir`` (None or a folder)."""
    if not isinstance(cfg.bf16, bool):
        raise ConfigError(f"{owner}.bf16 must be true or false, got {cfg.bf16!r}")
    if cfg.data_dir is not None and not (isinstance(cfg.data_dir, str) and cfg.data_dir.strip()):
        raise ConfigError(f"{owner}.data_dir must name a folder, got {cfg.data_dir!r}")


class _Models:
    """The study's models on one task: one frozen-feature extractor per backbone name, grouped by backbone so
    each forward pass serves every depth, and the weak supervisors built on them."""

    def __init__(self, cfg: MisfitStudyConfig, device, dtype, cache_dir: Path, log: dict):
        from weakstrong.llm.supervision.weak import FrozenProbeWeak, make_weak

        self.cfg, self.device, self.dtype = cfg, device, dtype
        self.extractors: dict[str, FeatureExtractor] = {}
        weak_features = {}
        for name in dict.fromkeys(cfg.weak + cfg.strong):
            if name in TEXT_MODELS:
                continue
            joined = cfg.decoder_pairs == "joined" and backbone_kind(resolve_model(name)) == "decoder"
            args = (name, device, cfg.batch_size, cfg.max_length, cache_dir)
            self.extractors[name] = FeatureExtractor(*args, log, dtype, join_pairs=joined)
            # The weak probes read the features the groups cached; unlogged, so the log says what was computed.
            weak_features[name] = FeatureExtractor(*args, None, dtype, join_pairs=joined)
        by_backbone: dict[tuple, list] = {}
        for e in self.extractors.values():
            by_backbone.setdefault(e.share_key(), []).append(e)
        self.groups = [DepthGroup(members) for members in by_backbone.values()]
        self.weak = {n: FrozenProbeWeak(weak_features[n], seed=cfg.seed) if n in weak_features
                     else make_weak(n, False, cfg.seed, device, cfg.batch_size, cfg.max_length, cache_dir, log)
                     for n in cfg.weak}

    def finetune_strong(self) -> list[str]:
        """The strong models that get fine-tuned students (``all``: every decoder of ``--strong``)."""
        if not self.cfg.finetune_tasks:
            return []
        if self.cfg.finetune_strong == ("all",):
            return [s for s in self.cfg.strong if backbone_kind(self.extractors[s].spec) == "decoder"]
        return list(self.cfg.finetune_strong)

    def check_finetune(self) -> None:
        """Each fine-tuned strong model is a decoder with more than ``--top-k`` layers."""
        for name in self.finetune_strong():
            spec = self.extractors[name].spec
            layers = backbone_layers(spec)
            if backbone_kind(spec) != "decoder" or layers is None or layers <= self.cfg.top_k:
                raise ConfigError(f"MisfitStudyConfig.finetune_strong (--finetune-strong): {name!r} must be a "
                                  f"decoder with more than --top-k={self.cfg.top_k} layers "
                                  f"(it is a {backbone_kind(spec)} with {layers} layers)")

    def check_max_length(self) -> None:
        """``--max-length`` within the position embeddings of every backbone."""
        check_length("MisfitStudyConfig", "max_length", self.cfg.max_length,
                     [e.spec for e in self.extractors.values()])

    def features(self, task: str, data: TaskData) -> dict[tuple[str, str], np.ndarray]:
        """{(model, split): features}: weak models on all three splits, strong ones on w2s-train and test."""
        feats = {}
        for group in self.groups:
            names = [e.spec.name for e in group.extractors]
            for split in SPLITS:
                wanted = [n for n in names if split != "weak_train" or n in self.cfg.weak]
                if wanted:
                    s = getattr(data, split)
                    out = group(s.text, s.pair, f"{task}/{split}", names=wanted)
                    feats.update({(n, split): x for n, x in out.items()})
            group.release()
        return feats

    def passes(self) -> list[dict]:
        return [p for g in self.groups for p in g.passes]


def checked_models(cfg: MisfitStudyConfig, cache_dir: Path, log: dict, device: str | None = None) -> _Models:
    """The study's models on ``device`` (none: cuda if available, else cpu; bf16 weights where native and
    ``cfg.bf16``), with ``--max-length`` checked against every backbone; call inside ``torch_threads``."""
    device = select_device(device)
    models = _Models(cfg, device, inference_dtype(device) if cfg.bf16 else None, cache_dir, log)
    models.check_max_length()
    return models


def _probes(cfg, task, data, strong, teachers, feats, extractor, cache_dir, log) -> dict[str, np.ndarray]:
    """Test predictions of the ceiling (row 0, gold labels) and of one probe per teacher (cached)."""
    methods = ["average"] + [t.method for t in teachers]  # row 0's method: a plain least-squares fit
    targets = np.stack([data.w2s_train.target] + [t.probs["w2s_train"] for t in teachers])
    conf = np.stack([np.ones(len(data.w2s_train))] + [t.confidence["w2s_train"] for t in teachers])
    key = {"strong": extractor.config(), "task": task, "data": config_hash([data.w2s_train.uid, data.test.uid], 16),
           "methods": methods, "targets": config_hash(targets.round(8).tolist(), 16), "probe": asdict(cfg.probe),
           "code": probe_code()}

    def compute():
        return predict_probes(methods, feats[(strong, "w2s_train")], targets, conf,
                              {"test": feats[(strong, "test")]}, cfg.probe)

    return cached_array(cache_dir, "probes-" + extractor.stage.removeprefix("features-"), key, compute, log)


def _evaluate(cfg, task, data, strong, teachers, preds, student: str = "probe") -> tuple[list, list, list]:
    """Points (metrics per teacher), records (sq and KL per point) and the pairs skipped, for one strong model
    and one kind of student. ``teachers``: (weak label, :class:`~weakstrong.llm.supervision.ensemble.Teacher`) pairs, in the
    rows of ``preds`` after the ceiling's."""
    y, truth = data.test.label, data.test.target
    ceiling = preds[0]
    ceiling_m = task_metrics(y, ceiling)
    points, records, skipped = [], [], []
    for (weak, t), pred in zip(teachers, preds[1:]):
        teacher_m = task_metrics(y, t.probs["test"])
        beats = ceiling_m["accuracy"] > teacher_m["accuracy"]
        if t.method == "single" and not beats:
            skipped.append({"task": task, "weak": weak, "strong": strong, "student": student, "seed": cfg.seed,
                            "weak_accuracy": teacher_m["accuracy"], "ceiling_accuracy": ceiling_m["accuracy"],
                            "reason": "the strong ceiling does not beat the weak model's test accuracy"})
            continue
        metrics = {"teacher_accuracy": teacher_m["accuracy"], "teacher_auroc": teacher_m["auroc"],
                   **task_metrics(y, pred), "ceiling_accuracy": ceiling_m["accuracy"],
                   "ceiling_auroc": ceiling_m["auroc"], "ceiling_beats_teacher": beats,
                   "pgr": bootstrap_pgr(y, t.probs["test"], pred, ceiling, cfg.n_bootstrap, cfg.seed)}
        kind, note = student_kind(student, t.method, cfg.probe)
        ident = dict(setting="ladder", task=task, weak=weak, strong=strong, method=t.method, seed=cfg.seed,
                     sizes=data.sizes(), extra={"student": student, "split": "test", "teacher": t.name, **metrics})
        sq, kl = (check(truth, t.probs["test"], pred, ceiling, kind, note, **ident)
                  for check in (theory_check_sq, theory_check_kl))
        points.append({"task": task, "weak": weak, "strong": strong, "student": student, "method": t.method,
                       "seed": cfg.seed, **metrics, "student_kind": kind,
                       "sq": {k: getattr(sq, k) for k in SQ_TERMS}, "kl": {k: getattr(kl, k) for k in KL_TERMS}})
        records += [sq.to_dict(), kl.to_dict()]
    return points, records, skipped


def _ladder(cfg, models: _Models, data: TaskData, weak_out: dict, ceilings: dict) -> list[dict]:
    """Each model's test accuracy on this task: as a weak probe (gold weak-train) and as a ceiling (gold
    w2s-train), with its backbone, depth and pooling."""
    rows = []
    for name in dict.fromkeys(cfg.weak + cfg.strong):
        e = models.extractors.get(name)
        row = {"model": name, "backbone": None if e is None else e.spec.gguf or Path(e.spec.source).name,
               "layers": None if e is None else backbone_layers(e.spec),
               "kind": None if e is None else backbone_kind(e.spec)}
        row["features"] = ("bag of words" if e is None else
                           ("last token" if row["kind"] == "decoder" else "mean") +
                           (", joined Q/A text" if e.join_pairs and data.test.pair is not None else
                            ", pair-aware Q/A" if data.test.pair is not None else ""))
        row["weak_probe"] = task_metrics(data.test.label, weak_out["test"][cfg.weak.index(name)]) \
            if name in cfg.weak else None
        row["ceiling"] = task_metrics(data.test.label, ceilings[name]) if name in ceilings else None
        rows.append(row)
    return rows


def _fits(records: list[dict], tasks, seed: int) -> dict:
    """Gain on misfit over the single-teacher points at ``seed``, per student, per loss, per task and overall."""
    out = {}
    for student in STUDENTS:
        out[student] = {}
        for loss in ("sq", "kl"):
            rows = [r for r in records if r["loss"] == loss and r["method"] == "single" and r["seed"] == seed
                    and r["extra"]["student"] == student]
            out[student][loss] = {
                "overall": gain_misfit_fit([r["misfit"] for r in rows], [r["gain"] for r in rows]),
                "by_task": {t: gain_misfit_fit([r["misfit"] for r in rows if r["task"] == t],
                                               [r["gain"] for r in rows if r["task"] == t]) for t in tasks}}
    return out


def _comparison(per_example: list[dict], cfg: MisfitStudyConfig) -> list[dict]:
    """The Bayesian-vs-naive table: per (task, strong, student), each ensemble method's test accuracy at every
    seed, and bayes minus each other method, averaged over the seeds, with a paired bootstrap CI (the same
    test resamples for both methods, one set of resamples per seed, averaged over the seeds)."""
    groups: dict[tuple, list] = {}
    for row in per_example:
        groups.setdefault((row["task"], row["strong"], row["student"]), []).append(row)
    out = []
    for (task, strong, student), rows in groups.items():
        methods = [m for m in ENSEMBLES if all(m in r["preds"] for r in rows)]
        entry = {"task": task, "strong": strong, "student": student, "seeds": [r["seed"] for r in rows],
                 "accuracy": {m: [_accuracy(r["y"], r["preds"][m]) for r in rows] for m in methods},
                 "best_single": [max(_accuracy(r["y"], p) for w, p in r["preds"].items() if w not in ENSEMBLES)
                                 for r in rows], "bayes_minus": {}}
        if "bayes" in methods:
            for other in [m for m in methods if m != "bayes"]:
                boot = np.mean([_paired_bootstrap(r["y"], r["preds"]["bayes"], r["preds"][other], cfg.n_bootstrap,
                                                  r["seed"]) for r in rows], axis=0)
                diff = float(np.mean([a - b for a, b in zip(entry["accuracy"]["bayes"], entry["accuracy"][other])]))
                entry["bayes_minus"][other] = {"mean": diff, "ci": percentile_interval(boot, 0.95)}
        out.append(entry)
    return out


def _accuracy(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((np.asarray(p) > 0.5) == (np.asarray(y) == 1)))


def _paired_bootstrap(y, a, b, n: int, seed: int) -> np.ndarray:
    """(n,) accuracy(a) - accuracy(b) over test resamples drawn with replacement (the same for a and b)."""
    hits_a = (np.asarray(a) > 0.5) == (np.asarray(y) == 1)
    hits_b = (np.asarray(b) > 0.5) == (np.asarray(y) == 1)
    idx = bootstrap_indices(len(hits_a), n, seed)
    return hits_a[idx].mean(1) - hits_b[idx].mean(1)


def _throughput(passes: list[dict]) -> dict:
    """Tokens per second of feature extraction per model, over the passes that computed its features (a pass
    shared by several depths counts once for each)."""
    totals: dict[str, list] = {}
    for p in passes:
        for name, m in p["models"].items():
            if m["tokens"] is not None and m["pass_seconds"]:
                t = totals.setdefault(name, [0, 0.0])
                t[0] += m["tokens"]
                t[1] += m["pass_seconds"]
    return {n: {"tokens": t, "seconds": round(s, 3), "tokens_per_s": round(t / s, 1)} for n, (t, s) in totals.items()}


@dataclass
class Prepared:
    """What :func:`prepare_study` checked and loaded: the models, the (task, seed) runs and their data."""

    models: _Models
    runs: list[tuple[str, int]]
    data: dict
    setup: Timer
    cache_dir: Path


def prepare_study(cfg: MisfitStudyConfig, options: RunOptions) -> Prepared:
    """Everything that can fail on bad input (model names, lengths, files, sizes) fails here, before work.
    ``options.cache_dir`` must be set (the command's default is ``OUT/cache``); call inside ``torch_threads``."""
    cfg.validate()
    options.validate()
    if options.cache_dir is None:
        raise ConfigError("--cache-dir must name the study's stage cache")
    cache_dir = check_output_dir(options.cache_dir, "--cache-dir")
    setup = Timer()
    models = checked_models(cfg, cache_dir, setup.stages, options.device)
    models.check_finetune()
    runs = [(t, cfg.seed) for t in cfg.tasks] + [(t, s) for s in cfg.extra_seeds for t in cfg.tasks
                                                 if t in cfg.extra_seed_tasks]
    with setup("data"):
        data = {(t, s): load_task(t, cfg.data_dir, SplitConfig(cfg.n_weak_train, cfg.n_w2s_train, cfg.n_test, s))
                for t, s in runs}
    return Prepared(models, runs, data, setup, cache_dir)


def run_study(cfg: MisfitStudyConfig, options: RunOptions, prepared: Prepared | None = None) -> dict:
    """Run the study (its stages cached in ``options.cache_dir``); returns the results, writes no results file."""
    with torch_threads(options.threads):
        prepared = prepared or prepare_study(cfg, options)
        device, dtype, cache_dir = prepared.models.device, prepared.models.dtype, prepared.cache_dir
        results = {"config": asdict(cfg), "config_hash": config_hash(asdict(cfg)), "device": str(device),
                   "precision": describe(device),
                   "dtype": "float32" if dtype is None else str(dtype).removeprefix("torch."),
                   "tasks": {}, "points": [], "skipped": [], "records": [], "feature_passes": [],
                   "timings_s": {"setup": prepared.setup.seconds}, "cached_stages": {}, "stage_compute_s": {},
                   "finetune_throughput": [], "seed_runs": {}}
        for task, seed in prepared.runs:
            _run_task(cfg, task, seed, prepared.data[(task, seed)], device, dtype, cache_dir, results)
        results["fits"] = _fits(results["records"], cfg.tasks, cfg.seed)
        results["comparison"] = _comparison(results.pop("_per_example"), cfg)
        results["throughput"] = _throughput(results["feature_passes"])
    return results


def _run_task(cfg, task, seed, data, device, dtype, cache_dir, results) -> None:
    """The stages of one task at one seed, appended to ``results``: probe students always, fine-tuned students
    on ``--finetune-tasks`` (at the main seed, and at the extra seeds with ``--finetune-extra-seeds``)."""
    main = seed == cfg.seed
    cfg = replace(cfg, seed=seed, probe=replace(cfg.probe, seed=seed), finetune=replace(cfg.finetune, seed=seed))
    label = task if main else f"{task}/seed{seed}"
    timer = Timer()
    models = _Models(cfg, device, dtype, cache_dir, timer.stages)
    with timer("features"):
        feats = models.features(task, data)
    weak_out = run_weak(cfg, data, models.weak, cache_dir, timer)
    # One teacher per weak model (make_teachers keeps their order), then one per ensemble of all of them.
    teachers = list(zip(cfg.weak, make_teachers(list(cfg.weak), weak_out, "single"))) + \
        [(",".join(cfg.weak), t) for m in cfg.ensembles for t in make_teachers(list(cfg.weak), weak_out, m)]
    students = {}
    for strong in cfg.strong:
        with timer(f"students/{strong}"):
            students[("probe", strong)] = _probes(cfg, task, data, strong, [t for _, t in teachers], feats,
                                                  models.extractors[strong], cache_dir, timer.stages)["test"]
    if (main or cfg.finetune_extra_seeds) and task in cfg.finetune_tasks:
        from weakstrong.llm.study.finetune import finetune_students

        tuned, rates = finetune_students(cfg, models.finetune_strong(), task, data, [t for _, t in teachers],
                                         device, dtype, cache_dir, timer.stages, timer)
        students.update({("finetune", strong): preds for strong, preds in tuned.items()})
        results["finetune_throughput"] += rates
    for (student, strong), preds in students.items():
        with timer(f"metrics/{student}/{strong}"):
            points, records, skipped = _evaluate(cfg, task, data, strong, teachers, preds, student)
        results["points"] += points
        results["records"] += records
        results["skipped"] += skipped
        results.setdefault("_per_example", []).append(
            {"task": task, "strong": strong, "student": student, "seed": seed, "y": data.test.label,
             "preds": {(t.method if t.method != "single" else weak): p for (weak, t), p in zip(teachers, preds[1:])}})
    ceilings = {strong: preds[0] for (student, strong), preds in students.items() if student == "probe"}
    entry = {"sizes": data.sizes(), "data": data.info, "seed": seed,
             "ladder": _ladder(cfg, models, data, weak_out, ceilings)}
    tuned_ceilings = {strong: task_metrics(data.test.label, preds[0])
                      for (student, strong), preds in students.items() if student == "finetune"}
    if tuned_ceilings or main:
        entry["finetune_ceilings"] = tuned_ceilings
    if main:
        results["tasks"][task] = entry
    else:
        results["seed_runs"][label] = entry
    results["feature_passes"] += models.passes()
    results["timings_s"][label] = timer.seconds
    results["cached_stages"][label] = timer.stages
    results["stage_compute_s"][label] = timer.compute_seconds
