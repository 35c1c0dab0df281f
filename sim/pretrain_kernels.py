"""The numba kernels of representation pretraining (:mod:`weakstrong.sim.pretrain`).

One minibatch step is a forward pass, a backward pass and an Adam or AdamW update of a width-16 ReLU MLP
on frozen linear task heads. The samples of a minibatch sit on the innermost axis, so every loop is a
branch-free vector loop over the batch, and the 16 x 16 products are unrolled eight rows at a time.
``_adamw_step`` follows torch's single-tensor AdamW operation for operation, so the ``faithful`` optimizer
equals the torch protocol step for step in float64 (``tests/test_sim_protocol_faithful.py``).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, fastmath=True, inline="always")
def _affine_relu(A, W, bias, out, B):
    """``out[:, :B] = relu(W^T A[:, :B] + bias)``: A (k, >=B), W (k, m), out (m, >=B).

    Eight input rows per pass over an output row: one store per eight multiply-adds instead of one per
    multiply-add, which is what bounds a row-at-a-time update.
    """
    k = A.shape[0]
    m = out.shape[0]
    k8 = k - k % 8
    for j in range(m):
        row = out[j]
        bj = bias[j]
        for s in range(B):
            row[s] = bj
        for i in range(0, k8, 8):
            w0, w1, w2, w3 = W[i, j], W[i + 1, j], W[i + 2, j], W[i + 3, j]
            w4, w5, w6, w7 = W[i + 4, j], W[i + 5, j], W[i + 6, j], W[i + 7, j]
            a0, a1, a2, a3, a4, a5, a6, a7 = A[i], A[i + 1], A[i + 2], A[i + 3], A[i + 4], A[i + 5], A[i + 6], A[i + 7]
            for s in range(B):
                row[s] += (w0 * a0[s] + w1 * a1[s] + w2 * a2[s] + w3 * a3[s]
                           + w4 * a4[s] + w5 * a5[s] + w6 * a6[s] + w7 * a7[s])
        for i in range(k8, k):
            w = W[i, j]
            a = A[i]
            for s in range(B):
                row[s] += w * a[s]
        for s in range(B):
            row[s] = max(row[s], 0.0)


@numba.njit(cache=True, fastmath=True, inline="always")
def _backprop_rows(W, dZ, dA, B):
    """``dA[:, :B] = W dZ[:, :B]``: W (k, m), dZ (m, >=B), dA (k, >=B); eight rows of dZ per pass."""
    k, m = W.shape
    m8 = m - m % 8
    for i in range(k):
        da = dA[i]
        for s in range(B):
            da[s] = 0.0
        for j in range(0, m8, 8):
            w0, w1, w2, w3 = W[i, j], W[i, j + 1], W[i, j + 2], W[i, j + 3]
            w4, w5, w6, w7 = W[i, j + 4], W[i, j + 5], W[i, j + 6], W[i, j + 7]
            z0, z1, z2, z3, z4, z5, z6, z7 = dZ[j], dZ[j + 1], dZ[j + 2], dZ[j + 3], dZ[j + 4], dZ[j + 5], dZ[j + 6], dZ[j + 7]
            for s in range(B):
                da[s] += (w0 * z0[s] + w1 * z1[s] + w2 * z2[s] + w3 * z3[s]
                          + w4 * z4[s] + w5 * z5[s] + w6 * z6[s] + w7 * z7[s])
        for j in range(m8, m):
            w = W[i, j]
            z = dZ[j]
            for s in range(B):
                da[s] += w * z[s]


@numba.njit(cache=True, fastmath=True, inline="always")
def _accumulate_outer(A, dZ, g, B):
    """``g += A[:, :B] dZ[:, :B]^T``: A (k, >=B), dZ (m, >=B), g (k, m); 2 x 2 blocks of batch dot products,
    so each loaded row serves two products."""
    k = A.shape[0]
    m = dZ.shape[0]
    k2, m2 = k - k % 2, m - m % 2
    for i in range(0, k2, 2):
        a0, a1 = A[i], A[i + 1]
        for j in range(0, m2, 2):
            z0, z1 = dZ[j], dZ[j + 1]
            t00 = t01 = t10 = t11 = 0.0
            for s in range(B):
                t00 += a0[s] * z0[s]
                t01 += a0[s] * z1[s]
                t10 += a1[s] * z0[s]
                t11 += a1[s] * z1[s]
            g[i, j] += t00
            g[i, j + 1] += t01
            g[i + 1, j] += t10
            g[i + 1, j + 1] += t11
    for i in range(k):
        for j in range(m2 if i < k2 else 0, m):
            a = A[i]
            z = dZ[j]
            t = 0.0
            for s in range(B):
                t += a[s] * z[s]
            g[i, j] += t


@numba.njit(cache=True, fastmath=True)
def _batch_grad(xT, y, task, G, c, idx, W0, Ws, b, acts, dA, dZ, gW0, gWs, gb, scale):
    """Forward + backward of the samples ``idx``; accumulates ``scale * d(sum of residual^2)``.

    xT (d, N) holds the inputs feature-major; acts (depth, width, B), dA and dZ (width, B) are scratch
    with B >= len(idx). Samples sit on the innermost axis, so every loop is a branch-free vector loop
    over the batch: about four times faster than a sample at a time, whose width-16 loops are too short
    to vectorise and whose ReLU branches are mispredicted half of the time. The three products per layer
    (:func:`_affine_relu`, :func:`_accumulate_outer`, :func:`_backprop_rows`) are blocked so that a loaded
    row serves several multiply-adds; about 20 us per minibatch of 32 for the 8-layer representation.
    Returns the sum of squared residuals over ``idx``.
    """
    depth, width = b.shape
    d = xT.shape[0]
    B = idx.shape[0]
    X = np.empty((d, B))                     # (d, B): this minibatch's inputs
    for i in range(d):
        for s in range(B):
            X[i, s] = xT[i, idx[s]]
    _affine_relu(X, W0, b[0], acts[0], B)
    for layer in range(1, depth):
        _affine_relu(acts[layer - 1], Ws[layer - 1], b[layer], acts[layer], B)
    loss = 0.0
    last = acts[depth - 1]
    for s in range(B):
        t = task[idx[s]]
        out = c[t]
        for j in range(width):
            out += G[t, j] * last[j, s]
        r = out - y[idx[s]]
        loss += r * r
        coef = 2.0 * r * scale
        for j in range(width):
            dA[j, s] = coef * G[t, j]
    for layer in range(depth - 1, -1, -1):
        # a ReLU unit passes gradient where it is active: acts > 0 exactly where the pre-activation is
        cur = acts[layer]
        for j in range(width):
            total = 0.0
            for s in range(B):
                z = dA[j, s] if cur[j, s] > 0.0 else 0.0
                dZ[j, s] = z
                total += z
            gb[layer, j] += total
        if layer == 0:
            _accumulate_outer(X, dZ, gW0, B)
        else:
            _accumulate_outer(acts[layer - 1], dZ, gWs[layer - 1], B)
            _backprop_rows(Ws[layer - 1], dZ, dA, B)
    return loss


# error_model="numpy": a float division without Python's zero check, so the loops vectorise (the
# denominators are positive); each operation is still the IEEE one, so results are unchanged.
@numba.njit(cache=True, error_model="numpy")
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


@numba.njit(cache=True, error_model="numpy")
def _adamw_step(param, grad, m, v, lr, beta1, beta2, eps, weight_decay, t):
    """One ``torch.optim.AdamW`` step (its single-tensor CPU path), operation for operation.

    Decoupled decay ``p *= 1 - lr wd``; ``m`` lerps towards g; ``v = v beta2 + (1 - beta2) g g``;
    ``p += (-lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps)`` with ``bc_i = 1 - beta_i^t``, the bias corrections
    computed with ``pow`` on a float step as torch does. Zeroes ``grad``.
    """
    flat_p = param.reshape(-1)
    flat_g = grad.reshape(-1)
    flat_m = m.reshape(-1)
    flat_v = v.reshape(-1)
    decay = 1.0 - lr * weight_decay
    w1 = 1.0 - beta1
    w2 = 1.0 - beta2
    step_size = lr / (1.0 - beta1 ** float(t))
    corr2_sqrt = (1.0 - beta2 ** float(t)) ** 0.5
    for k in range(flat_p.shape[0]):
        gk = flat_g[k]
        flat_p[k] = flat_p[k] * decay
        flat_m[k] = flat_m[k] + w1 * (gk - flat_m[k])       # torch's lerp for a weight below 1/2
        flat_v[k] = flat_v[k] * beta2 + w2 * gk * gk
        flat_p[k] = flat_p[k] + (-step_size) * flat_m[k] / (np.sqrt(flat_v[k]) / corr2_sqrt + eps)
        flat_g[k] = 0.0


@numba.njit(cache=True, nogil=True)
def _adam_epoch(xT, y, task, G, c, W0, Ws, b, grads, moments, order, batch_size, step, total_steps, lr,
                final_frac, beta1, beta2, eps, weight_decay, adamw):
    """One epoch of minibatch Adam over the samples in ``order``; returns the epoch's mean squared loss.

    xT (d, N) inputs feature-major, y (N,), task (N,) index into heads G (T, width), c (T,).
    Parameters W0, Ws, b are updated in place; ``grads`` = (gW0, gWs, gb) is zeroed scratch and
    ``moments`` = (mW0, vW0, mWs, vWs, mb, vb) Adam's state, both carried across epochs; ``step`` counts
    the updates done before this epoch, out of ``total_steps`` for the cosine schedule (``final_frac`` = 1
    keeps the step at exactly ``lr``). The loss of a minibatch is its mean, so a last, smaller minibatch
    weighs each of its samples more, as in a framework's loop. ``adamw`` selects :func:`_adamw_step`
    (torch's AdamW, ``weight_decay`` decoupled) over :func:`_adam_step` (plain Adam, no decay).
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
        if adamw:
            _adamw_step(W0, gW0, mW0, vW0, lr_t, beta1, beta2, eps, weight_decay, step)
            _adamw_step(Ws, gWs, mWs, vWs, lr_t, beta1, beta2, eps, weight_decay, step)
            _adamw_step(b, gb, mb, vb, lr_t, beta1, beta2, eps, weight_decay, step)
        else:
            _adam_step(W0, gW0, mW0, vW0, lr_t, beta1, beta2, eps, step)
            _adam_step(Ws, gWs, mWs, vWs, lr_t, beta1, beta2, eps, step)
            _adam_step(b, gb, mb, vb, lr_t, beta1, beta2, eps, step)
    return epoch_loss / n
