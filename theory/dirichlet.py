"""Closed form of KL(Dir(alpha) || Dir(1)), the regulariser of evidential deep learning.

For alpha in R_{>0}^K and the uniform Dirichlet Dir(1, ..., 1):

    KL(Dir(alpha) || Dir(1)) = ln Gamma(S) - ln Gamma(K) - sum_k ln Gamma(alpha_k)
                               + sum_k (alpha_k - 1) (psi(alpha_k) - psi(S)),     S = sum_k alpha_k,

since ln B(1) = -ln Gamma(K) and E_{Dir(alpha)}[ln p_k] = psi(alpha_k) - psi(S).
Source: Sensoy, Kaplan & Kandemir (2018), "Evidential Deep Learning to Quantify Classification
Uncertainty", eq. 4 onward; used by Cui et al. (2024) for Bayesian multi-weak supervision.
``weakstrong.theory.symbolic`` derives it with sympy and checks it against numeric integration.

The function is written once for any array backend: numpy callers get scipy's special functions, torch
callers pass ``torch.lgamma`` and ``torch.digamma`` (see ``weakstrong.llm.supervision.losses``).
"""

from __future__ import annotations

import math
from typing import Any, Callable


def dirichlet_kl_to_uniform(
    alpha: Any,
    lgamma: Callable[[Any], Any] | None = None,
    digamma: Callable[[Any], Any] | None = None,
) -> Any:
    """KL(Dir(alpha) || Dir(1)) over the last axis.

    Parameters
    ----------
    alpha : array of shape (..., K), all entries > 0 (numpy array or torch tensor).
    lgamma, digamma : elementwise log-Gamma and digamma for the array's backend. Default: scipy.special
        (numpy input). Pass ``torch.lgamma, torch.digamma`` for tensors; the result then carries gradients.

    Returns
    -------
    Array of shape (...): the divergence per Dirichlet, >= 0, zero exactly at alpha = 1.
    """
    if lgamma is None or digamma is None:
        import numpy as np
        from scipy import special

        alpha = np.asarray(alpha, dtype=float)
        if alpha.ndim == 0 or alpha.shape[-1] < 2:
            raise ValueError(f"alpha must have shape (..., K) with K >= 2, got shape {alpha.shape}")
        if not np.all(np.isfinite(alpha)) or np.any(alpha <= 0):
            raise ValueError("alpha must be finite and > 0 everywhere")
        lgamma, digamma = special.gammaln, special.digamma
    k = alpha.shape[-1]
    s = alpha.sum(-1)
    return (
        lgamma(s)
        - math.lgamma(k)
        - lgamma(alpha).sum(-1)
        + ((alpha - 1.0) * (digamma(alpha) - digamma(s)[..., None])).sum(-1)
    )
