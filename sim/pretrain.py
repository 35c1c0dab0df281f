"""Representation pretraining: a ReLU MLP learns T linear tasks over the ground truth, task heads frozen.

This is the representation stage of the synthetic protocol of Charikar, Pabbaraju & Shiragur (2024,
arXiv 2405.15116, Sec. 5 and their public notebook): an MLP representation ``h`` is trained so that for
each of ``T`` frozen task heads ``(g_t, c_t)``, ``g_t . h(x) + c_t`` matches the gold label
``g_t . h*(x) + c_t``; only the representation learns. The original protocol runs minibatch AdamW
(batch 32, 1000 epochs) in an autograd framework. Here the same minibatch Adam loop runs as one fused
numba kernel (forward, backward and update per minibatch, no framework in between), so a few dozen epochs
take seconds; the loss it reaches is reported by :func:`pretrain_representation`.

Inputs enter the kernel divided by their scale ``sigma`` (and the first layer is rescaled back afterwards),
which changes the parametrisation, not the function class: with x ~ N(0, 500^2 I) raw inputs would make
Adam's first-layer steps 500 times too small relative to the weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from weakstrong.sim.mlp import MLP

INITS = ("identity", "he")


@dataclass(frozen=True)
class PretrainConfig:
    """Minibatch Adam settings for representation pretraining."""

    epochs: int = 60            # passes over all T * n samples
    init: str = "identity"      # "identity": hidden layers start at I + noise; "he": He-normal (see initial_mlp)
    batch_size: int = 32        # the original protocol's minibatch
    lr: float = 3e-3            # peak Adam step; decays by a cosine to lr * final_lr_fraction
    final_lr_fraction: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def validate(self) -> None:
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"PretrainConfig.{name} must be a positive integer, got {value!r}")
        for name in ("lr", "final_lr_fraction", "eps"):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f"PretrainConfig.{name} must be a positive finite number, got {value!r}")
        if self.init not in INITS:
            raise ValueError(f"PretrainConfig.init must be one of {INITS}, got {self.init!r}")
        for name in ("beta1", "beta2"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"PretrainConfig.{name} must lie in [0, 1), got {value!r}")


@numba.njit(cache=True, fastmath=True)
def _sample_grad(x, y, g, c, W0, Ws, b, acts, pre, dA, dZ, gW0, gWs, gb, scale):
    """Forward + backward of one sample; accumulates ``scale * d(residual^2)`` into the gradients.

    Loops run with the output index innermost (contiguous, vectorisable) and skip inactive ReLU units,
    about half of them, in both the forward and the weight-gradient products.
    """
    depth, width = b.shape
    d = x.shape[0]
    for j in range(width):
        pre[0, j] = b[0, j]
    for i in range(d):
        xi = x[i]
        for j in range(width):
            pre[0, j] += xi * W0[i, j]
    for j in range(width):
        acts[0, j] = max(pre[0, j], 0.0)
    for layer in range(1, depth):
        for j in range(width):
            pre[layer, j] = b[layer, j]
        for i in range(width):
            ai = acts[layer - 1, i]
            if ai > 0.0:
                for j in range(width):
                    pre[layer, j] += ai * Ws[layer - 1, i, j]
        for j in range(width):
            acts[layer, j] = max(pre[layer, j], 0.0)
    out = c
    for j in range(width):
        out += g[j] * acts[depth - 1, j]
    r = out - y
    coef = 2.0 * r * scale
    for j in range(width):
        dA[j] = coef * g[j]
    for layer in range(depth - 1, -1, -1):
        for j in range(width):
            dZ[j] = dA[j] if pre[layer, j] > 0.0 else 0.0
            gb[layer, j] += dZ[j]
        if layer == 0:
            for i in range(d):
                xi = x[i]
                for j in range(width):
                    gW0[i, j] += xi * dZ[j]
        else:
            for i in range(width):
                ai = acts[layer - 1, i]
                s = 0.0
                for j in range(width):
                    s += Ws[layer - 1, i, j] * dZ[j]
                dA[i] = s
                if ai > 0.0:
                    for j in range(width):
                        gWs[layer - 1, i, j] += ai * dZ[j]
    return r * r


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
def _adam_train_kernel(x, y, task, G, c, W0, Ws, b, order, epochs, batch_size, lr, final_frac,
                       beta1, beta2, eps):
    """Minibatch Adam over shuffled samples; returns the mean squared loss of every epoch.

    x (N, d), y (N,), task (N,) index into heads G (T, width), c (T,); parameters updated in place.
    order (epochs, N) holds a precomputed permutation per epoch so the kernel is deterministic.
    """
    n = x.shape[0]
    depth, width = b.shape
    acts = np.zeros((depth, width))
    pre = np.zeros((depth, width))
    dA = np.zeros(width)
    dZ = np.zeros(width)
    gW0 = np.zeros_like(W0)
    gWs = np.zeros_like(Ws)
    gb = np.zeros_like(b)
    mW0 = np.zeros_like(W0)
    vW0 = np.zeros_like(W0)
    mWs = np.zeros_like(Ws)
    vWs = np.zeros_like(Ws)
    mb = np.zeros_like(b)
    vb = np.zeros_like(b)
    n_batches = (n + batch_size - 1) // batch_size
    total_steps = epochs * n_batches
    losses = np.zeros(epochs)
    step = 0
    for epoch in range(epochs):
        epoch_loss = 0.0
        for batch in range(n_batches):
            start = batch * batch_size
            stop = min(start + batch_size, n)
            scale = 1.0 / (stop - start)
            for k in range(start, stop):
                i = order[epoch, k]
                t = task[i]
                epoch_loss += _sample_grad(x[i], y[i], G[t], c[t], W0, Ws, b, acts, pre, dA, dZ,
                                           gW0, gWs, gb, scale)
            step += 1
            # cosine decay from lr to lr * final_frac over all steps
            frac = step / total_steps
            lr_t = lr * (final_frac + (1.0 - final_frac) * 0.5 * (1.0 + np.cos(np.pi * frac)))
            _adam_step(W0, gW0, mW0, vW0, lr_t, beta1, beta2, eps, step)
            _adam_step(Ws, gWs, mWs, vWs, lr_t, beta1, beta2, eps, step)
            _adam_step(b, gb, mb, vb, lr_t, beta1, beta2, eps, step)
        losses[epoch] = epoch_loss / n
    return losses


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
    target_rms = float(np.sqrt(np.mean(y ** 2)) / max(np.sqrt(np.sum(heads ** 2, axis=1)).mean(), 1e-12))
    init = initial_mlp(rng, x.shape[1], width, depth, output_rms=target_rms / np.sqrt(width),
                       init=config.init)
    W0 = np.ascontiguousarray(init.weights[0])
    Ws = np.ascontiguousarray(np.stack(init.weights[1:])) if depth > 1 else np.zeros((0, width, width))
    b = np.ascontiguousarray(np.stack(init.biases))
    order = np.stack([rng.permutation(len(x)) for _ in range(config.epochs)])
    xs = np.ascontiguousarray(x / input_scale)
    curve = _adam_train_kernel(xs, np.ascontiguousarray(y, dtype=np.float64), task.astype(np.int64),
                               np.ascontiguousarray(heads, dtype=np.float64),
                               np.ascontiguousarray(intercepts, dtype=np.float64), W0, Ws, b, order,
                               config.epochs, config.batch_size, config.lr, config.final_lr_fraction,
                               config.beta1, config.beta2, config.eps)
    weights = [W0 / input_scale] + [Ws[k].copy() for k in range(depth - 1)]
    mlp = MLP(weights, [b[k].copy() for k in range(depth)])
    # The reported loss is the exact full-data loss of the final weights, not the running epoch mean.
    final = float(np.mean((np.einsum("nj,nj->n", mlp(x), heads[task]) + intercepts[task] - y) ** 2))
    return mlp, {"loss": final, "loss_curve": curve.tolist(), "epochs": config.epochs}
