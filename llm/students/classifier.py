"""Strong students: a frozen-feature probe solved as a convex problem, and full fine-tuning.

Probe (``--students probe``). The backbone is frozen and its features h_s(x) are cached once. For the
squared-loss methods the head is the exact L2(P) projection of the teacher onto the linear heads,
``weakstrong.theory.projections.project_onto_subspace``: f_sw = argmin_{theta, b} E (theta.h_s(x) + b - f_w(x))^2,
so Theorem 1 of Charikar et al. (2024) applies to it exactly (as an equality in-sample, the class being a
subspace). ``logconf`` alternates that projection with Burns' confidence target; ``bayes`` fits a linear head
under the evidential loss (not a squared-loss projection, so the theorem need not hold for it).

Fine-tune (``--students finetune``). Backbone + linear head trained end to end with AdamW (fused on CUDA), bf16
autocast on GPU, length-bucketed batches, DistributedDataParallel when torch.distributed is initialised
(torchrun). Losses: soft cross-entropy (single/average/vote), Burns' auxiliary confidence (logconf), the
evidential loss with confidence weights (bayes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from weakstrong.config import ConfigError, check_int, check_number
from weakstrong.llm.models.batching import length_bucketed_batches, length_sorted_batches
from weakstrong.llm.models.device import autocast_context, dist_info, rank_shard, shard_loss_scale
from weakstrong.llm.models.pooling import forward_pooled
from weakstrong.llm.supervision.ensemble import logconf_target
from weakstrong.theory.projections import project_onto_ball, project_onto_subspace

LOSSES = {"single": "xent", "average": "xent", "vote": "xent", "logconf": "logconf", "bayes": "evidential"}


@dataclass(frozen=True)
class ProbeConfig:
    """Probe-head settings (``--students probe``)."""

    ridge: float = 0.0  # probe: ridge of the least-squares head (0: the exact projection the theory assumes)
    # probe: project onto the norm ball of this radius on standardised features (a convex class: Theorem 1
    # holds as an inequality) instead of the whole linear span (none)
    radius: float | None = None
    logconf_max: float = 0.75  # probe, logconf: final weight c of the hardened student labels in Burns' target
    logconf_rounds: int = 3  # probe, logconf: alternations of (harden the student's labels, re-project)
    logconf_warmup_rounds: int = 1  # probe, logconf: c ramps linearly to its maximum over these rounds
    evidential_steps: int = 300  # probe, bayes: full-batch Adam steps on the evidential loss
    evidential_lr: float = 0.05  # probe, bayes: Adam learning rate
    evidential_l2: float = 1e-4  # probe, bayes: L2 penalty on the head's weights
    # probe, bayes: weight each example by its confidence 1 - H/log 2 (an ablation: the reference has no
    # per-sample weights; confidence enters only through the soft targets)
    entropy_weights: bool = False
    seed: int = 0  # seed of the evidential head's initialisation

    def validate(self, owner: str = "ProbeConfig") -> "ProbeConfig":
        """Check every field; raise :class:`ConfigError` naming the first bad one. Returns self."""
        check_number(owner, "ridge", self.ridge, minimum=0.0)
        if self.radius is not None:
            check_number(owner, "radius", self.radius, minimum=0.0, strict=True)
            if self.ridge:
                raise ConfigError(f"{owner}: give either ridge or radius for a probe head, not both "
                                  f"(ridge={self.ridge!r}, radius={self.radius!r})")
        check_number(owner, "logconf_max", self.logconf_max, minimum=0.0, maximum=1.0)
        check_int(owner, "logconf_rounds", self.logconf_rounds, minimum=0)
        check_int(owner, "logconf_warmup_rounds", self.logconf_warmup_rounds)
        check_int(owner, "evidential_steps", self.evidential_steps)
        check_number(owner, "evidential_lr", self.evidential_lr, minimum=0.0, strict=True)
        check_number(owner, "evidential_l2", self.evidential_l2, minimum=0.0)
        check_int(owner, "seed", self.seed, minimum=0)
        return self


class ProbeStudent:
    """Linear head on frozen features, fitted as the L2(P) projection of its targets (scikit-learn style).

    ``radius=None``: projection onto all linear heads with a bias (a subspace; Theorem 1 is an equality in
    the realizable case). ``radius=R``: projection onto {theta . z(x) + b : ||theta|| <= R} on standardised
    features z (mean and scale of the training features, the same for every student fitted on them), a closed
    convex class, so Theorem 1 holds as an inequality. As z is centred, the unpenalised bias is the targets'
    mean and the rest is ``project_onto_ball`` of the centred targets, exactly.
    """

    def __init__(self, ridge: float = 0.0, radius: float | None = None):
        if radius is not None and ridge:
            raise ValueError("give either ridge or radius for a probe head, not both")
        self.ridge, self.radius = ridge, radius

    def fit(self, features: np.ndarray, targets: np.ndarray, sample_weight: np.ndarray | None = None):
        x = np.asarray(features, dtype=float)
        if self.radius is None:
            proj = project_onto_subspace(x, targets, sample_weight=sample_weight, ridge=self.ridge)
            self.mean_, self.scale_ = 0.0, 1.0
            self.coef_, self.intercept_ = proj.coef, proj.intercept
            return self
        if sample_weight is not None:
            raise ValueError("sample_weight is not supported with radius (the bias split assumes uniform weights)")
        self.mean_, self.scale_ = x.mean(0), x.std(0) + 1e-6
        t = np.asarray(targets, dtype=float)
        self.intercept_ = t.mean(0)
        self.coef_ = project_onto_ball((x - self.mean_) / self.scale_, t - self.intercept_, self.radius).coef
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        return (np.asarray(features, dtype=float) - self.mean_) / self.scale_ @ self.coef_ + self.intercept_


class EvidentialProbe:
    """Linear 2-logit head on standardised frozen features, trained full-batch on the evidential loss.

    Prediction is the Dirichlet mean alpha_1 / S with alpha = exp(z) + 1, computed as softmax(softplus(z)).
    """

    def __init__(self, steps: int = 300, lr: float = 0.05, l2: float = 1e-4, seed: int = 0):
        self.steps, self.lr, self.l2, self.seed = steps, lr, l2, seed

    def fit(self, features, targets, sample_weight=None):
        import torch

        from weakstrong.llm.supervision.losses import evidential_loss

        x = np.asarray(features, dtype=np.float32)
        self.mean_, self.scale_ = x.mean(0), x.std(0) + 1e-6
        xt = torch.from_numpy((x - self.mean_) / self.scale_)
        t = torch.as_tensor(np.asarray(targets), dtype=torch.float32)
        y = torch.stack([1 - t, t], dim=1)
        w = None if sample_weight is None else torch.as_tensor(sample_weight, dtype=torch.float32)
        gen = torch.Generator().manual_seed(self.seed)
        self.linear_ = torch.nn.Linear(x.shape[1], 2)
        with torch.no_grad():
            self.linear_.weight.normal_(0.0, 0.01, generator=gen)
            self.linear_.bias.zero_()
        opt = torch.optim.Adam(self.linear_.parameters(), lr=self.lr)
        for step in range(1, self.steps + 1):
            opt.zero_grad()
            loss = evidential_loss(self.linear_(xt), y, step, self.steps, sample_weight=w)
            loss = loss + self.l2 * self.linear_.weight.pow(2).sum()
            loss.backward()
            opt.step()
        return self

    def predict(self, features) -> np.ndarray:
        import torch

        x = (np.asarray(features, dtype=np.float32) - self.mean_) / self.scale_
        with torch.no_grad():
            return dirichlet_mean(self.linear_(torch.from_numpy(x)))[:, 1].double().numpy()


def dirichlet_mean(logits):
    """E_{Dir(alpha)}[p] = alpha / S with alpha = exp(z) + 1, overflow-free as softmax(softplus(z))."""
    import torch

    return torch.softmax(torch.nn.functional.softplus(logits.float()), dim=-1)


def fit_probe(method: str, features: np.ndarray, teacher: np.ndarray, confidence: np.ndarray,
              config: ProbeConfig | None = None):
    """Fit the probe student of ``method`` on w2s-train features and the teacher's labels; return the head."""
    config = config or ProbeConfig()
    if method not in LOSSES:
        raise ValueError(f"method must be one of {tuple(LOSSES)}, got {method!r}")
    if method == "bayes":
        return EvidentialProbe(config.evidential_steps, config.evidential_lr, config.evidential_l2,
                               config.seed).fit(features, teacher, confidence if config.entropy_weights else None)
    head = ProbeStudent(config.ridge, config.radius).fit(features, teacher)
    if method == "logconf":
        for t in range(1, config.logconf_rounds + 1):
            conf = config.logconf_max * min(1.0, t / config.logconf_warmup_rounds)
            target = logconf_target(teacher, head.predict(features), conf)
            head = ProbeStudent(config.ridge, config.radius).fit(features, target)
    return head


