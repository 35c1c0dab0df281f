"""Settings of the generation experiment (``weakstrong llm generate``): causal-LM fine-tuning, conservative DPO,
and the experiment that combines them.

Light module (no torch): the command line is generated from these dataclasses, so each default and help text
lives here once. The code that uses them is ``weakstrong.llm.models.lm`` (fine-tuning), ``weakstrong.llm.students.dpo`` and
``weakstrong.llm.generation.generate`` (where and how a run goes: ``weakstrong.llm.models.options.RunOptions``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from weakstrong.config import ConfigError, check_int, check_number

# single: one student per weak model (its 1-best, cross-entropy); multi: naive multi-weak (every weak model's
# 1-best with its token confidence, soft KL, fixed weights); bayes: Bayesian multi-weak (the same targets and
# weights, the evidential loss with edl_step: the method and DPO's starting point); bayes-edl: the same with
# plain edl (ablation); joint: joint decoding's target (cross-entropy)
METHODS = ("single", "multi", "bayes", "bayes-edl", "joint")
# settings that change how students train but no shared stage: they name the students' stages
STRATEGY_FIELDS = ("weights", "joint_weights", "uniform_weights", "piece_split", "confidence_source",
                   "kl_clamp_order", "detach_targets", "kl_weight", "weight_pooling")
WEIGHT_POOLINGS = ("tokens", "per_target")
SINGLES = ("all", "best")
PIECE_SPLITS = ("live", "base", "even")
CONFIDENCE_SOURCES = ("own", "mixture")
KL_CLAMPS = ("annealed", "raw")
DPO_ON = ("best+bayes", "best_single+bayes", "bayes", "all")
# where the weak ensemble's weights apply, and how much more than each other weak model the one with the best
# validation SLU-F1 weighs there by default: the reference's 3-model weights, [0.25, 0.25, 0.5] for the losses and
# [0.3, 0.3, 0.4] for DPO's ranking. Joint decoding's [0.5, 0.2, 0.3] is positional (its first model, not its
# best, weighs most) and has no such rule: the default gives joint the losses' pattern (--joint-weights to set it)
ENSEMBLE_USES = ("multi", "joint", "dpo")
BEST_WEAK_FACTOR = {"multi": 2.0, "joint": 2.0, "dpo": 4.0 / 3.0}
OFFICIAL_SPLITS = ("weak_train", "w2s_train", "test")


@dataclass(frozen=True)
class LMFinetuneConfig:
    """Supervised fine-tuning of a causal LM on prompt -> target pairs."""

    lr: float = 3e-4  # AdamW learning rate (peak; linear warmup then cosine decay)
    epochs: int = 3  # passes over the training pairs
    batch_size: int = 32  # prompt/target pairs per step
    weight_decay: float = 0.0  # AdamW weight decay
    warmup_frac: float = 0.05  # fraction of steps spent warming up
    max_grad_norm: float = 1.0  # gradient-norm clip
    seed: int = 0  # seed of the batch order
    train_top_k: int | None = None  # train only the last K transformer layers and the final norm (none: all)
    bf16: bool | None = None  # bf16 autocast (none: where the hardware has bf16 matmuls: CUDA, AVX512-BF16/AMX CPUs)
    extra: dict = field(default_factory=dict, metadata={"cli": False})  # loss-specific settings, recorded

    def validate(self, owner: str = "LMFinetuneConfig") -> "LMFinetuneConfig":
        """Check every field; raise :class:`ConfigError` naming the first bad one. Returns self."""
        check_number(owner, "lr", self.lr, minimum=0.0, strict=True)
        check_int(owner, "epochs", self.epochs)
        check_int(owner, "batch_size", self.batch_size)
        check_number(owner, "weight_decay", self.weight_decay, minimum=0.0)
        check_number(owner, "warmup_frac", self.warmup_frac, minimum=0.0, maximum=1.0)
        check_number(owner, "max_grad_norm", self.max_grad_norm, minimum=0.0, strict=True)
        check_int(owner, "seed", self.seed, minimum=0)
        if self.train_top_k is not None:
            check_int(owner, "train_top_k", self.train_top_k)
        if self.bf16 is not None and not isinstance(self.bf16, bool):
            raise ConfigError(f"{owner}.bf16 must be true, false or none, got {self.bf16!r}")
        return self


@dataclass(frozen=True)
class DPOConfig:
    """Conservative DPO hyperparameters (defaults: the reference's, Cui et al. 2024: beta 5, eps 0.1, lr 5e-7 with
    linear decay, batch 1 x accumulation 2, 3 epochs over every w2s-train input's 10-best pair)."""

    beta: float = 5.0  # inverse temperature of the implicit reward
    eps: float = 0.1  # label smoothing: the prior probability that a preference label is flipped
    lr: float = 5e-7  # peak learning rate, decayed linearly to 0 (no warm-up)
    epochs: int = 3  # passes over the preference pairs
    batch_size: int = 1  # preference pairs per forward pass
    grad_accum: int = 2  # forward passes per optimizer step (the reference: batch 1 x accumulation 2)
    n_best: int = 10  # candidates beam-decoded by the student per input
    seed: int = 0  # seed of the pair order

    def validate(self, owner: str = "DPOConfig") -> "DPOConfig":
        """Check every field; raise :class:`ConfigError` naming the first bad one. Returns self."""
        check_number(owner, "beta", self.beta, minimum=0.0, strict=True)
        check_number(owner, "eps", self.eps, minimum=0.0)
        if self.eps >= 0.5:
            raise ConfigError(f"{owner}.eps must be < 0.5, got {self.eps!r}")
        check_number(owner, "lr", self.lr, minimum=0.0, strict=True)
        check_int(owner, "epochs", self.epochs)
        check_int(owner, "batch_size", self.batch_size)
        check_int(owner, "grad_accum", self.grad_accum)
        check_int(owner, "n_best", self.n_best, minimum=2)
        check_int(owner, "seed", self.seed, minimum=0)
        return self


@dataclass(frozen=True)
class GenerateConfig:
    """One weak-to-strong generation experiment (``weakstrong llm generate``)."""

    # SLURP folder with devel.jsonl(.gz) and test.jsonl(.gz), or a data root holding slurp/ (required)
    data_dir: str | None = None
    # weak models, by spaces or commas (required): registry decoders (smollm2-135m-l12, gemma3-270m-l6, any
    # NAME-lK), local model directories (e.g. `weakstrong llm pretrain` rungs) or hub ids
    weak: tuple[str, ...] = ()
    strong: str | None = None  # strong model: registry decoder (smollm2-135m), local model directory or hub id
    methods: tuple[str, ...] = ("single", "multi", "bayes", "joint")  # strategies: single multi bayes bayes-edl joint, or all
    # ensemble weights of multi and bayes, one per weak model (normalised); none: the reference's pattern, the
    # weak model with the best validation SLU-F1 counting twice (3 models: 0.5 0.25 0.25)
    weights: tuple[float, ...] | None = None
    joint_weights: tuple[float, ...] | None = None  # joint decoding's weights (none: as --weights)
    # the weights with which the weak ensemble ranks a student's DPO candidates (none: as --weights if given, else
    # the reference's DPO pattern, the best weak model by validation SLU-F1 weighing 4/3 of each other one:
    # 3 models 0.4 0.3 0.3; uniform with --uniform-weights)
    dpo_weights: tuple[float, ...] | None = None
    uniform_weights: bool = False  # ablation: uniform weights where --weights is none
    # validation utterances held out of weak-train, for the weak models' and students' SLU-F1 (the default
    # weights, the student DPO starts from); none: a tenth of weak-train, at most 100
    n_val: int | None = None
    # single-weak students: all (one per weak model) or best (only that of the weak model with the best
    # validation SLU-F1, the one the Bayesian student is compared with; saves the others' fine-tuning)
    singles: str = field(default="all", metadata={"choices": SINGLES})
    # how a word's log-score splits over the strong pieces: live (softmax(-max p) of the student's own
    # distribution, recomputed at every training step: the reference's), base (ablation: of the strong model's
    # before w2s training, fixed; the earlier default) or even (the reference's ablation)
    piece_split: str = field(default="live", metadata={"choices": PIECE_SPLITS})
    # token confidence of each weak target: own (the weak model's own scores of its 1-best) or mixture
    # (ablation: the weighted mixture of every weak model's word probabilities)
    confidence_source: str = field(default="own", metadata={"choices": CONFIDENCE_SOURCES})
    # evidential KL: annealed (anneal, clamp at 2e5, scale: the reference's) or raw (ablation: clamp the raw KL
    # at 1e4 before annealing, the earlier order)
    kl_clamp_order: str = field(default="annealed", metadata={"choices": KL_CLAMPS})
    detach_targets: bool = False  # ablation: stop the gradient through the soft target's student distribution
    # how the fixed weights combine the multi-weak losses: per_target (each target contributes w_j times its
    # mean token loss, as the reference's losses, each a mean over its target's tokens; long targets weigh no
    # more than short ones) or tokens (ablation, the earlier default: each target's tokens carry w_j in one
    # weighted mean over the batch's tokens)
    weight_pooling: str = field(default="per_target", metadata={"choices": WEIGHT_POOLINGS})
    dpo: bool = False  # add the conservative DPO stage after the students named by --dpo-on
    # students DPO refines: best+bayes (the best by validation SLU-F1, and bayes), best_single+bayes (the best
    # single-weak student by validation SLU-F1 at the strong seed --seed, and bayes at every seed), bayes, or all
    dpo_on: str = "best+bayes"
    seed: int = 0  # seed of the splits and of the weak models (trained once, as in the reference)
    # seeds of the strong stages (ceiling, students, DPO: their initialisation and data order); none: --seed.
    # Each seed after the first adds stages under seedN/ and the results report every seed and their pool
    seeds: tuple[int, ...] = ()
    n_weak_train: int = 1000  # weak-train utterances (a seeded part of SLURP devel)
    n_w2s_train: int = 1000  # w2s-train utterances (the disjoint rest of the same devel permutation)
    n_test: int | None = 500  # evaluate on the first n utterances of the shuffled official test split (none: all)
    n_best: int = 3  # candidates per weak model for joint decoding
    max_new_tokens: int = 64  # generation limit (the reference's)
    batch_size: int = 32  # decoding and scoring batch (fine-tuning: --finetune-batch-size)
    inference_bf16: bool | None = None  # frozen models decode and score in bf16 (none: where bf16 matmuls are native)
    # ceiling and students
    finetune: LMFinetuneConfig = field(default_factory=LMFinetuneConfig, metadata={"prefix": "finetune"})
    # weak supervisors on weak-train (none: ``finetune``)
    weak_finetune: LMFinetuneConfig | None = field(default=None, metadata={"cli": False})
    dpo_config: DPOConfig = field(default_factory=DPOConfig, metadata={"prefix": "dpo"})
    dpo_inputs: int | None = None  # w2s-train inputs used for DPO (none: all)
    kl_weight: float = 1e-4  # evidential KL weight of the bayes strategy (the reference's)
    # {"weak_train", "w2s_train", "test"}: official split files instead of the seeded devel halves and test file
    official: dict | None = field(default=None, metadata={"cli": False})
    # reporting only (no stage depends on these)
    min_ceiling_slu_f1: float = 0.5  # non-degeneracy guard: the strong ceiling must reach this SLU-F1
    min_weak_gap: float = 0.1  # non-degeneracy guard: every weak model must trail the ceiling by this SLU-F1
    n_boot: int = 1000  # bootstrap resamples of the test utterances for confidence intervals

    def validate(self) -> "GenerateConfig":
        """Check every field; raise :class:`ConfigError` naming the first bad one. Returns self."""
        owner = "GenerateConfig"
        if self.official is None and not self.data_dir:
            raise ConfigError(f"{owner}.data_dir must name the SLURP folder (--data-dir)")
        if self.official is not None:
            missing = [k for k in OFFICIAL_SPLITS if k not in self.official]
            if missing:
                raise ConfigError(f"{owner}.official must name files for {OFFICIAL_SPLITS}; missing {missing}")
        if not self.weak or not all(isinstance(w, str) and w for w in self.weak):
            raise ConfigError(f"{owner}.weak must name at least one weak model, got {self.weak!r}")
        if not isinstance(self.strong, str) or not self.strong:
            raise ConfigError(f"{owner}.strong must name the strong model, got {self.strong!r}")
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise ConfigError(f"{owner}.methods must be a non-empty subset of {METHODS}, got {list(self.methods)}")
        for name in ("weights", "joint_weights", "dpo_weights"):
            w = getattr(self, name)
            if w is not None and (len(w) != len(self.weak) or not all(math.isfinite(x) and x >= 0 for x in w)
                                  or sum(w) <= 0):
                raise ConfigError(f"{owner}.{name} must be one nonnegative number per weak model ({len(self.weak)}), "
                                  f"not all zero, got {list(w)}")
        for name, allowed in (("piece_split", PIECE_SPLITS), ("confidence_source", CONFIDENCE_SOURCES),
                              ("kl_clamp_order", KL_CLAMPS), ("weight_pooling", WEIGHT_POOLINGS),
                              ("singles", SINGLES)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{owner}.{name} must be one of {allowed}, got {getattr(self, name)!r}")
        for name in ("uniform_weights", "detach_targets"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{owner}.{name} must be true or false, got {getattr(self, name)!r}")
        if self.n_val is not None:
            check_int(owner, "n_val", self.n_val, minimum=0)
        if self.dpo_on not in DPO_ON:
            raise ConfigError(f"{owner}.dpo_on (--dpo-on) must be one of {DPO_ON}, got {self.dpo_on!r}")
        check_int(owner, "seed", self.seed, minimum=0)
        for s in self.seeds:
            check_int(owner, "seeds", s, minimum=0)
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"{owner}.seeds must be distinct, got {list(self.seeds)}")
        for name in ("n_weak_train", "n_w2s_train", "n_best", "max_new_tokens", "batch_size"):
            check_int(owner, name, getattr(self, name))
        for name in ("n_test", "dpo_inputs"):
            if getattr(self, name) is not None:
                check_int(owner, name, getattr(self, name))
        check_number(owner, "kl_weight", self.kl_weight, minimum=0.0)
        check_number(owner, "min_ceiling_slu_f1", self.min_ceiling_slu_f1, minimum=0.0, maximum=1.0)
        check_number(owner, "min_weak_gap", self.min_weak_gap, minimum=0.0, maximum=1.0)
        check_int(owner, "n_boot", self.n_boot)
        if self.inference_bf16 is not None and not isinstance(self.inference_bf16, bool):
            raise ConfigError(f"{owner}.inference_bf16 must be true, false or none, got {self.inference_bf16!r}")
        self.finetune.validate(f"{owner}.finetune")
        if self.weak_finetune is not None:
            self.weak_finetune.validate(f"{owner}.weak_finetune")
        self.dpo_config.validate(f"{owner}.dpo_config")
        return self

    def ensemble_weights(self, val_slu_f1: list[float] | None = None, use: str = "multi") -> list[float]:
        """The normalised weights of the weak ensemble where it supervises ``use``: ``"multi"`` (the multi-weak
        and Bayesian losses), ``"joint"`` (joint decoding's ranking) or ``"dpo"`` (the ranking of DPO's
        candidates). ``--joint-weights`` / ``--dpo-weights`` or ``--weights`` if given; otherwise uniform
        (``--uniform-weights``) or the reference's pattern on the weak models' validation SLU-F1 (ties go to the
        first): the best one counts twice (3 models: 0.5, 0.25, 0.25), for DPO 4/3 times (0.4, 0.3, 0.3)."""
        if use not in ENSEMBLE_USES:
            raise ValueError(f"use must be one of {ENSEMBLE_USES}, got {use!r}")
        w = {"multi": None, "joint": self.joint_weights, "dpo": self.dpo_weights}[use] or self.weights
        if w is None:
            w = [1.0] * len(self.weak)
            if not self.uniform_weights and val_slu_f1 is not None and len(self.weak) > 1:
                best = int(max(range(len(val_slu_f1)), key=lambda j: (val_slu_f1[j], -j)))
                w[best] = BEST_WEAK_FACTOR[use]
        return [x / sum(w) for x in w]

    def strong_seeds(self) -> tuple[int, ...]:
        """The seeds of the strong stages, first the one whose stages carry no prefix."""
        return self.seeds or (self.seed,)

    def stage_prefix(self, strong_seed: int) -> str:
        """Where the strong stages of ``strong_seed`` live: the folder's top for ``--seed``, ``seedN/`` else."""
        return "" if strong_seed == self.seed else f"seed{strong_seed}/"

    def val_size(self) -> int:
        """The validation utterances held out of weak-train."""
        return min(100, self.n_weak_train // 10) if self.n_val is None else self.n_val

    def strategy_key(self) -> dict:
        """The settings a student's training depends on beyond the shared stages (in its stage name, so
        ablations of one setting share the weak models, the ceiling and every target)."""
        key = {k: getattr(self, k) for k in STRATEGY_FIELDS}
        if key["weight_pooling"] == "tokens":  # the earlier default: the stage names of earlier runs hold
            key.pop("weight_pooling")
        if key["piece_split"] == "base":  # its name in earlier runs, whose students stay cached under it
            key["piece_split"] = "strong"
        return key

    def identity(self) -> dict:
        """The settings a cached stage depends on (not the list of methods or the DPO switches, which only add
        stages, nor the reporting settings, nor the strategy and DPO settings, which name the students' and the
        DPO stages)."""
        d = asdict(self)
        for key in ("methods", "dpo", "dpo_on", "min_ceiling_slu_f1", "min_weak_gap", "n_boot", "seeds",
                    "dpo_config", "dpo_inputs", "dpo_weights", "singles", *STRATEGY_FIELDS):
            d.pop(key)
        if d["weak_finetune"] is None:  # the default (same as ``finetune``) leaves the identity unchanged
            d.pop("weak_finetune")
        return d
