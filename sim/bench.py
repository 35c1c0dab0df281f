"""Simulator benchmark: the same workloads timed side by side in one run (``python -m weakstrong.sim.bench``).

Rows (every timing is the median of ``--repeats`` runs unless marked extrapolated):

1. The whole ``charikar --setting pretrained`` run of 100 tasks, representation pretraining included:
   (i) the original protocol -- minibatch AdamW in torch, batch 32, 1000 epochs, for the two
   representations and for each of the 300 heads -- timed on a few epochs and heads and extrapolated;
   (ii) a straightforward numpy implementation -- the same minibatch Adam pretraining written with numpy
   array operations per minibatch (timed on one epoch, extrapolated to the epochs we run), and one
   ``np.linalg.lstsq`` per head; (iii) this package, measured end to end.
2. 10,000 tasks x n = 2000 x d_s = 16: the weak, weak-to-strong and ceiling heads of every task, each
   task with its own features, plus every record's errors and misfit; against per-task ``lstsq``
   (timed on a subset, extrapolated).
3. n = 100,000 x d_s = 1024 least-squares heads (16 targets) with shared features, as a fraction of the
   dense float64 GEMM rate measured in the same run.

Writes ``OUT/bench.json`` (atomic) and prints a markdown table. Runs in about two minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

from weakstrong.io import write_json
from weakstrong.sim import charikar, kernels
from weakstrong.sim.common import blas_threads, set_threads
from weakstrong.sim.heads import LinearHead
from weakstrong.sim.pretrain import PretrainConfig, initial_mlp, pretrain_loss_and_grad_reference
from weakstrong.sim.worlds import WorldConfig
from weakstrong.theory.boundcheck import misfit_terms


def timed(fn, repeats: int = 1) -> tuple[float, object]:
    """Median wall seconds of ``fn()`` over ``repeats`` calls, and the last result."""
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), out


def gemm_gflops(size: int = 2048, repeats: int = 3) -> float:
    """Measured dense float64 GEMM rate (2 m n k flops per product), the machine's BLAS ceiling."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((size, size)), rng.standard_normal((size, size))
    a @ b
    seconds, _ = timed(lambda: a @ b, repeats)
    return 2.0 * size ** 3 / seconds / 1e9


# --- (i) the original protocol: minibatch AdamW in torch ----------------------------------------------

def torch_protocol_seconds(world_cfg: WorldConfig, heads: int = 3, epochs: int = 2) -> dict:
    """Per-epoch times of the original protocol, measured on a few epochs, extrapolated to 1000 epochs."""
    import torch

    torch.set_num_threads(1)   # the reference cost in REFERENCE.md is for one CPU thread
    torch.manual_seed(0)
    n_pre = world_cfg.pretrain_tasks * world_cfg.pretrain_samples

    def mlp(depth):
        layers, fan_in = [], world_cfg.input_dim
        for _ in range(depth):
            layers += [torch.nn.Linear(fan_in, world_cfg.width), torch.nn.ReLU()]
            fan_in = world_cfg.width
        return torch.nn.Sequential(*layers)

    def epoch_seconds(model, x, y, head):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        loss_fn = torch.nn.MSELoss()

        def one_epoch():
            perm = torch.randperm(len(x))
            for i in range(0, len(x), 32):
                idx = perm[i:i + 32]
                opt.zero_grad()
                loss = loss_fn(head(model(x[idx])), y[idx])
                loss.backward()
                opt.step()
        one_epoch()                                        # warm-up
        return timed(one_epoch, epochs)[0]

    x = torch.randn(n_pre, world_cfg.input_dim) * world_cfg.sigma
    y = torch.randn(n_pre, 1)
    frozen = torch.nn.Linear(world_cfg.width, 1).requires_grad_(False)
    strong = epoch_seconds(mlp(world_cfg.strong_depth), x, y, frozen)
    weak = epoch_seconds(mlp(world_cfg.weak_depth), x, y, frozen)
    feats, y_head = torch.randn(2000, world_cfg.width), torch.randn(2000, 1)
    head = np.median([epoch_seconds(torch.nn.Linear(world_cfg.width, 1), feats, y_head, torch.nn.Identity())
                      for _ in range(heads)])
    return {"pretrain_strong_epoch_s": strong, "pretrain_weak_epoch_s": weak, "head_epoch_s": float(head),
            "total_s": 1000 * (strong + weak) + 300 * 1000 * float(head)}


