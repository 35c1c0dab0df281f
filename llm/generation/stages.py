"""The cached stages of a generation run: fine-tuned models, test generations and gold log-probs.

:class:`GenerationStages` keeps them in a :class:`weakstrong.stages.StageFolder` (models with
``save_pretrained``, the rest as JSON) and loads every model frozen, on the run's device, in its inference
dtype. It also keeps what the report needs from each stage: fine-tuning statistics and decoding rates.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from weakstrong.llm.data.slurp import SlurpExample
from weakstrong.llm.generation.bridge import token_logprobs, words_from_tokens
from weakstrong.llm.generation.config import LMFinetuneConfig
from weakstrong.llm.generation.decoding import greedy
from weakstrong.llm.generation.slu_metric import generation_counts, score_generations
from weakstrong.llm.generation import bridge, decoding, slu_metric
from weakstrong.llm.models import lm
from weakstrong.llm.models.lm import encode_examples, finetune, load_causal_lm, weighted_xent
from weakstrong.llm.models.lm_layers import matmul_params
from weakstrong.llm.supervision import losses
from weakstrong.stages import StageFolder, code_version, main_process

# train(model, tokenizer) -> info: trains the model in place; what it returns is recorded in stage.json
Train = Callable[..., dict]
# The code each kind of stage runs: part of the stage's key, so a stage computed by older code is recomputed.
TRAINING = (lm.finetune, lm.target_logits, lm.collate, lm.encode_examples, lm.lr_at, lm.make_optimizer, losses)
DECODING = (decoding, slu_metric)
SCORING = (lm.target_token_logprobs, lm.target_logits, bridge)


class GenerationStages:
    """One run's stage folder, with the device and inference dtype its models are loaded in."""

    def __init__(self, folder: StageFolder, device: torch.device, dtype: torch.dtype, progress: bool = True):
        self.folder, self.device, self.dtype, self.progress = folder, device, dtype, progress
        self.stage_info: dict[str, dict] = {}  # model stage -> its stage.json (fine-tuning stats among them)
        self.decode_stats: dict[str, tuple[dict, int]] = {}  # test stage -> (decoding stats, matmul weights)

    @property
    def timings(self) -> dict[str, float]:
        return self.folder.timings

    def json(self, name: str, compute: Callable[[], dict], *code) -> dict:
        """The JSON stage ``name``, keyed by the source of the ``code`` objects that compute it."""
        return self.folder.json(name, compute, code_version(*code) if code else None)

    def bar(self, name: str) -> str | None:
        """The progress-bar label of a stage (None: bars hidden)."""
        return name if self.progress else None

    def model(self, name: str, source: str, train: Train | None = None, spec=None):
        """The cached model ``name``, or ``source`` (loaded from ``spec`` when given) trained by
        ``train(model, tokenizer)`` and cached (without ``train``, ``source`` as it is). It comes back frozen, in
        the inference dtype: every later use of it only decodes or scores."""
        def load(path):
            return load_causal_lm(str(path), self.device)

        def build(path):
            model, tok = load_causal_lm(spec or source, self.device)
            info = train(model, tok) or {}
            if main_process():
                model.save_pretrained(path)
                tok.save_pretrained(path)
            return (model, tok), {"source": source, **info}

        if train is None and not self.folder.has(name):
            (model, tok), info = load_causal_lm(spec or source, self.device), {"seconds": 0.0, "source": source}
            self.timings[name] = 0.0
        else:  # a finished stage is reused as it is when no train is given (a student DPO starts from)
            (model, tok), info = self.folder.folder(name, load, build, None if train is None else
                                                    getattr(train, "code", None))
        self.stage_info[name] = info
        for p in model.parameters():
            p.requires_grad_(False)
        return model.to(self.dtype).eval(), tok


def finetune_spec(stages: GenerationStages, prompts: list[str], targets: list[str], config: LMFinetuneConfig,
                  name: str, weights=None, confidence=None, loss=weighted_xent) -> Train:
    """How to fine-tune a model on prompt -> target pairs (per-example ``weights``; per-token ``confidence``,
    a function of the tokenizer and the targets, for soft-target losses)."""
    def train(model, tok):
        examples = encode_examples(tok, prompts, targets, weights)
        if confidence is not None:
            for ex, conf in zip(examples, confidence(tok, targets)):
                ex.confidence = conf[: len(ex.target_ids)]
        stats: dict = {}
        losses = finetune(model, tok, examples, config, loss, stages.bar(name), stats)
        return {"final_loss": float(np.mean(losses[-10:])), "n_steps": len(losses), "finetune": stats}
    # a loss that computes its confidences during training names the code that does it (``code_deps``)
    deps = getattr(getattr(loss, "func", loss), "code_deps", ())
    train.code = code_version(*TRAINING, loss, *(() if confidence is None else (bridge,)), *deps)
    return train


def evaluate(stages: GenerationStages, name: str, model, tok, test: list[SlurpExample], max_new_tokens: int,
             batch_size: int, statistic: str = "logprob") -> dict:
    """Greedy generations on test (scored, with decoding stats) and log p of every gold token and word: the
    softmax's, or with ``statistic="dirichlet_logprob"`` the Dirichlet mean's (how an evidential student
    scores; its greedy output is the same, the argmax of both)."""
    prompts, targets = [e.prompt for e in test], [e.target for e in test]

    def generations():
        stats: dict = {}
        gens = greedy(model, tok, prompts, max_new_tokens, batch_size, stages.bar(f"{name}: test"), stats=stats)
        return {"scores": score_generations([e.slots for e in test], gens).to_dict(), "generations": gens,
                "decode": stats, "matmul_params": matmul_params(model)["forward"]}

    result = stages.json(f"{name}/test", generations, *DECODING)
    stages.decode_stats[f"{name}/test"] = (result["decode"], result["matmul_params"])

    def gold():
        lps = token_logprobs(model, tok, prompts, targets, batch_size, statistic)
        return {"token": lps, "word": words_from_tokens(tok, targets, lps)}

    gold_stage = "gold_logprobs" if statistic == "logprob" else f"gold_{statistic}"
    lps = stages.json(f"{name}/{gold_stage}", gold, *SCORING)
    return {"scores": result["scores"], "counts": generation_counts([e.slots for e in test], result["generations"]),
            "scoring": statistic,
            "token_logprobs": [np.asarray(x) for x in lps["token"]],
            "word_logprobs": [np.asarray(x) for x in lps["word"]]}
