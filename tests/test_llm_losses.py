"""The evidential loss against its slow reference (values and gradients), its stability, and Burns' target."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from weakstrong.llm.supervision.losses import confidence_target, evidential_loss  # noqa: E402
from evidential_oracle import edl_oracle  # noqa: E402


def _random_problem(seed: int, n: int, k: int, scale: float):
    gen = torch.Generator().manual_seed(seed)
    logits = scale * torch.randn(n, k, generator=gen, dtype=torch.float64)
    targets = torch.softmax(torch.randn(n, k, generator=gen, dtype=torch.float64), dim=-1)
    return logits, targets


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 5), k=st.integers(2, 6), scale=st.sampled_from([0.5, 3.0, 8.0]),
       step=st.integers(0, 20))
def test_loss_matches_reference(seed, n, k, scale, step):
    logits, targets = _random_problem(seed, n, k, scale)
    fast = evidential_loss(logits, targets, step, 10, kl_weight=0.1).item()
    slow = edl_oracle(logits, targets, step, 10, kl_weight=0.1)
    assert fast == pytest.approx(slow, rel=1e-4, abs=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradient_matches_reference_finite_differences(seed):
    logits, targets = _random_problem(seed, 3, 4, 2.0)
    z = logits.clone().float().requires_grad_(True)
    evidential_loss(z, targets.float(), 5, 10, kl_weight=0.1).backward()
    h = 1e-5
    numeric = np.zeros(logits.shape)
    for i in range(logits.shape[0]):
        for j in range(logits.shape[1]):
            plus, minus = logits.clone(), logits.clone()
            plus[i, j] += h
            minus[i, j] -= h
            numeric[i, j] = (edl_oracle(plus, targets, 5, 10, kl_weight=0.1)
                             - edl_oracle(minus, targets, 5, 10, kl_weight=0.1)) / (2 * h)
    np.testing.assert_allclose(z.grad.double().numpy(), numeric, rtol=2e-3, atol=2e-5)


def test_no_overflow_at_extreme_logits_over_a_vocabulary():
    k = 50_000
    gen = torch.Generator().manual_seed(0)
    logits = torch.zeros(2, k)
    logits[0, :10] = 1e4
    logits[1, 10:20] = -1e4
    logits[1, 0] = 1e4
    logits.requires_grad_(True)
    targets = torch.softmax(torch.randn(2, k, generator=gen), dim=-1)
    loss = evidential_loss(logits, targets, 3, 10)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.all(torch.isfinite(logits.grad))


def test_kl_term_is_annealed_from_zero():
    logits, targets = _random_problem(3, 4, 3, 2.0)
    at_start = evidential_loss(logits, targets, 0, 10, kl_weight=1.0)
    without_kl = evidential_loss(logits, targets, 5, 10, kl_weight=0.0)
    with_kl = evidential_loss(logits, targets, 5, 10, kl_weight=1.0)
    assert at_start.item() == pytest.approx(without_kl.item(), rel=1e-6)
    assert with_kl.item() > without_kl.item()  # KL(Dir(alpha~) || Dir(1)) > 0 away from alpha~ = 1


def test_sample_weight_is_a_weighted_mean():
    logits, targets = _random_problem(4, 5, 3, 1.0)
    w = torch.tensor([0.0, 1.0, 2.0, 0.5, 3.0])
    per = evidential_loss(logits, targets, 2, 10, reduction="none")
    weighted = evidential_loss(logits, targets, 2, 10, sample_weight=w)
    assert weighted.item() == pytest.approx(((w * per).sum() / w.sum()).item(), rel=1e-6)
    with pytest.raises(ValueError, match="sample_weight"):
        evidential_loss(logits, targets, 2, 10, sample_weight=w[:3])


def test_bad_shapes_and_steps_are_refused():
    logits, targets = _random_problem(5, 2, 3, 1.0)
    with pytest.raises(ValueError, match="shape"):
        evidential_loss(logits, targets[:, :2], 1, 10)
    with pytest.raises(ValueError, match="total_steps"):
        evidential_loss(logits, targets, 1, 0)


def test_confidence_target_mixes_weak_and_hardened_strong():
    weak = torch.tensor([[0.7, 0.3], [0.2, 0.8], [0.5, 0.5]])
    strong = torch.tensor([[0.0, 2.0], [1.0, -1.0], [0.0, 1.0]])
    assert torch.allclose(confidence_target(weak, strong, 0.0), weak)
    hard = torch.nn.functional.one_hot(strong.argmax(-1), 2).float()
    assert torch.allclose(confidence_target(weak, strong, 1.0), hard)
    mixed = confidence_target(weak, strong, 0.25)
    assert torch.allclose(mixed, 0.75 * weak + 0.25 * hard)
    assert torch.allclose(mixed.sum(-1), torch.ones(3))


# --- the reference's order: anneal, then clamp at +-2e5, then scale by 1e-4 ----------------------------------

VOCAB = 49_152  # SmolLM2's vocabulary


def _vocab_problem(seed: int, n: int = 3, vocab: int = VOCAB):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, vocab, generator=g, dtype=torch.float64) * 3.0
    targets = torch.softmax(torch.randn(n, vocab, generator=g, dtype=torch.float64) * 4.0, -1)
    return logits, targets


@pytest.mark.parametrize("step", [0, 1, 37, 100, 250])
def test_loss_matches_the_scipy_construction_over_50k_classes(step):
    logits, targets = _vocab_problem(step)
    got = evidential_loss(logits.float(), targets.float(), step, 100).item()
    want = edl_oracle(logits.float().double(), targets.float().double(), step, 100)
    assert got == pytest.approx(want, rel=2e-5)


def test_the_annealed_kl_is_clamped_at_2e5_late_and_free_early():
    logits, targets = _vocab_problem(7)
    kl = edl_oracle(logits, targets, 1, 1, kl_weight=1.0, kl_clamp=float("inf"), per_row=True) \
        - edl_oracle(logits, targets, 0, 1, kl_weight=1.0, kl_clamp=float("inf"), per_row=True)
    assert np.all(kl > 1e5)  # a vocabulary-sized Dirichlet KL
    data = evidential_loss(logits.float(), targets.float(), 0, 100, reduction="none")
    late = evidential_loss(logits.float(), targets.float(), 100, 100, reduction="none")
    np.testing.assert_allclose((late - data).numpy(), 1e-4 * np.minimum(kl, 2e5), rtol=1e-4)  # capped at 20
    early = evidential_loss(logits.float(), targets.float(), 1, 100, reduction="none")
    np.testing.assert_allclose((early - data).numpy(), 1e-4 * kl / 100, rtol=1e-4)  # under the clamp: alive


def test_the_kl_gradient_is_alive_early_in_training_at_vocabulary_size():
    """The reference's order keeps the KL's gradient early in training; the old order (the raw KL clamped at
    1e4 before annealing) zeroes it at every step, since over a vocabulary the raw KL is always above 1e4."""
    logits, targets = _vocab_problem(3, n=2)

    def kl_gradient(**kwargs):
        grads = []
        for weight in (1e-4, 0.0):
            z = logits.float().clone().requires_grad_()
            evidential_loss(z, targets.float(), 5, 1000, kl_weight=weight, **kwargs).backward()
            grads.append(z.grad)
        return (grads[0] - grads[1]).abs().max().item()

    assert kl_gradient() > 1e-6
    assert kl_gradient(clamp="raw", kl_clamp=1e4) == 0.0


def test_edl_step_mixes_in_the_students_argmax_on_the_references_schedule():
    from weakstrong.llm.supervision.losses import edl_step_coefficient, edl_step_targets

    assert [edl_step_coefficient(t, 100) for t in (0, 10, 25, 26, 100)] == pytest.approx([0, 0.02, 0.05, 0.2, 0.2])
    logits, targets = _vocab_problem(5, n=4, vocab=50)
    mixed = edl_step_targets(targets, logits, 50, 100)
    hard = torch.nn.functional.one_hot(logits.argmax(-1), 50).double()
    torch.testing.assert_close(mixed, 0.8 * targets + 0.2 * hard)
    torch.testing.assert_close(mixed.sum(-1), torch.ones(4, dtype=torch.float64))
