"""Batched greedy and beam n-best decoding for any HF causal LM.

Prompts are left-padded by hand (the pad id is the tokenizer's, never 0 by assumption) and batched by length,
so one call decodes many prompts at once. Generations stop at EOS or after ``max_new_tokens``; a generation
that never closes its JSON list is returned as is, and the metric counts it as an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from .batching import length_buckets
from .device import autocast_context as autocast
from .lm import encode_examples, encode_prompt, mean_token_logprob


@dataclass
class DecodeConfig:
    """How candidates are decoded."""

    n_best: int = 1  # candidates returned per prompt
    num_beams: int = 1  # 1 = greedy (n_best must then be 1)
    max_new_tokens: int = 64
    batch_size: int = 32

    def __post_init__(self) -> None:
        if self.n_best < 1 or self.num_beams < self.n_best:
            raise ValueError(f"DecodeConfig needs 1 <= n_best <= num_beams, got n_best={self.n_best}, "
                             f"num_beams={self.num_beams}")
        if self.max_new_tokens < 1 or self.batch_size < 1:
            raise ValueError(f"max_new_tokens and batch_size must be >= 1, got {self.max_new_tokens}, "
                             f"{self.batch_size}")


def _left_pad(rows: Sequence[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r):] = torch.tensor(r)
        mask[i, width - len(r):] = 1
    return ids.to(device), mask.to(device)


@torch.no_grad()
def decode(model, tokenizer, prompts: Sequence[str], config: DecodeConfig = DecodeConfig(),
           progress: str | None = None) -> list[list[str]]:
    """Decode ``config.n_best`` continuations per prompt (beam order, best first).

    Returns
    -------
    list (one per prompt) of lists of ``n_best`` decoded strings, special tokens removed, whitespace-stripped.
    """
    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    model.eval()
    encoded = [encode_prompt(tokenizer, p) for p in prompts]
    out: list[list[str] | None] = [None] * len(prompts)
    batches = length_buckets([len(e) for e in encoded], config.batch_size, shuffle=False)
    for idx in tqdm(batches, desc=progress or "decode", leave=False, disable=progress is None):
        ids, mask = _left_pad([encoded[i] for i in idx], tokenizer.pad_token_id, device)
        with autocast(device):
            seqs = model.generate(
                input_ids=ids, attention_mask=mask, do_sample=False, num_beams=config.num_beams,
                num_return_sequences=config.n_best, max_new_tokens=config.max_new_tokens,
                eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                **({"early_stopping": True} if config.num_beams > 1 else {}),
            )
        texts = tokenizer.batch_decode(seqs[:, ids.shape[1]:], skip_special_tokens=True)
        for j, i in enumerate(idx):
            out[i] = [t.strip() for t in texts[j * config.n_best:(j + 1) * config.n_best]]
    return out  # type: ignore[return-value]


def greedy(model, tokenizer, prompts: Sequence[str], max_new_tokens: int = 64, batch_size: int = 32,
           progress: str | None = None) -> list[str]:
    """The 1-best greedy continuation of each prompt."""
    cfg = DecodeConfig(1, 1, max_new_tokens, batch_size)
    return [c[0] for c in decode(model, tokenizer, prompts, cfg, progress)]


def ensemble_candidate_scores(models, prompts: Sequence[str], candidates: Sequence[Sequence[str]],
                              weights: Sequence[float], batch_size: int = 32) -> list[np.ndarray]:
    """Joint-decoding scores: every model scores every candidate, the scores are combined with the weights.

    Each model scores a candidate by its mean token log-prob under its *own* tokenizer (a length-normalised
    score, comparable across tokenizers of different granularity), as in Cui et al. (2024), §3.2.

    Parameters
    ----------
    models : ``(model, tokenizer)`` pairs.
    prompts : one prompt per input; candidates : the candidate continuations of each input.
    weights : one nonnegative weight per model (normalised here).

    Returns
    -------
    list of (n_candidates_i,) arrays: sum_j w_j * mean log p_j(candidate | prompt).
    """
    w = np.asarray(weights, dtype=float)
    if w.shape != (len(models),) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be {len(models)} nonnegative numbers, not all zero; got {list(weights)}")
    if len(prompts) != len(candidates):
        raise ValueError(f"prompts and candidates must align, got {len(prompts)} and {len(candidates)}")
    flat_p = [p for p, cs in zip(prompts, candidates) for _ in cs]
    flat_c = [c for cs in candidates for c in cs]
    total = np.zeros(len(flat_c))
    for (model, tok), wj in zip(models, w / w.sum()):
        total += wj * mean_token_logprob(model, tok, encode_examples(tok, flat_p, flat_c), batch_size)
    bounds = np.cumsum([0] + [len(cs) for cs in candidates])
    return [total[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