# --- (ii) a straightforward numpy implementation --------------------------------------------------------

def numpy_pretrain_epoch_seconds(world_cfg: WorldConfig, depth: int) -> float:
    """One epoch of minibatch Adam (batch 32) with numpy forward/backward per minibatch."""
    rng = np.random.default_rng(0)
    n = world_cfg.pretrain_tasks * world_cfg.pretrain_samples
    x = rng.normal(size=(n, world_cfg.input_dim))
    y, task = rng.normal(size=n), rng.integers(world_cfg.pretrain_tasks, size=n)
    G, c = rng.normal(size=(world_cfg.pretrain_tasks, world_cfg.width)), np.zeros(world_cfg.pretrain_tasks)
    mlp = initial_mlp(rng, world_cfg.input_dim, world_cfg.width, depth, 1.0, "identity")
    params = [p for pair in zip(mlp.weights, mlp.biases) for p in pair]
    m, v = [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params]

    def epoch():
        for step, i in enumerate(range(0, n, 32), start=1):
            sl = slice(i, i + 32)
            _, grads = pretrain_loss_and_grad_reference(x[sl], y[sl], task[sl], G, c, mlp)
            for k, g in enumerate(g for pair in grads for g in pair):
                m[k] = 0.9 * m[k] + 0.1 * g
                v[k] = 0.999 * v[k] + 0.001 * g * g
                params[k] -= 1e-3 * (m[k] / (1 - 0.9 ** step)) / (np.sqrt(v[k] / (1 - 0.999 ** step)) + 1e-8)
    return timed(epoch)[0]


def numpy_heads_seconds(tasks: int, n: int, d: int, repeats: int = 1) -> float:
    """Weak, w2s and ceiling heads of ``tasks`` tasks by one ``np.linalg.lstsq`` each, plus their errors."""
    rng = np.random.default_rng(1)
    F_w, F_s = rng.normal(size=(tasks, n, d)), rng.normal(size=(tasks, n, d))
    gold = rng.normal(size=(tasks, n))

    def run():
        for t in range(tasks):
            A_w, A_s = np.c_[F_w[t], np.ones(n)], np.c_[F_s[t], np.ones(n)]
            weak = A_w @ np.linalg.lstsq(A_w, gold[t], rcond=None)[0]
            w2s = A_s @ np.linalg.lstsq(A_s, weak, rcond=None)[0]
            ceiling = A_s @ np.linalg.lstsq(A_s, gold[t], rcond=None)[0]
            misfit_terms(gold[t], weak, w2s), misfit_terms(gold[t], weak, ceiling)
    return timed(run, repeats)[0]


# --- (iii) ours -------------------------------------------------------------------------------------------

def ours_heads_seconds(tasks: int, n: int, d: int, chunk: int = 500) -> float:
    """Weak, w2s and ceiling heads of ``tasks`` tasks with their own features (batched kernels), in chunks."""
    rng = np.random.default_rng(1)
    seconds = 0.0
    for lo in range(0, tasks, chunk):
        T = min(chunk, tasks - lo)
        F_w, F_s = rng.normal(size=(T, n, d)), rng.normal(size=(T, n, d))
        gold = rng.normal(size=(T, n))
        start = time.perf_counter()
        weak = LinearHead().fit(F_w, gold).predict(F_w)
        # The w2s and ceiling heads read the same features: two target sets share one Gram matrix per task.
        coef, icpt = kernels.linear_heads_batched(F_s, np.stack([weak, gold], axis=1), np.ones((T, n)), True, 0.0)
        w2s, ceiling = (np.einsum("tnd,td->tn", F_s, coef[:, r]) + icpt[:, r, None] for r in (0, 1))
        for t in range(T):
            misfit_terms(gold[t], weak[t], w2s[t]), misfit_terms(gold[t], weak[t], ceiling[t])
        seconds += time.perf_counter() - start
    return seconds


