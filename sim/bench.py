"""Simulator benchmark: the same workloads timed side by side in one run (``python -m weakstrong.sim.bench``).

Rows (every timing is the median of ``--repeats`` runs unless marked extrapolated):

1. The whole ``charikar --setting pretrained`` run of 100 tasks with the fast ``adam`` pretraining:
   (i) a straightforward numpy implementation of the same computation -- the same minibatch Adam written
   with numpy array operations per minibatch (timed on one epoch, extrapolated to the epochs we run), and
   one ``np.linalg.lstsq`` per head; (ii) this package, measured end to end.
2. The original protocol's pretraining of one world (strong 8-layer and weak 2-layer representation,
   AdamW, batch 32, 1000 epochs over 20,000 samples) on the same seed, data and initial weights:
   (i) the protocol in torch, one thread per representation, timed on ``--torch-epochs`` epochs and
   extrapolated linearly to 1000; (ii) the ``faithful`` numba kernel, measured in full, the two
   representations in two threads as ``make_world`` runs them. The kernel's flop rate is reported against
   the one-thread float64 GEMM rate measured in the same run (each representation trains on one thread).
3. 10,000 tasks x n = 2000 x d_s = 16: the weak, weak-to-strong and ceiling heads of every task, each
   task with its own features, plus every record's errors and misfit; against per-task ``lstsq``
   (timed on a subset, extrapolated).
4. n = 100,000 x d_s = 1024 least-squares heads (16 targets) with shared features, as a fraction of the
   dense float64 GEMM rate measured in the same run.

Writes ``OUT/bench.json`` (atomic) and prints a markdown table. Runs in about three minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

from weakstrong.io import write_json
from weakstrong.sim import charikar, kernels
from weakstrong.sim.common import blas_threads, set_threads
from weakstrong.sim.parallel import RunOptions
from weakstrong.sim.heads import LinearHead
from weakstrong.sim.pretrain import (PretrainConfig, initial_mlp, pretrain_loss_and_grad_reference,
                                     pretrain_representation)
from weakstrong.sim.worlds import WorldConfig, make_world, pretraining_data, representation_rng
from weakstrong.theory.boundcheck import misfit_terms


def timed(fn, repeats: int = 1) -> tuple[float, object]:
    """Median wall seconds of ``fn()`` over ``repeats`` calls, and the last result."""
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), out


def gemm_gflops(size: int = 2048, repeats: int = 3, threads: int | None = None) -> float:
    """Measured dense float64 GEMM rate (2 m n k flops per product), the machine's BLAS ceiling (on
    ``threads`` BLAS threads; None: as set by the caller)."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((size, size)), rng.standard_normal((size, size))
    with blas_threads(threads):
        a @ b
        seconds, _ = timed(lambda: a @ b, repeats)
    return 2.0 * size ** 3 / seconds / 1e9


# --- the original protocol's pretraining: torch against the faithful kernel ------------------------------

def pretrain_flops_per_epoch(n: int, input_dim: int, width: int, depth: int) -> float:
    """Floating-point operations of one epoch of minibatch gradients (a multiply-add counts 2).

    Per sample and layer: the forward product (2 fan_in width) and the weight gradient (2 fan_in width);
    every layer but the first also propagates the gradient to its input (2 width^2). Bias, ReLU and loss
    (O(width) per sample and layer) and the AdamW update (about 14 operations per weight and step) are not
    counted: about 12 % more for the 8-layer representation, so the rate derived from this is a lower bound.
    """
    fans = [input_dim] + [width] * (depth - 1)
    return float(n * sum(4 * fan * width + (2 * width * width if k else 0) for k, fan in enumerate(fans)))


