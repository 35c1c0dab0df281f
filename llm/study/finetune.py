"""The misfit study's fine-tuned students: per decoder strong model, a top-K student (:mod:`weakstrong.llm.students.topk`)
for the ceiling (gold w2s-train labels) and for every teacher, each cached by what it depends on.

The frozen bottom of each backbone runs once per split for all its strong models (``smollm2-135m-l16`` and
``smollm2-135m`` share one pass that keeps layers 14 and 28); the students then train only the top K layers.
"""

from __future__ import annotations

import time
from dataclasses import asdict

import numpy as np

from weakstrong.io import config_hash
from weakstrong.llm.models.features import joined_pairs
from weakstrong.llm.models.precision import autocast as precision_autocast
from weakstrong.llm.models.precision import native_bf16
from weakstrong.llm.models.registry import backbone_layers, load_backbone, resolve_model
from weakstrong.llm.students.classifier import LOSSES, finetune_code, fit_classifier, predict_logits
from weakstrong.llm.students.topk import (TopKClassifier, cached_sequences, classifier_head, saturated_share,
                                          top_layers)
from weakstrong.stages import cached_array, code_version


def _texts(split, joined: bool) -> list[str]:
    return joined_pairs(split.text, split.pair) if split.pair is not None and joined else list(split.text)


def autocast_factory(device, bf16: bool):
    """A maker of the forward passes' autocast context: bf16 where the device runs it natively
    (:mod:`weakstrong.llm.models.precision`) and ``bf16``; else None (float32).

    Measured on an AVX512-BF16 CPU, one thread, SmolLM2-135M's top 2 layers, batch 32 x 50 tokens:
    0.59 s a step with bf16 autocast against 1.01 s in float32 (1.7x).
    """
    if bf16 and native_bf16(device):
        return lambda: precision_autocast(device, True)
    return None


def bottom_layers(cfg, strong: list[str]) -> dict[str, tuple]:
    """{strong: (backbone spec, layer)}: the frozen pass each strong model's students read, one spec per
    backbone (its deepest member), so the strongs of one backbone share it."""

    specs = {s: resolve_model(s) for s in strong}
    deepest: dict[tuple, object] = {}
    for s, spec in specs.items():
        key = (spec.source, spec.gguf)
        if key not in deepest or (backbone_layers(spec) or 0) > (backbone_layers(deepest[key]) or 0):
            deepest[key] = spec
    return {s: (deepest[(spec.source, spec.gguf)], backbone_layers(spec) - cfg.top_k) for s, spec in specs.items()}


def finetune_students(cfg, strong: list[str], task: str, data, teachers, device, dtype, cache_dir, log: dict,
                      timer) -> tuple[dict, list]:
    """{strong: (1 + len(teachers), n_test) test predictions} of the top-K students of each model of
    ``strong`` (row 0: the ceiling on gold labels), and one throughput row per student."""
    import torch

    plan = bottom_layers(cfg, strong)
    hidden = {}
    with timer("finetune/hidden"):
        for spec in {id(p[0]): p[0] for p in plan.values()}.values():
            layers = [layer for sp, layer in plan.values() if sp is spec]
            for split in ("w2s_train", "test"):
                hidden[(spec.name, split)] = cached_sequences(
                    spec, layers, _texts(getattr(data, split), cfg.decoder_pairs == "joined"), device, dtype,
                    cfg.batch_size, cfg.max_length, cache_dir, log, f"{task}/{split}")
    autocast = autocast_factory(device, cfg.finetune_bf16)
    teacher_rows = [("gold", "average", data.w2s_train.target, None)] + \
        [(t.name, t.method, t.probs["w2s_train"], t.confidence["w2s_train"]
          if t.method == "bayes" and cfg.finetune.entropy_weights else None)  # the weights: an ablation
         for t in teachers]
    base = {"task": task, "k": cfg.top_k, "train": asdict(cfg.finetune), "bf16": autocast is not None,
            "code": code_version(finetune_code(), _train_predict, TopKClassifier, top_layers, classifier_head),
            "head": cfg.topk_head,
            "data": config_hash([data.w2s_train.uid, data.test.uid], 16), "max_length": cfg.max_length}
    out, rates = {}, []
    for s in strong:
        spec, layer = plan[s]
        train, test = hidden[(spec.name, "w2s_train")], hidden[(spec.name, "test")]
        loaded = {}
        rows = []
        with timer(f"finetune/{s}"):
            for name, method, targets, weights in teacher_rows:
                key = {**base, "strong": s, "teacher": name, "method": method,
                       "targets": config_hash(np.asarray(targets).round(8).tolist(), 16)}

                def compute(targets=targets, weights=weights, method=method, name=name):
                    if not loaded:
                        loaded["model"] = load_backbone(s, device)[0]
                    torch.manual_seed(cfg.finetune.seed)  # the head's initialisation, independent of the order
                    student = TopKClassifier.make(top_layers(loaded["model"], cfg.top_k), cfg.topk_head)
                    return _train_predict(student, train, test, layer, targets, weights, LOSSES[method], cfg,
                                          device, autocast, f"{task} {s} top-{cfg.top_k} {name}")

                arrays = cached_array(cache_dir, "topk-" + s.replace("/", "_")[-40:], key, compute, log)
                rows.append(arrays["test"])
                rates.append({"task": task, "strong": s, "teacher": name, "tokens": int(arrays["tokens"]),
                              "seconds": float(arrays["train_seconds"]),
                              "trainable": int(arrays["trainable"]), "head": cfg.topk_head,
                              "saturated_share": saturated_share(arrays["test"]),
                              "tokens_per_s": round(float(arrays["tokens"]) / float(arrays["train_seconds"]), 1)})
        out[s] = np.stack(rows)
    return out, rates


def _train_predict(student, train: dict, test: dict, layer: int, targets, weights, loss: str, cfg, device,
                   autocast, label: str) -> dict[str, np.ndarray]:
    """Train one top-K student on the cached hidden states and predict on test; with its tokens and seconds."""
    student.to(device)
    h, offsets = train[f"h{layer}"], train["offsets"]
    lengths = np.diff(offsets)

    def forward(net, idx):
        return net(*TopKClassifier.batch(h, offsets, idx, device))

    start = time.perf_counter()
    fit_classifier(student, forward, lengths, targets, loss, cfg.finetune, weights, progress=label,
                   autocast=autocast)
    seconds = time.perf_counter() - start
    ht, ot = test[f"h{layer}"], test["offsets"]
    pred = predict_logits(student, lambda idx: student(*TopKClassifier.batch(ht, ot, idx, device)), np.diff(ot),
                          4 * cfg.finetune.batch_size, loss, autocast=autocast)
    if not np.isfinite(pred).all():  # never cache a diverged student
        raise FloatingPointError(f"{label}: the fine-tuned student predicts non-finite values")
    trainable = sum(p.numel() for p in student.parameters() if p.requires_grad)
    return {"test": pred, "tokens": np.asarray(int(lengths.sum()) * cfg.finetune.epochs),
            "train_seconds": np.asarray(round(seconds, 3)), "trainable": np.asarray(trainable)}
