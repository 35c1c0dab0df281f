"""Evidential (Dirichlet) loss for Bayesian multi-weak supervision, its ``edl_step`` target, and Burns'
auxiliary-confidence target.

Evidential deep learning (Sensoy et al. 2018) as Bayesian WeakS-to-Strong codes it (Cui et al. 2024; the
reference's ``edl_loss``): the student's logits z give evidence e = exp(z) and Dirichlet parameters
alpha = e + 1, S = sum_k alpha_k. With soft targets y (rows on the simplex):

    L = sum_k y_k (log S - log alpha_k)  +  kl_weight * clamp(lambda_t * KL(Dir(alpha~) || Dir(1)), -c, c),
    alpha~ = y + (1 - y) * alpha,   lambda_t = min(1, t / T),   kl_weight = 1e-4,   c = 2e5:

anneal, then clamp, then scale. Over a ~50k vocabulary the KL is 1e5-6e5, so the annealed KL stays under the
clamp early in training and its gradient acts; late in training its contribution is capped at
kl_weight * c = 20. ``clamp="raw"`` is the earlier order, a named ablation: the raw KL clamped at ``kl_clamp``
*before* the annealing weight (with the old clamp 1e4, over a vocabulary that clamp always binds, and the KL's
gradient is zero throughout).

Numerics, not method: the KL term is computed in float64 (lgamma(S) - sum lgamma(alpha_k) cancels
catastrophically in float32 once alpha is large), with logits clamped at ``max_logit`` for it only, so exp never
overflows; the data term uses log alpha = softplus(z), exact for every z.

The same function serves classification (K = 2) and token-level generation (K = vocabulary size).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from weakstrong.theory.dirichlet import dirichlet_kl_to_uniform

KL_WEIGHT = 1e-4  # the reference's scale of the KL term
KL_CLAMP = 2e5  # the reference's clamp, applied to the annealed KL
CLAMPS = ("annealed", "raw")  # anneal-then-clamp (the reference) or clamp-then-anneal (ablation)
EDL_STEP_AUX = 0.2  # edl_step: the weight c_t of the student's own argmax reaches this ...
EDL_STEP_WARMUP = 0.25  # ... after this fraction of training (before it, c_t = aux * t / T)


def evidential_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    step: int,
    total_steps: int,
    kl_weight: float = KL_WEIGHT,
    kl_clamp: float = KL_CLAMP,
    max_logit: float = 80.0,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
    clamp: str = "annealed",
) -> torch.Tensor:
    """Evidential loss on soft targets (definition in the module docstring).

    Parameters
    ----------
    logits : (N, K) student logits (any float dtype; computed in float32, the KL in float64).
    targets : (N, K) soft targets, rows summing to 1 (they may carry gradient, as in the reference).
    step, total_steps : annealing: lambda_t = min(1, step / total_steps).
    kl_weight, kl_clamp : the reference's 1e-4 and 2e5.
    max_logit : logits are clamped at this value **for the KL term only** (float64 exp is finite there).
    sample_weight : optional (N,) per-example weights (a weighted mean); the reference has none.
    reduction : "mean" (weighted mean over examples), "sum" or "none".
    clamp : "annealed" (the reference: clamp the annealed KL to [-kl_clamp, kl_clamp]) or "raw" (ablation:
        clamp the raw KL at kl_clamp, then anneal).

    Returns
    -------
    Scalar tensor (or (N,) for reduction="none").
    """
    if logits.shape != targets.shape or logits.ndim != 2:
        raise ValueError(f"logits and targets must both have shape (N, K); got {tuple(logits.shape)} "
                         f"and {tuple(targets.shape)}")
    if total_steps <= 0:
        raise ValueError(f"total_steps must be > 0, got {total_steps}")
    if clamp not in CLAMPS:
        raise ValueError(f"clamp must be one of {CLAMPS}, got {clamp!r}")
    z = logits.float()
    y = targets.float()
    log_alpha = F.softplus(z)  # log(exp(z) + 1) = log alpha, stable for large z
    log_s = torch.logsumexp(log_alpha, dim=-1)  # log sum_k alpha_k
    data = (y * (log_s[:, None] - log_alpha)).sum(-1)

    alpha = torch.exp(z.double().clamp(max=max_logit)) + 1.0
    alpha_tilde = y.double() + (1.0 - y.double()) * alpha
    kl = dirichlet_kl_to_uniform(alpha_tilde, torch.lgamma, torch.digamma)
    anneal = min(1.0, step / total_steps)
    if clamp == "annealed":
        term = (anneal * kl).clamp(-kl_clamp, kl_clamp)
    else:
        term = anneal * kl.clamp(max=kl_clamp)
    per_example = data + kl_weight * term.float()

    if reduction == "none":
        return per_example
    if sample_weight is None:
        return per_example.mean() if reduction == "mean" else per_example.sum()
    w = sample_weight.float()
    if w.shape != per_example.shape:
        raise ValueError(f"sample_weight must have shape ({per_example.shape[0]},), got {tuple(w.shape)}")
    total = (w * per_example).sum()
    return total / w.sum().clamp_min(1e-12) if reduction == "mean" else total


def edl_step_coefficient(step: int, total_steps: int, aux: float = EDL_STEP_AUX,
                         warmup: float = EDL_STEP_WARMUP) -> float:
    """c_t of ``edl_step``: aux * t/T while t/T <= warmup, then aux (the reference's step schedule)."""
    frac = step / total_steps
    return aux * (frac if frac <= warmup else 1.0)


def edl_step_targets(targets: torch.Tensor, logits: torch.Tensor, step: int, total_steps: int,
                     aux: float = EDL_STEP_AUX, warmup: float = EDL_STEP_WARMUP) -> torch.Tensor:
    """The ``edl_step`` target: (1 - c_t) y + c_t onehot(argmax student), the reference's auxiliary-confidence
    variant of the evidential loss (the student the DPO stage starts from)."""
    c = edl_step_coefficient(step, total_steps, aux, warmup)
    hard = F.one_hot(logits.detach().argmax(-1), logits.shape[-1]).to(targets.dtype)
    return (1.0 - c) * targets + c * hard


def confidence_target(weak_probs: torch.Tensor, strong_logits: torch.Tensor, conf: float) -> torch.Tensor:
    """Burns et al. (2023) auxiliary confidence target: (1 - c) * weak + c * onehot(argmax strong).

    The hardening is per example (argmax); ``conf`` is c_t, typically ramped from 0 over the first 10 %.
    """
    hard = F.one_hot(strong_logits.argmax(-1), strong_logits.shape[-1]).to(weak_probs.dtype)
    return (1.0 - conf) * weak_probs + conf * hard
