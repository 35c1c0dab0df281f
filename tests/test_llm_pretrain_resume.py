"""Pretraining resumes bit-identically: a run SIGKILLed after a checkpoint and resumed ends with the same weights
and loss history as one never stopped; checkpoints hold no pickle and refuse other settings."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from safetensors.torch import load_file  # noqa: E402

from weakstrong.config import ConfigError  # noqa: E402
from weakstrong.llm.models.checkpoint import read_state  # noqa: E402
from weakstrong.llm.models.ladder import LMPretrainConfig  # noqa: E402
from weakstrong.llm.pretrain.train import CHECKPOINT, pretrain  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = dict(preset="gpt-0.3m", max_steps=8, batch_size=2, seq_len=16, warmup_steps=2, save_every=1)
KILL_AT = 3

# Runs the rungs named on the command line one after another, one CPU thread (the same float order in every
# process); SIGKILLs itself right after the checkpoint of step KILL_AT when asked to.
CHILD = f"""
import os, signal, sys
import torch
from weakstrong.llm.models.ladder import LMPretrainConfig
from weakstrong.llm.pretrain.train import pretrain

torch.set_num_threads(1)
data, cache, kill, *outs = sys.argv[1:]

def log(line):
    print(line, flush=True)
    if kill == "kill" and ": step {KILL_AT} loss" in line:
        os.kill(os.getpid(), signal.SIGKILL)

for out in outs:
    pretrain(data, out, LMPretrainConfig(**{SETTINGS!r}), "cpu", tokenizer_cache=cache, log=log)
"""


def write_corpus(root: Path) -> Path:
    (root / "gutenberg").mkdir(parents=True)
    (root / "slurp").mkdir()
    book = "It was a bright cold day in April, and the clocks were striking thirteen. " * 40
    with gzip.open(root / "gutenberg" / "books.txt.gz", "wt") as fh:
        fh.write(book + "\n\x1e\n" + book.upper())
    with gzip.open(root / "slurp" / "lm.txt.gz", "wt") as fh:
        fh.write("\n".join(f"wake me up at {i} am" for i in range(200)))
    return root


def _child(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", CHILD, *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=120)


def test_a_killed_and_resumed_pretrain_equals_an_uninterrupted_one(tmp_path):
    data, cache = write_corpus(tmp_path / "data"), tmp_path / "tokenizers"
    resumed, straight = tmp_path / "resumed", tmp_path / "straight"

    killed = _child(data, cache, "kill", resumed)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert read_state(resumed / CHECKPOINT)["step"] == KILL_AT and not (resumed / "pretrain.json").exists()

    rest = _child(data, cache, "run", resumed, straight)
    assert rest.returncode == 0, rest.stderr
    assert f"resumed at step {KILL_AT}" in rest.stdout

    a, b = (json.loads((out / "pretrain.json").read_text()) for out in (resumed, straight))
    assert a["step"] == b["step"] == SETTINGS["max_steps"] and a["tokens_seen"] == b["tokens_seen"]
    assert len(a["losses"]) == SETTINGS["max_steps"] and a["losses"] == b["losses"]  # exact, float for float
    wa, wb = (load_file(out / "model.safetensors") for out in (resumed, straight))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    ca, cb = (load_file(out / CHECKPOINT) for out in (resumed, straight))  # optimizer and random states too
    assert ca.keys() == cb.keys() and all(torch.equal(ca[k], cb[k]) for k in ca)


def test_checkpoints_are_safetensors_and_bound_to_their_settings(tmp_path):
    data = write_corpus(tmp_path / "data")
    out = tmp_path / "gpt"
    config = LMPretrainConfig(**{**SETTINGS, "max_steps": 2})
    pretrain(data, out, config, "cpu", log=lambda _: None)
    assert not list(out.glob("*.pt")) and (out / CHECKPOINT).read_bytes()[8:9] == b"{"  # a safetensors header
    with pytest.raises(ConfigError, match=r"other settings \(seed: 0 there, 1 now\)"):
        pretrain(data, out, LMPretrainConfig(**{**SETTINGS, "max_steps": 4, "seed": 1}), "cpu", log=lambda _: None)
    with pytest.raises(ConfigError, match="other settings"):  # a finished record of other settings as well
        pretrain(data, out, LMPretrainConfig(**{**SETTINGS, "max_steps": 2, "batch_size": 3}), "cpu",
                 log=lambda _: None)
    (out / CHECKPOINT).write_bytes(b"\x00" * 16)  # a damaged checkpoint: a clear error, no traceback
    (out / "pretrain.json").unlink()
    with pytest.raises(ConfigError, match="cannot be read"):
        pretrain(data, out, config, "cpu", log=lambda _: None)
    (out / CHECKPOINT).unlink()
    (out / "checkpoint.pt").write_bytes(b"pickle")  # the old format is never unpickled
    with pytest.raises(ConfigError, match="pickle"):
        pretrain(data, out, config, "cpu", log=lambda _: None)


def test_no_pickle_anywhere_in_llm():
    for path in (ROOT / "llm").rglob("*.py"):
        text = path.read_text()
        for banned in ("torch.load(", "import pickle", "allow_pickle=True", "weights_only=False", "torch.save("):
            assert banned not in text, f"{path.name} uses {banned}"
