"""Causal LM helpers: load any HF causal LM by id or path, encode prompt/target pairs, score and fine-tune.

Nothing here assumes a model family: the pieces used are ``AutoModelForCausalLM``, the tokenizer's own special
tokens, and the logits. Padding never uses id 0 by assumption: the pad id is the tokenizer's pad token, or its
EOS token when it has none, and padded positions are masked out of every loss and score.

Device and precision: bf16 autocast (``weakstrong.llm.device``) and fused AdamW on CUDA, float32 on CPU.
Batches here are length-bucketed without DDP sharding: scoring must see every example exactly once.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from weakstrong.config import ConfigError

from .batching import length_buckets
# Device choice and bf16 autocast are shared with the classification side.
from .device import autocast_context as autocast
from .device import select_device
from .generate_config import LMFinetuneConfig

IGNORE = -100


def causal_lm_source(name_or_path: str) -> str:
    """Where ``from_pretrained`` should look for ``name_or_path``: a local model directory, or a hub id.

    Checks what can be checked without loading weights, so a bad name fails before any training.

    Raises
    ------
    ConfigError : a local path that is not a model directory, or a hub id while the hub is disabled.
    """
    local = Path(name_or_path).expanduser()
    if local.exists() and not (local / "config.json").exists():
        raise ConfigError(f"model path {name_or_path!r} exists but has no config.json; expected a directory "
                          f"written by save_pretrained (e.g. by `weakstrong llm pretrain`)")
    offline = any(os.environ.get(k, "").lower() in ("1", "true", "yes", "on")
                  for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    if offline and not local.exists():
        # Fail fast: with the hub unreachable, a lookup only ends in retries and a less helpful error.
        raise ConfigError(f"cannot load causal LM {name_or_path!r}: no such local directory, and HF_HUB_OFFLINE is "
                          f"set, so hub ids cannot be fetched; pass a local path (e.g. one written by "
                          f"`weakstrong llm pretrain`)")
    return str(local) if local.exists() else name_or_path


def load_causal_lm(name_or_path: str, device: torch.device | str | None = None):
    """Load ``(model, tokenizer)`` from a local directory or a hub id.

    Raises
    ------
    ConfigError : the name is neither a local model directory nor loadable from the hub (e.g. offline), with a
        message that says which and how to fix it.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = select_device(device) if not isinstance(device, torch.device) else device
    source = causal_lm_source(name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load causal LM {name_or_path!r}: not a loadable local directory nor hub id "
                          f"(no network?): {exc}") from exc
    if tokenizer.eos_token_id is None:
        raise ConfigError(f"tokenizer of {name_or_path!r} has no EOS token; generation could never stop")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.to(device), tokenizer


@dataclass
class Example:
    """One prompt/target pair as token ids, with its training weight and optional per-target-token confidence."""

    prompt_ids: list[int]
    target_ids: list[int]
    weight: float = 1.0
    confidence: np.ndarray | None = None  # (len(target_ids),) in [0, 1], for token-level soft targets

    def __len__(self) -> int:
        return len(self.prompt_ids) + len(self.target_ids)


