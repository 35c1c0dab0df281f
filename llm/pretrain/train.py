"""The offline decoder ladder: byte-level BPE tokenizers and GPT-2 / Llama-style models pretrained from scratch.

No model hub is reachable offline, so the generation experiments get their weak and strong models here:
decoder-only transformers (transformers' ``GPT2Config`` / ``LlamaConfig``) from ~0.3M to ~110M parameters,
pretrained as language models on the Gutenberg books plus SLURP's unlabelled language-model text. Weak rungs
differ in size, architecture *and* tokenizer (each vocabulary size is its own BPE), to mimic varied supervisors.

The rungs and the pretraining settings are in ``weakstrong.llm.models.ladder``, the BPE trainer in
``weakstrong.llm.models.tokenizer_training``. Each model directory is written with ``save_pretrained`` (model and
tokenizer), so it loads back by path with ``AutoModelForCausalLM`` / ``AutoTokenizer``. Training is resumable,
and a resumed run is bit-identical to one never stopped: ``checkpoint.safetensors`` (no pickle; see
``weakstrong.llm.models.checkpoint``) holds the model, the optimizer, every random state, the step and the loss
history, and a rerun of the same settings continues from it; ``pretrain.json`` records the run.
On CUDA: bf16 autocast, SDPA attention, fused AdamW, and MFU is reported.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from weakstrong.config import ConfigError
from weakstrong.io import output_lock, read_json, write_json
from weakstrong.llm.data.files import read_text
from weakstrong.llm.data.slurp import read_lm_text
from weakstrong.llm.models.checkpoint import load_checkpoint, read_state, save_checkpoint
from weakstrong.llm.models.device import autocast_context as autocast
from weakstrong.llm.models.device import select_device
from weakstrong.llm.models.ladder import LadderPreset, LMPretrainConfig, get_preset
from weakstrong.llm.models.lm import lr_at, make_optimizer
from weakstrong.llm.models.tokenizer_training import train_bpe_tokenizer

RECORD_SEPARATOR = "\x1e"  # separates books in gutenberg/books.txt.gz


def read_books(data_dir: str | Path, max_chars: int | None = None) -> list[str]:
    """The Gutenberg books (``gutenberg/books.txt.gz``, books separated by a line holding only \\x1e)."""
    path = Path(data_dir) / "gutenberg" / "books.txt.gz"
    if not path.exists():
        raise ConfigError(f"data_dir {data_dir} has no gutenberg/books.txt.gz")
    books = [b.strip() for b in read_text(path, max_chars).split(RECORD_SEPARATOR) if b.strip()]
    if not books:
        raise ConfigError(f"data file {path} holds no text")
    return books


def build_model(preset: LadderPreset, tokenizer):
    """A randomly initialised causal LM for ``preset`` (SDPA attention, tied embeddings)."""
    from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig

    ids = dict(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
               pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
    vocab = len(tokenizer)
    if preset.arch == "gpt2":
        config = GPT2Config(vocab_size=vocab, n_positions=preset.context, n_embd=preset.d_model,
                            n_layer=preset.n_layer, n_head=preset.n_head, **ids)
    elif preset.arch == "llama":
        config = LlamaConfig(vocab_size=vocab, hidden_size=preset.d_model, intermediate_size=preset.d_ff,
                             num_hidden_layers=preset.n_layer, num_attention_heads=preset.n_head,
                             num_key_value_heads=preset.n_head, max_position_embeddings=preset.context, **ids)
    else:
        raise ValueError(f"preset.arch must be 'gpt2' or 'llama', got {preset.arch!r}")
    return AutoModelForCausalLM.from_config(config, attn_implementation="sdpa")


def token_stream(tokenizer, texts: list[str]) -> np.ndarray:
    """All texts tokenized and joined, each followed by EOS, as one int32 array."""
    eos = tokenizer.eos_token_id
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return np.fromiter((t for doc in ids for t in (*doc, eos)), dtype=np.int32)


def sample_batch(streams: list[np.ndarray], probs: list[float], batch_size: int, seq_len: int,
                 rng: np.random.Generator) -> torch.Tensor:
    """(batch_size, seq_len) random windows, each from a stream drawn with ``probs``."""
    rows = []
    for s in rng.choice(len(streams), size=batch_size, p=probs):
        stream = streams[s]
        start = rng.integers(0, max(1, len(stream) - seq_len))
        window = stream[start:start + seq_len]
        rows.append(np.pad(window, (0, seq_len - len(window)), constant_values=window[-1]))
    return torch.from_numpy(np.stack(rows).astype(np.int64))


def peak_flops(device: torch.device) -> float | None:
    """Dense bf16 peak FLOP/s of known GPUs (for MFU); None where unknown (e.g. CPU)."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, flops in (("H200", 989e12), ("H100", 989e12), ("A100", 312e12), ("L40", 181e12)):
        if key in name:
            return flops
    return None


