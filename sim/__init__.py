"""Numba-accelerated synthetic weak-to-strong simulator.

A world is x ~ N(0, σ²I) with d = 8 and σ = 500, and a random 5-layer ReLU MLP h* of width 16. The strong
representation (8 layers) and the weak one (2 layers) are either pretrained on T = 10 random linear tasks (the
original protocol's AdamW, in a numba kernel that equals torch in float64 step for step), perturbed copies of
h*, or h* itself. Every head is solved exactly and batched across tasks: one Gram matrix and Cholesky
factorisation for many right-hand sides, numba ``prange`` kernels for the ball (secular equation) and hull
(simplex QP) classes, each tested against the theory layer's verified projection.

| experiment | command |
|---|---|
| gain vs misfit in three settings (the paper's Fig. 2a–c) | ``weakstrong sim charikar --setting {realizable,pretrained,perturbed}`` |
| the same over seeds, committed | ``python -m weakstrong.sim.headline --seeds 0 1 2 3 4`` |
| finite samples | ``weakstrong sim finite-sample`` |
| non-realizable ε sweep | ``weakstrong sim epsilon-sweep`` |
| weak ensembles | ``weakstrong sim ensembles`` |
| weak-model selection | ``weakstrong sim selection`` |
| classification (KL, convex hulls) | ``weakstrong sim classification`` |
| gain prediction from k labels | ``weakstrong sim gain-prediction`` |

Sweeps over worlds run in processes (``--jobs N``) or on a Dask cluster (``--scheduler ADDRESS``); the same seed
gives identical records whatever the scheduler. Runs are cached by the runs layer under a hash of the config and
the simulator's source. ``make bench`` times the kernels against numpy and the torch protocol.
"""
