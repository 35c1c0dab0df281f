"""The supervision strategies: what each strong student is trained on, from the weak models' labels.

As the reference codes them (Cui et al. 2024; ``../shared/REFERENCE.md`` §3):

- ``single``: each weak model's 1-best, the top beam of its n-best, with cross-entropy (one student per weak
  model);
- ``multi`` (naive multi-weak): every weak model's 1-best is its own target sequence with token-level soft
  targets (the word bridge, :mod:`weakstrong.llm.generation.bridge`: the weak model's own scores of its 1-best,
  split over the strong pieces); one loss per weak model, combined with fixed weights; the soft KL;
- ``bayes`` (Bayesian multi-weak, the method): the *same* targets, confidences and weights as ``multi``,
  trained with the evidential loss in its ``edl_step`` form (the student DPO starts from); ``bayes-edl``: the
  same with plain ``edl`` (ablation). So ``multi`` against ``bayes`` isolates the loss;
- ``joint``: joint decoding. The pool of every weak model's n-best is scored by every weak model (mean token
  log-prob), the scores are combined with the joint weights and the argmax is the target (cross-entropy); so
  ``joint`` against ``bayes`` compares target construction.

How the fixed weights enter ``multi`` and ``bayes``: the reference computes one loss per weak model, each the
mean over that weak model's target tokens, and combines them with the fixed weights. Here each (input, weak
model j) pair is an example of weight w_j / (its number of strong tokens) in the loss's weighted mean over a
batch's tokens (``weight_pooling="per_target"``), so that it contributes w_j times its mean token loss whatever
its length; ``weight_pooling="tokens"`` (ablation, the earlier default) gives its tokens the weight w_j, so that
long targets weigh more.

Every target set and confidence is a cached stage of the run
(:class:`~weakstrong.llm.generation.stages.GenerationStages`); a student's stage name carries a hash of the
strategy settings (:meth:`GenerateConfig.strategy_key`), so an ablation of one setting reuses everything else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np

from weakstrong.io import config_hash
from weakstrong.llm.data.slurp import SlurpExample, as_target
from weakstrong.llm.generation.bridge import (ensemble_word_probs, evidential_token_loss, piece_confidence,
                                              soft_kl_token_loss, target_token_words, token_logprobs,
                                              words_from_tokens)
from weakstrong.llm.generation.config import GenerateConfig
from weakstrong.llm.generation.decoding import DecodeConfig, decode, ensemble_candidate_scores
from weakstrong.llm.generation.live_split import (encode_live_split, live_evidential_token_loss,
                                                  live_soft_kl_token_loss)
from weakstrong.llm.generation.stages import DECODING, SCORING, GenerationStages, Train, finetune_spec
from weakstrong.llm.models.lm import encode_examples, target_token_logprobs, weighted_xent

MULTI_WEAK = ("multi", "bayes", "bayes-edl")  # the strategies that share the multi-weak targets and weights
# How each strategy's student scores gold tokens in the misfit views: the evidential students by their Dirichlet
# mean (what the evidential loss trains), every other student by its softmax. DPO'd students score by their
# softmax, the policy DPO optimises.
EVIDENTIAL = ("bayes", "bayes-edl")


def scoring(strategy: str) -> str:
    """The ``statistic`` of ``llm.models.lm.target_token_logprobs`` that scores ``strategy``'s student."""
    return "dirichlet_logprob" if strategy in EVIDENTIAL else "logprob"


@dataclass
class Student:
    """One strong student: its training data and loss, and which weak models taught it (indices into
    ``cfg.weak``). ``confidence`` holds one array per example (the strong pieces' c, or with the live split
    their encoded word log-scores: :mod:`~weakstrong.llm.generation.live_split`), or None."""

    name: str
    prompts: list[str]
    targets: list[str]
    weights: list[float] | None
    confidence: list[np.ndarray] | None
    loss: object
    teachers: list[int]
    key: dict = field(default_factory=dict)

    def stage(self, prefix: str = "") -> str:
        """The stage name of the trained student: its name and a hash of what it was trained with, under
        ``prefix`` (a strong seed's folder)."""
        return f"{prefix}students/{self.name}@{config_hash(self.key, 8)}"

    def train(self, stages: GenerationStages, cfg: GenerateConfig) -> Train:
        conf = None if self.confidence is None else (lambda tok, texts: self.confidence)
        return finetune_spec(stages, self.prompts, self.targets, cfg.finetune, self.name, self.weights, conf,
                             self.loss)


def teacher_nbest(stages: GenerationStages, cfg: GenerateConfig, j: int, model, tok,
                  w2s: list[SlurpExample]) -> list[list[str]]:
    """Weak model j's n-best on w2s-train, as training targets (canonical, leading space kept)."""
    decoding = DecodeConfig(cfg.n_best, max(cfg.n_best, 1), cfg.max_new_tokens, cfg.batch_size)
    return stages.json(f"weak/{j}/w2s_nbest", lambda: {"nbest": [[as_target(c) for c in cands] for cands in decode(
        model, tok, [e.prompt for e in w2s], decoding, stages.bar(f"weak {j}: n-best"))]}, *DECODING)["nbest"]