# Settings a rerun may change without changing the run: how long it goes on and how often it checkpoints.
RUN_LENGTH_FIELDS = ("max_steps", "time_budget", "save_every")
CHECKPOINT = "checkpoint.safetensors"


def run_identity(config: LMPretrainConfig, preset: LadderPreset) -> dict:
    """The settings a checkpoint or a finished record belongs to (defaults resolved from the preset)."""
    resolved = asdict(replace(config, lr=config.lr or preset.lr, seq_len=config.seq_len or preset.context))
    return {k: v for k, v in resolved.items() if k not in RUN_LENGTH_FIELDS}


def _check_same_run(found: dict, expected: dict, where: Path) -> None:
    changed = {k: (found.get(k), v) for k, v in expected.items() if found.get(k) != v}
    if changed:
        detail = ", ".join(f"{k}: {old!r} there, {new!r} now" for k, (old, new) in changed.items())
        raise ConfigError(f"{where} belongs to a run with other settings ({detail}); use a fresh --out or the "
                          f"same settings")


def _finished_record(record_path: Path, identity: dict, max_steps: int) -> dict | None:
    """The record of a finished run of these settings with at least ``max_steps`` steps, else None."""
    if not record_path.exists():
        return None
    try:
        record = read_json(record_path)
    except ValueError as exc:
        raise ConfigError(f"{record_path} is not valid JSON ({exc}); delete it to rerun") from None
    if record.get("step", 0) < max_steps:
        return None
    _check_same_run(record.get("config", {}), identity, record_path)  # its config is stored resolved
    return record


