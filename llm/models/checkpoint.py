"""Training checkpoints without pickle: one safetensors file whose header carries the JSON state.

A resumed run must continue exactly where the killed one stopped, so a checkpoint holds everything the next
step reads: the model's weights, the optimizer's state, every random-number generator (torch CPU and CUDA,
numpy's global one, Python's ``random``, and the run's own ``numpy.random.Generator``, i.e. the position in
the data order) and the run's scalars (step, loss history, ...). Tensors are stored as safetensors; the rest
is JSON in the file's metadata, so loading never unpickles anything (``torch.load`` of a pickle runs code
from the file). Writing one file through a temporary name and ``os.replace`` keeps a checkpoint whole: a
process killed mid-write leaves the previous checkpoint in place.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from weakstrong.config import ConfigError
from weakstrong.io import atomic_path

STATE_KEY = "weakstrong_state"  # the metadata entry holding the JSON state
FORMAT = 1


def rng_state(generator: np.random.Generator) -> tuple[dict[str, torch.Tensor], dict]:
    """The state of every random-number generator a training step may draw from: (tensors, JSON-able)."""
    tensors = {"rng/torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda/{i}"] = state
    name, keys, pos, has_gauss, cached = np.random.get_state()
    scalars = {"numpy_global": [name, keys.tolist(), pos, has_gauss, cached],
               "python": _jsonable(random.getstate()),
               "generator": generator.bit_generator.state}
    return tensors, scalars


def set_rng_state(tensors: dict[str, torch.Tensor], scalars: dict) -> np.random.Generator:
    """Restore what :func:`rng_state` saved; returns the run's generator at its saved position."""
    torch.set_rng_state(tensors["rng/torch"])
    cuda = [tensors[k] for k in sorted((k for k in tensors if k.startswith("rng/cuda/")),
                                       key=lambda k: int(k.rsplit("/", 1)[1]))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    name, keys, pos, has_gauss, cached = scalars["numpy_global"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    version, internal, gauss = scalars["python"]
    random.setstate((version, tuple(internal), gauss))
    saved = scalars["generator"]
    generator = np.random.Generator(getattr(np.random, saved["bit_generator"])())
    generator.bit_generator.state = saved
    return generator


def _jsonable(value: Any) -> Any:
    return [_jsonable(v) for v in value] if isinstance(value, (tuple, list)) else value


def _model_tensors(model: torch.nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The state dict with tied tensors stored once: (tensors, {alias: the name it shares storage with})."""
    tensors, aliases, seen = {}, {}, {}
    for name, tensor in model.state_dict().items():
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape), tensor.dtype)
        if key in seen:
            aliases[name] = seen[key]
            continue
        seen[key] = name
        tensors[f"model/{name}"] = tensor
    return tensors, aliases


def _optimizer_parts(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, entries in state["state"].items():
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer/{index}/{key}"] = value
            else:
                scalars.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": _jsonable(state["param_groups"]), "scalars": scalars}


def save_checkpoint(path: str | os.PathLike, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    generator: np.random.Generator, state: dict) -> Path:
    """Write model, optimizer, random states and the JSON-able ``state`` to ``path``, atomically."""
    from safetensors.torch import save_file

    model_tensors, aliases = _model_tensors(model)
    opt_tensors, opt_json = _optimizer_parts(optimizer)
    rng_tensors, rng_json = rng_state(generator)
    tensors = {k: v.detach().cpu().contiguous() for k, v in {**model_tensors, **opt_tensors, **rng_tensors}.items()}
    meta = {"format": FORMAT, "state": state, "aliases": aliases, "optimizer": opt_json, "rng": rng_json}
    with atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata={STATE_KEY: json.dumps(meta)})
    return Path(path)


def read_state(path: str | os.PathLike) -> dict:
    """The JSON state of a checkpoint, without loading its tensors."""
    return _read(path, tensors=False)[0]["state"]


def _read(path: str | os.PathLike, tensors: bool) -> tuple[dict, dict[str, torch.Tensor]]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            meta = json.loads((fh.metadata() or {})[STATE_KEY])
            loaded = {k: fh.get_tensor(k) for k in fh.keys()} if tensors else {}
    except Exception as exc:  # safetensors raises its own error type for a damaged header or body
        raise ConfigError(f"checkpoint {path} cannot be read ({type(exc).__name__}: {exc}); delete it to "
                          f"start this run again from step 0") from None
    if meta.get("format") != FORMAT:
        raise ConfigError(f"checkpoint {path} has format {meta.get('format')!r}, expected {FORMAT}")
    return meta, loaded


def load_checkpoint(path: str | os.PathLike, model: torch.nn.Module,
                    optimizer: torch.optim.Optimizer) -> tuple[dict, np.random.Generator]:
    """Load a :func:`save_checkpoint` file into ``model`` and ``optimizer`` and restore every random state.

    Returns ``(state, generator)``: the saved JSON state and the run's generator at its saved position.
    """
    meta, tensors = _read(path, tensors=True)
    weights = {k.removeprefix("model/"): v for k, v in tensors.items() if k.startswith("model/")}
    weights.update({alias: weights[name] for alias, name in meta["aliases"].items()})
    model.load_state_dict(weights)
    per_param: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer/"):
            _, index, name = key.split("/", 2)
            per_param.setdefault(int(index), {})[name] = value
    for index, values in meta["optimizer"]["scalars"].items():
        per_param.setdefault(int(index), {}).update(values)
    optimizer.load_state_dict({"state": per_param, "param_groups": meta["optimizer"]["param_groups"]})
    generator = set_rng_state({k: v for k, v in tensors.items() if k.startswith("rng/")}, meta["rng"])
    return meta["state"], generator
