"""The original protocol's representation pretraining, run in full in torch: the reference.

Charikar, Pabbaraju & Shiragur (2024) pretrain h_s and h_w with PyTorch-default-initialised ``nn.Linear``
layers, AdamW (lr 1e-3, torch's default weight decay 0.01), batch 32 and MSE for 1000 epochs over the T
pretraining tasks, the task heads frozen (REFERENCE.md section 1). This module runs that protocol in torch on
the simulator's world, data and heads. It costs about 20 minutes per world on one CPU core; the optimizer
``"faithful"`` of :mod:`weakstrong.sim.pretrain` is the same computation in a numba kernel, and the tests
check the two step for step (this function in float64, from the same generator state).

Select it with ``PretrainConfig(optimizer="protocol", epochs=1000)``, or on the command line
``weakstrong sim charikar --pretrain-optimizer protocol --pretrain-epochs 1000``.
"""

from __future__ import annotations

import numpy as np

from weakstrong.sim.mlp import MLP, random_mlp


def protocol_pretrain(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, task: np.ndarray,
                      heads: np.ndarray, intercepts: np.ndarray, depth: int, width: int, epochs: int,
                      lr: float = 1e-3, batch_size: int = 32, weight_decay: float = 0.01,
                      betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                      dtype: str = "float32") -> tuple[MLP, dict]:
    """Train a ``depth``-layer ReLU MLP on frozen linear task heads exactly as the original protocol does.

    Parameters
    ----------
    rng : draws the PyTorch-default initial weights (:func:`random_mlp`) and then one permutation per
        epoch, so runs are reproducible.
    x : (N, d) raw inputs; y : (N,) gold labels; task : (N,) task index of each sample.
    heads : (T, width) frozen head weights; intercepts : (T,) frozen head biases.
    depth, width : the architecture. epochs, lr, batch_size, weight_decay, betas, eps : the AdamW loop
        (the defaults are the protocol's: torch.optim.AdamW's own, batch 32).
    dtype : torch dtype name of the parameters and data; the protocol's is ``"float32"``, the tests run
        ``"float64"`` to compare with the float64 numba kernel to rounding.

    Returns
    -------
    mlp : the trained representation (numpy float64, raw inputs).
    info : ``{"loss": final full-data mean squared loss, "loss_curve": per-epoch mean minibatch loss,
        "epochs": epochs}``.
    """
    import torch

    # The protocol's cost is quoted for one thread, and a 16-wide MLP gains nothing from more; strong and
    # weak representations train in parallel threads of their own (see make_world).
    torch.set_num_threads(1)
    tdtype = getattr(torch, dtype)
    init = random_mlp(rng, x.shape[1], width, depth)
    params = [torch.tensor(a, dtype=tdtype, requires_grad=True)
              for W, b in zip(init.weights, init.biases) for a in (W, b)]
    opt = torch.optim.AdamW(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    xt = torch.tensor(x, dtype=tdtype)
    yt = torch.tensor(y, dtype=tdtype)
    gt = torch.tensor(heads[task], dtype=tdtype)          # (N, width): each sample's frozen head
    ct = torch.tensor(intercepts[task], dtype=tdtype)

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
