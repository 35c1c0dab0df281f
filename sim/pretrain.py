"""Representation pretraining: a ReLU MLP learns T linear tasks over the ground truth, task heads frozen.

This is the representation stage of the synthetic protocol of Charikar, Pabbaraju & Shiragur (2024,
arXiv 2405.15116, Sec. 5 and their public notebook): an MLP representation ``h`` is trained so that for
each of ``T`` frozen task heads ``(g_t, c_t)``, ``g_t . h(x) + c_t`` matches the gold label
``g_t . h*(x) + c_t``; only the representation learns. The original protocol runs minibatch AdamW
(batch 32, 1000 epochs) in an autograd framework. Here minibatch Adam(W) runs as one numba kernel per epoch
(forward, backward and update per minibatch, no framework in between), with the samples of a minibatch
on the innermost axis so every loop vectorises; an epoch over the 20,000 samples of the default world
takes about 15 ms of one core for the 8-layer representation. Two optimizers share that kernel:

- ``"faithful"`` is the original protocol, step for step: PyTorch-default init drawn by the same generator
  calls as :mod:`weakstrong.sim.protocol`, raw inputs, ``torch.optim.AdamW``'s update (decoupled weight
  decay, lr 1e-3, constant), minibatches of 32 in one permutation per epoch, the mean squared loss per
  minibatch. The tests check it against the torch protocol run in float64, to rounding.
- ``"adam"`` is a faster-converging variant (60 epochs): inputs enter the kernel divided by their scale
  ``sigma`` (the first layer is rescaled back afterwards), which changes the parametrisation, not the
  function class -- with x ~ N(0, 500^2 I) raw inputs make Adam's first-layer steps 500 times too small
  relative to the weights -- plus an identity-like init and a cosine schedule. It is not the paper's
  optimizer.

The loss reached is reported by :func:`pretrain_representation`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from weakstrong.config import ConfigError
from weakstrong.sim.mlp import MLP, random_mlp
from weakstrong.sim.pretrain_kernels import _adam_epoch, _batch_grad

INITS = ("identity", "he")
# adam: the fused numba minibatch Adam of this module with its own init, input scaling and cosine schedule
#   (about 2 s per world; fits well in 60 epochs, but is not the paper's optimizer);
# faithful: the original protocol -- PyTorch-default init, raw inputs, AdamW with decoupled weight decay,
#   constant step, batch 32 -- in the same numba kernel, float64, step for step what torch does;
# protocol: that protocol run in torch itself (weakstrong.sim.protocol; about 20 min per world), the reference.
OPTIMIZERS = ("adam", "faithful", "protocol")


@dataclass(frozen=True)
class PretrainConfig:
    """Minibatch Adam(W) settings for representation pretraining.

    Each field's comment says which optimizers read it. The defaults are the original protocol, run by the
    ``"faithful"`` kernel (about 15 s per representation; over seeds 0-19 of ``charikar --setting
    pretrained`` its statistics fall inside the spread of the torch protocol's seeds 0-4). With
    ``optimizer="adam", epochs=60`` the default world (seed 0) ends at a strong (8-layer) loss of 0.12 and a
    weak (2-layer) loss of 0.33, against gold-label variance of about 1.4, in about 2 s per representation.
    More epochs fit better (200 epochs at batch 64 and lr 5e-3: strong 0.09, weak 0.30) but do not lower the
    strong ceiling of the fine-tuning tasks (0.205 either way) and fit the weak representation better too,
    which lowers the slope of gain on misfit (0.76 -> 0.46).
    """

    # faithful: the original protocol (torch-default init, raw inputs, AdamW, batch 32, 1000 epochs) in the
    # numba kernel; adam: fused numba Adam with its own init and input scaling, tuned for 60 epochs (fast,
    # not the paper's optimizer); protocol: the same protocol run in torch (float32, about 20 min per
    # world), the reference
    optimizer: str = field(default="faithful", metadata={"choices": OPTIMIZERS})
    epochs: int = 1000          # passes over all T * n samples (the original protocol's; adam is tuned for 60)
    # adam only: identity starts hidden layers at I + noise, he is He-normal (see initial_mlp); faithful and
    # protocol use PyTorch's default init
    init: str = field(default="identity", metadata={"choices": INITS})
    batch_size: int = 32        # every optimizer: the original protocol's minibatch (the last may be smaller)
    lr: float = 3e-3            # adam only: peak step; decays by a cosine to lr * final_lr_fraction
    final_lr_fraction: float = 0.01   # adam only: the cosine schedule ends at lr * final_lr_fraction
    protocol_lr: float = 1e-3   # faithful and protocol: AdamW's constant step (torch's default)
    weight_decay: float = 0.01  # faithful and protocol: AdamW's decoupled weight decay (torch's default)
    beta1: float = 0.9          # every optimizer: Adam's first-moment decay
    beta2: float = 0.999        # every optimizer: Adam's second-moment decay
    eps: float = 1e-8           # every optimizer: Adam's denominator floor

    def validate(self) -> None:
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"PretrainConfig.{name} must be a positive integer, got {value!r}")
        for name in ("lr", "final_lr_fraction", "protocol_lr", "eps"):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise ConfigError(f"PretrainConfig.{name} must be a positive finite number, got {value!r}")
        if self.final_lr_fraction > 1.0:
            raise ConfigError(f"PretrainConfig.final_lr_fraction must lie in (0, 1] (the schedule decays from lr), "
                              f"got {self.final_lr_fraction!r}")
        if not np.isfinite(self.weight_decay) or not 0.0 <= self.weight_decay < 1.0 / self.protocol_lr:
            raise ConfigError(f"PretrainConfig.weight_decay must lie in [0, 1 / protocol_lr) (AdamW multiplies "
                              f"the weights by 1 - protocol_lr * weight_decay), got {self.weight_decay!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"PretrainConfig.optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.init not in INITS:
            raise ConfigError(f"PretrainConfig.init must be one of {INITS}, got {self.init!r}")
        for name in ("beta1", "beta2"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ConfigError(f"PretrainConfig.{name} must lie in [0, 1), got {value!r}")




def pretrain_loss_and_grad(x, y, task, G, c, mlp: MLP, batch_size: int = 64):
    """Mean squared pretraining loss and its gradient through the kernel :func:`_batch_grad`.

    Same signature and return value as :func:`pretrain_loss_and_grad_reference`; ``x`` is used as given
    (no input scaling).
    """
    W0, Ws, b = _stack_layers(mlp)
    gW0, gWs, gb = np.zeros_like(W0), np.zeros_like(Ws), np.zeros_like(b)
    depth, width = b.shape
    n = len(x)
    xT = np.ascontiguousarray(x.T, dtype=np.float64)
    y, task = np.ascontiguousarray(y, dtype=np.float64), np.ascontiguousarray(task, dtype=np.int64)
    G, c = np.ascontiguousarray(G, dtype=np.float64), np.ascontiguousarray(c, dtype=np.float64)
    order = np.arange(n)
    acts = np.zeros((depth, width, batch_size))
    dA, dZ = np.zeros((width, batch_size)), np.zeros((width, batch_size))
    total = 0.0
    for start in range(0, n, batch_size):
        total += _batch_grad(xT, y, task, G, c, order[start:start + batch_size], W0, Ws, b, acts, dA, dZ,
                             gW0, gWs, gb, 1.0 / n)
    grads = [(gW0, gb[0])] + [(gWs[k], gb[k + 1]) for k in range(depth - 1)]
    return total / n, grads


def _stack_layers(mlp: MLP):
    """Contiguous float64 copies: first layer (d, width), hidden layers (depth-1, width, width), biases."""
    width = mlp.width
    W0 = np.ascontiguousarray(mlp.weights[0], dtype=np.float64)
    Ws = (np.ascontiguousarray(np.stack(mlp.weights[1:]), dtype=np.float64) if mlp.depth > 1
          else np.zeros((0, width, width)))
    b = np.ascontiguousarray(np.stack(mlp.biases), dtype=np.float64)
    return W0, Ws, b


def pretrain_loss_and_grad_reference(x, y, task, G, c, mlp: MLP):
    """Plain-numpy mean squared pretraining loss and its gradient (for tests of the kernel).

    Returns ``(loss, grads)`` with ``grads`` a list of ``(dW, db)`` per layer, same shapes as ``mlp``.
    """
    acts, pres = [x], []
    a = x
    for W, bias in zip(mlp.weights, mlp.biases):
        z = a @ W + bias                       # (N, width)
        pres.append(z)
        a = np.maximum(z, 0.0)
        acts.append(a)
    r = np.einsum("nj,nj->n", a, G[task]) + c[task] - y   # (N,)
    loss = float(np.mean(r * r))
    dA = (2.0 / len(r)) * r[:, None] * G[task]
    grads = []
    for layer in range(len(mlp.weights) - 1, -1, -1):
        dZ = dA * (pres[layer] > 0)
        grads.append((acts[layer].T @ dZ, dZ.sum(axis=0)))
        dA = dZ @ mlp.weights[layer].T
    return loss, grads[::-1]


def initial_mlp(rng: np.random.Generator, input_dim: int, width: int, depth: int, output_rms: float,
                init: str) -> MLP:
    """Starting weights whose features have root mean square near ``output_rms``; zero biases.

    Why not PyTorch's default uniform init: with variance 1/(3 fan_in) a ReLU layer shrinks the signal's
    second moment about six-fold, so a deep representation starts orders of magnitude below its targets
    and minibatch Adam spends most epochs climbing back. ``"he"`` draws He-normal layers and scales the last;
    ``"identity"`` draws a He-normal first layer and starts every hidden layer at ``I + noise``: on
    non-negative ReLU activations the identity passes the signal through, so the deep network starts as a
    shallow one and trains several times faster per epoch (measured: loss 0.30 vs 0.63 after 30 epochs on
    the 8-layer strong representation of the default world).
    """
    dims = [input_dim] + [width] * depth
    weights = [rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out))
               for fan_in, fan_out in zip(dims[:-1], dims[1:])]
    if init == "identity":
        for k in range(1, depth):
            weights[k] = np.eye(width) + rng.normal(0.0, 0.1 / np.sqrt(width), size=(width, width))
        weights[0] = weights[0] * output_rms
    else:
        weights[-1] = weights[-1] * output_rms
    biases = [np.zeros(width) for _ in range(depth)]
    return MLP(weights, biases)


def pretrain_representation(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, task: np.ndarray,
                            heads: np.ndarray, intercepts: np.ndarray, depth: int, width: int,
                            input_scale: float, config: PretrainConfig) -> tuple[MLP, dict]:
    """Train an MLP representation of ``depth`` ReLU layers on frozen linear task heads.

    Parameters
    ----------
    rng : the generator for the initialisation and the shuffling. ``"faithful"`` and ``"protocol"`` make
        the same calls on it in the same order (the initial layers, then one permutation per epoch), so
        from one generator state they start from the same weights and see the same minibatches.
    x : (N, d) raw inputs; y : (N,) gold labels; task : (N,) task index of each sample.
    heads : (T, width) frozen head weights; intercepts : (T,) frozen head biases.
    depth, width : the representation's architecture.
    input_scale : ``"adam"`` divides inputs by this inside the kernel (see the module docstring); the
        other optimizers use raw inputs, as the protocol does.
    config : optimiser settings.

    Returns
    -------
    mlp : the trained representation, acting on raw inputs.
    info : ``{"loss": final mean squared training loss, "loss_curve": per-epoch losses, "epochs": ...}``.
    """
    config.validate()
    if config.optimizer == "protocol":
        from weakstrong.sim.protocol import protocol_pretrain

        return protocol_pretrain(rng, x, y, task, heads, intercepts, depth, width, config.epochs,
                                 lr=config.protocol_lr, batch_size=config.batch_size,
                                 weight_decay=config.weight_decay, betas=(config.beta1, config.beta2),
                                 eps=config.eps)
    faithful = config.optimizer == "faithful"
    # faithful: a constant step (a cosine from lr to lr * 1) and decoupled decay; adam: neither
    lr, final_fraction, decay = ((config.protocol_lr, 1.0, config.weight_decay) if faithful
                                 else (config.lr, config.final_lr_fraction, 0.0))
    if faithful:
        init = random_mlp(rng, x.shape[1], width, depth)      # torch.nn.Linear's default init, as the protocol
        input_scale = 1.0
    else:
        target_rms = float(np.sqrt(np.mean(y ** 2)) / max(np.sqrt(np.sum(heads ** 2, axis=1)).mean(), 1e-12))
        init = initial_mlp(rng, x.shape[1], width, depth, output_rms=target_rms / np.sqrt(width),
                           init=config.init)
    W0, Ws, b = _stack_layers(init)
    grads = (np.zeros_like(W0), np.zeros_like(Ws), np.zeros_like(b))
    moments = tuple(np.zeros_like(p) for p in (W0, W0, Ws, Ws, b, b))
    xT = np.ascontiguousarray((x / input_scale).T)                     # (d, N)
    args = (xT, np.ascontiguousarray(y, dtype=np.float64), task.astype(np.int64),
            np.ascontiguousarray(heads, dtype=np.float64), np.ascontiguousarray(intercepts, dtype=np.float64),
            W0, Ws, b, grads, moments)
    batches = -(-len(x) // config.batch_size)
    curve = np.zeros(config.epochs)
    for epoch in range(config.epochs):
        curve[epoch] = _adam_epoch(*args, rng.permutation(len(x)), config.batch_size, epoch * batches,
                                   config.epochs * batches, lr, final_fraction, config.beta1, config.beta2,
                                   config.eps, decay, faithful)
    weights = [W0 / input_scale] + [Ws[k].copy() for k in range(depth - 1)]
    mlp = MLP(weights, [b[k].copy() for k in range(depth)])
    # The reported loss is the exact full-data loss of the final weights, not the running epoch mean.
    final = float(np.mean((np.einsum("nj,nj->n", mlp(x), heads[task]) + intercepts[task] - y) ** 2))
    return mlp, {"loss": final, "loss_curve": curve.tolist(), "epochs": config.epochs}