def large_ls(n: int, d: int, targets: int, repeats: int) -> dict:
    """Shared-feature least squares at scale: seconds and achieved GFLOP/s (flops counted below)."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((n, d))
    Y = rng.standard_normal((targets, n))
    seconds, _ = timed(lambda: LinearHead().fit(X, Y), repeats)
    # Flops actually needed: the centred Gram X^T X is symmetric, so BLAS forms it with syrk (n d^2, half a
    # general product; numpy dispatches ``A.T @ A`` to syrk); cross-moments (2 n d T); Cholesky (d^3 / 3);
    # two triangular solves per target (2 d^2 T). Counting the Gram as a general product would double it.
    flops = n * d * d + 2 * n * d * targets + d ** 3 / 3 + 2 * d * d * targets
    return {"seconds": seconds, "gflops": flops / seconds / 1e9}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m weakstrong.sim.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("results/sim_bench"), help="folder of bench.json")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="numba and BLAS threads")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the short measurements")
    parser.add_argument("--no-torch", action="store_true", help="skip the original-protocol reference")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    cfg = WorldConfig(setting="pretrained", seed=0)
    rows, info = [], {}
    with blas_threads(args.threads):
        ours_s, (_, summary) = timed(lambda: charikar.run(charikar.CharikarConfig(world=cfg), cache_dir=None))
        rows.append({"name": "charikar pretrained, 100 tasks: ours (measured, pretraining included)",
                     "seconds": ours_s, "kind": "measured"})
        info["charikar_pretrain_loss"] = summary["pretrain_loss"]
        epochs = PretrainConfig().epochs
        np_pre = sum(numpy_pretrain_epoch_seconds(cfg, depth) for depth in (cfg.strong_depth, cfg.weak_depth))
        np_heads = numpy_heads_seconds(100, 2000, cfg.width, repeats=args.repeats)
        rows.append({"name": f"charikar pretrained, 100 tasks: numpy ({epochs} epochs extrapolated + lstsq heads)",
                     "seconds": epochs * np_pre + np_heads, "kind": "extrapolated"})
        if not args.no_torch:
            try:
                ref = torch_protocol_seconds(cfg)
                info["original_protocol"] = ref
                rows.append({"name": "charikar pretrained, 100 tasks: original protocol (AdamW, 1000 epochs, "
                                     "extrapolated)", "seconds": ref["total_s"], "kind": "extrapolated"})
            except ImportError:
                info["original_protocol"] = "torch not installed"
        many = ours_heads_seconds(10000, 2000, 16)
        rows.append({"name": "10,000 tasks x n=2000 x d_s=16: ours", "seconds": many, "kind": "measured"})
        subset = 200
        np_many = numpy_heads_seconds(subset, 2000, 16) * 10000 / subset
        rows.append({"name": "10,000 tasks x n=2000 x d_s=16: numpy lstsq per task (extrapolated)",
                     "seconds": np_many, "kind": "extrapolated"})
        blas = gemm_gflops(repeats=args.repeats)
        big = large_ls(100_000, 1024, 16, repeats=args.repeats)
        rows.append({"name": "n=100,000 x d_s=1024 least squares (16 targets): ours", "seconds": big["seconds"],
                     "kind": "measured"})
    result = {
        "machine": {"cpus": os.cpu_count(), "threads": args.threads, "platform": platform.platform(),
                    "processor": platform.processor(), "numpy": np.__version__},
        "rows": rows,
        "ratios": {"charikar_numpy_over_ours": rows[1]["seconds"] / ours_s,
                   "charikar_protocol_over_ours": (info["original_protocol"]["total_s"] / ours_s
                                                   if isinstance(info.get("original_protocol"), dict) else None),
                   "many_tasks_numpy_over_ours": np_many / many},
        "blas_gemm_gflops": blas, "large_ls_gflops": big["gflops"], "large_ls_fraction_of_gemm": big["gflops"] / blas,
        **info,
    }
    path = write_json(args.out / "bench.json", result)
    print("| workload | seconds | kind |\n|---|---:|---|")
    for row in rows:
        print(f"| {row['name']} | {row['seconds']:.3g} | {row['kind']} |")
    print(f"\ndense float64 GEMM: {blas:.1f} GFLOP/s; n=1e5 x d=1024 least squares: {big['gflops']:.1f} GFLOP/s "
          f"({100 * big['gflops'] / blas:.0f} % of GEMM)")
    print("ratios: " + ", ".join(f"{k} {v:.3g}" for k, v in result["ratios"].items() if v is not None))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