def student_kind(student: str, method: str, probe: ProbeConfig) -> tuple[str, str | None]:
    """What the fitted student is, as a key of ``weakstrong.llm.classification.metrics.STUDENT_KINDS``, and the reason when no
    statement applies to it: a record then states only what is proved for that student."""
    if student == "finetune":
        return "none", "none guaranteed: fine-tuned student is not a projection"
    if LOSSES[method] == "logconf":
        return "none", ("none guaranteed: the logconf probe projects a mix of the teacher and its own hardened "
                        "labels, not the teacher")
    if LOSSES[method] == "evidential":
        return "none", "none guaranteed: the bayes probe minimises the evidential loss, it is not a projection"
    if probe.radius is not None:
        return "ball", None
    return ("ridge", None) if probe.ridge else ("subspace", None)


def probe_code() -> str:
    """The code version of the probe students (part of their stage keys)."""
    from weakstrong.stages import code_version
    from weakstrong.llm.supervision import losses

    return code_version(predict_probes, fit_probe, ProbeStudent, EvidentialProbe, logconf_target, losses)


def finetune_code() -> str:
    """The code version of the fine-tuned classifier students (part of their stage keys)."""
    from weakstrong.stages import code_version
    from weakstrong.llm.supervision import losses

    return code_version(fit_classifier, _batch_loss, predict_logits, logconf_target, losses)


