"""The live split (the reference's): each word's log-score split over its pieces by the student's own current
probabilities, checked against the fixed split of the word bridge given the same probabilities."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

torch = pytest.importorskip("torch")

from weakstrong.llm.generation.bridge import (evidential_token_loss, piece_confidence,  # noqa: E402
                                              soft_kl_token_loss)
from weakstrong.llm.generation.config import GenerateConfig  # noqa: E402
from weakstrong.llm.generation.live_split import (WORD_START, encode_live_split, live_confidence,  # noqa: E402
                                                  live_evidential_token_loss, live_soft_kl_token_loss)
from weakstrong.llm.models.lm import IGNORE, Example, collate  # noqa: E402


def _rows(pieces_per_word: list[list[int]], seed: int):
    """Rows of words (pieces per word), their word probabilities, piece-to-word maps, and logits."""
    rng = np.random.default_rng(seed)
    rows = []
    for counts in pieces_per_word:
        words = np.repeat(np.arange(len(counts)), counts)
        probs = rng.uniform(1e-8, 1.0, len(counts))  # some below the floor
        logits = torch.tensor(rng.normal(0, 3, (len(words), 11)), dtype=torch.float32)
        rows.append((probs, words, logits))
    return rows


def _reference(rows) -> np.ndarray:
    """Row by row, the bridge's fixed split with the student's max probabilities as the strong ones."""
    return np.concatenate([piece_confidence(p, w, strong_max_probs=torch.softmax(z, -1).amax(-1).numpy())
                           for p, w, z in rows])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.integers(1, 4), min_size=1, max_size=5), min_size=1, max_size=4), st.integers(0, 99))
def test_live_confidence_is_the_fixed_split_on_the_students_probabilities(pieces_per_word, seed):
    rows = _rows(pieces_per_word, seed)
    encoded = torch.tensor(np.concatenate([encode_live_split(p, w) for p, w, _ in rows]), dtype=torch.float32)
    logits = torch.cat([z for _, _, z in rows])
    got = live_confidence(logits, encoded).numpy()
    np.testing.assert_allclose(got, _reference(rows), rtol=2e-5, atol=1e-7)
    # the product over each word's pieces is p(word) (floored), the split's defining property
    start = 0
    for p, w, _ in rows:
        for k in range(len(p)):
            part = got[start:start + len(w)][w == k]
            assert np.prod(part.astype(float)) == pytest.approx(max(p[k], 1e-6), rel=1e-4)
        start += len(w)


def test_the_losses_equal_the_fixed_split_losses_and_the_split_carries_no_gradient():
    rows = _rows([[1, 3, 2], [2, 1], [1, 1, 4, 1]], seed=3)
    encoded = torch.tensor(np.concatenate([encode_live_split(p, w) for p, w, _ in rows]), dtype=torch.float32)
    base = torch.cat([z for _, _, z in rows])
    targets = torch.randint(0, base.shape[1], (len(base),), generator=torch.Generator().manual_seed(0))
    weights = torch.rand(len(base), generator=torch.Generator().manual_seed(1)) + 0.5
    fixed = torch.tensor(_reference(rows), dtype=torch.float32)
    pairs = ((live_soft_kl_token_loss, soft_kl_token_loss, {}),
             (live_evidential_token_loss, evidential_token_loss, {"edl_step": True}))
    for live, reference, options in pairs:
        a, b = base.clone().requires_grad_(), base.clone().requires_grad_()
        got = live(a, targets, weights, encoded, 3, 10, **options)
        want = reference(b, targets, weights, fixed, 3, 10, **options)
        assert float(got.detach()) == pytest.approx(float(want.detach()), rel=1e-5)
        got.backward()
        want.backward()  # with the confidences as constants: the live split is detached, as the reference's
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-7)


def test_collate_and_the_training_gather_keep_the_word_starts():
    """Examples' encoded confidences survive collation and the fine-tuning loop's row-major gather."""
    rows = _rows([[2, 1], [1, 3, 1]], seed=5)
    examples = [Example([7] * (3 + i), list(range(len(w))), 1.0, encode_live_split(p, w))
                for i, (p, w, _) in enumerate(rows)]
    batch = collate(examples, 0, torch.device("cpu"))
    gathered = batch.confidence[:, 1:][batch.labels[:, 1:] != IGNORE]  # as llm.models.lm.finetune does
    want = np.concatenate([e.confidence for e in examples])
    np.testing.assert_allclose(gathered.numpy(), want, rtol=1e-6)
    assert int((gathered < -WORD_START / 2).sum()) == sum(len(p) for p, _, _ in rows)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="non-decreasing"):
        encode_live_split(np.array([0.5, 0.5]), np.array([1, 0]))
    with pytest.raises(ValueError, match="words index 3 words but word_probs has 2"):
        encode_live_split(np.array([0.5, 0.5]), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="floor"):
        encode_live_split(np.array([0.5]), np.array([0]), floor=1e-30)
    with pytest.raises(ValueError, match="must start a word"):
        live_confidence(torch.zeros(2, 3), torch.tensor([-0.1, -WORD_START - 0.1]))
    with pytest.raises(ValueError, match="encoded word log-scores"):
        live_soft_kl_token_loss(torch.zeros(1, 3), torch.zeros(1, dtype=torch.long), torch.ones(1), None, 0, 1)


def test_the_live_split_is_the_default_and_the_fixed_one_keeps_its_earlier_stage_names():
    cfg = GenerateConfig(data_dir="d", weak=("a", "b"), strong="s")
    assert cfg.piece_split == "live" and cfg.strategy_key()["piece_split"] == "live"
    base = GenerateConfig(data_dir="d", weak=("a", "b"), strong="s", piece_split="base")
    assert base.strategy_key()["piece_split"] == "strong"  # the name its students were cached under before
