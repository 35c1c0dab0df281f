"""Evidential (Dirichlet) loss for Bayesian multi-weak supervision, and Burns' auxiliary-confidence target.

Evidential deep learning (Sensoy et al. 2018) as used by Bayesian WeakS-to-Strong (Cui et al. 2024, §3):
the student's logits z give evidence e = exp(z) and Dirichlet parameters alpha = e + 1, S = sum_k alpha_k.
With soft targets y (the weak ensemble's label distribution, rows on the simplex):

    L = sum_k y_k (log S - log alpha_k)  +  kl_weight * lambda_t * min(KL(Dir(alpha~) || Dir(1)), kl_clamp),
    alpha~ = y + (1 - y) * alpha,   lambda_t = min(1, t / T).

The same function serves classification (K = 2) and token-level generation (K = vocabulary size).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from weakstrong.theory.dirichlet import dirichlet_kl_to_uniform


def evidential_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    step: int,
    total_steps: int,
    kl_weight: float = 1e-4,
    kl_clamp: float = 1e4,
    max_logit: float = 30.0,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Evidential loss on soft targets.

    Parameters
    ----------
    logits : (N, K) student logits (any float dtype; computed in float32).
    targets : (N, K) soft targets, rows summing to 1.
    step, total_steps : annealing: the KL term is weighted by min(1, step / total_steps).
    kl_weight : the reference's 1e-4.
    kl_clamp : upper clamp on the per-example KL (the reference clamps it).
    max_logit : logits are clamped at this value **for the KL term only**, so exp never overflows; the data
        term uses log alpha = softplus(z), which is exact for every z.
    sample_weight : optional (N,) per-example confidence weights.
    reduction : "mean" (weighted mean over examples), "sum" or "none".

    Returns
    -------
    Scalar tensor (or (N,) for reduction="none").
    """
    if logits.shape != targets.shape or logits.ndim != 2:
        raise ValueError(f"logits and targets must both have shape (N, K); got {tuple(logits.shape)} "
                         f"and {tuple(targets.shape)}")
    if total_steps <= 0:
        raise ValueError(f"total_steps must be > 0, got {total_steps}")
    z = logits.float()
    y = targets.float()
    log_alpha = F.softplus(z)  # log(exp(z) + 1) = log alpha, stable for large z
    log_s = torch.logsumexp(log_alpha, dim=-1)  # log sum_k alpha_k
    data = (y * (log_s[:, None] - log_alpha)).sum(-1)

    # float64 for the KL term: lgamma(S) - sum lgamma(alpha_k) cancels catastrophically in float32 once
    # alpha reaches ~1e6, and over a full vocabulary S is large.
    alpha = torch.exp(z.double().clamp(max=max_logit)) + 1.0
    alpha_tilde = y.double() + (1.0 - y.double()) * alpha
    kl = dirichlet_kl_to_uniform(alpha_tilde, torch.lgamma, torch.digamma).clamp(max=kl_clamp).float()
    anneal = min(1.0, step / total_steps)
    per_example = data + kl_weight * anneal * kl

    if reduction == "none":
        return per_example
    if sample_weight is None:
        return per_example.mean() if reduction == "mean" else per_example.sum()
    w = sample_weight.float()
    if w.shape != per_example.shape:
        raise ValueError(f"sample_weight must have shape ({per_example.shape[0]},), got {tuple(w.shape)}")
    total = (w * per_example).sum()
    return total / w.sum().clamp_min(1e-12) if reduction == "mean" else total


def evidential_loss_reference(logits, targets, step, total_steps, kl_weight=1e-4, kl_clamp=1e4,
                              max_logit=30.0):
    """Slow per-example reference of :func:`evidential_loss` (mean reduction), for tests only."""
    import math

    from scipy import special

    total = 0.0
    for z_row, y_row in zip(logits.double().tolist(), targets.double().tolist()):
        alpha = [math.exp(z) + 1.0 for z in z_row]
        s = sum(alpha)
        data = sum(y * (math.log(s) - math.log(a)) for y, a in zip(y_row, alpha))
        a_kl = [y + (1 - y) * (math.exp(min(z, max_logit)) + 1.0) for z, y in zip(z_row, y_row)]
        s_kl = sum(a_kl)
        kl = (special.gammaln(s_kl) - special.gammaln(len(a_kl)) - sum(special.gammaln(a) for a in a_kl)
              + sum((a - 1) * (special.digamma(a) - special.digamma(s_kl)) for a in a_kl))
        total += data + kl_weight * min(1.0, step / total_steps) * min(kl, kl_clamp)
    return total / len(logits)


def confidence_target(weak_probs: torch.Tensor, strong_logits: torch.Tensor, conf: float) -> torch.Tensor:
    """Burns et al. (2023) auxiliary confidence target: (1 - c) * weak + c * onehot(argmax strong).

    The hardening is per example (argmax); ``conf`` is c_t, typically ramped from 0 over the first 10 %.
    """
    hard = F.one_hot(strong_logits.argmax(-1), strong_logits.shape[-1]).to(weak_probs.dtype)
    return (1.0 - conf) * weak_probs + conf * hard