def predict_probes(methods: list[str], train_features: np.ndarray, teachers: np.ndarray, confidence: np.ndarray,
                   eval_features: dict[str, np.ndarray], config: ProbeConfig | None = None) -> dict[str, np.ndarray]:
    """Fit one probe per teacher row and predict on each split: {split: (k, n_split)}.

    Without a radius, the squared-loss students (xent methods) share one projection call on the stacked (n, k)
    targets, since the solver factorises the features once for all columns (a ball constrains the columns
    jointly, so those are fitted one by one).
    """
    teachers, confidence = np.atleast_2d(teachers), np.atleast_2d(confidence)
    if len(methods) != teachers.shape[0] or teachers.shape != confidence.shape:
        raise ValueError(f"need one method per teacher row: {len(methods)} methods, teachers {teachers.shape}, "
                         f"confidence {confidence.shape}")
    config = config or ProbeConfig()
    out = {s: np.zeros((len(methods), x.shape[0])) for s, x in eval_features.items()}
    plain = [j for j, m in enumerate(methods) if LOSSES.get(m) == "xent"] if config.radius is None else []
    if plain:
        head = ProbeStudent(config.ridge).fit(train_features, teachers[plain].T)
        for s, x in eval_features.items():
            out[s][plain] = head.predict(x).T
    for j, m in enumerate(methods):
        if j not in plain:
            head = fit_probe(m, train_features, teachers[j], confidence[j], config)
            for s, x in eval_features.items():
                out[s][j] = head.predict(x)
    return out


