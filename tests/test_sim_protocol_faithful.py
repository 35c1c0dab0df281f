"""The "faithful" optimizer against the original protocol run in torch, step for step.

``pretrain_representation(..., PretrainConfig(optimizer="faithful"))`` claims to do what
:func:`weakstrong.sim.protocol.protocol_pretrain` does: the same initial weights from the same generator
calls, raw inputs, AdamW with decoupled weight decay at a constant step, minibatches of 32 in the same
per-epoch order (the last one smaller), the mean squared loss per minibatch. Run in float64, torch and the
numba kernel must then agree to rounding after a hundred steps.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from weakstrong.config import ConfigError
from weakstrong.sim.mlp import random_mlp
from weakstrong.sim.pretrain import PretrainConfig, pretrain_representation
from weakstrong.sim.worlds import sample_task_heads

pytest.importorskip("torch")
from weakstrong.sim.protocol import protocol_pretrain  # noqa: E402  (needs torch)

WIDTH = 16


def _pretraining_data(seed: int = 0, tasks: int = 3, per_task: int = 110, d: int = 8):
    """Inputs on the protocol's raw scale (sd 500), gold labels of random heads over a random h*."""
    rng = np.random.default_rng(seed)
    truth = random_mlp(rng, d, WIDTH, 3)
    heads = sample_task_heads(rng, tasks, WIDTH)
    x = rng.normal(0.0, 500.0, size=(tasks * per_task, d))
    task = np.repeat(np.arange(tasks), per_task)
    y = np.einsum("nw,nw->n", truth(x), heads.coef[task]) + heads.intercept[task]
    return x, y, task, heads


def _flat(mlp) -> np.ndarray:
    return np.concatenate([a.ravel() for pair in zip(mlp.weights, mlp.biases) for a in pair])


@pytest.mark.parametrize("depth", [2, 8])
def test_faithful_kernel_matches_torch_adamw_step_for_step(depth):
    x, y, task, heads = _pretraining_data()
    # 330 samples: ten minibatches of 32 and a last one of 10 per epoch; 10 epochs = 110 AdamW steps.
    epochs = 10
    torch_mlp, torch_info = protocol_pretrain(np.random.default_rng(7), x, y, task, heads.coef, heads.intercept,
                                              depth, WIDTH, epochs, dtype="float64")
    ours, info = pretrain_representation(np.random.default_rng(7), x, y, task, heads.coef, heads.intercept, depth,
                                         WIDTH, 500.0, PretrainConfig(optimizer="faithful", epochs=epochs))
    start = _flat(random_mlp(np.random.default_rng(7), x.shape[1], WIDTH, depth))
    got, want = _flat(ours), _flat(torch_mlp)
    assert np.max(np.abs(want - start)) > 1e-2                   # the weights did move
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-10 * np.max(np.abs(want)))
    np.testing.assert_allclose(info["loss_curve"], torch_info["loss_curve"], rtol=1e-10)
    assert info["loss"] == pytest.approx(torch_info["loss"], rel=1e-10)


def test_faithful_and_protocol_draw_the_same_initial_weights_and_batches():
    x, y, task, heads = _pretraining_data(seed=1, per_task=40)
    rng_torch, rng_ours = np.random.default_rng(3), np.random.default_rng(3)
    start, _ = protocol_pretrain(rng_torch, x, y, task, heads.coef, heads.intercept, 4, WIDTH, 0, dtype="float64")
    # PyTorch's default init, drawn by the shared helper
    np.testing.assert_array_equal(_flat(start), _flat(random_mlp(np.random.default_rng(3), x.shape[1], WIDTH, 4)))
    # A step far below the weights' spacing leaves every weight at its initial value, bit for bit.
    tiny = PretrainConfig(optimizer="faithful", epochs=2, protocol_lr=1e-300)
    ours, _ = pretrain_representation(rng_ours, x, y, task, heads.coef, heads.intercept, 4, WIDTH, 500.0, tiny)
    np.testing.assert_array_equal(_flat(ours), _flat(start))
    # Both then drew one permutation per epoch: the generators are in the same state.
    for _ in range(2):
        rng_torch.permutation(len(x))
    assert rng_ours.bit_generator.state == rng_torch.bit_generator.state


def test_each_optimizer_reads_its_own_step_fields():
    x, y, task, heads = _pretraining_data(seed=2, per_task=40)

    def weights(**fields):
        mlp, _ = pretrain_representation(np.random.default_rng(0), x, y, task, heads.coef, heads.intercept, 2,
                                         WIDTH, 500.0, PretrainConfig(epochs=2, **fields))
        return _flat(mlp)

    base = weights(optimizer="faithful")
    # the fast optimizer's step fields do not touch the protocol, and the protocol's step fields do
    np.testing.assert_array_equal(weights(optimizer="faithful", lr=0.5, final_lr_fraction=0.5), base)
    assert not np.array_equal(weights(optimizer="faithful", protocol_lr=2e-3), base)
    assert not np.array_equal(weights(optimizer="faithful", weight_decay=0.0), base)
    np.testing.assert_array_equal(weights(optimizer="adam", weight_decay=0.5, protocol_lr=0.5), weights(optimizer="adam"))
    with pytest.raises(ConfigError, match="weight_decay"):
        PretrainConfig(weight_decay=-1.0).validate()


# ---- the faithful kernel's statistics against the torch protocol's, over seeds (committed results) -------

RESULTS = Path(__file__).parents[1] / "results"


def _per_seed(name: str) -> dict:
    path = RESULTS / name / "summary.json"
    if not path.is_file():
        pytest.skip(f"{path} not committed")
    return json.loads(path.read_text())["per_seed"]


def test_faithful_statistics_over_seeds_match_the_torch_protocols():
    """Seed by seed the two runs differ (the protocol's trajectory is chaotic: float32 and float64 torch part
    after a few epochs), so the distributions over seeds are compared: no statistic's distribution differs
    (two-sample Kolmogorov-Smirnov p > 0.05), the faithful median slope lies inside the protocol's observed
    range, and the non-realizable bound holds out of sample on every seed."""
    from scipy.stats import ks_2samp

    protocol = _per_seed("charikar_protocol_seeds")
    faithful = _per_seed("charikar_faithful_seeds")
    assert len(protocol["slope"]) >= 5 and len(faithful["slope"]) >= 20
    for key in ("slope", "r2", "mean.weak_error", "mean.w2s_error", "mean.strong_error", "mean.misfit"):
        assert ks_2samp(protocol[key], faithful[key]).pvalue > 0.05, key
    assert min(protocol["slope"]) <= np.median(faithful["slope"]) <= max(protocol["slope"])
    assert max(faithful["max_nonrealizable_violation"]) <= 0.0
