"""Label-free comparison of two representations by their principal subspaces.

Xue, Li & Mirzasoleiman (2025, "Representations Shape Weak-to-Strong Generalization", arXiv 2502.00620)
characterise weak-to-strong generalization through kernels built from the principal components of the weak
and strong models' representations: what the strong model can learn but its weak teacher cannot lives in the
part of the strong principal subspace outside the weak one, P_s (I - P_w), and its size predicts the
student's shortfall without labels. The statistic here is the label-free average of that quantity over
label directions in the strong principal subspace,

    misalignment = ||(I - P_w) P_s||_F^2 / r_s = 1 - ||U_w^T U_s||_F^2 / r_s   in [0, 1],

the mean squared sine of the principal angles between the two subspaces (0: the strong principal subspace
lies inside the weak one; 1: orthogonal). P_w and P_s project onto the spans, in sample space, of the
principal components that together explain a fraction ``variance`` of each representation's centred
variance on the same n inputs. It is our reading of their metric, not their code.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .validation import as_finite_array, check_positive


def principal_subspace(features: Any, variance: float = 0.9) -> np.ndarray:
    """(n, r) orthonormal basis, in sample space, of the fewest principal components of the centred
    ``features`` (n, d) whose share of the total variance reaches ``variance``.

    ``features`` may also be a scipy sparse matrix (a bag of words); it is then handled through its
    (n, n) Gram matrix, never densified to (n, d).
    """
    share = check_positive(variance, "variance", maximum=1.0)
    if hasattr(features, "tocsr"):   # scipy sparse
        x = features.tocsr().astype(float)
        n = x.shape[0]
        gram = np.asarray((x @ x.T).todense())
        centre = np.eye(n) - 1.0 / n
        evals, evecs = np.linalg.eigh(centre @ gram @ centre)
        order = np.argsort(evals)[::-1]
        power, basis = np.clip(evals[order], 0.0, None), evecs[:, order]
    else:
        x = as_finite_array(features, "features", ndim=2)
        u, s, _ = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)
        power, basis = s**2, u
    total = float(power.sum())
    if not total > 0:
        raise ValueError("features must vary across samples (their centred variance is zero)")
    r = int(np.searchsorted(np.cumsum(power) / total, share - 1e-12) + 1)
    return basis[:, :r]


def subspace_misalignment(weak_basis: Any, strong_basis: Any) -> float:
    """||(I - P_w) P_s||_F^2 / r_s for orthonormal bases (n, r_w) and (n, r_s) of the same n samples."""
    u_w = as_finite_array(weak_basis, "weak_basis", ndim=2)
    u_s = as_finite_array(strong_basis, "strong_basis", ndim=2)
    if u_w.shape[0] != u_s.shape[0]:
        raise ValueError(f"weak_basis and strong_basis must span the same samples, got {u_w.shape[0]} and "
                         f"{u_s.shape[0]} rows")
    return float(1.0 - np.sum((u_w.T @ u_s) ** 2) / u_s.shape[1])