@dataclass(frozen=True)
class ClassifierFinetuneConfig:
    """End-to-end training of a backbone + linear head (the fine-tuned student, and from-scratch weak models)."""

    epochs: int = 2  # passes over w2s-train
    lr: float = 5e-5  # AdamW peak learning rate (linear warmup, then linear decay)
    batch_size: int = 32  # examples per step (the global batch: under torchrun each rank takes its share)
    max_length: int = 128  # token limit per segment
    weight_decay: float = 0.01  # AdamW weight decay
    warmup_frac: float = 0.1  # fraction of steps spent warming up (and ramping the logconf weight)
    logconf_max: float = 0.75  # logconf: final weight of the student's hardened labels in Burns' target
    # bayes: weight each example by its confidence 1 - H/log 2 (an ablation: the reference has none)
    entropy_weights: bool = False
    seed: int = 0  # seed of the head's initialisation and of the batch order

    def validate(self, owner: str = "ClassifierFinetuneConfig") -> "ClassifierFinetuneConfig":
        """Check every field; raise :class:`ConfigError` naming the first bad one. Returns self."""
        for name in ("epochs", "batch_size", "max_length"):
            check_int(owner, name, getattr(self, name))
        check_number(owner, "lr", self.lr, minimum=0.0, strict=True)
        check_number(owner, "weight_decay", self.weight_decay, minimum=0.0)
        check_number(owner, "warmup_frac", self.warmup_frac, minimum=0.0, maximum=1.0)
        check_number(owner, "logconf_max", self.logconf_max, minimum=0.0, maximum=1.0)
        check_int(owner, "seed", self.seed, minimum=0)
        return self


def make_classifier(backbone, kind: str):
    """``backbone`` + a 2-logit linear head on its pooled output (mean for encoders, last token for decoders)."""
    import torch

    class TextClassifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone, self.kind = backbone, kind
            self.head = torch.nn.Linear(backbone.config.hidden_size, 2)

        def forward(self, tokenizer, texts, pairs=None, max_length=128):
            pooled = forward_pooled(self.backbone, tokenizer, self.kind, texts, pairs, max_length)  # (B, H)
            return self.head(pooled)  # (B, 2)

    return TextClassifier()


def _batch_loss(loss: str, logits, targets, weights, step: int, total: int, cfg: ClassifierFinetuneConfig):
    import torch

    from weakstrong.llm.supervision.losses import evidential_loss

    t = torch.stack([1 - targets, targets], dim=1)
    if loss == "evidential":
        return evidential_loss(logits, t, step, total, sample_weight=weights)
    if loss == "logconf":
        conf = cfg.logconf_max * min(1.0, step / max(1.0, cfg.warmup_frac * total))
        scores = (logits[:, 1] - logits[:, 0]).detach().float().cpu().numpy()
        mixed = logconf_target(targets.cpu().numpy(), scores, conf)
        t = torch.stack([1 - torch.as_tensor(mixed), torch.as_tensor(mixed)], dim=1).to(logits.device)
    elif loss != "xent":
        raise ValueError(f"loss must be 'xent', 'logconf' or 'evidential', got {loss!r}")
    per_example = -(t.float() * torch.log_softmax(logits.float(), dim=-1)).sum(-1)
    if weights is None:
        return per_example.mean()
    return (weights * per_example).sum() / weights.sum().clamp_min(1e-12)


def train_classifier(model, tokenizer, texts, pairs, targets, loss: str, cfg: ClassifierFinetuneConfig,
                     weights=None, progress: str | None = None):
    """Train ``model`` (from :func:`make_classifier`) on soft targets in [0, 1]; returns the trained model.

    DDP-safe: under an initialised process group the model is wrapped in DistributedDataParallel and each
    rank takes its share of every global batch (:func:`fit_classifier`).
    """
    lengths = [len(t) + (len(p) if pairs is not None else 0) for t, p in zip(texts, pairs or texts)]

    def forward(net, idx):
        return net(tokenizer, [texts[i] for i in idx], None if pairs is None else [pairs[i] for i in idx],
                   cfg.max_length)

    return fit_classifier(model, forward, lengths, targets, loss, cfg, weights, progress)