def encode_prompt(tokenizer, prompt: str) -> list[int]:
    """Prompt ids, led by BOS when the tokenizer has one."""
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    return ([tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []) + list(ids)


def encode_target(tokenizer, target: str) -> list[int]:
    """Target ids followed by EOS (so the model learns to stop once the JSON list is closed)."""
    return list(tokenizer(target, add_special_tokens=False)["input_ids"]) + [tokenizer.eos_token_id]


def encode_examples(tokenizer, prompts: Sequence[str], targets: Sequence[str],
                    weights: Sequence[float] | None = None, max_length: int = 256) -> list[Example]:
    """Encode aligned prompts and targets; over-long pairs keep their target and lose the prompt's start."""
    if len(prompts) != len(targets):
        raise ValueError(f"prompts and targets must be aligned, got {len(prompts)} and {len(targets)}")
    weights = [1.0] * len(prompts) if weights is None else list(weights)
    out = []
    for p, t, w in zip(prompts, targets, weights):
        pi, ti = encode_prompt(tokenizer, p), encode_target(tokenizer, t)[: max_length - 1]
        out.append(Example(pi[-(max_length - len(ti)):], ti, float(w)))
    return out


@dataclass
class Batch:
    input_ids: torch.Tensor  # (B, T), right-padded
    attention_mask: torch.Tensor  # (B, T)
    labels: torch.Tensor  # (B, T), IGNORE outside targets; labels[:, t] is predicted from position t - 1
    weight: torch.Tensor  # (B,)
    confidence: torch.Tensor | None  # (B, T) aligned with labels, or None


def collate(examples: Sequence[Example], pad_id: int, device: torch.device) -> Batch:
    """Right-pad a list of examples into tensors on ``device``."""
    width = max(len(e) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    with_conf = all(e.confidence is not None for e in examples)
    conf = torch.zeros((len(examples), width)) if with_conf else None
    for i, e in enumerate(examples):
        p, t = len(e.prompt_ids), len(e.target_ids)
        ids[i, : p + t] = torch.tensor(e.prompt_ids + e.target_ids)
        labels[i, p: p + t] = torch.tensor(e.target_ids)
        mask[i, : p + t] = 1
        if with_conf:
            conf[i, p: p + t] = torch.as_tensor(e.confidence, dtype=torch.float32)
    weight = torch.tensor([e.weight for e in examples], dtype=torch.float32)
    return Batch(ids.to(device), mask.to(device), labels.to(device), weight.to(device),
                 None if conf is None else conf.to(device))


def target_logits(model, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logits at the target positions, flattened: ``(logits (N, V), target ids (N,), row index (N,))``.

    Position t's logits predict token t + 1, so the logits are shifted by one against the labels.
    """
    logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits  # (B, T, V)
    labels = batch.labels[:, 1:]  # (B, T-1)
    keep = labels != IGNORE
    rows = torch.arange(labels.shape[0], device=labels.device)[:, None].expand_as(labels)[keep]
    return logits[:, :-1][keep], labels[keep], rows


@torch.no_grad()
def target_token_logprobs(model, tokenizer, examples: Sequence[Example], batch_size: int = 32) -> list[np.ndarray]:
    """log p(target token | prompt, previous target tokens) for every target token (EOS included).

    Returns
    -------
    list of float64 arrays, one per example, of length ``len(example.target_ids)``.
    """
    device = next(model.parameters()).device
    model.eval()
    out: list[np.ndarray | None] = [None] * len(examples)
    for idx in length_buckets([len(e) for e in examples], batch_size, shuffle=False):
        batch = collate([examples[i] for i in idx], tokenizer.pad_token_id, device)
        with autocast(device):
            logits, targets, rows = target_logits(model, batch)
        lp = torch.log_softmax(logits.float(), -1).gather(-1, targets[:, None])[:, 0].double().cpu().numpy()
        rows = rows.cpu().numpy()
        for j, i in enumerate(idx):
            out[i] = lp[rows == j]
    return out  # type: ignore[return-value]


def mean_token_logprob(model, tokenizer, examples: Sequence[Example], batch_size: int = 32) -> np.ndarray:
    """Mean target-token log-prob per example: the length-normalised score joint decoding combines."""
    return np.array([lp.mean() for lp in target_token_logprobs(model, tokenizer, examples, batch_size)])


# loss_fn(logits (N, V), targets (N,), weights (N,), confidence (N,) or None, step, total_steps) -> scalar
LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None, int, int], torch.Tensor]


def weighted_xent(logits, targets, weights, confidence, step, total_steps) -> torch.Tensor:
    """Token cross-entropy, each token weighted by its example's weight (weighted mean over tokens)."""
    nll = F.cross_entropy(logits.float(), targets, reduction="none")
    return (weights * nll).sum() / weights.sum().clamp_min(1e-12)


def make_optimizer(model, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """AdamW, fused on CUDA."""
    device = next(model.parameters()).device
    return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay,
                             fused=device.type == "cuda")


def lr_at(step: int, total: int, warmup: int) -> float:
    """Multiplier of the peak learning rate: linear warmup, then cosine decay to 10 %."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def finetune(model, tokenizer, examples: Sequence[Example], config: LMFinetuneConfig,
             loss_fn: LossFn = weighted_xent, progress: str | None = None) -> list[float]:
    """Fine-tune ``model`` in place on ``examples`` with length-bucketed batches; returns the loss per step."""
    from tqdm.auto import tqdm

    config.validate()
    if not examples:
        raise ValueError("examples must not be empty")
    device = next(model.parameters()).device
    torch.manual_seed(config.seed)
    opt = make_optimizer(model, config.lr, config.weight_decay)
    lengths = [len(e) for e in examples]
    per_epoch = math.ceil(len(examples) / config.batch_size)
    total = per_epoch * config.epochs
    warmup = max(1, int(config.warmup_frac * total))
    losses, step = [], 0
    model.train()
    bar = tqdm(total=total, desc=progress or "finetune", leave=False, disable=progress is None)
    for epoch in range(config.epochs):
        for idx in length_buckets(lengths, config.batch_size, shuffle=True, seed=config.seed + epoch):
            batch = collate([examples[i] for i in idx], tokenizer.pad_token_id, device)
            for group in opt.param_groups:
                group["lr"] = config.lr * lr_at(step, total, warmup)
            with autocast(device):
                logits, targets, rows = target_logits(model, batch)
            conf = None
            if batch.confidence is not None:
                conf = batch.confidence[:, 1:][batch.labels[:, 1:] != IGNORE]
            loss = loss_fn(logits.float(), targets, batch.weight[rows], conf, step, total)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            opt.step()
            losses.append(float(loss.detach()))
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
    bar.close()
    model.eval()
    return losses
