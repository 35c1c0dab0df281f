"""Representation pretraining: a ReLU MLP learns T linear tasks over the ground truth, task heads frozen.

This is the representation stage of the synthetic protocol of Charikar, Pabbaraju & Shiragur (2024,
arXiv 2405.15116, Sec. 5 and their public notebook): an MLP representation ``h`` is trained so that for
each of ``T`` frozen task heads ``(g_t, c_t)``, ``g_t . h(x) + c_t`` matches the gold label
``g_t . h*(x) + c_t``; only the representation learns. The original protocol runs minibatch AdamW
(batch 32, 1000 epochs) in an autograd framework. Here minibatch Adam runs as one numba kernel per epoch
(forward, backward and update per minibatch, no framework in between), with the samples of a minibatch
on the innermost axis so every loop vectorises; an epoch over the 20,000 samples of the default world
takes about 35 ms for the 8-layer representation. The loss reached is reported by
:func:`pretrain_representation`.

Inputs enter the kernel divided by their scale ``sigma`` (and the first layer is rescaled back afterwards),
which changes the parametrisation, not the function class: with x ~ N(0, 500^2 I) raw inputs would make
Adam's first-layer steps 500 times too small relative to the weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np

from weakstrong.config import ConfigError
from weakstrong.sim.mlp import MLP

INITS = ("identity", "he")
# "adam": the fused numba minibatch Adam below (seconds); "protocol": the original protocol in torch
# (weakstrong.sim.protocol: default init, AdamW lr 1e-3, batch 32), for validating that "adam" fits as well.
OPTIMIZERS = ("adam", "protocol")


@dataclass(frozen=True)
class PretrainConfig:
    """Minibatch Adam settings for representation pretraining.

    On the default world (seed 0) the defaults end at a strong (8-layer) loss of 0.12 and a weak (2-layer)
    loss of 0.33, against gold-label variance of about 1.4, in about 2 s per representation. More epochs
    fit better (200 epochs at batch 64 and lr 5e-3: strong 0.09, weak 0.30) but do not lower the strong
    ceiling of the fine-tuning tasks (0.205 either way) and fit the weak representation better too, which
    lowers the slope of gain on misfit (0.76 -> 0.46).
    """

    epochs: int = 60            # passes over all T * n samples
    # adam: fused numba minibatch Adam (seconds); protocol: the original protocol in torch (AdamW lr 1e-3,
    # batch 32, default init; about 20 min at 1000 epochs), which ignores init, lr and the schedule fields
    optimizer: str = field(default="adam", metadata={"choices": OPTIMIZERS})
    # identity: hidden layers start at I + noise; he: He-normal (see initial_mlp)
    init: str = field(default="identity", metadata={"choices": INITS})
    batch_size: int = 32        # the original protocol's minibatch
    lr: float = 3e-3            # peak Adam step; decays by a cosine to lr * final_lr_fraction
    final_lr_fraction: float = 0.01   # the cosine schedule ends at lr * final_lr_fraction
    beta1: float = 0.9          # Adam's first-moment decay
    beta2: float = 0.999        # Adam's second-moment decay
    eps: float = 1e-8           # Adam's denominator floor

    def validate(self) -> None:
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"PretrainConfig.{name} must be a positive integer, got {value!r}")
        for name in ("lr", "final_lr_fraction", "eps"):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise ConfigError(f"PretrainConfig.{name} must be a positive finite number, got {value!r}")
        if self.final_lr_fraction > 1.0:
            raise ConfigError(f"PretrainConfig.final_lr_fraction must lie in (0, 1] (the schedule decays from lr), "
                              f"got {self.final_lr_fraction!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"PretrainConfig.optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.init not in INITS:
            raise ConfigError(f"PretrainConfig.init must be one of {INITS}, got {self.init!r}")
        for name in ("beta1", "beta2"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ConfigError(f"PretrainConfig.{name} must lie in [0, 1), got {value!r}")


@numba.njit(cache=True, fastmath=True)
def _batch_grad(xT, y, task, G, c, idx, W0, Ws, b, acts, dA, dZ, gW0, gWs, gb, scale):
    """Forward + backward of the samples ``idx``; accumulates ``scale * d(sum of residual^2)``.

    xT (d, N) holds the inputs feature-major; acts (depth, width, B), dA and dZ (width, B) are scratch
    with B >= len(idx). Samples sit on the innermost axis, so every loop is a branch-free vector loop
    over the batch: about four times faster than a sample at a time, whose width-16 loops are too short
    to vectorise and whose ReLU branches are mispredicted half of the time. Returns the sum of squared
    residuals over ``idx``.
    """
    depth, width = b.shape
    d = xT.shape[0]
    B = idx.shape[0]
    X = np.empty((d, B))
    for i in range(d):
        for s in range(B):
            X[i, s] = xT[i, idx[s]]
    for layer in range(depth):
        for j in range(width):
            bj = b[layer, j]
            for s in range(B):
                acts[layer, j, s] = bj
        fan_in = d if layer == 0 else width
        for i in range(fan_in):
            for j in range(width):
                w = W0[i, j] if layer == 0 else Ws[layer - 1, i, j]
                for s in range(B):
                    a_in = X[i, s] if layer == 0 else acts[layer - 1, i, s]
                    acts[layer, j, s] += w * a_in
        for j in range(width):
            for s in range(B):
                acts[layer, j, s] = max(acts[layer, j, s], 0.0)
    loss = 0.0
    for s in range(B):
        t = task[idx[s]]
        out = c[t]
        for j in range(width):
            out += G[t, j] * acts[depth - 1, j, s]
        r = out - y[idx[s]]
        loss += r * r
        coef = 2.0 * r * scale
        for j in range(width):
            dA[j, s] = coef * G[t, j]
    for layer in range(depth - 1, -1, -1):
        # a ReLU unit passes gradient where it is active: acts > 0 exactly where the pre-activation is
        for j in range(width):
            total = 0.0
            for s in range(B):
                z = dA[j, s] if acts[layer, j, s] > 0.0 else 0.0
                dZ[j, s] = z
                total += z
            gb[layer, j] += total
        fan_in = d if layer == 0 else width
        for i in range(fan_in):
            for j in range(width):
                total = 0.0
                for s in range(B):
                    a_in = X[i, s] if layer == 0 else acts[layer - 1, i, s]
                    total += a_in * dZ[j, s]
                if layer == 0:
                    gW0[i, j] += total
                else:
                    gWs[layer - 1, i, j] += total
        if layer > 0:
            for i in range(width):
                for s in range(B):
                    dA[i, s] = 0.0
                for j in range(width):
                    w = Ws[layer - 1, i, j]
                    for s in range(B):
                        dA[i, s] += w * dZ[j, s]
    return loss


@numba.njit(cache=True)
def _adam_step(param, grad, m, v, lr, beta1, beta2, eps, t):
    flat_p = param.reshape(-1)
    flat_g = grad.reshape(-1)
    flat_m = m.reshape(-1)
    flat_v = v.reshape(-1)
    corr1 = 1.0 - beta1 ** t
    corr2 = 1.0 - beta2 ** t
    for k in range(flat_p.shape[0]):
        gk = flat_g[k]
        flat_m[k] = beta1 * flat_m[k] + (1.0 - beta1) * gk
        flat_v[k] = beta2 * flat_v[k] + (1.0 - beta2) * gk * gk
        flat_p[k] -= lr * (flat_m[k] / corr1) / (np.sqrt(flat_v[k] / corr2) + eps)
        flat_g[k] = 0.0


@numba.njit(cache=True, nogil=True)
def _adam_epoch(xT, y, task, G, c, W0, Ws, b, grads, moments, order, batch_size, step, total_steps, lr,
                final_frac, beta1, beta2, eps):
    """One epoch of minibatch Adam over the samples in ``order``; returns the epoch's mean squared loss.

    xT (d, N) inputs feature-major, y (N,), task (N,) index into heads G (T, width), c (T,).
    Parameters W0, Ws, b are updated in place; ``grads`` = (gW0, gWs, gb) is zeroed scratch and
    ``moments`` = (mW0, vW0, mWs, vWs, mb, vb) Adam's state, both carried across epochs; ``step`` counts
    the updates done before this epoch, out of ``total_steps`` for the cosine schedule.
    """
    n = order.shape[0]
    depth, width = b.shape
    gW0, gWs, gb = grads
    mW0, vW0, mWs, vWs, mb, vb = moments
    acts = np.zeros((depth, width, batch_size))
    dA = np.zeros((width, batch_size))
    dZ = np.zeros((width, batch_size))
    epoch_loss = 0.0
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        epoch_loss += _batch_grad(xT, y, task, G, c, idx, W0, Ws, b, acts, dA, dZ, gW0, gWs, gb,
                                  1.0 / idx.shape[0])
        step += 1
        # cosine decay from lr to lr * final_frac over all steps
        frac = step / total_steps
        lr_t = lr * (final_frac + (1.0 - final_frac) * 0.5 * (1.0 + np.cos(np.pi * frac)))
        _adam_step(W0, gW0, mW0, vW0, lr_t, beta1, beta2, eps, step)
        _adam_step(Ws, gWs, mWs, vWs, lr_t, beta1, beta2, eps, step)
        _adam_step(b, gb, mb, vb, lr_t, beta1, beta2, eps, step)
    return epoch_loss / n


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
    rng : the generator for the initialisation and the shuffling.
    x : (N, d) raw inputs; y : (N,) gold labels; task : (N,) task index of each sample.
    heads : (T, width) frozen head weights; intercepts : (T,) frozen head biases.
    depth, width : the representation's architecture.
    input_scale : inputs are divided by this inside the kernel (see the module docstring).
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
                                 batch_size=config.batch_size)
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
                                   config.epochs * batches, config.lr, config.final_lr_fraction,
                                   config.beta1, config.beta2, config.eps)
    weights = [W0 / input_scale] + [Ws[k].copy() for k in range(depth - 1)]
    mlp = MLP(weights, [b[k].copy() for k in range(depth)])
    # The reported loss is the exact full-data loss of the final weights, not the running epoch mean.
    final = float(np.mean((np.einsum("nj,nj->n", mlp(x), heads[task]) + intercepts[task] - y) ** 2))
    return mlp, {"loss": final, "loss_curve": curve.tolist(), "epochs": config.epochs}