def pretrain(data_dir: str | Path, out_dir: str | Path, config: LMPretrainConfig, device: str | None = None,
             tokenizer_cache: str | Path | None = None, log=print) -> dict:
    """Pretrain (or resume) one rung of the ladder into ``out_dir``; returns the run record.

    The record (also written to ``out_dir/pretrain.json``) holds the parameter count, steps, tokens/s, the
    train loss of every step, held-out loss on SLURP lm text and, on known GPUs, the MFU (6N + 12 L d T FLOPs
    per token). A run resumed from its checkpoint gives the same weights and losses as one never stopped.
    """
    from transformers import AutoTokenizer

    preset = get_preset(config.validate().preset)
    out_dir, dev = Path(out_dir), select_device(device)
    seq_len = config.seq_len or preset.context
    lr = config.lr or preset.lr
    identity = run_identity(config, preset)
    record_path = out_dir / "pretrain.json"
    done = _finished_record(record_path, identity, config.max_steps)
    if done is not None:
        log(f"{preset.name}: already pretrained for {config.max_steps} steps in {out_dir}")
        return done
    ckpt = out_dir / CHECKPOINT
    if (out_dir / "checkpoint.pt").exists() and not ckpt.exists():
        raise ConfigError(f"{out_dir / 'checkpoint.pt'} is a pickle checkpoint, which is no longer loaded (loading "
                          f"a pickle runs code from the file); delete it to pretrain this rung from step 0")
    if ckpt.exists():  # before any data work: a checkpoint of other settings is refused at once
        _check_same_run(read_state(ckpt)["identity"], identity, ckpt)
    torch.manual_seed(config.seed)
    books = read_books(data_dir, config.max_chars)
    slurp = read_lm_text(Path(data_dir) / "slurp")
    if len(slurp) < 2:
        raise ConfigError(f"{Path(data_dir) / 'slurp'}: lm text needs at least 2 lines (the last 2 % are held out)")
    # Every check passed: only now does the run take its folder (a second run into it is refused).
    with output_lock(out_dir, "--out"):
        cache = Path(tokenizer_cache or out_dir) / f"tokenizer-bpe{preset.vocab_size}-{config.max_chars or 'all'}"
        if (cache / "tokenizer.json").exists():
            tokenizer = AutoTokenizer.from_pretrained(cache)
        else:
            t0 = time.perf_counter()
            tokenizer = train_bpe_tokenizer(books + slurp, preset.vocab_size)
            tokenizer.save_pretrained(cache)
            log(f"{preset.name}: trained BPE-{preset.vocab_size} in {time.perf_counter() - t0:.1f}s")
        n_val = max(1, len(slurp) // 50)  # the last 2 % of SLURP lm text is held out
        streams = [token_stream(tokenizer, books), token_stream(tokenizer, slurp[:-n_val])]
        val = token_stream(tokenizer, slurp[-n_val:])
        probs = [1.0 - config.slurp_fraction, config.slurp_fraction]

        model = build_model(preset, tokenizer).to(dev)
        n_params = sum(p.numel() for p in model.parameters())
        opt = make_optimizer(model, lr, config.weight_decay)
        rng = np.random.default_rng(config.seed)
        step, tokens_seen, losses = 0, 0, []
        if ckpt.exists():
            state, rng = load_checkpoint(ckpt, model, opt)
            step, tokens_seen, losses = state["step"], state["tokens_seen"], state["losses"]
            log(f"{preset.name}: resumed at step {step}")
            written = state.get("torch_threads")
            if written is not None and written != torch.get_num_threads():
                # Another thread count sums in another order: the run goes on, but not bit-identically.
                print(f"weakstrong: warning: {preset.name}: the checkpoint was written with {written} torch "
                      f"threads and this run has {torch.get_num_threads()} (--threads); the resumed weights will "
                      f"differ from an uninterrupted run's in the last bits", file=sys.stderr, flush=True)

        def checkpoint():
            save_checkpoint(ckpt, model, opt, rng, {"identity": identity, "step": step, "tokens_seen": tokens_seen,
                                                    "losses": losses, "torch_threads": torch.get_num_threads()})

        model.train()
        start, start_step = time.perf_counter(), step
        while step < config.max_steps:
            if config.time_budget is not None and time.perf_counter() - start > config.time_budget:
                log(f"{preset.name}: time budget spent at step {step}")
                break
            batch = sample_batch(streams, probs, config.batch_size, seq_len, rng).to(dev)  # (B, T)
            for group in opt.param_groups:
                group["lr"] = lr * lr_at(step, config.max_steps, config.warmup_steps)
            with autocast(dev):
                loss = model(input_ids=batch, labels=batch).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(float(loss.detach()))
            step, tokens_seen = step + 1, tokens_seen + batch.numel()
            if step % config.save_every == 0:
                checkpoint()
                log(f"{preset.name}: step {step} loss {np.mean(losses[-50:]):.3f}")
        if dev.type == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        checkpoint()
        model.eval()
        with torch.no_grad(), autocast(dev):
            windows = [torch.from_numpy(val[i:i + seq_len].astype(np.int64)) for i in
                       range(0, max(1, len(val) - seq_len), seq_len)][:64]
            val_loss = float(np.mean([float(model(input_ids=w[None].to(dev), labels=w[None].to(dev)).loss)
                                      for w in windows]))
        model.save_pretrained(out_dir)
        tokenizer.save_pretrained(out_dir)
        tps = (step - start_step) * config.batch_size * seq_len / max(elapsed, 1e-9)
        flops_per_token = 6 * n_params + 12 * preset.n_layer * preset.d_model * seq_len
        peak = peak_flops(dev)
        record = {
            "preset": asdict(preset), "config": asdict(replace(config, lr=lr, seq_len=seq_len)),
            "n_params": n_params, "step": step, "tokens_seen": tokens_seen, "seconds_this_run": elapsed,
            "tokens_per_s": tps, "mfu": tps * flops_per_token / peak if peak else None,
            "train_loss": float(np.mean(losses[-50:])) if losses else None, "val_loss_slurp": val_loss,
            "losses": losses, "device": str(dev),
        }
        write_json(record_path, record)
        log(f"{preset.name}: {n_params / 1e6:.2f}M params, step {step}, {tps:,.0f} tok/s, "
            f"val loss {val_loss:.3f}" + (f", MFU {record['mfu']:.1%}" if record["mfu"] else ""))
        return record


def count_params(preset: LadderPreset) -> int:
    """Parameter count of a preset's model (built on the meta device, so it costs no memory)."""
    class _Vocab:  # build_model only needs the special ids and the vocabulary size
        bos_token_id = eos_token_id = 0
        pad_token_id = 1

        def __len__(self):
            return preset.vocab_size

    with torch.device("meta"):
        model = build_model(preset, _Vocab())
    return sum(p.numel() for p in model.parameters())


def save_random_model(out_dir: str | Path, texts: list[str], vocab_size: int, arch: str = "gpt2",
                      d_model: int = 16, n_layer: int = 1, n_head: int = 2, context: int = 256) -> Path:
    """Train a BPE on ``texts`` and save an untrained (randomly initialised) model with it to ``out_dir``.

    Tiny models from here are what the CPU tests and quick smoke runs use; the directory loads back by path
    like any pretrained rung.
    """
    preset = LadderPreset(f"random-{arch}", arch, n_layer, n_head, d_model, vocab_size, context,
                          d_ff=4 * d_model if arch == "llama" else None)
    tokenizer = train_bpe_tokenizer(texts, vocab_size)
    model = build_model(preset, tokenizer)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return Path(out_dir)
