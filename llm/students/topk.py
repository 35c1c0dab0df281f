"""Top-K fine-tuned students: a decoder's last K layers, its final norm and a linear head, trained end to end on
the hidden states its frozen first L - K layers give, which are computed once per input and cached.

Why top-K and not LoRA. On a CPU the cost of a fine-tuned student is its backward pass. LoRA freezes the
weights but still backpropagates through all L layers, so a step costs about 2/3 of full fine-tuning; top-K
trains K of the L layers and never enters the frozen ones, so a step costs K/L of it, and the frozen bottom
is run once for all the students of a strong model (the ceiling and one per teacher). With K = 2 of
SmolLM2-135M's 30 layers a student trains about 15x cheaper than LoRA would, which is what lets every method
run on two tasks within the CPU budget. The trained layers are real transformer layers (attention and MLP),
initialised from the pretrained ones: the student is fine-tuned, not a probe, and no theorem applies to it.

The split is exact: :func:`top_layers` builds a K-layer model of the same class whose input embeddings are the
hidden states of layer L - K, and its output equals the full model's (tests check it against the full
model's forward pass). Hidden states are right padded, so positions are 0..len-1 in both halves.
"""

from __future__ import annotations

import copy
from typing import Sequence

import numpy as np

from weakstrong.io import config_hash
from weakstrong.llm.models.batching import length_sorted_batches
from weakstrong.llm.models.pooling import pool_hidden
from weakstrong.llm.models.registry import ModelSpec, load_backbone
from weakstrong.stages import cached_array


def top_layers(model, k: int):
    """A ``k``-layer model of ``model``'s class holding copies of its last ``k`` layers and its final norm.

    Fed ``inputs_embeds = hidden_states[L - k]`` of ``model`` (the output of its first L - k layers, before
    any norm), it returns ``model``'s ``last_hidden_state``. Its embedding table is cut to one row: it never
    reads token ids.
    """
    import torch
    from transformers import AutoModel

    layers = model.config.num_hidden_layers
    if not isinstance(k, int) or not 1 <= k <= layers:
        raise ValueError(f"k must be an int in [1, {layers}] for this model, got {k!r}")
    cfg = copy.deepcopy(model.config)
    cfg.num_hidden_layers = k
    if getattr(cfg, "layer_types", None) is not None:
        cfg.layer_types = list(cfg.layer_types)[layers - k:]
    cfg.vocab_size, cfg.pad_token_id = 1, 0
    top = AutoModel.from_config(cfg).to(device=next(model.parameters()).device, dtype=torch.float32)
    source = model.state_dict()
    state = {}
    for name in top.state_dict():
        if name.startswith("embed_tokens."):
            continue
        if name.startswith("layers."):
            i, rest = name.split(".", 2)[1:]
            name_in = f"layers.{layers - k + int(i)}.{rest}"
        else:
            name_in = name
        state[name] = source[name_in].float()
    missing, unexpected = top.load_state_dict(state, strict=False)
    if [m for m in missing if not m.startswith("embed_tokens.")] or unexpected:
        raise ValueError(f"cannot split {model.config.model_type!r} at layer {layers - k}: missing {missing}, "
                         f"unexpected {unexpected}")
    top.embed_tokens.requires_grad_(False)
    return top


def encode_sequences(model, tokenizer, texts: Sequence[str], layers: Sequence[int], batch_size: int = 32,
                     max_length: int = 128, progress: str | None = None) -> tuple[dict[int, np.ndarray],
                                                                                  np.ndarray, int]:
    """Per-token hidden states of ``texts`` after each of ``layers`` (``hidden_states[layer]``: the output of
    the first ``layer`` layers, no final norm), from one frozen pass per batch.

    Returns ({layer: (T, H) array}, offsets (N + 1,), tokens): text i's tokens are rows
    ``offsets[i]:offsets[i + 1]``, in order, pad tokens dropped. Each array is stored compactly by
    :func:`compact_states`; :meth:`TopKClassifier.batch` reads every form.
    """
    import torch
    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    lengths = [len(tokenizer(t, truncation=True, max_length=max_length)["input_ids"]) for t in texts]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    out = {layer: np.zeros((offsets[-1], model.config.hidden_size), dtype=np.float32) for layer in layers}
    model.eval()
    side = tokenizer.padding_side
    tokenizer.padding_side = "right"  # positions 0..len-1, as the top layers will see them
    try:
        with torch.inference_mode():
            for idx in tqdm(length_sorted_batches(lengths, batch_size), desc=progress or "encode",
                            disable=None if progress else True, leave=False):
                enc = tokenizer([texts[i] for i in idx], padding=True, truncation=True, max_length=max_length,
                                return_tensors="pt", return_token_type_ids=False).to(device)
                hidden = model(**enc, output_hidden_states=True).hidden_states
                for layer in layers:
                    h = hidden[layer].float().cpu().numpy()
                    for row, i in enumerate(idx):
                        out[layer][offsets[i]:offsets[i + 1]] = h[row, :lengths[i]]
    finally:
        tokenizer.padding_side = side
    bf16 = next(model.parameters()).dtype == torch.bfloat16
    return {layer: compact_states(h, bf16) for layer, h in out.items()}, offsets, int(offsets[-1])


