"""Worlds, pretraining and configuration validation of the simulator."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from weakstrong.sim.mlp import MLP, random_mlp
from weakstrong.sim.pretrain import PretrainConfig, pretrain_loss_and_grad, pretrain_loss_and_grad_reference
from weakstrong.sim.worlds import WorldConfig, make_world, sample_task_heads

TINY_PRETRAIN = dict(pretrain_tasks=3, pretrain_samples=100, pretrain=PretrainConfig(epochs=2))


@settings(max_examples=6, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 4), st.integers(1, 5), st.integers(2, 6))
def test_pretraining_gradient_kernel_matches_numpy_reference(seed, depth, d, width):
    rng = np.random.default_rng(seed)
    mlp = random_mlp(rng, d, width, depth)
    mlp = MLP([W * 3 for W in mlp.weights], [b + 0.3 for b in mlp.biases])   # keep units active
    n, T = 40, 3
    x, y = rng.normal(size=(n, d)), rng.normal(size=n)
    task, G, c = rng.integers(T, size=n), rng.normal(size=(T, width)), rng.normal(size=T)
    loss_ref, grads_ref = pretrain_loss_and_grad_reference(x, y, task, G, c, mlp)
    # batch 16 over 40 samples: two full minibatches and a partial one
    loss, grads = pretrain_loss_and_grad(x, y, task, G, c, mlp, batch_size=16)
    assert loss == pytest.approx(loss_ref, rel=1e-10)
    for (dW, db), (dW_ref, db_ref) in zip(grads, grads_ref):
        np.testing.assert_allclose(dW, dW_ref, rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(db, db_ref, rtol=1e-8, atol=1e-12)


def test_pretraining_reduces_loss_and_caches(tmp_path):
    # the fast optimizer: the protocol's AdamW at lr 1e-3 needs its 1000 epochs to get there
    config = WorldConfig(setting="pretrained", seed=3, pretrain_tasks=3, pretrain_samples=300,
                         pretrain=PretrainConfig(optimizer="adam", epochs=40))
    world = make_world(config, cache_dir=tmp_path)
    again = make_world(config, cache_dir=tmp_path)
    assert world.pretrain_seconds > 0 and again.pretrain_seconds == 0      # second call reads the cache
    for a, b in zip(world.strong.weights + world.weak.weights, again.strong.weights + again.weak.weights):
        np.testing.assert_array_equal(a, b)
    assert world.strong.depth == 8 and world.weak.depth == 2
    # The final loss is below the loss of predicting every label by its task's intercept alone.
    rng = np.random.default_rng(0)
    x = world.sample_inputs(rng, 2000)
    heads = sample_task_heads(rng, 3, world.width)
    baseline = np.mean(np.var(heads.labels(world.truth(x)), axis=1))
    assert world.pretrain_loss["strong"] < 0.5 * baseline
    assert world.pretrain_loss["weak"] < baseline


def test_cached_representations_are_read_on_the_calling_thread(tmp_path, monkeypatch):
    # numpy parses .npy headers with ast, which CPython 3.11 cannot run in two threads at once: cached
    # representations must be read on the caller's thread, and only missing ones trained in threads.
    import threading

    from weakstrong.sim import worlds

    config = WorldConfig(setting="pretrained", seed=2, **TINY_PRETRAIN)
    first = make_world(config, cache_dir=tmp_path)
    cached = sorted(tmp_path.glob("representation-*.npz"))
    assert len(cached) == 2
    weak_file = worlds._representation_path(config, "weak", tmp_path)
    weak_file.unlink()                                   # strong cached, weak missing: the mixed path
    readers = []
    real_load = worlds._load_representation

    def recording_load(path, *args):
        readers.append(threading.current_thread())
        return real_load(path, *args)

    monkeypatch.setattr(worlds, "_load_representation", recording_load)
    again = make_world(config, cache_dir=tmp_path)
    assert readers and all(t is threading.main_thread() for t in readers)
    assert weak_file.exists() and again.pretrain_seconds > 0
    for a, b in zip(first.strong.weights + first.weak.weights, again.strong.weights + again.weak.weights):
        np.testing.assert_array_equal(a, b)


def test_settings_define_the_representations():
    realizable = make_world(WorldConfig(setting="realizable", seed=1, **TINY_PRETRAIN))
    assert realizable.strong is realizable.truth
    perturbed = make_world(WorldConfig(setting="perturbed", seed=1, strong_noise=0.0, weak_noise=0.2))
    for a, b in zip(perturbed.strong.weights, perturbed.truth.weights):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(perturbed.weak.weights[0], perturbed.truth.weights[0])


def test_same_seed_same_world_and_tasks():
    a = make_world(WorldConfig(setting="perturbed", seed=7))
    b = make_world(WorldConfig(setting="perturbed", seed=7))
    c = make_world(WorldConfig(setting="perturbed", seed=8))
    np.testing.assert_array_equal(a.truth.weights[2], b.truth.weights[2])
    np.testing.assert_array_equal(a.weak.weights[0], b.weak.weights[0])
    assert not np.array_equal(a.truth.weights[2], c.truth.weights[2])


@pytest.mark.parametrize("field, value, message", [
    ("width", -3, "width must be an integer >= 1"),
    ("truth_depth", 0, "truth_depth must be an integer >= 1"),
    ("strong_depth", 0, "strong_depth"),
    ("sigma", float("nan"), "sigma must be a finite number"),
    ("sigma", -1.0, "sigma must be >"),
    ("strong_noise", float("inf"), "strong_noise"),
    ("setting", "magic", "setting must be one of"),
    ("pretrain_samples", 5, "pretrain_samples must be an integer >= 17"),
    ("seed", -1, "seed"),
    ("input_dim", 2.5, "input_dim"),
])
def test_bad_world_configs_are_rejected(field, value, message):
    with pytest.raises(ValueError, match=message):
        make_world(WorldConfig(**{field: value}))


def test_bad_pretrain_config_is_rejected():
    with pytest.raises(ValueError, match="epochs"):
        WorldConfig(pretrain=PretrainConfig(epochs=0)).validate()
    with pytest.raises(ValueError, match="init"):
        WorldConfig(pretrain=PretrainConfig(init="zeros")).validate()


def test_original_protocol_optimizer_trains_on_the_same_world(tmp_path):
    """The torch reference of the original protocol runs on the same data and lowers the loss."""
    pytest.importorskip("torch")
    from weakstrong.sim.pretrain import PretrainConfig
    from weakstrong.sim.worlds import WorldConfig, make_world

    short = dict(setting="pretrained", pretrain_tasks=2, pretrain_samples=64, strong_depth=3, weak_depth=2)
    one = make_world(WorldConfig(**short, pretrain=PretrainConfig(optimizer="protocol", epochs=1)), tmp_path)
    many = make_world(WorldConfig(**short, pretrain=PretrainConfig(optimizer="protocol", epochs=40)), tmp_path)
    assert many.strong.depth == 3 and many.weak.depth == 2
    assert many.pretrain_loss["strong"] < one.pretrain_loss["strong"]
    with pytest.raises(ValueError, match="optimizer"):
        PretrainConfig(optimizer="sgd").validate()