def word_scores(stages: GenerationStages, cfg: GenerateConfig, j: int, models: list[tuple], prompts: list[str],
                targets: list[str], weights: list[float]) -> list[np.ndarray]:
    """Per target of weak model j, the log-score l_w of each word (EOS attached to the last word): the weak
    model's own token log-probs of its output (``own``), or the weighted mixture of every weak model's word
    probabilities (``mixture``, ablation)."""
    def own(m, t):
        return words_from_tokens(t, targets, token_logprobs(m, t, prompts, targets, cfg.batch_size), eos="attach")

    if cfg.confidence_source == "own":
        return [np.asarray(x) for x in stages.json(f"multi/{j}/own_word_scores", lambda: {
            "scores": own(*models[j])}, *SCORING)["scores"]]
    per_model = [[np.asarray(x) for x in stages.json(f"multi/{j}/word_scores_by/{k}", lambda m=m, t=t: {
        "scores": own(m, t)}, *SCORING)["scores"]] for k, (m, t) in enumerate(models)]
    return [np.log(np.clip(p, 1e-300, None)) for p in ensemble_word_probs(per_model, weights)]


def strong_max_probs(stages: GenerationStages, cfg: GenerateConfig, j: int, strong: tuple, prompts: list[str],
                     targets: list[str]) -> list[np.ndarray]:
    """max_k p_strong(k) at each strong piece of weak model j's targets, by the strong model before any w2s
    training (teacher forced): how sure the strong model is at each piece, for the word bridge's split."""
    model, tok = strong
    return [np.asarray(x) for x in stages.json(f"strong/max_probs/{j}", lambda: {"max_probs": target_token_logprobs(
        model, tok, encode_examples(tok, prompts, targets, max_length=10 ** 9), cfg.batch_size,
        statistic="max_prob")}, *SCORING)["max_probs"]]


def multi_weak_data(stages: GenerationStages, cfg: GenerateConfig, prompts: list[str], nbest: list[list[list[str]]],
                    models: list[tuple], strong: tuple, weights: list[float]) -> tuple[list, list, list, list]:
    """The multi-weak training data shared by ``multi`` and ``bayes``: (prompts, targets, weights, confidence)
    over every (weak model, input) pair, the confidence on the strong tokenizer's pieces."""
    strong_tok = strong[1]
    all_prompts, all_targets, all_weights, all_conf = [], [], [], []
    for j, per in enumerate(nbest):
        targets = [nb[0] for nb in per]
        scores = word_scores(stages, cfg, j, models, prompts, targets, weights)
        maxp = strong_max_probs(stages, cfg, j, strong, prompts, targets) if cfg.piece_split == "base" else None
        for i, (target, score) in enumerate(zip(targets, scores)):
            pieces = target_token_words(strong_tok, target, eos="attach")[0]
            if cfg.piece_split == "live":  # split during training, on the student's own probabilities
                all_conf.append(encode_live_split(np.exp(score), pieces))
            else:
                all_conf.append(piece_confidence(np.exp(score), pieces, strong_max_probs=None if maxp is None
                                                 else maxp[i]))
        all_prompts += prompts
        all_targets += targets
        all_weights += [weights[j]] * len(prompts)
    if cfg.weight_pooling == "per_target":  # each target: w_j times its mean token loss (confidence: one per token)
        all_weights = [w / len(c) for w, c in zip(all_weights, all_conf)]
    return all_prompts, all_targets, all_weights, all_conf


def students(stages: GenerationStages, cfg: GenerateConfig, prompts: list[str], nbest: list[list[list[str]]],
             models: list[tuple], strong: tuple, weights: list[float], joint_weights: list[float],
             best_weak: int = 0) -> dict[str, Student]:
    """The students of ``cfg.methods``, by name, in training order, with the data each trains on (targets and
    confidences are computed and cached here; the students are trained by the caller). ``strong`` is (the strong
    model before any w2s training, for the word bridge's ``base`` split, else None; its tokenizer);
    ``best_weak``, the weak model with the best validation SLU-F1, is the one single-weak student trained with
    ``cfg.singles == "best"``."""
    every = list(range(len(models)))
    key = {"strategy": cfg.strategy_key(), "weights": weights, "joint_weights": joint_weights}
    clamp = {"kl_weight": cfg.kl_weight, "clamp": cfg.kl_clamp_order, "detach": cfg.detach_targets}
    if cfg.kl_clamp_order == "raw":
        clamp["kl_clamp"] = 1e4  # the earlier clamp, applied before annealing (the ablation)
    live = cfg.piece_split == "live"  # the split is computed in the loss, on the student's own probabilities
    soft, evidential = (live_soft_kl_token_loss, live_evidential_token_loss) if live else \
        (soft_kl_token_loss, evidential_token_loss)
    losses = {"multi": partial(soft, detach=cfg.detach_targets),
              "bayes": partial(evidential, edl_step=True, **clamp),
              "bayes-edl": partial(evidential, edl_step=False, **clamp)}

    def joint_targets() -> list[str]:
        def compute():
            pool = [list(dict.fromkeys(c for nb in nbest for c in nb[i])) for i in range(len(prompts))]
            scores = ensemble_candidate_scores(models, prompts, pool, joint_weights, cfg.batch_size)
            return {"targets": [p[int(np.argmax(s))] for p, s in zip(pool, scores)], "pool": pool, "scores": scores}
        return stages.json(f"joint/targets@{config_hash(joint_weights, 8)}", compute, *SCORING,
                           ensemble_candidate_scores)["targets"]

    out: dict[str, Student] = {}
    shared = None
    for method in cfg.methods:
        if method == "single":
            for j in every if cfg.singles == "all" else [best_weak]:
                out[f"single/{j}"] = Student(f"single/{j}", prompts, [nb[0] for nb in nbest[j]], None, None,
                                             weighted_xent, [j], {"method": "single"})
        elif method in MULTI_WEAK:
            shared = shared or multi_weak_data(stages, cfg, prompts, nbest, models, strong, weights)
            out[method] = Student(method, *shared, losses[method], every, {"method": method, **key})
        else:
            out["joint"] = Student("joint", prompts, joint_targets(), None, None, weighted_xent, every,
                                   {"method": "joint", "joint_weights": joint_weights})
    return out
