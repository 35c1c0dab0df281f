"""WeakS-to-Strong for generation on SLURP: weak fine-tuning, four supervision strategies, conservative DPO.

The protocol of Bayesian WeakS-to-Strong (Cui et al. 2024, §5, SLURP): every weak model is fine-tuned on gold
weak-train; the weak models label w2s-train; the strong model is trained on those labels with one of

- ``single``: each weak model's 1-best, the top beam of its n-best (one student per weak model);
- ``multi``: one loss per weak model's 1-best, weighted by the ensemble weights (one student);
- ``joint``: joint decoding. The pool of every weak model's n-best is scored by every weak model (mean token
  log-prob), the scores are combined with the weights and the argmax is the target;
- ``bayes``: the joint target with token-level soft targets from the weak ensemble's word confidences carried
  across tokenizers by the word bridge, trained with the evidential loss (``weakstrong.llm.bridge``);

then optionally conservative DPO (``weakstrong.llm.dpo``). The strong ceiling is the strong model trained on
gold w2s-train. Everything is scored on the test split (SLU-F1, exact match; ``weakstrong.llm.slu_metric``).

The misfit view is defined per gold *word* of the held-out test outputs (the word bridge's shared level, which
no tokenizer changes): each model gives p(word | prompt, previous gold words); the truth is the gold word, so
over the two outcomes {gold word, other} the error is the cross-entropy -log p(word) and the misfit is
KL(Bern(p_student) || Bern(p_teacher)), the teacher being the weak model (``single``) or the weights' mixture of
the weak models. Records (loss="kl") take their terms from ``weakstrong.theory.bounds.kl_theorem`` but state no
bound: the students are fine-tuned, not projections of their teachers, so no inequality is guaranteed.

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

from weakstrong.config import ConfigError
from weakstrong.io import check_output_dir, config_hash, output_lock, read_json, write_json
from weakstrong.theory.records import W2SRecord

from .bridge import bayes_token_loss, ensemble_word_probs, piece_confidence, target_token_words, word_logprobs
from .decoding import DecodeConfig, decode, ensemble_candidate_scores, greedy
from .device import select_device
from .dpo import select_pairs, train_dpo
from .generate_config import GenerateConfig, LMFinetuneConfig
from .lm import causal_lm_source, encode_examples, finetune, load_causal_lm, weighted_xent
from .metrics import pgr
from .registry import ModelSpec, max_positions
from .slu_metric import score_generations
from .slurp import SlurpSplits, load_slurp, subsample

STAMP = "run.json"  # binds the folder to one configuration
RESULTS = "results.json"  # written last: its presence marks a finished run
# Every student here is a fine-tuned LM, so its record carries the terms and no bound, slack or holds.
STATEMENTS = "none guaranteed: fine-tuned student is not a projection"


def word_view(student: list[np.ndarray], teachers: list[list[np.ndarray]], weights: list[float],
              ceiling: list[np.ndarray] | None = None) -> dict:
    """Word-level errors and misfit on held-out gold outputs (definition in the module docstring).

    Parameters
    ----------
    student, ceiling : per example, the model's log p(gold word) for each gold word (EOS last).
    teachers, weights : the same for each weak model, and the teacher's mixture weights.
    """
    from weakstrong.theory.bounds import kl_theorem

    def rows(p):
        p = np.clip(np.concatenate(p), 1e-12, 1 - 1e-12)
        return np.stack([p, 1 - p], 1)

    teacher = ensemble_word_probs(teachers, weights)
    truth = np.tile([1.0, 0.0], (sum(len(t) for t in teacher), 1))
    # Only the terms: the KL inequality is proved for a reverse-KL projection, which a fine-tuned LM is not.
    out = dict(kl_theorem(truth, rows(teacher), rows([np.exp(s) for s in student])).terms)
    if ceiling is not None:
        out["strong_error"] = float(-np.log(rows([np.exp(c) for c in ceiling])[:, 0]).mean())
    return out


class GenerateRun:
    """The cached stages of one experiment in ``out``; :meth:`run` returns (and writes) ``results.json``."""

    def __init__(self, config: GenerateConfig, out: str | Path, log: Callable[[str], None] = print,
                 progress: bool = True):
        """Check everything that needs no data or model work: the config, ``out``, the model names and their
        position limits, the device, and that ``out`` holds no other run. Nothing is written here."""
        self.cfg, self.log, self.progress = config.validate(), log, progress
        self.out = check_output_dir(out, "--out")
        for source in (*config.weak, config.strong):  # a bad model name fails here, before any training
            limit = max_positions(ModelSpec(source, causal_lm_source(source)))
            if limit is not None and config.max_new_tokens >= limit:
                raise ConfigError(f"GenerateConfig.max_new_tokens (--max-new-tokens) must be < {limit}, the "
                                  f"positions of model {source!r}, got {config.max_new_tokens}")
        self.device = select_device(config.device)
        self.timings: dict[str, float] = {}
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

    def _model(self, name: str, source: str, train: Callable | None = None):
        """Load the cached model ``name``, or load ``source``, ``train(model, tokenizer)`` it and cache it."""
        path = self.out / name
        if (path / "stage.json").exists():  # written last, so its presence means the model was saved whole
            self.timings[name] = read_json(path / "stage.json")["seconds"]
            return load_causal_lm(str(path), self.device)
        model, tok = load_causal_lm(source, self.device)
        if train is None:
            return model, tok
        t0 = time.perf_counter()
        info = train(model, tok) or {}
        model.save_pretrained(path)
        tok.save_pretrained(path)
        self.timings[name] = time.perf_counter() - t0
        write_json(path / "stage.json", {"seconds": self.timings[name], "source": source, **info})
        return model, tok

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
            losses = finetune(model, tok, examples, config or self.cfg.finetune, loss, self._bar(name))
            return {"final_loss": float(np.mean(losses[-10:])), "n_steps": len(losses)}
        return train

    def _evaluate(self, name: str, model, tok) -> dict:
        def fn():
            gens = greedy(model, tok, [e.prompt for e in self.test], self.cfg.max_new_tokens,
                          self.cfg.batch_size, self._bar(f"{name}: test"))
            return {"scores": score_generations([e.slots for e in self.test], gens).to_dict(), "generations": gens}
        scores = self._json(f"{name}/test", fn)["scores"]
        gold = self._json(f"{name}/gold_word_logprobs", lambda: {"logprobs": word_logprobs(
            model, tok, [e.prompt for e in self.test], [e.target for e in self.test], self.cfg.batch_size)})
        return {"scores": scores, "word_logprobs": [np.asarray(x) for x in gold["logprobs"]]}

    def _teacher_labels(self, j: int, model, tok) -> list[list[str]]:
        cfg = DecodeConfig(self.cfg.n_best, max(self.cfg.n_best, 1), self.cfg.max_new_tokens, self.cfg.batch_size)
        return self._json(f"weak/{j}/w2s_nbest", lambda: {"nbest": decode(
            model, tok, [e.prompt for e in self.w2s], cfg, self._bar(f"weak {j}: n-best"))})["nbest"]

    def run(self) -> dict:
        cfg = self.cfg
        t_data = time.perf_counter()
        splits, n_malformed = load_slurp(cfg.data_dir, cfg.seed, cfg.n_weak_train, cfg.n_w2s_train, cfg.official)
        for name, n, split in (("n_test", cfg.n_test, splits.test),
                               ("dpo_inputs", cfg.dpo_inputs if cfg.dpo else None, splits.w2s_train)):
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
        """Every stage after the data checks: weak models, ceiling, strategies, DPO, results.json."""
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
        ceiling_model = self._model("ceiling/model", cfg.strong, self._finetune(
            prompts, [e.target for e in self.w2s], name="ceiling: finetune"))
        ceiling = self._evaluate("ceiling", *ceiling_model)
        del ceiling_model

        def joint_targets() -> list[str]:
            def fn():
                pool = [list(dict.fromkeys(c for nb in nbest for c in nb[i])) for i in range(len(prompts))]
                scores = ensemble_candidate_scores(models, prompts, pool, w, cfg.batch_size)
                return {"targets": [p[int(np.argmax(s))] for p, s in zip(pool, scores)], "pool": pool,
                        "scores": scores}
            return self._json("joint/targets", fn)["targets"]

        def bayes_confidence(targets: list[str]):
            lps = self._json("bayes/weak_word_logprobs", lambda: {"logprobs": [
                word_logprobs(m, t, prompts, targets, cfg.batch_size) for m, t in models]})["logprobs"]
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

        results, records = {}, []
        for name, (train, teachers) in students.items():
            model, tok = self._model(f"students/{name}/model", cfg.strong, train)
            results[name] = self._summarise(name, self._evaluate(f"students/{name}", model, tok), teachers,
                                            weak, ceiling, records)
            if cfg.dpo:
                results[f"{name}+dpo"] = self._summarise(
                    f"{name}+dpo", self._dpo(name, model, tok, models, w), teachers, weak, ceiling, records)
            del model

        out = {
            "task": "slurp", "config": {**asdict(cfg)},
            "splits": {"source": splits.source, "seed": splits.seed, **splits.sizes(), "n_test_used": len(self.test),
                       "n_malformed": n_malformed,
                       "note": "offline: seeded splits of SLURP devel+test (the official train split is absent)"
                       if splits.source == "seeded" else "official split files"},
            "weak": [{"name": x["name"], **x["scores"]} for x in weak],
            "ceiling": ceiling["scores"], "strategies": results, "records": records,
            "timings_s": dict(self.timings), "device": str(self.device),
        }
        write_json(self.out / RESULTS, out)
        return out

    def _dpo(self, name: str, model, tok, models, w) -> dict:
        cfg, dcfg = self.cfg, self.cfg.dpo_config
        prompts = [e.prompt for e in subsample(self.w2s, cfg.dpo_inputs)]

        def pairs():
            decoding = DecodeConfig(dcfg.n_best, dcfg.n_best, cfg.max_new_tokens, max(1, cfg.batch_size // 4))
            cands = decode(model, tok, prompts, decoding, self._bar(f"{name}: 10-best"))
            cands = [list(dict.fromkeys(c)) for c in cands]
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
        info = read_json(self.out / f"students/{name}+dpo/model/stage.json")
        return {**self._evaluate(f"students/{name}+dpo", *dpo_model),
                "dpo": {k: info.get(k) for k in ("n_pairs", "final_margin", "final_loss")}}

    def _summarise(self, name: str, student: dict, teachers: list[int], weak: list[dict], ceiling: dict,
                   records: list) -> dict:
        s, c = student["scores"], ceiling["scores"]
        ref = max((weak[j] for j in teachers), key=lambda x: x["scores"]["slu_f1"])["scores"]
        tw = [self.cfg.ensemble_weights[j] for j in teachers]
        view = word_view(student["word_logprobs"], [weak[j]["word_logprobs"] for j in teachers], tw,
                         ceiling["word_logprobs"])
        rec = W2SRecord.from_errors(
            view["weak_error"], view["w2s_error"], view["misfit"], strong_error=view["strong_error"], loss="kl",
            setting="slurp/test-words", task="slurp", weak="+".join(self.cfg.weak[j] for j in teachers),
            strong=self.cfg.strong, method=name, seed=self.cfg.seed,
            sizes={"n_w2s_train": len(self.w2s), "n_test": len(self.test)},
            extra={"slu_f1": s["slu_f1"], "exact_match": s["exact_match"], "level": "gold word",
                   "statements": STATEMENTS})
        records.append(rec.to_dict())
        # min_gap=0: any ceiling above the reference defines PGR, as in the committed generation results.
        return {**s, "pgr_slu_f1": pgr(ref["slu_f1"], s["slu_f1"], c["slu_f1"], min_gap=0.0),
                "pgr_exact_match": pgr(ref["exact_match"], s["exact_match"], c["exact_match"], min_gap=0.0),
                "pgr_reference": "best teacher by SLU-F1", "teachers": teachers, **({"dpo": student["dpo"]}
                                                                                    if "dpo" in student else {}),
                "misfit_view": {k: view[k] for k in ("weak_error", "w2s_error", "misfit", "gain", "strong_error")}}
