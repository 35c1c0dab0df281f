"""An independent construction of the reference's evidential loss (``edl_loss``), for tests only.

Written from the formula with numpy and scipy.special (gammaln, digamma) in float64, row by row in vectors; it
shares no code with ``weakstrong.llm.supervision.losses`` or ``weakstrong.theory.dirichlet``.
"""

from __future__ import annotations

import numpy as np
from scipy import special


def edl_oracle(logits, targets, step: int, total_steps: int, kl_weight: float = 1e-4, kl_clamp: float = 2e5,
               max_logit: float = 80.0, clamp: str = "annealed", per_row: bool = False):
    """Mean over rows of  sum_k y_k (log S - log alpha_k) + kl_weight * clamp(lambda KL(Dir(alpha~) || Dir(1)))."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(targets, dtype=np.float64)
    k = z.shape[1]
    log_alpha = np.logaddexp(0.0, z)                       # log(exp(z) + 1)
    log_s = special.logsumexp(log_alpha, axis=1)
    data = (y * (log_s[:, None] - log_alpha)).sum(1)
    a = y + (1.0 - y) * (np.exp(np.minimum(z, max_logit)) + 1.0)
    s = a.sum(1)
    kl = (special.gammaln(s) - special.gammaln(k) - special.gammaln(a).sum(1)
          + ((a - 1.0) * (special.digamma(a) - special.digamma(s)[:, None])).sum(1))
    lam = min(1.0, step / total_steps)
    term = np.clip(lam * kl, -kl_clamp, kl_clamp) if clamp == "annealed" else lam * np.minimum(kl, kl_clamp)
    rows = data + kl_weight * term
    return rows if per_row else float(rows.mean())


def dirichlet_kl_oracle(alpha) -> np.ndarray:
    """KL(Dir(alpha) || Dir(1)) per row, float64."""
    a = np.asarray(alpha, dtype=np.float64)
    s = a.sum(1)
    return (special.gammaln(s) - special.gammaln(a.shape[1]) - special.gammaln(a).sum(1)
            + ((a - 1.0) * (special.digamma(a) - special.digamma(s)[:, None])).sum(1))
