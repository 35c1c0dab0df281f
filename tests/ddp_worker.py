"""One rank of the DDP tests (``tests/test_llm_ddp.py``), started by ``torchrun`` (or alone, as one process).

``python ddp_worker.py sft MODEL OUT``: fine-tunes the causal LM in MODEL on a fixed set of prompt -> target
pairs with ``weakstrong.llm.models.lm.finetune``; rank 0 saves the losses and the trained parameters to
``OUT/sft.npz``.

``python ddp_worker.py classify CONFIG.json OUT``: ``weakstrong llm classify``'s ``run_into`` on the config;
on ranks other than 0 any atomic write (``os.replace``) raises, so a rank that writes fails the run.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import torch


def sft(model_dir: str, out: str) -> None:
    from weakstrong.llm.generation.config import LMFinetuneConfig
    from weakstrong.llm.models.device import dist_info
    from weakstrong.llm.models.lm import encode_examples, finetune, load_causal_lm

    rank, world = dist_info()
    torch.set_num_threads(1)
    model, tok = load_causal_lm(model_dir, "cpu")
    prompts = [f"say the number {i} {'twice' if i % 3 else ''}" for i in range(22)]
    targets = [f" {i} {i}" + (" again" * (i % 4)) for i in range(22)]
    weights = [1.0 + (i % 3) for i in range(22)]  # unequal example weights: the shard scaling must hold them
    examples = encode_examples(tok, prompts, targets, weights)
    config = LMFinetuneConfig(lr=1e-3, epochs=2, batch_size=5, warmup_frac=0.2, seed=3, bf16=False)
    losses = finetune(model, tok, examples, config)
    if rank == 0:
        params = torch.cat([p.detach().flatten() for p in model.parameters()]).numpy()
        np.savez(os.path.join(out, "sft.npz"), losses=np.asarray(losses), params=params, world=world)


def classify(config_path: str, out: str) -> None:
    from weakstrong.llm.classification.classify import ClassifyConfig
    from weakstrong.llm.classify_cli import run_into
    from weakstrong.llm.students.classifier import ClassifierFinetuneConfig, ProbeConfig

    torch.set_num_threads(1)
    if os.environ.get("RANK", "0") != "0":
        def refuse(src, dst):
            raise AssertionError(f"rank {os.environ['RANK']} wrote {dst}")
        os.replace = refuse
    raw = json.loads(open(config_path).read())
    raw["finetune"] = ClassifierFinetuneConfig(**raw["finetune"])
    raw["probe"] = ProbeConfig(**raw["probe"])
    cfg = ClassifyConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})
    run_into(cfg, out)


if __name__ == "__main__":
    from weakstrong.llm.models.device import distributed_from_env

    with distributed_from_env():  # every rank meets at the end, then the group is destroyed before exit
        {"sft": sft, "classify": classify}[sys.argv[1]](*sys.argv[2:])