def faithful_vs_protocol(cfg: WorldConfig, torch_epochs: int) -> dict:
    """The original protocol's pretraining of one world in torch and in the faithful kernel (see row 2).

    Both start from the same generator state, hence the same initial weights and minibatches; ``torch_epochs``
    = 0 skips torch. Returns per-representation seconds per epoch (thread CPU time, so a busy machine
    inflates them less than wall time), the totals at 1000 epochs and the kernel's GFLOP/s.
    """
    config = PretrainConfig(optimizer="faithful", epochs=1000)
    truth = make_world(replace(cfg, setting="perturbed")).truth      # the same h* as the pretrained world
    x, y, task, heads = pretraining_data(cfg, truth)
    depths = {"strong": cfg.strong_depth, "weak": cfg.weak_depth}

    def faithful(which: str, epochs: int) -> dict:
        start, cpu = time.perf_counter(), time.thread_time()
        pretrain_representation(representation_rng(cfg, which), x, y, task, heads.coef, heads.intercept,
                                depths[which], cfg.width, cfg.sigma, replace(config, epochs=epochs))
        return {"wall_s": time.perf_counter() - start, "thread_s": time.thread_time() - cpu}

    faithful("weak", 1)                                                  # compile (or load) the kernel
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        ours = dict(zip(depths, pool.map(lambda which: faithful(which, config.epochs), depths)))
    world_s = time.perf_counter() - start
    gemm1 = gemm_gflops(size=1024, threads=1)
    out = {"epochs": config.epochs, "samples": len(x), "faithful_world_wall_s": world_s,
           "gemm_1thread_gflops": gemm1}
    for which, depth in depths.items():
        flops = pretrain_flops_per_epoch(len(x), cfg.input_dim, cfg.width, depth) * config.epochs
        out[which] = {"depth": depth, "faithful_s": ours[which]["wall_s"],
                      "faithful_thread_s": ours[which]["thread_s"],
                      "faithful_epoch_s": ours[which]["thread_s"] / config.epochs,
                      "gflop": flops / 1e9, "faithful_gflops": flops / ours[which]["thread_s"] / 1e9,
                      "fraction_of_1thread_gemm": flops / ours[which]["thread_s"] / 1e9 / gemm1}
    if torch_epochs == 0:
        return out
    try:
        from weakstrong.sim.protocol import protocol_pretrain
    except ImportError:
        return {**out, "torch": "torch not installed"}
    # warm-up: torch's first call pays for its own initialisation
    protocol_pretrain(np.random.default_rng(0), x[:64], y[:64], task[:64], heads.coef, heads.intercept, 2,
                      cfg.width, 1)
    for which, depth in depths.items():
        start = time.thread_time()
        protocol_pretrain(representation_rng(cfg, which), x, y, task, heads.coef, heads.intercept, depth,
                          cfg.width, torch_epochs, lr=config.protocol_lr, batch_size=config.batch_size,
                          weight_decay=config.weight_decay)
        out[which]["torch_epoch_s"] = (time.thread_time() - start) / torch_epochs
        out[which]["torch_s_extrapolated"] = out[which]["torch_epoch_s"] * config.epochs
    cpu = {k: sum(out[w][k] for w in depths) for k in ("faithful_thread_s", "torch_s_extrapolated")}
    out.update({"torch_epochs_timed": torch_epochs, "faithful_cpu_s": cpu["faithful_thread_s"],
                "torch_cpu_s_extrapolated": cpu["torch_s_extrapolated"],
                "speedup": cpu["torch_s_extrapolated"] / cpu["faithful_thread_s"]})
    return out


# --- a straightforward numpy implementation --------------------------------------------------------

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


# --- ours -------------------------------------------------------------------------------------------

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
    parser.add_argument("--torch-epochs", type=int, default=2,
                        help="epochs of the torch protocol timed per representation (extrapolated to 1000)")
    parser.add_argument("--no-torch", action="store_true", help="skip the torch protocol (and its ratio)")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    cfg = WorldConfig(setting="pretrained", seed=0, pretrain=PretrainConfig(optimizer="adam", epochs=60))
    rows, info = [], {}
    with blas_threads(args.threads):
        with tempfile.TemporaryDirectory() as empty:          # an empty cache: pretraining is timed too
            ours_s, (_, summary) = timed(lambda: charikar.run(charikar.CharikarConfig(world=cfg),
                                                              RunOptions(cache_dir=Path(empty))))
        rows.append({"name": "charikar pretrained (adam), 100 tasks: ours (measured, pretraining included)",
                     "seconds": ours_s, "kind": "measured"})
        info["charikar_pretrain_loss"] = summary["pretrain_loss"]
        epochs = cfg.pretrain.epochs
        np_pre = sum(numpy_pretrain_epoch_seconds(cfg, depth) for depth in (cfg.strong_depth, cfg.weak_depth))
        np_heads = numpy_heads_seconds(100, 2000, cfg.width, repeats=args.repeats)
        rows.append({"name": f"charikar pretrained (adam), 100 tasks: numpy ({epochs} epochs extrapolated + "
                             "lstsq heads)", "seconds": epochs * np_pre + np_heads, "kind": "extrapolated"})
        proto = faithful_vs_protocol(cfg, 0 if args.no_torch else args.torch_epochs)
        info["pretraining_faithful_vs_protocol"] = proto
        # Both rows in CPU seconds: the same measure for both implementations (the wall time is in the name).
        workload = f"one world's pretraining, {proto['epochs']} epochs, strong + weak (CPU s)"
        rows.append({"name": f"{workload}: ours (faithful kernel; {proto['faithful_world_wall_s']:.0f} s wall on "
                             "two threads)", "seconds": proto["faithful_cpu_s"], "kind": "measured"})
        if "speedup" in proto:
            rows.append({"name": f"{workload}: torch protocol ({proto['torch_epochs_timed']} epochs timed, "
                                 "extrapolated)", "seconds": proto["torch_cpu_s_extrapolated"], "kind": "extrapolated"})
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
        # Each ratio compares two implementations of the same computation.
        "ratios": {"charikar_numpy_over_ours": rows[1]["seconds"] / ours_s,
                   "pretraining_torch_protocol_over_faithful_cpu": proto.get("speedup"),
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
    for which in ("strong", "weak"):
        r = proto[which]
        print(f"faithful {which} ({r['depth']} layers): {1e3 * r['faithful_epoch_s']:.1f} ms/epoch, "
              f"{r['faithful_gflops']:.1f} GFLOP/s = {100 * r['fraction_of_1thread_gemm']:.0f} % of one-thread GEMM "
              f"({proto['gemm_1thread_gflops']:.1f} GFLOP/s)"
              + (f"; torch {1e3 * r['torch_epoch_s']:.0f} ms/epoch" if "torch_epoch_s" in r else ""))
    print("ratios: " + ", ".join(f"{k} {v:.3g}" for k, v in result["ratios"].items() if v is not None))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
