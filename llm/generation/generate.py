"""WeakS-to-Strong for generation on SLURP: weak fine-tuning, four supervision strategies, conservative DPO.

The protocol of Bayesian WeakS-to-Strong (Cui et al. 2024, §5, SLURP): every weak model is fine-tuned on gold
weak-train; the weak models label w2s-train; the strong model is trained on those labels with one of

- ``single``: each weak model's 1-best, the top beam of its n-best (one student per weak model);
- ``multi``: one loss per weak model's 1-best, weighted by the ensemble weights (one student);
- ``joint``: joint decoding. The pool of every weak model's n-best is scored by every weak model (mean token
  log-prob), the scores are combined with the weights and the argmax is the target;
- ``bayes``: the joint target with token-level soft targets from the weak ensemble's word confidences carried
  across tokenizers by the word bridge, trained with the evidential loss (``weakstrong.llm.generation.bridge``);

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

Every stage is cached under the output folder (models with ``save_pretrained``, the rest as JSON), so a rerun
skips finished stages (keeping the seconds they took, for ``timings_s``); the folder is bound to its
configuration by ``run.json``, written once the inputs are checked. A stamp of another configuration is
replaced only while the folder holds no finished stage, so stages of two configurations never mix.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from weakstrong.config import ConfigError
from weakstrong.io import check_output_dir, config_hash, output_lock, read_json, write_json
from weakstrong.llm.data.slurp import SlurpSplits, as_target, load_slurp, subsample
from weakstrong.llm.generation import report
from weakstrong.llm.generation.bridge import (bayes_token_loss, ensemble_word_probs, piece_confidence,
                                              same_segmentation, target_token_words, token_logprobs, words_from_tokens)
from weakstrong.llm.generation.config import GenerateConfig, LMFinetuneConfig
from weakstrong.llm.generation.decoding import DecodeConfig, decode, ensemble_candidate_scores, greedy
from weakstrong.llm.generation.slu_metric import (bootstrap_ci, bootstrap_pgr, bootstrap_weights, generation_counts,
                                                  non_degeneracy, paired_bootstrap_delta, score_generations)
from weakstrong.llm.models.device import select_device
from weakstrong.llm.models.lm import (encode_examples, finetune, load_causal_lm, model_depth, resolve_generator,
                                      weighted_xent)
from weakstrong.llm.models.lm_layers import matmul_params
from weakstrong.llm.models.matmul_rate import matmul_rates
from weakstrong.llm.models.precision import describe
from weakstrong.llm.models.registry import check_length, inference_dtype
from weakstrong.llm.students.dpo import select_pairs, train_dpo
from weakstrong.theory.records import W2SRecord

STAMP = "run.json"  # binds the folder to one configuration
RESULTS = "results.json"  # written last: its presence marks a finished run
# Every student here is a fine-tuned LM, so its record carries the terms and no bound, slack or holds.
STATEMENTS = "none guaranteed: fine-tuned student is not a projection"
DPO_DELTA_METRICS = ("slu_f1", "exact_match", "slot_precision", "slot_recall")


def dpo_students(results: dict, dpo_on: str) -> list[str]:
    """The students DPO refines: every one (``"all"``), or the best by test SLU-F1 and the Bayesian one.

    ``"best+bayes"`` follows the reference: DPO on top of the best student and of the Bayesian student (one
    stage when they are the same; ties go to the first trained). The choice uses only the students' own
    scores, and DPO's effect is then measured against the same student on the same utterances (a paired
    delta), so it does not favour DPO.
    """
    if dpo_on == "all":
        return list(results)
    best = max(results, key=lambda name: results[name]["slu_f1"])
    return list(dict.fromkeys([best] + (["bayes"] if "bayes" in results else [])))


class GenerateRun:
    """The cached stages of one experiment in ``out``; :meth:`run` returns (and writes) ``results.json``."""

    def __init__(self, config: GenerateConfig, out: str | Path, log: Callable[[str], None] = print,
                 progress: bool = True):
        """Check everything that needs no data or model work: the config, ``out``, the model names and their
        position limits, the device, and that ``out`` holds no other run. Nothing is written here."""
        self.cfg, self.log, self.progress = config.validate(), log, progress
        self.out = check_output_dir(out, "--out")
        self.specs = {}
        for source in (*config.weak, config.strong):  # a bad model name fails here, before any training
            self.specs[source] = resolve_generator(source)
        check_length("GenerateConfig", "max_new_tokens", config.max_new_tokens, self.specs.values(), strict=True)
        for sources, ft, option in (([config.strong], config.finetune, "--finetune-train-top-k"),
                                    (config.weak, config.weak_finetune or config.finetune, "--weak-train-top-k")):
            for source in sources:
                depth = model_depth(self.specs[source])
                if ft.train_top_k is not None and depth is not None and ft.train_top_k > depth:
                    raise ConfigError(f"LMFinetuneConfig.train_top_k ({option}) must be <= {depth}, the layers of "
                                      f"model {source!r}, got {ft.train_top_k}")
        self.device = select_device(config.device)
        self.timings: dict[str, float] = {}
        self.stage_info: dict[str, dict] = {}  # model stage -> its stage.json (fine-tuning stats among them)
        self.decode_stats: dict[str, tuple[dict, int]] = {}  # test stage -> (decoding stats, matmul weights)
        self.ident = {"hash": config_hash(config.identity()), "config": config.identity()}
        self._check_stamp()

    # -- the folder's stamp ------------------------------------------------------------------------------------
    def _check_stamp(self) -> None:
        """Refuse a folder that holds another configuration's results or reusable stages.

        A stamp of another configuration with neither (a run that failed before its first stage finished) is
        replaced by :meth:`_write_stamp`: nothing in the folder would be reused, so nothing can be mixed.
        """
        stamp = self.out / STAMP
        if not stamp.exists():
            return
        try:
            found = read_json(stamp)["hash"]
        except (ValueError, KeyError, TypeError):
            found = None  # a damaged stamp binds no configuration
        if found == self.ident["hash"]:
            return
        finished = (self.out / RESULTS).exists()
        stages = self._finished_stages()
        if finished or stages:
            what = "a finished run" if finished else f"an unfinished run with {len(stages)} finished stages"
            raise ConfigError(f"--out {self.out} holds {what} of a different configuration ({stamp}); use a "
                              f"fresh --out")

    def _finished_stages(self) -> list[Path]:
        """What a rerun would reuse: each JSON stage and each saved model's ``stage.json``."""
        found = []
        for path in self.out.rglob("*.json"):
            rel = path.relative_to(self.out)
            if path.name.startswith(".") or rel.as_posix() in (STAMP, RESULTS):
                continue
            if path.name == "stage.json" or "model" not in rel.parts[:-1]:
                found.append(rel)
        return found

    def _write_stamp(self) -> None:
        write_json(self.out / STAMP, self.ident)

    # -- caching -------------------------------------------------------------------------------------------
    def _json(self, name: str, fn: Callable[[], dict]) -> dict:
        path = self.out / f"{name}.json"
        if path.exists():
            data = read_json(path)
        else:
            t0 = time.perf_counter()
            data = fn()
            data["seconds"] = time.perf_counter() - t0
            write_json(path, data)
        self.timings[name] = data["seconds"]
        return data

    def _inference_dtype(self):
        if self.cfg.inference_bf16 is None:
            return inference_dtype(self.device)
        return torch.bfloat16 if self.cfg.inference_bf16 else torch.float32

    def _model(self, name: str, source: str, train: Callable | None = None):
        """Load the cached model ``name``, or load ``source``, ``train(model, tokenizer)`` it and cache it.

        The model comes back frozen, in the inference dtype: every later use of it only decodes or scores.
        """
        path = self.out / name
        if (path / "stage.json").exists():  # written last, so its presence means the model was saved whole
            info = read_json(path / "stage.json")
            model, tok = load_causal_lm(str(path), self.device)
        else:
            model, tok = load_causal_lm(self.specs.get(source, source), self.device)
            info = {"seconds": 0.0, "source": source}
            if train is not None:
                t0 = time.perf_counter()
                info = train(model, tok) or {}
                model.save_pretrained(path)
                tok.save_pretrained(path)
                info = {"seconds": time.perf_counter() - t0, "source": source, **info}
                write_json(path / "stage.json", info)
        self.timings[name] = info["seconds"]
        self.stage_info[name] = info
        for p in model.parameters():
            p.requires_grad_(False)
        return model.to(self._inference_dtype()).eval(), tok

    def _bar(self, name: str) -> str | None:
        return name if self.progress else None

    # -- stages ----------------------------------------------------------------------------------------------
    def _finetune(self, prompts, targets, weights=None, confidence=None, loss=weighted_xent, name="",
                  config: LMFinetuneConfig | None = None):
        def train(model, tok):
            examples = encode_examples(tok, prompts, targets, weights)
            if confidence is not None:
                for ex, conf in zip(examples, confidence(tok, targets)):
                    ex.confidence = conf[: len(ex.target_ids)]
            stats: dict = {}
            losses = finetune(model, tok, examples, config or self.cfg.finetune, loss, self._bar(name), stats)
            return {"final_loss": float(np.mean(losses[-10:])), "n_steps": len(losses), "finetune": stats}
        return train

    def _evaluate(self, name: str, model, tok) -> dict:
        """Greedy generations on test (scored, with decoding stats) and log p of every gold token and word."""
        prompts, targets = [e.prompt for e in self.test], [e.target for e in self.test]

        def generations():
            stats: dict = {}
            gens = greedy(model, tok, prompts, self.cfg.max_new_tokens, self.cfg.batch_size,
                          self._bar(f"{name}: test"), stats=stats)
            return {"scores": score_generations([e.slots for e in self.test], gens).to_dict(), "generations": gens,
                    "decode": stats, "matmul_params": matmul_params(model)["forward"]}

        test = self._json(f"{name}/test", generations)
        self.decode_stats[f"{name}/test"] = (test["decode"], test["matmul_params"])

        def gold():
            lps = token_logprobs(model, tok, prompts, targets, self.cfg.batch_size)
            return {"token": lps, "word": words_from_tokens(tok, targets, lps)}

        lps = self._json(f"{name}/gold_logprobs", gold)
        return {"scores": test["scores"], "counts": generation_counts([e.slots for e in self.test],
                                                                      test["generations"]),
                "token_logprobs": [np.asarray(x) for x in lps["token"]],
                "word_logprobs": [np.asarray(x) for x in lps["word"]]}

    def _teacher_labels(self, j: int, model, tok) -> list[list[str]]:
        """Weak model j's n-best on w2s-train, as training targets (canonical, leading space kept)."""
        cfg = DecodeConfig(self.cfg.n_best, max(self.cfg.n_best, 1), self.cfg.max_new_tokens, self.cfg.batch_size)
        return self._json(f"weak/{j}/w2s_nbest", lambda: {"nbest": [[as_target(c) for c in cands] for cands in decode(
            model, tok, [e.prompt for e in self.w2s], cfg, self._bar(f"weak {j}: n-best"))]})["nbest"]

    def run(self) -> dict:
        cfg = self.cfg
        t_data = time.perf_counter()
        splits, n_malformed = load_slurp(cfg.data_dir, cfg.seed, cfg.n_weak_train, cfg.n_w2s_train, cfg.official)
        for name, n, split in (("dpo_inputs", cfg.dpo_inputs if cfg.dpo else None, splits.w2s_train),
                               ("n_test", cfg.n_test, splits.test)):
            if n is not None and n > len(split):
                raise ConfigError(f"GenerateConfig.{name} (--{name.replace('_', '-')}) must be <= {len(split)}, "
                                  f"the utterances there, got {n}")
        self.splits: SlurpSplits = splits
        self.w2s, self.test = splits.w2s_train, subsample(splits.test, cfg.n_test)
        self.timings["data"] = time.perf_counter() - t_data
        # Only now, every check passed, does the run take its output folder: a run refused for bad input
        # leaves the folder as it was, and a second run into it is refused.
        with output_lock(self.out, "--out"):
            self._write_stamp()
            return self._run_stages(splits, n_malformed)

    def _run_stages(self, splits: SlurpSplits, n_malformed: int) -> dict:
        """Every stage after the data checks: weak models, ceiling, guard, strategies, DPO, results.json."""
        cfg = self.cfg
        w = cfg.ensemble_weights
        weak_prompts = [e.prompt for e in splits.weak_train]
        prompts = [e.prompt for e in self.w2s]

        weak, nbest = [], []
        for j, source in enumerate(cfg.weak):
            model, tok = self._model(f"weak/{j}/model", source, self._finetune(
                weak_prompts, [e.target for e in splits.weak_train], name=f"weak {j}: finetune",
                config=cfg.weak_finetune))
            weak.append({"name": source, **self._evaluate(f"weak/{j}", model, tok), "model": (model, tok)})
            nbest.append(self._teacher_labels(j, model, tok))
        models = [x["model"] for x in weak]
        ceiling_model, self.strong_tok = self._model("ceiling/model", cfg.strong, self._finetune(
            prompts, [e.target for e in self.w2s], name="ceiling: finetune"))
        ceiling = self._evaluate("ceiling", ceiling_model, self.strong_tok)
        del ceiling_model
        guard = non_degeneracy(ceiling["scores"]["slu_f1"], [x["scores"]["slu_f1"] for x in weak],
                               cfg.min_ceiling_slu_f1, cfg.min_weak_gap)
        if not guard["ok"]:  # said now, before the students' hours are spent, and again at the end
            report.warn(report.guard_lines(guard))
        targets_test = [e.target for e in self.test]
        for x, (_, tok) in zip(weak, models):
            x["same_tokens"] = same_segmentation(tok, self.strong_tok, targets_test)

        def joint_targets() -> list[str]:
            def fn():
                pool = [list(dict.fromkeys(c for nb in nbest for c in nb[i])) for i in range(len(prompts))]
                scores = ensemble_candidate_scores(models, prompts, pool, w, cfg.batch_size)
                return {"targets": [p[int(np.argmax(s))] for p, s in zip(pool, scores)], "pool": pool,
                        "scores": scores}
            return self._json("joint/targets", fn)["targets"]

        def bayes_confidence(targets: list[str]):
            lps = self._json("bayes/weak_word_logprobs", lambda: {"logprobs": [words_from_tokens(
                t, targets, token_logprobs(m, t, prompts, targets, cfg.batch_size)) for m, t in models]})["logprobs"]
            probs = ensemble_word_probs([[np.asarray(x) for x in per] for per in lps], w)
            return lambda tok, texts: [piece_confidence(p, target_token_words(tok, t)[0])
                                       for p, t in zip(probs, texts)]

        students = {}  # name -> (training spec, teacher indices)
        for method in cfg.methods:
            if method == "single":
                for j in range(len(models)):
                    students[f"single/{j}"] = (self._finetune(prompts, [nb[0] for nb in nbest[j]],
                                                              name=f"single {j}"), [j])
            elif method == "multi":
                students["multi"] = (self._finetune(
                    prompts * len(models), [nb[0] for per in nbest for nb in per],
                    [wj for wj in w for _ in prompts], name="multi"), list(range(len(models))))
            elif method == "joint":
                students["joint"] = (self._finetune(prompts, joint_targets(), name="joint"),
                                     list(range(len(models))))
            else:
                targets = joint_targets()
                students["bayes"] = (self._finetune(
                    prompts, targets, confidence=bayes_confidence(targets),
                    loss=partial(bayes_token_loss, kl_weight=cfg.kl_weight), name="bayes"), list(range(len(models))))

        self.boot = bootstrap_weights(len(self.test), cfg.n_boot, cfg.seed)
        results, records, evaluated = {}, [], {}
        for name, (train, teachers) in students.items():
            model, tok = self._model(f"students/{name}/model", cfg.strong, train)
            evaluated[name] = self._evaluate(f"students/{name}", model, tok)
            results[name] = self._summarise(name, evaluated[name], teachers, weak, ceiling, records)
            del model
        for name in dpo_students(results, cfg.dpo_on) if cfg.dpo else []:
            model, tok = self._model(f"students/{name}/model", cfg.strong, None)
            after = self._dpo(name, model, tok, models, w)
            results[f"{name}+dpo"] = self._summarise(f"{name}+dpo", after, students[name][1], weak, ceiling,
                                                     records)
            delta = paired_bootstrap_delta(evaluated[name]["counts"], after["counts"], self.boot)
            results[f"{name}+dpo"]["dpo_delta"] = {m: delta[m] for m in DPO_DELTA_METRICS}
            del model

        # Does the Bayesian strategy beat the others? Paired on the same test utterances, before DPO.
        comparison = {f"bayes-{other}": {m: d[m] for m in DPO_DELTA_METRICS} for other in evaluated
                      if other != "bayes" and "bayes" in evaluated
                      for d in [paired_bootstrap_delta(evaluated[other]["counts"], evaluated["bayes"]["counts"],
                                                       self.boot)]}

        rates = matmul_rates(threads=torch.get_num_threads(), device=str(self.device)) \
            if self.device.type in ("cpu", "cuda") else None
        strong_stages = {"ceiling/model", "ceiling/test"} | {f"students/{n}/{k}" for n in results
                                                             for k in ("model", "test")}
        out = {
            "task": "slurp", "config": {**asdict(cfg)},
            "splits": {"source": splits.source, "seed": splits.seed, **splits.sizes(), "n_test_used": len(self.test),
                       "n_malformed": n_malformed,
                       "note": "offline: weak-train and w2s-train are disjoint seeded halves of SLURP devel (the "
                               "official train split is absent); test is the official test split"
                       if splits.source == "seeded-devel" else "official split files"},
            "weak": [{"name": x["name"], **x["scores"], "ci": bootstrap_ci(x["counts"], self.boot),
                      "tokenizer_matches_strong": x["same_tokens"]} for x in weak],
            "ceiling": {**ceiling["scores"], "ci": bootstrap_ci(ceiling["counts"], self.boot)},
            "strategies": results, "comparison": comparison, "records": records, "non_degenerate": guard,
            "throughput": report.throughput(
                {k: v["finetune"] for k, v in self.stage_info.items() if "finetune" in v},
                self.decode_stats, sorted(strong_stages), rates),
            "timings_s": dict(self.timings), "device": str(self.device), "precision": describe(self.device),
            "threads": torch.get_num_threads(),
        }
        write_json(self.out / RESULTS, out)
        if not guard["ok"]:
            report.warn(report.guard_lines(guard))
        return out

    def _dpo(self, name: str, model, tok, models, w) -> dict:
        cfg, dcfg = self.cfg, self.cfg.dpo_config
        prompts = [e.prompt for e in subsample(self.w2s, cfg.dpo_inputs)]

        def pairs():
            decoding = DecodeConfig(dcfg.n_best, dcfg.n_best, cfg.max_new_tokens, max(1, cfg.batch_size // 4))
            cands = decode(model, tok, prompts, decoding, self._bar(f"{name}: {dcfg.n_best}-best"))
            cands = [list(dict.fromkeys(as_target(x) for x in c)) for c in cands]
            scores = ensemble_candidate_scores(models, prompts, cands, w, cfg.batch_size)
            return {"pairs": select_pairs(cands, scores)}
        chosen_rejected = self._json(f"students/{name}/dpo_pairs", pairs)["pairs"]

        def train(m, t):
            if not chosen_rejected:
                return {"n_pairs": 0, "note": "no input had distinct best and worst candidates"}
            ps = [prompts[i] for i, _, _ in chosen_rejected]
            chosen = encode_examples(t, ps, [c for _, c, _ in chosen_rejected])
            rejected = encode_examples(t, ps, [r for _, _, r in chosen_rejected])
            info = train_dpo(m, t, chosen, rejected, dcfg, self._bar(f"{name}: dpo"))
            return {"n_pairs": info["n_pairs"], "final_margin": info["final_margin"],
                    "final_loss": float(np.mean(info["losses"][-5:]))}
        dpo_model = self._model(f"students/{name}+dpo/model", str(self.out / f"students/{name}/model"), train)
        info = self.stage_info[f"students/{name}+dpo/model"]
        return {**self._evaluate(f"students/{name}+dpo", *dpo_model),
                "dpo": {k: info.get(k) for k in ("n_pairs", "final_margin", "final_loss")}}

    def _summarise(self, name: str, student: dict, teachers: list[int], weak: list[dict], ceiling: dict,
                   records: list) -> dict:
        """Scores with intervals, PGR with its interval, and the word- and token-level misfit views (records)."""
        s = student["scores"]
        ref = max((weak[j] for j in teachers), key=lambda x: x["scores"]["slu_f1"])
        tw = [self.cfg.ensemble_weights[j] for j in teachers]
        word_teacher = ensemble_word_probs([weak[j]["word_logprobs"] for j in teachers], tw)
        targets = [e.target for e in self.test]
        token_teacher = report.mixture([report.token_teacher_probs(
            targets, self.strong_tok, weak[j]["same_tokens"], weak[j]["token_logprobs"], weak[j]["word_logprobs"])
            for j in teachers], tw)
        views = {"misfit_view": report.bernoulli_view(student["word_logprobs"], word_teacher, ceiling["word_logprobs"],
                                                      self.boot),
                 "token_view": report.bernoulli_view(student["token_logprobs"], token_teacher,
                                                     ceiling["token_logprobs"], self.boot)}
        for key, level in (("misfit_view", "gold word"), ("token_view", "gold token of the strong tokenizer")):
            v = views[key]
            rec = W2SRecord.from_errors(
                v["weak_error"], v["w2s_error"], v["misfit"], strong_error=v["strong_error"], loss="kl",
                setting=f"slurp/test-{'words' if key == 'misfit_view' else 'tokens'}", task="slurp",
                weak="+".join(self.cfg.weak[j] for j in teachers), strong=self.cfg.strong, method=name,
                seed=self.cfg.seed, sizes={"n_w2s_train": len(self.w2s), "n_test": len(self.test)},
                extra={"slu_f1": s["slu_f1"], "exact_match": s["exact_match"], "level": level,
                       "statements": STATEMENTS})
            records.append(rec.to_dict())
        p = bootstrap_pgr(ref["counts"], student["counts"], ceiling["counts"], self.boot)
        pgr_em = bootstrap_pgr(ref["counts"], student["counts"], ceiling["counts"], self.boot, "exact_match")
        return {**s, "ci": bootstrap_ci(student["counts"], self.boot),
                "pgr_slu_f1": p["pgr"], "pgr_slu_f1_ci": p["ci"], "pgr_slu_f1_n_valid": p["n_valid"],
                "pgr_exact_match": pgr_em["pgr"], "pgr_exact_match_ci": pgr_em["ci"],
                "pgr_reference": "best teacher by SLU-F1", "teachers": teachers,
                **({"dpo": student["dpo"]} if "dpo" in student else {}),
                **{k: {m: v[m] for m in ("weak_error", "w2s_error", "misfit", "gain", "strong_error", "n_units", "ci")}
                   for k, v in views.items()}}
