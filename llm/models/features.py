"""Frozen features of a backbone: pooled embeddings, SciQ's pair-aware features, and their cached extractors.

One forward pass serves every depth of a backbone: with ``output_hidden_states``, the full model's
``hidden_states[K]`` passed through its final norm is exactly the ``last_hidden_state`` of the model loaded
with ``num_hidden_layers=K`` (see :mod:`weakstrong.llm.models.registry`). :class:`DepthGroup` uses it to extract the
features of ``NAME-lK`` truncations of one backbone in one pass, and caches each depth under the key its own
:class:`FeatureExtractor` uses, so the grouped and the one-model path reuse each other's files.
"""

from __future__ import annotations

import os
import re
import time
from typing import Sequence

import numpy as np

from weakstrong.io import config_hash
from weakstrong.llm.models.batching import length_sorted_batches
from weakstrong.llm.models.device import autocast_context
from weakstrong.llm.models.pooling import pool_hidden
from weakstrong.llm.models.registry import ModelSpec, load_backbone, resolve_model
from weakstrong.progress import stage_line
from weakstrong.stages import cached_array

# Encoders whose every layer ends in its own LayerNorm (post-LN): hidden_states[K] needs no final norm.
POST_NORM_ENCODERS = ("bert", "roberta", "xlm-roberta", "distilbert", "electra", "mpnet", "camembert")
# Where decoders keep the norm applied after their last layer (Llama/Gemma/Mistral: norm; GPT-2: ln_f).
_FINAL_NORMS = ("norm", "ln_f", "final_layer_norm", "final_layernorm")


def final_norm(model, kind: str):
    """The map a ``K``-layer truncation applies after its last layer: the decoder's final norm, or the identity
    for a post-LN encoder. Raises ``ValueError`` for a backbone where neither is known (its depths must then
    be loaded one by one)."""
    import torch

    if kind == "encoder" and model.config.model_type in POST_NORM_ENCODERS:
        return lambda hidden: hidden
    if kind == "decoder":
        for name in _FINAL_NORMS:
            module = getattr(model, name, None)
            if isinstance(module, torch.nn.Module):
                return module
    raise ValueError(f"no known final norm for a {model.config.model_type!r} {kind}: its depth truncations "
                     f"cannot be read from one forward pass")


def encode_depths(model, tokenizer, kind: str, texts: Sequence[str], depths: Sequence[int | None],
                  batch_size: int = 64, max_length: int = 128,
                  progress: str | None = None) -> tuple[dict[int | None, np.ndarray], int]:
    """Frozen pooled features (N, H) as float32, in input order, at each depth of ``depths`` from one forward
    pass per batch, and the number of (non-pad) tokens encoded.

    A depth K is what the model truncated to its first K layers outputs: ``final_norm(hidden_states[K])``;
    None (or the loaded model's own depth) is its ``last_hidden_state``. Length-bucketed batches, bf16
    autocast on GPU.
    """
    import torch
    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    layers = model.config.num_hidden_layers
    inner = sorted({d for d in depths if d is not None and d != layers})
    if inner and not 1 <= inner[0] <= inner[-1] <= layers:
        raise ValueError(f"depths must be in [1, {layers}] for this model, got {list(depths)}")
    norm = final_norm(model, kind) if inner else None
    batches = length_sorted_batches([len(t) for t in texts], batch_size)
    out = {d: np.zeros((len(texts), model.config.hidden_size), dtype=np.float32) for d in depths}
    tokens = 0
    model.eval()
    with torch.inference_mode(), autocast_context(device):
        for idx in tqdm(batches, desc=progress or "encode", disable=None if progress else True, leave=False):
            # Tokenised as forward_pooled does; many decoders (Llama) reject segment ids.
            enc = tokenizer([texts[i] for i in idx], padding=True, truncation=True, max_length=max_length,
                            return_tensors="pt", return_token_type_ids=kind == "encoder").to(device)
            result = model(**enc, output_hidden_states=bool(inner))
            mask = enc["attention_mask"]
            tokens += int(mask.sum())
            for d in depths:
                hidden = result.last_hidden_state if d is None or d == layers else norm(result.hidden_states[d])
                out[d][idx] = pool_hidden(hidden, mask, kind).float().cpu().numpy()
    return out, tokens


def encode_texts(model, tokenizer, kind: str, texts: Sequence[str], batch_size: int = 64,
                 max_length: int = 128, progress: str | None = None) -> np.ndarray:
    """Frozen pooled features (N, H) of the model's output as float32, in input order (:func:`encode_depths`)."""
    return encode_depths(model, tokenizer, kind, texts, [None], batch_size, max_length, progress)[0][None]