def compact_states(h: np.ndarray, bf16: bool) -> np.ndarray:
    """Hidden states in half the bytes where that is exact enough: float16 when every value fits its range
    (65504), else the raw bfloat16 bits as uint16 for a bf16 pass (exact), else float32.

    Decoder residual streams can exceed float16's range: Gemma-3's first-token states reach ~1e5.
    """
    import torch

    if np.all(np.abs(h) < np.finfo(np.float16).max):
        return h.astype(np.float16)
    if bf16:
        return torch.from_numpy(h).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    return h


def expand_states(rows: np.ndarray):
    """float32 torch rows from :func:`compact_states`'s storage."""
    import torch

    if rows.dtype == np.uint16:
        return torch.from_numpy(rows.view(np.int16)).view(torch.bfloat16).float()
    return torch.from_numpy(np.asarray(rows, dtype=np.float32))


def cached_sequences(spec: ModelSpec, layers: Sequence[int], texts: Sequence[str], device, dtype, batch_size: int,
                     max_length: int, cache_dir, log: dict | None, what: str = "") -> dict[str, np.ndarray]:
    """:func:`encode_sequences` of the model ``spec`` (weights in ``dtype``), cached by model, layers, length
    and texts: {"h<layer>": (T, H), "offsets": (N + 1,), "tokens": (), "pass_seconds": ()}."""
    import time

    layers = sorted(set(layers))
    key = {"model": spec.name, "source": spec.source.rstrip("/").rsplit("/", 1)[-1], "gguf": spec.gguf,
           "layers": layers, "max_length": max_length, "dtype": str(dtype).removeprefix("torch."),
           "texts": config_hash(list(texts), 16)}

    def compute():
        model, tokenizer, _ = load_backbone(spec, device, dtype=dtype)
        start = time.perf_counter()
        h, offsets, tokens = encode_sequences(model, tokenizer, texts, layers, batch_size, max_length,
                                              progress=f"{spec.name} layers {layers} {what}".strip())
        return {**{f"h{layer}": v for layer, v in h.items()}, "offsets": offsets, "tokens": np.asarray(tokens),
                "pass_seconds": np.asarray(round(time.perf_counter() - start, 3))}

    return cached_array(cache_dir, "hidden-" + spec.name.replace("/", "_")[-40:], key, compute, log)


HEADS = ("standardized", "plain")


def classifier_head(hidden_size: int, head: str = "standardized"):
    """The 2-logit head of a fine-tuned student.

    ``standardized`` (the default): the pooled features are standardised per example (a LayerNorm without
    affine parameters) and the linear head starts at zero, as Burns et al.'s heads do. ``plain`` (ablation: the
    earlier head): a default-initialised linear head on the raw features. A final norm with a large gain
    (Gemma-3-270M's multiplier has mean ~26 and max ~301, SmolLM2's ~1.8) makes the raw features ~30x larger,
    so a default-initialised head's logits overshoot far below zero at the first steps, where the evidential
    gradient vanishes and Adam's second moment keeps them: the student collapses to predicting 1/2 (or one
    class). Standardising the head's input removes the scale; the zero start removes the overshoot.
    """
    import torch

    if head not in HEADS:
        raise ValueError(f"head must be one of {HEADS}, got {head!r}")
    linear = torch.nn.Linear(hidden_size, 2)
    if head == "plain":
        return linear
    torch.nn.init.zeros_(linear.weight)
    torch.nn.init.zeros_(linear.bias)
    return torch.nn.Sequential(torch.nn.LayerNorm(hidden_size, elementwise_affine=False), linear)


def saturated_share(probs: np.ndarray, tol: float = 1e-6) -> float:
    """Share of predictions stuck where the loss has no gradient: P(y = 1) within ``tol`` of 0, 1 or (an
    evidential head whose logits both sank far below zero) exactly 1/2."""
    p = np.asarray(probs, dtype=float)
    return float(np.mean((p < tol) | (p > 1 - tol) | (np.abs(p - 0.5) < tol)))


class TopKClassifier:
    """Factory of the top-K student: ``make(top)`` wraps a :func:`top_layers` model with a 2-logit head
    (:func:`classifier_head`) on its last token; ``batch(hidden, offsets, idx, device)`` pads the cached rows of
    texts ``idx`` (right padding)."""

    @staticmethod
    def make(top, head: str = "standardized"):
        import torch

        class TopKStudent(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.top = top
                self.head = classifier_head(top.config.hidden_size, head)

            def forward(self, hidden, mask):
                out = self.top(inputs_embeds=hidden, attention_mask=mask).last_hidden_state
                return self.head(pool_hidden(out, mask, "decoder"))

        return TopKStudent()

    @staticmethod
    def batch(hidden: np.ndarray, offsets: np.ndarray, idx, device):
        import torch

        lengths = offsets[np.asarray(idx) + 1] - offsets[np.asarray(idx)]
        x = torch.zeros((len(idx), int(lengths.max()), hidden.shape[1]))
        mask = torch.zeros((len(idx), int(lengths.max())), dtype=torch.long)
        for row, i in enumerate(idx):
            x[row, :lengths[row]] = expand_states(hidden[offsets[i]:offsets[i + 1]])
            mask[row, :lengths[row]] = 1
        return x.to(device), mask.to(device)
