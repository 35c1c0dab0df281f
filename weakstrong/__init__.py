"""weakstrong: theory checks, a fast simulator and real-model experiments for weak-to-strong generalization.

Layers (one direction of dependency):
    weakstrong.theory   distances, convex projections, every bound as a function (no I/O)
    weakstrong.sim      synthetic worlds and exact convex heads, numba-accelerated
    weakstrong.llm      real transformer experiments (weak ensembles, evidential supervision, DPO)
    weakstrong.figures  one script per figure, reading only saved records
"""

__version__ = "0.1.0"