def pair_features(q: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Pair-aware features [q, a, q*a, |q - a|, cos(q, a)] from separately embedded segments, (N, 4H + 1).

    A probe on one mean-pooled "Q: ... A: ..." embedding is near chance on binary SciQ; interactions between
    the two embeddings carry the signal a linear head can use.
    """
    cos = (q * a).sum(1) / (np.linalg.norm(q, axis=1) * np.linalg.norm(a, axis=1) + 1e-12)
    return np.concatenate([q, a, q * a, np.abs(q - a), cos[:, None]], axis=1).astype(np.float32)


def joined_pairs(texts: Sequence[str], pairs: Sequence[str]) -> list[str]:
    """One "Q: ... A: ..." text per pair, the format of :meth:`weakstrong.llm.data.tasks.Split.joined`."""
    from weakstrong.llm.data.tasks import Split

    return Split(list(texts), np.zeros(0), np.zeros(0), [], list(pairs)).joined()


def _check_features(arrays: dict, n: int) -> None:
    """A cached feature file holds a finite (n, H) array ``x``; ValueError otherwise (it is then recomputed)."""
    x = arrays["x"]
    if x.ndim != 2 or x.shape[0] != n or not np.isfinite(x).all():
        raise ValueError(f"features of shape {x.shape}, expected ({n}, H) and finite")


class FeatureExtractor:
    """Frozen features of one backbone, cached by config hash.

    Pair inputs get :func:`pair_features` of the separately embedded segments, or with ``join_pairs`` one
    "Q: ... A: ..." text each (what a decoder reads to its last token). ``dtype`` sets the weights' dtype for
    the forward pass (None: float32); a non-float32 dtype and joined pairs enter the cache key, so the
    float32, pair-aware files of earlier runs keep their names.

    The model is resolved at construction (an unknown id fails before any training) and loaded on first use
    that misses the cache. Several depths of one backbone share a pass through :class:`DepthGroup`.
    """

    def __init__(self, name: str, device=None, batch_size: int = 64, max_length: int = 128, cache_dir=None,
                 log: dict | None = None, dtype=None, join_pairs: bool = False):
        self.spec = resolve_model(name)
        self.device, self.batch_size, self.max_length, self.cache_dir = device, batch_size, max_length, cache_dir
        self.log, self.dtype, self.join_pairs = log, dtype, join_pairs
        self._group = None

    @property
    def dtype_name(self) -> str:
        return "float32" if self.dtype is None else str(self.dtype).removeprefix("torch.")

    def config(self) -> dict:
        out = {"model": self.spec.name, "source": os.path.basename(self.spec.source.rstrip("/")),
               "num_layers": self.spec.num_layers, "max_length": self.max_length}
        if self.dtype_name != "float32":
            out["dtype"] = self.dtype_name
        if self.join_pairs:
            out["pairs"] = "joined"
        return out

    @property
    def stage(self) -> str:
        """The stage name of this model's feature files in the cache."""
        return "features-" + re.sub(r"[^A-Za-z0-9.-]+", "_", self.spec.name)[-40:]

    def cache_key(self, texts: Sequence[str], pairs: Sequence[str] | None) -> dict:
        return {**self.config(), "texts": config_hash(list(texts), 16),
                "pairs": None if pairs is None else config_hash(list(pairs), 16)}

    def share_key(self) -> tuple:
        """What extractors must have in common to share a forward pass (everything but their depth)."""
        return (self.spec.source, self.spec.gguf, str(self.device), self.batch_size, self.max_length,
                self.dtype_name, self.join_pairs, None if self.cache_dir is None else str(self.cache_dir))

    def __call__(self, texts: Sequence[str], pairs: Sequence[str] | None = None, what: str = "") -> np.ndarray:
        if self._group is None:
            self._group = DepthGroup([self])
        return self._group(texts, pairs, what)[self.spec.name]


class DepthGroup:
    """Extractors of one backbone at several depths, served by one forward pass per input.

    A call loads the backbone truncated to the deepest depth whose features are not cached (reusing the
    loaded one when that depth is the same), pools that depth and every shallower one in one pass, and stores
    each under its own extractor's cache key. ``passes`` logs each call: per model whether it was cached and
    the tokens and seconds of the pass that computed it (stored with its features, so a resumed run still
    reports throughput), and the pass this call ran, if any (layers loaded, tokens, seconds, load seconds).
    """

    def __init__(self, extractors: Sequence[FeatureExtractor]):
        extractors = list(extractors)
        if not extractors:
            raise ValueError("a depth group needs at least one extractor")
        if len({e.share_key() for e in extractors}) != 1:
            raise ValueError(f"extractors {[e.spec.name for e in extractors]} differ in more than their depth")
        if len({e.spec.name for e in extractors}) != len(extractors):
            raise ValueError(f"extractors must be distinct, got {[e.spec.name for e in extractors]}")
        # Deepest first (None: the whole model): the first missing depth sets how deep the pass must go.
        self.extractors = sorted(extractors, key=lambda e: (e.spec.num_layers is None, e.spec.num_layers or 0),
                                 reverse=True)
        self.passes: list[dict] = []
        self._loaded, self._loaded_layers = None, None

    def release(self) -> None:
        """Drop the loaded backbone (its memory), keeping the pass log."""
        self._loaded, self._loaded_layers = None, None

    def _model(self, spec: ModelSpec) -> tuple:
        """``(model, tokenizer, kind)`` truncated as ``spec`` says, and the seconds its load took (0: reused)."""
        if self._loaded is not None and self._loaded_layers == spec.num_layers:
            return self._loaded, 0.0
        self.release()
        start = time.perf_counter()
        head = self.extractors[0]
        self._loaded = load_backbone(spec, head.device, dtype=head.dtype)
        self._loaded_layers = spec.num_layers
        return self._loaded, round(time.perf_counter() - start, 3)

    def _pass(self, todo: list[FeatureExtractor], texts, pairs, what: str) -> dict:
        """Features of every extractor in ``todo`` (deepest first) from one pass over the inputs."""
        (model, tokenizer, kind), load_seconds = self._model(todo[0].spec)
        depths = [e.spec.num_layers for e in todo]
        batch, length = todo[0].batch_size, todo[0].max_length
        label = f"{'+'.join(e.spec.name for e in todo)} {what}".strip()
        stage_line(f"features {label}: {len(texts)} inputs" + ("" if pairs is None else " (pairs)"))
        start = time.perf_counter()
        x, tokens = encode_depths(model, tokenizer, kind, texts, depths, batch, length, progress=label)
        if pairs is not None:
            a, more = encode_depths(model, tokenizer, kind, pairs, depths, batch, length, progress=label + " pairs")
            x, tokens = {d: pair_features(x[d], a[d]) for d in depths}, tokens + more
        return {"x": {e.spec.name: x[e.spec.num_layers] for e in todo},
                "log": {"models": [e.spec.name for e in todo], "layers": model.config.num_hidden_layers,
                        "tokens": tokens, "seconds": round(time.perf_counter() - start, 3),
                        "load_seconds": load_seconds}}

    def __call__(self, texts: Sequence[str], pairs: Sequence[str] | None = None, what: str = "",
                 names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """{model name: (N, F) features} on these inputs of every extractor of the group, or of those in
        ``names``."""
        members = self.extractors if names is None else [e for e in self.extractors if e.spec.name in names]
        if names is not None and len(members) != len(set(names)):
            raise ValueError(f"names {list(names)} are not all in this group "
                             f"({[e.spec.name for e in self.extractors]})")
        inputs = (joined_pairs(texts, pairs), None) if self.extractors[0].join_pairs and pairs is not None \
            else (texts, pairs)
        done: dict = {}
        computed: set[str] = set()
        out, log = {}, {"what": what, "texts": len(texts), "pass": None, "models": {}}
        for i, e in enumerate(members):
            def compute(i=i):
                if not done:  # the first missing depth: one pass serves it and every shallower one
                    done.update(self._pass(members[i:], *inputs, what))
                    log["pass"] = done["log"]
                name = members[i].spec.name
                computed.add(name)
                return {"x": done["x"][name], "tokens": np.asarray(done["log"]["tokens"]),
                        "pass_seconds": np.asarray(done["log"]["seconds"])}

            arrays = cached_array(e.cache_dir, e.stage, e.cache_key(*inputs), compute, e.log,
                                  check=lambda a, n=len(inputs[0]): _check_features(a, n))
            out[e.spec.name] = arrays["x"]
            log["models"][e.spec.name] = {
                "cached": e.spec.name not in computed,
                "tokens": int(arrays["tokens"]) if "tokens" in arrays else None,
                "pass_seconds": float(arrays["pass_seconds"]) if "pass_seconds" in arrays else None}
        self.passes.append(log)
        return out
