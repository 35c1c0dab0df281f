"""Conservative DPO stage of Bayesian WeakS-to-Strong (Cui et al. 2024, §3.4).

After weak-to-strong training, the student beam-decodes its n-best for each input; the weak ensemble scores
the candidates; the best becomes *chosen*, the worst *rejected*. With the implicit reward margin

    h = [log pi(y_c | x) - log pi_ref(y_c | x)] - [log pi(y_r | x) - log pi_ref(y_r | x)],

the conservative DPO loss (DPO with label smoothing eps, Mitchell 2023; Rafailov et al. 2023 for eps = 0) is

    L = -(1 - eps) log sigma(beta h) - eps log sigma(-beta h),

where pi_ref is the frozen post-w2s student, whose sequence log-probs are computed once before the first update
and cached. Reference settings (the defaults of ``weakstrong.llm.generation.config.DPOConfig``): beta 5,
eps 0.1, lr 5e-7 decayed linearly to 0, batch 1 x gradient accumulation 2, 3 epochs, 10-best.

Held-out pairs (built the same way on inputs never trained on) measure what DPO generalises: the share whose
chosen candidate the policy prefers, log pi(y_c) > log pi(y_r), and the mean log-prob margin, before and after.
"""

from __future__ import annotations

import math
import random
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from weakstrong.llm.generation.config import DPOConfig
from weakstrong.llm.models.lm import Example, collate, lm_autocast, make_optimizer, target_logits


def conservative_dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor,
                          ref_chosen: torch.Tensor, ref_rejected: torch.Tensor,
                          beta: float = 5.0, eps: float = 0.1, reduction: str = "mean") -> torch.Tensor:
    """Conservative DPO loss, vectorised over the batch.

    Parameters
    ----------
    policy_chosen, policy_rejected : (B,) sequence log-probs log pi(y | x) under the trained policy.
    ref_chosen, ref_rejected : (B,) the same under the frozen reference (no gradient needed).
    beta : inverse temperature of the implicit reward.
    eps : label smoothing in [0, 0.5).
    reduction : "mean", "sum" or "none".

    Returns
    -------
    Scalar (or (B,)) -(1 - eps) log sigma(beta h) - eps log sigma(-beta h), computed with ``logsigmoid`` so
    large |beta h| never overflows.
    """
    shapes = {t.shape for t in (policy_chosen, policy_rejected, ref_chosen, ref_rejected)}
    if len(shapes) != 1 or policy_chosen.ndim != 1:
        raise ValueError(f"the four log-prob tensors must share one (B,) shape, got {sorted(map(tuple, shapes))}")
    h = (policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)
    per_pair = -(1.0 - eps) * F.logsigmoid(beta * h) - eps * F.logsigmoid(-beta * h)
    if reduction == "none":
        return per_pair
    return per_pair.mean() if reduction == "mean" else per_pair.sum()


def conservative_dpo_loss_reference(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta=5.0, eps=0.1):
    """Slow per-pair reference of :func:`conservative_dpo_loss` (mean), in plain floats, for tests only."""
    def log_sigmoid(x: float) -> float:  # log(1 / (1 + e^-x)), branch-wise so exp never overflows
        return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))

    total = 0.0
    for pc, pr, rc, rr in zip(policy_chosen, policy_rejected, ref_chosen, ref_rejected):
        h = (float(pc) - float(rc)) - (float(pr) - float(rr))
        total += -(1.0 - eps) * log_sigmoid(beta * h) - eps * log_sigmoid(-beta * h)
    return total / len(policy_chosen)


def sequence_logprob_sums(model, examples: Sequence[Example], pad_id: int) -> torch.Tensor:
    """(B,) sum of target-token log-probs per example, with gradient."""
    device = next(model.parameters()).device
    batch = collate(examples, pad_id, device)
    with lm_autocast(device):
        logits, targets, rows = target_logits(model, batch)
    lp = torch.log_softmax(logits.float(), -1).gather(-1, targets[:, None])[:, 0]  # (N,)
    return torch.zeros(len(examples), device=device).index_add(0, rows, lp)


def select_pairs(candidates: Sequence[Sequence[str]], scores: Sequence[np.ndarray]) -> list[tuple[int, str, str]]:
    """(input index, chosen, rejected) per input: best- and worst-scored candidate; inputs whose best and worst
    are the same text carry no preference and are dropped."""
    pairs = []
    for i, (cands, s) in enumerate(zip(candidates, scores)):
        if len(cands) < 2:
            continue
        best, worst = cands[int(np.argmax(s))], cands[int(np.argmin(s))]
        if best != worst:
            pairs.append((i, best, worst))
    return pairs


