"""WeakS-to-Strong for generation on SLURP: weak fine-tuning, four supervision strategies, conservative DPO.

The protocol of Bayesian WeakS-to-Strong (Cui et al. 2024, §5, SLURP): every weak model is fine-tuned on gold
weak-train; the weak models label w2s-train; the strong model is trained on those labels with one of

- ``single``: each weak model's 1-best, the top beam of its n-best (one student per weak model);
- ``multi`` (naive multi-weak): every weak model's 1-best with token-level soft targets (each weak model's own
  word scores carried across tokenizers by the word bridge, ``weakstrong.llm.generation.bridge``), one loss per
  weak model combined with fixed weights, the soft KL;
- ``bayes`` (Bayesian multi-weak, the method): the same targets, confidences and weights, the evidential loss
  with ``edl_step`` (``bayes-edl``: plain ``edl``, ablation);
- ``joint``: joint decoding. The pool of every weak model's n-best is scored by every weak model (mean token
  log-prob), the scores are combined with the joint weights and the argmax is the target;

then optionally conservative DPO (``weakstrong.llm.students.dpo``). The strong ceiling is the strong model trained on
gold w2s-train. Everything is scored on the test split (SLU-F1, exact match, slot precision / recall, each
with a bootstrap interval over test utterances; ``weakstrong.llm.generation.slu_metric``), with PGR against the best
teacher (paired bootstrap interval) and the DPO delta (paired bootstrap interval).

Models are registry decoders (``smollm2-135m``, ``smollm2-135m-l12``, ``gemma3-270m``), pretrained ladder
folders or hub ids (``weakstrong.llm.models.lm.resolve_generator``); weak models may tokenize differently from the
strong one. A guard (``weakstrong.llm.generation.slu_metric.non_degeneracy``) checks, as soon as the weak models and the
ceiling are scored, that the ceiling is good and every weak model clearly below it, and warns on stderr if
not. Misfit views (``weakstrong.llm.generation.report``) are computed per gold word and per strong token;
throughput (tokens/s of fine-tuning and decoding, share of the bf16 matmul rate measured in the same run) is
recorded. Frozen models decode and score in bf16 where that is native.

On the project's rule: :func:`prepare` checks everything that can fail on bad input (the config, the model
names and their position limits, the device, the data and its sizes) before any work; :func:`run_generate`
computes every stage through :class:`~weakstrong.llm.generation.stages.GenerationStages` (a
:class:`weakstrong.stages.StageFolder`: models with ``save_pretrained``, the rest as JSON, so a rerun skips
finished stages and keeps the seconds they took) and returns the results; the command writes them. The
rooms: targets in :mod:`~weakstrong.llm.generation.strategies`, DPO in
:mod:`~weakstrong.llm.generation.preference`, summaries in :mod:`~weakstrong.llm.generation.report`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace

import torch

from weakstrong.config import ConfigError
from weakstrong.llm.data.slurp import SlurpExample, SlurpSplits, load_slurp, subsample
from weakstrong.llm.generation import pool, report
from weakstrong.llm.generation.bridge import same_segmentation
from weakstrong.llm.generation.config import GenerateConfig
from weakstrong.llm.generation.preference import dpo_names, dpo_stage, dpo_students
from weakstrong.llm.generation.decoding import greedy
from weakstrong.llm.generation.slu_metric import (bootstrap_ci, bootstrap_weights, non_degeneracy,
                                                  paired_bootstrap_delta, score_generations)
from weakstrong.llm.generation.stages import DECODING, GenerationStages, evaluate, finetune_spec
from weakstrong.llm.generation.strategies import MULTI_WEAK, scoring, students as student_table, teacher_nbest
from weakstrong.llm.models.device import select_device
from weakstrong.llm.models.options import RunOptions
from weakstrong.llm.models.lm import model_depth, resolve_generator
from weakstrong.llm.models.matmul_rate import matmul_rates
from weakstrong.llm.models.precision import describe
from weakstrong.llm.models.registry import check_length, inference_dtype

DPO_DELTA_METRICS = ("slu_f1", "exact_match", "slot_precision", "slot_recall")


@dataclass
class Prepared:
    """What :func:`prepare` checked and loaded: model specs, device and inference dtype, the data."""

    specs: dict
    device: torch.device
    dtype: torch.dtype
    splits: SlurpSplits
    n_malformed: int
    test: list[SlurpExample]
    data_seconds: float
    weak_train: list[SlurpExample]  # what the weak models train on: weak-train less the validation part
    val: list[SlurpExample]  # validation: the last n_val utterances of weak-train (never test)


def prepare(cfg: GenerateConfig, options: RunOptions = RunOptions()) -> Prepared:
    """Check everything that can fail on bad input, before any model work; load the data."""
    cfg.validate()
    options.validate()
    specs = {source: resolve_generator(source) for source in (*cfg.weak, cfg.strong)}  # a bad name fails here
    check_length("GenerateConfig", "max_new_tokens", cfg.max_new_tokens, specs.values(), strict=True)
    for sources, ft, option in (([cfg.strong], cfg.finetune, "--finetune-train-top-k"),
                                (cfg.weak, cfg.weak_finetune or cfg.finetune, "--weak-train-top-k")):
        for source in sources:
            depth = model_depth(specs[source])
            if ft.train_top_k is not None and depth is not None and ft.train_top_k > depth:
                raise ConfigError(f"LMFinetuneConfig.train_top_k ({option}) must be <= {depth}, the layers of "
                                  f"model {source!r}, got {ft.train_top_k}")
    device = select_device(options.device)
    dtype = inference_dtype(device) if cfg.inference_bf16 is None else \
        torch.bfloat16 if cfg.inference_bf16 else torch.float32
    t0 = time.perf_counter()
    splits, n_malformed = load_slurp(cfg.data_dir, cfg.seed, cfg.n_weak_train, cfg.n_w2s_train, cfg.official)
    for name, n, split in (("dpo_inputs", cfg.dpo_inputs if cfg.dpo else None, splits.w2s_train),
                           ("n_test", cfg.n_test, splits.test)):
        if n is not None and n > len(split):
            raise ConfigError(f"GenerateConfig.{name} (--{name.replace('_', '-')}) must be <= {len(split)}, "
                              f"the utterances there, got {n}")
    if cfg.val_size() >= len(splits.weak_train):
        raise ConfigError(f"GenerateConfig.n_val (--n-val) must be < {len(splits.weak_train)}, the weak-train "
                          f"utterances (the weak models train on the rest), got {cfg.n_val}")
    cut = len(splits.weak_train) - cfg.val_size()
    return Prepared(specs, device, dtype, splits, n_malformed, subsample(splits.test, cfg.n_test),
                    time.perf_counter() - t0, list(splits.weak_train[:cut]), list(splits.weak_train[cut:]))


def validation_slu_f1(stages: GenerationStages, cfg: GenerateConfig, name: str, model, tok,
                      val: list[SlurpExample]) -> float | None:
    """SLU-F1 of greedy generations on the validation utterances (None without any)."""
    if not val:
        return None
    return stages.json(f"{name}/val", lambda: {"scores": score_generations(
        [e.slots for e in val], greedy(model, tok, [e.prompt for e in val], cfg.max_new_tokens, cfg.batch_size,
                                       stages.bar(f"{name}: validation"))).to_dict()}, *DECODING)["scores"]["slu_f1"]


def run_generate(cfg: GenerateConfig, stages: GenerationStages, prepared: Prepared) -> dict:
    """Weak models, ceiling, guard, students, DPO: every stage through ``stages``; returns the results."""
    splits, test, val = prepared.splits, prepared.test, prepared.val
    w2s, prompts = splits.w2s_train, [e.prompt for e in splits.w2s_train]
    stages.timings["data"] = prepared.data_seconds
    n_test = (test, cfg.max_new_tokens, cfg.batch_size)
    strong_spec = prepared.specs[cfg.strong]

    weak, nbest = [], []
    for j, source in enumerate(cfg.weak):
        model, tok = stages.model(f"weak/{j}/model", source, finetune_spec(
            stages, [e.prompt for e in prepared.weak_train], [e.target for e in prepared.weak_train],
            cfg.weak_finetune or cfg.finetune, f"weak {j}: finetune"), prepared.specs[source])
        weak.append({"name": source, **evaluate(stages, f"weak/{j}", model, tok, *n_test), "model": (model, tok),
                     "val_slu_f1": validation_slu_f1(stages, cfg, f"weak/{j}", model, tok, val)})
        nbest.append(teacher_nbest(stages, cfg, j, model, tok, w2s))
    models = [x["model"] for x in weak]
    val_f1 = None if not val else [x["val_slu_f1"] for x in weak]
    w, joint_w, dpo_w = (cfg.ensemble_weights(val_f1, use) for use in ("multi", "joint", "dpo"))
    strong_tok = None
    boot = bootstrap_weights(len(test), cfg.n_boot, cfg.seed)  # one resampling: every seed's comparison paired
    seeds, evaluated, ceilings, table = {}, {}, {}, None
    for s in cfg.strong_seeds():
        # the strong stages of seed s: initialisation and data order of the ceiling, the students and DPO
        cs = replace(cfg, seed=s, finetune=replace(cfg.finetune, seed=s), dpo_config=replace(cfg.dpo_config, seed=s))
        prefix = cfg.stage_prefix(s)
        ceiling_model, strong_tok = stages.model(f"{prefix}ceiling/model", cfg.strong, finetune_spec(
            stages, prompts, [e.target for e in w2s], cs.finetune, f"ceiling {s}: finetune"), strong_spec)
        ceiling = evaluate(stages, f"{prefix}ceiling", ceiling_model, strong_tok, *n_test)
        ceilings[s] = ceiling["counts"]
        del ceiling_model
        guard = non_degeneracy(ceiling["scores"]["slu_f1"], [x["scores"]["slu_f1"] for x in weak],
                               cfg.min_ceiling_slu_f1, cfg.min_weak_gap)
        if not guard["ok"]:  # said now, before the students' hours are spent, and again at the end
            report.warn(report.guard_lines(guard))
        if table is None:  # the targets: shared by every seed
            for x, (_, tok) in zip(weak, models):
                x["same_tokens"] = same_segmentation(tok, strong_tok, [e.target for e in test])
            base = stages.model("strong/base", cfg.strong, None, strong_spec) \
                if set(cfg.methods) & set(MULTI_WEAK) and cfg.piece_split == "base" else (None, strong_tok)
            best_weak = 0 if val_f1 is None else max(range(len(val_f1)), key=lambda j: val_f1[j] or 0.0)
            table = student_table(stages, cfg, prompts, nbest, models, base, w, joint_w, best_weak)
            del base
        seeds[s], evaluated[s] = _strong_stages(stages, cs, prefix, table, weak, models, ceiling, guard, strong_tok,
                                                prepared, w, dpo_w, boot)
    first = seeds[cfg.strong_seeds()[0]]
    counts = {s: {name: e["counts"] for name, e in ev.items()} | {"ceiling": ceilings[s]}
              for s, ev in evaluated.items()}
    answers = pool.answers({s: seeds[s]["strategies"] for s in seeds}, counts, boot)

    device = prepared.device
    rates = matmul_rates(threads=torch.get_num_threads(), device=str(device)) \
        if device.type in ("cpu", "cuda") else None
    strong_stages = {f"{stage}/{k}" for seed in seeds.values() for stage in seed["stages"] for k in ("model", "test")}
    out = {
        "task": "slurp", "config": asdict(cfg),
        "splits": {"source": splits.source, "seed": splits.seed, **splits.sizes(), "n_test_used": len(test),
                   "n_malformed": prepared.n_malformed,
                   "note": "offline: weak-train and w2s-train are disjoint seeded halves of SLURP devel (the official "
                           "train split is absent); test is the official test split"
                   if splits.source == "seeded-devel" else "official split files"},
        "weak": [{"name": x["name"], **x["scores"], "ci": bootstrap_ci(x["counts"], boot),
                  "tokenizer_matches_strong": x["same_tokens"], "val_slu_f1": x["val_slu_f1"]} for x in weak],
        "supervision": {"weights": w, "joint_weights": joint_w, "dpo_weights": dpo_w,
                        "weights_source": "given" if cfg.weights else "uniform (ablation)" if cfg.uniform_weights
                        else "validation SLU-F1: the best weak model counts twice (DPO's ranking: 4/3 times)",
                        "confidence_source": cfg.confidence_source, "piece_split": cfg.piece_split,
                        "kl_clamp_order": cfg.kl_clamp_order, "detach_targets": cfg.detach_targets,
                        "weight_pooling": cfg.weight_pooling,
                        "n_val": len(val), "student_stages": {n: t.stage() for n, t in table.items()}},
        # the first strong seed's run at the top (what the summary shows); every seed under "seeds"
        "strong_seeds": list(cfg.strong_seeds()),
        "ceiling": first["ceiling"], "strategies": first["strategies"], "comparison": first["comparison"],
        "non_degenerate": first["non_degenerate"],
        "seeds": {str(k): {key: v for key, v in seed.items() if key not in ("records", "stages")}
                  for k, seed in seeds.items()},
        "answers": answers, "records": [r for seed in seeds.values() for r in seed["records"]],
        # per test utterance and student (ceiling included), the counts every SLU metric sums: what a paired
        # bootstrap resamples, so that runs of other strong seeds pool with this one (llm.generation.pool)
        "utterance_counts": {str(s): {name: pool.encode_counts(c) for name, c in by_name.items()}
                             for s, by_name in counts.items()},
        "throughput": report.throughput({k: v["finetune"] for k, v in stages.stage_info.items() if "finetune" in v},
                                        stages.decode_stats, sorted(strong_stages), rates),
        "timings_s": dict(stages.timings), "cpu_seconds": dict(stages.folder.cpu_timings),
        "cpu_hours_total": sum(stages.folder.cpu_timings.values()) / 3600.0,
        "device": str(device), "precision": describe(device),
        "threads": torch.get_num_threads(),
    }
    for seed in seeds.values():
        if not seed["non_degenerate"]["ok"]:
            report.warn(report.guard_lines(seed["non_degenerate"]))
    return out


def _strong_stages(stages, cfg, prefix, table, weak, models, ceiling, guard, strong_tok, prepared, w, dpo_w, boot):
    """One strong seed's students and DPO, summarised; ``cfg`` carries the seed. Returns (the seed's results,
    {student: its test evaluation}, DPO'd ones included)."""
    test, val, w2s, strong_spec = prepared.test, prepared.val, prepared.splits.w2s_train, prepared.specs[cfg.strong]
    results, records, evaluated = {}, [], {}

    def summarise(name, evaluation, teachers):
        summary, recs = report.summarise(cfg, name, evaluation, teachers, weak, ceiling, strong_tok,
                                         [e.target for e in test], len(w2s), boot, w)
        records.extend(recs)
        return summary

    for name, student in table.items():
        stage = student.stage(prefix)
        model, tok = stages.model(f"{stage}/model", cfg.strong, student.train(stages, cfg), strong_spec)
        evaluated[name] = evaluate(stages, stage, model, tok, test, cfg.max_new_tokens, cfg.batch_size,
                                   scoring(name))
        results[name] = summarise(name, evaluated[name], student.teachers)
        results[name]["val_slu_f1"] = validation_slu_f1(stages, cfg, stage, model, tok, val)
        del model
    # best_single+bayes: the best single at --seed only (DPO on it is asked at one seed), bayes at every seed
    dpo_on = "bayes" if cfg.dpo_on == "best_single+bayes" and prefix else cfg.dpo_on
    for name in dpo_students(results, dpo_on) if cfg.dpo else []:
        stage = table[name].stage(prefix)
        model, tok = stages.model(f"{stage}/model", cfg.strong, None, strong_spec)
        after = evaluated[f"{name}+dpo"] = dpo_stage(stages, cfg, stage, name, model, tok, models, dpo_w, w2s, val,
                                                     test)
        results[f"{name}+dpo"] = summarise(f"{name}+dpo", after, table[name].teachers)
        results[f"{name}+dpo"]["dpo_stage"] = dpo_names(cfg, stage, dpo_w)["run"]
        delta = paired_bootstrap_delta(evaluated[name]["counts"], after["counts"], boot)
        results[f"{name}+dpo"]["dpo_delta"] = {m: delta[m] for m in DPO_DELTA_METRICS}
        del model
    # Does the Bayesian strategy beat the others? Paired on the same test utterances, before DPO.
    comparison = {f"bayes-{other}": {m: d[m] for m in DPO_DELTA_METRICS} for other in table
                  if other != "bayes" and "bayes" in table
                  for d in [paired_bootstrap_delta(evaluated[other]["counts"], evaluated["bayes"]["counts"], boot)]}
    stage_names = [f"{prefix}ceiling"] + [table[n].stage(prefix) for n in table] + \
        [dpo_names(cfg, table[n[:-4]].stage(prefix), dpo_w)["run"] for n in results if n.endswith("+dpo")]
    return {"seed": cfg.seed, "ceiling": {**ceiling["scores"], "ci": bootstrap_ci(ceiling["counts"], boot)},
            "strategies": results, "comparison": comparison, "non_degenerate": guard, "records": records,
            "stages": stage_names}, evaluated
