"""The original protocol's representation pretraining, run in full in torch, for validation.

Charikar, Pabbaraju & Shiragur (2024) pretrain h_s and h_w with PyTorch-default-initialised ``nn.Linear``
layers, AdamW (lr 1e-3, torch's default weight decay 0.01), batch 32 and MSE for 1000 epochs over the T
pretraining tasks, the task heads frozen (REFERENCE.md section 1). The simulator's default optimizer
(:func:`weakstrong.sim.pretrain.pretrain_representation` with ``optimizer="adam"``) is a fused numba Adam
that takes seconds; this module runs the protocol itself on the *same* world, data and heads, so a user can
check that both reach a comparable fit. It costs about 20 minutes on one CPU core at 1000 epochs.

Select it with ``PretrainConfig(optimizer="protocol", epochs=1000)``, or on the command line
``weakstrong sim charikar --pretrain-optimizer protocol --pretrain-epochs 1000``.
"""

from __future__ import annotations

import numpy as np

from weakstrong.sim.mlp import MLP, torch_default_linear_init


def protocol_pretrain(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, task: np.ndarray,
                      heads: np.ndarray, intercepts: np.ndarray, depth: int, width: int, epochs: int,
                      lr: float = 1e-3, batch_size: int = 32) -> tuple[MLP, dict]:
    """Train a ``depth``-layer ReLU MLP on frozen linear task heads exactly as the original protocol does.

    Parameters
    ----------
    rng : draws the PyTorch-default initial weights and the per-epoch shuffles (so runs are reproducible).
    x : (N, d) raw inputs; y : (N,) gold labels; task : (N,) task index of each sample.
    heads : (T, width) frozen head weights; intercepts : (T,) frozen head biases.
    depth, width : the architecture. epochs, lr, batch_size : the protocol's AdamW loop.

    Returns
    -------
    mlp : the trained representation (numpy, raw inputs).
    info : ``{"loss": final full-data mean squared loss, "loss_curve": per-epoch mean minibatch loss,
        "epochs": epochs}``.
    """
    import torch

    # The protocol's cost is quoted for one thread, and a 16-wide MLP gains nothing from more; strong and
    # weak representations train in parallel threads of their own (see make_world).
    torch.set_num_threads(1)
    layers = [torch_default_linear_init(rng, i, o) for i, o in zip([x.shape[1]] + [width] * (depth - 1),
                                                                   [width] * depth)]
    params = [torch.tensor(a, dtype=torch.float32, requires_grad=True) for W, b in layers for a in (W, b)]
    opt = torch.optim.AdamW(params, lr=lr)
    xt = torch.tensor(x, dtype=torch.float32)
    yt = torch.tensor(y, dtype=torch.float32)
    gt = torch.tensor(heads[task], dtype=torch.float32)          # (N, width): each sample's frozen head
    ct = torch.tensor(intercepts[task], dtype=torch.float32)

    def forward(idx):
        a = xt[idx]
        for k in range(depth):
            a = torch.relu(a @ params[2 * k] + params[2 * k + 1])
        return (a * gt[idx]).sum(-1) + ct[idx]

    from tqdm.auto import tqdm

    curve = []
    # disable=None: a progress bar on a terminal, silence in logs and tests.
    for _ in tqdm(range(epochs), desc=f"protocol pretraining ({depth} layers)", unit="epoch", disable=None):
        order = torch.from_numpy(rng.permutation(len(x)))
        total = 0.0
        for i in range(0, len(x), batch_size):
            idx = order[i:i + batch_size]
            opt.zero_grad(set_to_none=True)
            loss = torch.mean((forward(idx) - yt[idx]) ** 2)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        curve.append(total / len(x))
    mlp = MLP([p.detach().double().numpy() for p in params[0::2]], [p.detach().double().numpy() for p in params[1::2]])
    final = float(np.mean((np.einsum("nj,nj->n", mlp(x), heads[task]) + intercepts[task] - y) ** 2))
    return mlp, {"loss": final, "loss_curve": curve, "epochs": epochs}
