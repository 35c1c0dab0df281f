"""The offline decoder ladder: its rungs (architecture and size) and the settings that pretrain one.

Light module (no torch): ``weakstrong llm pretrain --help`` is generated from :class:`LMPretrainConfig`.
The training itself is ``weakstrong.llm.pretrain.train``.
"""

from __future__ import annotations

from dataclasses import dataclass

from weakstrong.config import ConfigError, check_choice, check_int, check_number


@dataclass(frozen=True)
class LadderPreset:
    """One rung of the ladder: architecture and size (the name gives the approximate parameter count)."""

    name: str
    arch: str  # "gpt2" or "llama"
    n_layer: int
    n_head: int
    d_model: int
    vocab_size: int  # each distinct vocabulary size is a distinct BPE tokenizer
    context: int = 256
    d_ff: int | None = None  # Llama MLP width (GPT-2 uses 4 * d_model)
    lr: float = 1e-3  # peak pretraining learning rate


PRESETS = {p.name: p for p in (
    LadderPreset("gpt-0.3m", "gpt2", 2, 2, 64, 2048, lr=3e-3),
    LadderPreset("llama-0.5m", "llama", 2, 2, 96, 3072, d_ff=256, lr=3e-3),
    LadderPreset("gpt-1m", "gpt2", 4, 4, 128, 4096, lr=2e-3),
    LadderPreset("llama-3m", "llama", 4, 4, 192, 8192, d_ff=512, lr=2e-3),
    LadderPreset("gpt-4m", "gpt2", 6, 6, 192, 8192, lr=1.5e-3),
    LadderPreset("gpt-50m", "gpt2", 12, 8, 512, 16384, context=512, lr=6e-4),
    LadderPreset("llama-100m", "llama", 12, 12, 768, 16384, context=512, d_ff=2048, lr=4e-4),
    LadderPreset("gpt-110m", "gpt2", 12, 12, 768, 32768, context=512, lr=4e-4),
)}


def get_preset(name: str) -> LadderPreset:
    """The rung called ``name``; :class:`ConfigError` naming the known rungs otherwise."""
    if name not in PRESETS:
        raise ConfigError(f"preset must be one of {sorted(PRESETS)}, got {name!r}")
    return PRESETS[name]


@dataclass(frozen=True)
class LMPretrainConfig:
    """Pretraining run settings of one rung (the preset fixes the model)."""

    preset: str = "gpt-1m"  # ladder rung (weakstrong.llm.models.ladder.PRESETS)
    max_steps: int = 2000  # optimizer steps in total (a rerun resumes up to this)
    batch_size: int = 32  # sequences per step
    seq_len: int | None = None  # tokens per sequence (none: the preset's context)
    lr: float | None = None  # peak learning rate (none: the preset's)
    warmup_steps: int = 100  # linear warmup, then cosine decay to 10 %
    weight_decay: float = 0.1  # AdamW weight decay
    time_budget: float | None = None  # seconds for this invocation; the run checkpoints and stops when spent
    save_every: int = 200  # checkpoint every this many steps
    slurp_fraction: float = 0.25  # share of sequences drawn from SLURP's lm text (in-domain utterances)
    max_chars: int | None = None  # cap on Gutenberg characters read (tokenizer and stream), for quick runs
    seed: int = 0  # seed of the initialisation and of the sampled windows

    def validate(self, owner: str = "LMPretrainConfig") -> "LMPretrainConfig":
        """Check every field; raise :class:`ConfigError` naming the first bad one. Returns self."""
        check_choice(owner, "preset", self.preset, sorted(PRESETS))
        for name in ("max_steps", "batch_size", "save_every"):
            check_int(owner, name, getattr(self, name))
        check_int(owner, "warmup_steps", self.warmup_steps, minimum=0)
        check_int(owner, "seed", self.seed, minimum=0)
        if self.seq_len is not None:  # a one-token window has nothing to predict
            check_int(owner, "seq_len", self.seq_len, minimum=2)
        if self.max_chars is not None:
            check_int(owner, "max_chars", self.max_chars)
        context = PRESETS[self.preset].context
        if self.seq_len is not None and self.seq_len > context:
            raise ConfigError(f"{owner}.seq_len must be <= {context}, the context of preset {self.preset!r} "
                              f"(its position embeddings end there), got {self.seq_len}")
        for name in ("lr", "time_budget"):
            if getattr(self, name) is not None:
                check_number(owner, name, getattr(self, name), minimum=0.0, strict=True)
        check_number(owner, "weight_decay", self.weight_decay, minimum=0.0)
        check_number(owner, "slurp_fraction", self.slurp_fraction, minimum=0.0, maximum=1.0)
        return self
