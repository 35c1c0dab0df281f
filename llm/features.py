"""Frozen features of a backbone: pooled embeddings, SciQ's pair-aware features, and their cached extractor."""

from __future__ import annotations

import os
import re
from typing import Sequence

import numpy as np

from weakstrong.io import config_hash

from .batching import length_sorted_batches
from .device import autocast_context
from .pooling import forward_pooled
from .registry import load_backbone, resolve_model
from .stage_cache import cached_array


def encode_texts(model, tokenizer, kind: str, texts: Sequence[str], batch_size: int = 64,
                 max_length: int = 128, progress: str | None = None) -> np.ndarray:
    """Frozen pooled features (N, H) as float32, in input order; length-bucketed batches, bf16 on GPU."""
    import torch
    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    # Every rank encodes everything: features are small.
    batches = length_sorted_batches([len(t) for t in texts], batch_size)
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    model.eval()
    with torch.inference_mode(), autocast_context(device):
        for idx in tqdm(batches, desc=progress or "encode", disable=progress is None, leave=False):
            pooled = forward_pooled(model, tokenizer, kind, [texts[i] for i in idx], max_length=max_length)
            out[idx] = pooled.float().cpu().numpy()
    return out


def pair_features(q: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Pair-aware features [q, a, q*a, |q - a|, cos(q, a)] from separately embedded segments, (N, 4H + 1).

    A probe on one mean-pooled "Q: ... A: ..." embedding is near chance on binary SciQ; interactions between
    the two embeddings carry the signal a linear head can use.
    """
    cos = (q * a).sum(1) / (np.linalg.norm(q, axis=1) * np.linalg.norm(a, axis=1) + 1e-12)
    return np.concatenate([q, a, q * a, np.abs(q - a), cos[:, None]], axis=1).astype(np.float32)


class FeatureExtractor:
    """Frozen features of one backbone, cached by config hash; pair inputs get :func:`pair_features`.

    The model is resolved at construction (an unknown id fails before any training) and loaded on first use
    that misses the cache.
    """

    def __init__(self, name: str, device=None, batch_size: int = 64, max_length: int = 128, cache_dir=None,
                 log: dict | None = None):
        self.spec = resolve_model(name)
        self.device, self.batch_size, self.max_length, self.cache_dir = device, batch_size, max_length, cache_dir
        self.log = log
        self._loaded = None

    def config(self) -> dict:
        return {"model": self.spec.name, "source": os.path.basename(self.spec.source.rstrip("/")),
                "num_layers": self.spec.num_layers, "max_length": self.max_length}

    def _encode(self, texts: Sequence[str], what: str) -> np.ndarray:
        if self._loaded is None:
            self._loaded = load_backbone(self.spec, self.device)
        model, tokenizer, kind = self._loaded
        return encode_texts(model, tokenizer, kind, texts, self.batch_size, self.max_length,
                            progress=f"{self.spec.name} {what}")

    def __call__(self, texts: Sequence[str], pairs: Sequence[str] | None = None, what: str = "") -> np.ndarray:
        key = {**self.config(), "texts": config_hash(list(texts), 16),
               "pairs": None if pairs is None else config_hash(list(pairs), 16)}

        def compute():
            x = self._encode(texts, what)
            return {"x": x if pairs is None else pair_features(x, self._encode(pairs, what + " pairs"))}

        stage = "features-" + re.sub(r"[^A-Za-z0-9.-]+", "_", self.spec.name)[-40:]
        return cached_array(self.cache_dir, stage, key, compute, self.log)["x"]