def fit_classifier(model, forward, lengths, targets, loss: str, cfg: ClassifierFinetuneConfig, weights=None,
                   progress: str | None = None, autocast=None):
    """The training loop of every fine-tuned classifier: AdamW over the parameters that require a gradient,
    linear warmup then linear decay, gradient clipping at 1, length-bucketed batches in a seeded order.

    ``forward(net, idx)`` returns the (B, 2) logits of examples ``idx``; ``lengths`` orders them into
    batches; ``autocast()`` makes the context of each forward pass (None: :func:`autocast_context`).

    Under DDP (an initialised process group) ``cfg.batch_size`` is the global batch: every rank walks the same
    batches, takes its contiguous share of each, and scales its loss so that DDP's gradient average is the
    gradient of the whole batch's loss; W ranks then train as one process does, up to float summation order.
    """
    import torch
    from tqdm.auto import tqdm

    torch.manual_seed(cfg.seed)
    device = next(model.parameters()).device
    rank, world = dist_info()
    net = model
    if world > 1:
        # Backbones carry heads we do not use (e.g. BERT's pooler): their parameters get no gradient.
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device] if device.type == "cuda" else None, find_unused_parameters=True)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=device.type == "cuda")
    y = torch.as_tensor(np.asarray(targets), dtype=torch.float32)
    w = None if weights is None else torch.as_tensor(np.asarray(weights), dtype=torch.float32)
    epoch_batches = [length_bucketed_batches(lengths, cfg.batch_size, shuffle=True, seed=cfg.seed + e)
                     for e in range(cfg.epochs)]
    total = sum(len(b) for b in epoch_batches)
    warmup = max(1, int(cfg.warmup_frac * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup))))
    model.train()
    step = 0
    hidden = True if progress is None or rank != 0 else None  # None: tqdm shows the bar on a terminal only
    with tqdm(total=total, desc=progress or "train", disable=hidden, leave=False) as bar:
        for batches in epoch_batches:
            for batch in batches:
                step += 1
                idx, real = rank_shard(batch, rank, world)
                scale, _ = shard_loss_scale(len(idx) if w is None else float(w[idx].sum()), real)
                with autocast() if autocast else autocast_context(device):
                    logits = forward(net, idx)
                loss_value = scale * _batch_loss(loss, logits.float(), y[idx].to(device), None if w is None
                                                 else w[idx].to(device), step, total, cfg)
                opt.zero_grad(set_to_none=True)
                loss_value.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
                sched.step()
                bar.update(1)
    return model


def predict_classifier(model, tokenizer, texts, pairs, cfg: ClassifierFinetuneConfig,
                       loss: str = "xent") -> np.ndarray:
    """(n,) P(y = 1): softmax of the logits, or the Dirichlet mean for an evidential model."""
    def forward(idx):
        return model(tokenizer, [texts[i] for i in idx], None if pairs is None else [pairs[i] for i in idx],
                     cfg.max_length)

    return predict_logits(model, forward, [len(t) for t in texts], 4 * cfg.batch_size, loss)


def predict_logits(model, forward, lengths, batch_size: int, loss: str = "xent", autocast=None) -> np.ndarray:
    """(n,) P(y = 1) of a classifier from ``forward(idx) -> (B, 2) logits`` over length-sorted batches."""
    import torch

    device = next(model.parameters()).device
    out = np.zeros(len(lengths))
    model.eval()
    with torch.inference_mode(), autocast() if autocast else autocast_context(device):
        for idx in length_sorted_batches(lengths, batch_size):
            logits = forward(idx).float()
            probs = dirichlet_mean(logits) if loss == "evidential" else torch.softmax(logits, dim=-1)
            out[idx] = probs[:, 1].cpu().numpy()
    return out