def preference_stats(model, chosen: Sequence[Example], rejected: Sequence[Example], pad: int,
                     batch_size: int = 8) -> dict:
    """How much ``model`` prefers each chosen candidate: the share of pairs with log pi(y_c) > log pi(y_r)
    (ties count half) and the mean log-prob margin log pi(y_c) - log pi(y_r)."""
    model.eval()
    with torch.no_grad():
        margins = torch.cat([sequence_logprob_sums(model, list(chosen[i:i + batch_size]), pad)
                             - sequence_logprob_sums(model, list(rejected[i:i + batch_size]), pad)
                             for i in range(0, len(chosen), batch_size)]).double().cpu().numpy()
    return {"n_pairs": len(chosen), "accuracy": float(np.mean((margins > 0) + 0.5 * (margins == 0))),
            "margin": float(margins.mean())}


def train_dpo(model, tokenizer, chosen: Sequence[Example], rejected: Sequence[Example], config: DPOConfig,
              progress: str | None = None, heldout: tuple[Sequence[Example], Sequence[Example]] | None = None
              ) -> dict:
    """Run conservative DPO in place on ``model``; the reference is ``model`` as it is on entry.

    ``config.batch_size`` pairs per forward pass, ``config.grad_accum`` passes per optimizer step, the learning
    rate decayed linearly from ``config.lr`` to 0 over the optimizer steps.

    Returns
    -------
    dict with the per-pass losses, the number of pairs and optimizer steps, the final mean reward margin h on
    the training pairs and, with ``heldout`` (chosen, rejected), :func:`preference_stats` before and after.
    """
    from tqdm.auto import tqdm

    config.validate()
    if len(chosen) != len(rejected) or not chosen:
        raise ValueError(f"chosen and rejected must be aligned and non-empty, got {len(chosen)} and {len(rejected)}")
    pad = tokenizer.pad_token_id
    before = None if not heldout or not heldout[0] else preference_stats(model, *heldout, pad)
    order = list(range(len(chosen)))
    batches = [order[i:i + config.batch_size] for i in range(0, len(order), config.batch_size)]
    model.eval()
    with torch.no_grad():  # reference log-probs: cached once from the frozen post-w2s student
        ref_c = torch.cat([sequence_logprob_sums(model, [chosen[i] for i in b], pad) for b in batches])
        ref_r = torch.cat([sequence_logprob_sums(model, [rejected[i] for i in b], pad) for b in batches])
    # Dropout draws from torch's generator: seeded here, a stage rerun after a resume repeats the same draws.
    torch.manual_seed(config.seed)
    opt = make_optimizer(model, config.lr)
    total_steps = config.epochs * math.ceil(len(batches) / config.grad_accum)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1.0 - s / total_steps))
    rng = random.Random(config.seed)
    losses, steps = [], 0
    model.train()
    bar = tqdm(total=config.epochs * len(batches), desc=progress or "dpo", leave=False, disable=progress is None)
    for _ in range(config.epochs):
        rng.shuffle(order)
        passes = [order[i:i + config.batch_size] for i in range(0, len(order), config.batch_size)]
        for g in range(0, len(passes), config.grad_accum):
            # One optimizer step: its accumulated passes, chosen and rejected, in one forward pass (the same
            # gradient as one pass at a time, up to float summation order and dropout draws).
            group = passes[g:g + config.grad_accum]
            b = [i for p in group for i in p]
            seq = sequence_logprob_sums(model, [chosen[i] for i in b] + [rejected[i] for i in b], pad)
            idx = torch.tensor(b, device=seq.device)
            per_pair = conservative_dpo_loss(seq[:len(b)], seq[len(b):], ref_c[idx], ref_r[idx], config.beta,
                                             config.eps, reduction="none")
            per_pass = torch.stack([x.mean() for x in per_pair.split([len(p) for p in group])])
            per_pass.mean().backward()  # the optimizer step's loss: the mean over its accumulated passes
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            steps += 1
            losses += [float(x) for x in per_pass.detach()]
            bar.update(len(group))
    bar.close()
    model.eval()
    with torch.no_grad():
        pc = torch.cat([sequence_logprob_sums(model, [chosen[i] for i in b], pad) for b in batches])
        pr = torch.cat([sequence_logprob_sums(model, [rejected[i] for i in b], pad) for b in batches])
    margin = ((pc - ref_c) - (pr - ref_r)).mean()
    out = {"losses": losses, "n_pairs": len(chosen), "optimizer_steps": steps, "final_margin": float(margin)}
    if before is not None:
        out["heldout"] = {"before": before, "after": preference_stats(model, *heldout, pad)}
    return out
