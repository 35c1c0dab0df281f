"""The supervision strategies: what each strong student is trained on, from the weak models' labels.

- ``single``: each weak model's 1-best, the top beam of its n-best (one student per weak model);
- ``multi``: one loss per weak model's 1-best, weighted by the ensemble weights (one student);
- ``joint``: joint decoding. The pool of every weak model's n-best is scored by every weak model (mean token
  log-prob), the scores are combined with the weights and the argmax is the target;
- ``bayes``: the joint target with token-level soft targets from the weak ensemble's word confidences carried
  across tokenizers by the word bridge, trained with the evidential loss
  (:mod:`weakstrong.llm.generation.bridge`).

Every target set is a cached stage of the run (:class:`~weakstrong.llm.generation.stages.GenerationStages`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from weakstrong.llm.data.slurp import SlurpExample, as_target
from weakstrong.llm.generation.bridge import (bayes_token_loss, ensemble_word_probs, piece_confidence,
                                              target_token_words, token_logprobs, words_from_tokens)
from weakstrong.llm.generation.config import GenerateConfig
from weakstrong.llm.generation.decoding import DecodeConfig, decode, ensemble_candidate_scores
from weakstrong.llm.generation.stages import GenerationStages, Train, finetune_spec


@dataclass
class Student:
    """One strong student: how it is trained and which weak models taught it (indices into ``cfg.weak``)."""

    train: Train
    teachers: list[int]


def teacher_nbest(stages: GenerationStages, cfg: GenerateConfig, j: int, model, tok,
                  w2s: list[SlurpExample]) -> list[list[str]]:
    """Weak model j's n-best on w2s-train, as training targets (canonical, leading space kept)."""
    decoding = DecodeConfig(cfg.n_best, max(cfg.n_best, 1), cfg.max_new_tokens, cfg.batch_size)
    return stages.json(f"weak/{j}/w2s_nbest", lambda: {"nbest": [[as_target(c) for c in cands] for cands in decode(
        model, tok, [e.prompt for e in w2s], decoding, stages.bar(f"weak {j}: n-best"))]})["nbest"]


def students(stages: GenerationStages, cfg: GenerateConfig, prompts: list[str], nbest: list[list[list[str]]],
             models: list[tuple]) -> dict[str, Student]:
    """The students of ``cfg.methods``, by name, in training order; targets are computed (and cached) here,
    the students are trained by the caller."""
    w = cfg.ensemble_weights

    def spec(name, targets, **kwargs) -> Train:
        return finetune_spec(stages, prompts_for(targets), targets, cfg.finetune, name, **kwargs)

    def prompts_for(targets):
        return prompts * (len(targets) // len(prompts))

    def joint_targets() -> list[str]:
        def compute():
            pool = [list(dict.fromkeys(c for nb in nbest for c in nb[i])) for i in range(len(prompts))]
            scores = ensemble_candidate_scores(models, prompts, pool, w, cfg.batch_size)
            return {"targets": [p[int(np.argmax(s))] for p, s in zip(pool, scores)], "pool": pool, "scores": scores}
        return stages.json("joint/targets", compute)["targets"]

    def bayes_confidence(targets: list[str]):
        lps = stages.json("bayes/weak_word_logprobs", lambda: {"logprobs": [words_from_tokens(
            t, targets, token_logprobs(m, t, prompts, targets, cfg.batch_size)) for m, t in models]})["logprobs"]
        probs = ensemble_word_probs([[np.asarray(x) for x in per] for per in lps], w)
        return lambda tok, texts: [piece_confidence(p, target_token_words(tok, t)[0]) for p, t in zip(probs, texts)]

    every = list(range(len(models)))
    out: dict[str, Student] = {}
    for method in cfg.methods:
        if method == "single":
            for j in every:
                out[f"single/{j}"] = Student(spec(f"single {j}", [nb[0] for nb in nbest[j]]), [j])
        elif method == "multi":
            out["multi"] = Student(spec("multi", [nb[0] for per in nbest for nb in per],
                                        weights=[wj for wj in w for _ in prompts]), every)
        elif method == "joint":
            out["joint"] = Student(spec("joint", joint_targets()), every)
        else:
            targets = joint_targets()
            out["bayes"] = Student(spec("bayes", targets, confidence=bayes_confidence(targets),
                                        loss=partial(bayes_token_loss, kl_weight=cfg.kl_weight)), every)
    return out
