"""The strong student's cost on SLURP: bf16 autocast against float32, full fine-tuning against the top K layers.

Two measurements behind the settings of ``weakstrong llm generate`` on a CPU, recorded with the machine:

1. **bf16 autocast.** A few full fine-tuning steps of the model at one batch shape, in float32 and under bf16
   autocast, alternated; tokens per second of each (``weakstrong.llm.models.lm.lm_autocast`` enables autocast by
   default only where it is native, and this says whether it pays here).
2. **Full vs top-K.** The model is fine-tuned on ``n_train`` SLURP devel utterances (gold targets) once with
   every parameter trainable and once per K with only its last K layers and the final norm
   (``--finetune-train-top-k``), then greedy-decodes ``n_test`` utterances of the official test split. Each
   variant reports SLU-F1 and exact match with bootstrap intervals, training and decoding seconds (wall and
   this process's CPU), tokens per second, the share of the bf16 matmul rate measured in the same process
   (``weakstrong.llm.models.matmul_rate``; per CPU-second on both sides, which time-sharing with other jobs does not
   distort) and SLU-F1 per CPU-minute of training.

Every variant is a stage in ``OUT/<variant>.json`` (:class:`weakstrong.stages.StageFolder`: a rerun of the same
settings skips it); :func:`run_bench` returns them all and the command writes ``OUT/bench.json``::

    weakstrong llm generate-bench --data-dir ../shared/data --model smollm2-135m \\
        --n-train 300 --n-test 100 --top-k 4,8 --threads 1 --out results/slurp_topk_bench
"""

from __future__ import annotations

import platform
import time

import numpy as np

from weakstrong.stages import StageFolder


def autocast_check(model, tokenizer, examples, batch_size: int = 16, steps: int = 2, rounds: int = 2) -> dict:
    """Tokens per CPU-second of full fine-tuning steps in float32 and under bf16 autocast (alternated ``rounds``
    times, best kept; with one torch thread this is tokens/s on a core of one's own); the model is restored to
    its initial weights afterwards."""
    from weakstrong.llm.models.lm import collate, lm_autocast, make_optimizer, target_logits, weighted_xent
    from weakstrong.llm.models.lm_layers import set_trainable_top_k

    device = next(model.parameters()).device
    set_trainable_top_k(model, None)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    batch = collate(examples[:batch_size], tokenizer.pad_token_id, device)
    opt = make_optimizer(model, 1e-6)
    best: dict[str, float] = {}
    model.train()
    for _ in range(rounds):
        for name, enabled in (("float32", False), ("bf16_autocast", True)):
            def step():
                with lm_autocast(device, enabled):
                    logits, targets, rows = target_logits(model, batch)
                loss = weighted_xent(logits.float(), targets, batch.weight[rows], None, 0, 1)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            step()  # warm-up: the first step of a dtype pays for one-time work
            start = time.process_time()  # CPU time: on a shared machine, wall time measures the neighbours
            for _ in range(steps):
                step()
            rate = steps * int(batch.attention_mask.sum()) / (time.process_time() - start)
            best[name] = max(best.get(name, 0.0), rate)
    model.load_state_dict(state)
    model.eval()
    return {"tokens_per_cpu_s": best, "speedup": best["bf16_autocast"] / best["float32"],
            "batch": list(batch.input_ids.shape), "steps": steps, "rounds": rounds,
            "bf16_autocast_faster": best["bf16_autocast"] > best["float32"]}


def run_variant(model_name: str, top_k: int | None, train, test, lr: float, epochs: int, batch_size: int,
                max_new_tokens: int, rates: dict, seed: int = 0, progress: bool = True) -> dict:
    """Fine-tune ``model_name`` (every layer, or the top ``top_k``) on ``train`` and score it on ``test``."""
    import torch

    from weakstrong.llm.generation.config import LMFinetuneConfig
    from weakstrong.llm.generation.decoding import greedy
    from weakstrong.llm.generation.report import decode_throughput, finetune_throughput
    from weakstrong.llm.generation.slu_metric import (bootstrap_ci, bootstrap_weights, generation_counts,
                                                      score_generations)
    from weakstrong.llm.models.lm import encode_examples, finetune, load_causal_lm
    from weakstrong.llm.models.lm_layers import matmul_params
    from weakstrong.llm.models.registry import inference_dtype

    model, tok = load_causal_lm(model_name, "cpu")
    config = LMFinetuneConfig(lr=lr, epochs=epochs, batch_size=batch_size, seed=seed, train_top_k=top_k)
    stats: dict = {}
    cpu0 = time.process_time()
    losses = finetune(model, tok, encode_examples(tok, [e.prompt for e in train], [e.target for e in train]),
                      config, progress=f"top-{top_k}" if top_k and progress else ("full" if progress else None),
                      stats=stats)
    train_cpu = time.process_time() - cpu0
    for p in model.parameters():
        p.requires_grad_(False)
    model.to(inference_dtype(torch.device("cpu")))
    decode_stats: dict = {}
    cpu0 = time.process_time()
    gens = greedy(model, tok, [e.prompt for e in test], max_new_tokens, 32, "decode" if progress else None,
                  stats=decode_stats)
    decode_cpu = time.process_time() - cpu0
    gold = [e.slots for e in test]
    scores = score_generations(gold, gens).to_dict()
    counts = generation_counts(gold, gens)
    return {"model": model_name, "top_k": top_k, "lr": lr, "epochs": epochs, "batch_size": batch_size,
            "n_train": len(train), "n_test": len(test), **scores,
            "ci": bootstrap_ci(counts, bootstrap_weights(len(test), 1000, seed)),
            "final_loss": float(np.mean(losses[-5:])),
            "train": {**finetune_throughput(stats, rates), "cpu_seconds": train_cpu},
            "decode": {**decode_throughput(decode_stats, matmul_params(model)["forward"], rates),
                       "cpu_seconds": decode_cpu},
            "slu_f1_per_train_cpu_minute": scores["slu_f1"] / (train_cpu / 60),
            "examples": [{"prompt": e.prompt, "target": e.target, "generation": g}
                         for e, g in list(zip(test, gens))[:5]]}


def cpu_fractions(variant: dict, rates: dict) -> dict:
    """Fill each part's per-CPU-second rates from its stored FLOPs (``gflops`` x wall ``seconds``) and CPU
    seconds, against the per-CPU-second matmul rates of ``rates``: the shares time-sharing does not distort."""
    for part, count in (("train", "tokens"), ("decode", "new_tokens")):
        row = variant[part]
        per_cpu = row["gflops"] * row["seconds"] / row["cpu_seconds"]
        row.update({f"{count}_per_cpu_s": row[count] / row["cpu_seconds"], "gflops_per_cpu_s": per_cpu,
                    "fraction_of_bf16_matmul_cpu": per_cpu / rates["bf16_gflops_per_cpu_s"]})
    return variant


def run_bench(args, stages: StageFolder) -> dict:
    """Every variant (and the autocast check) as a stage of ``stages``; returns the bench results."""
    import torch

    from weakstrong.llm.data.slurp import load_slurp, subsample
    from weakstrong.llm.models.device import torch_threads
    from weakstrong.llm.models.lm import encode_examples, load_causal_lm
    from weakstrong.llm.models.matmul_rate import matmul_rates

    splits, _ = load_slurp(args.data_dir, args.seed, args.n_train, 1)
    train, test = splits.weak_train, subsample(splits.test, args.n_test)
    ks = [int(k) for k in args.top_k.split(",") if k.strip()]
    variants = ([] if args.no_full else [("full", None, args.lr)]) + \
        [(f"top{k}", k, args.top_k_lr or args.lr) for k in ks]
    with torch_threads(args.threads):
        rates = matmul_rates(threads=args.threads)
        print(f"matmul at {args.threads} thread(s): bf16 {rates['bf16_gflops']:.0f} GFLOP/s, "
              f"fp32 {rates['fp32_gflops']:.0f} GFLOP/s", flush=True)
        results = {"machine": {"cpu": platform.processor() or platform.machine(), "threads": args.threads,
                               "torch": torch.__version__}, "matmul": rates, "variants": {}}
        if not args.no_autocast_check:
            def autocast():
                model, tok = load_causal_lm(args.model, "cpu")
                examples = encode_examples(tok, [e.prompt for e in train], [e.target for e in train])
                return autocast_check(model, tok, examples, args.batch_size)
            results["autocast"] = stages.json("autocast", autocast)
            print(f"autocast check (tokens per CPU-second): {results['autocast']['tokens_per_cpu_s']}", flush=True)
        for name, k, lr in variants:
            measured = stages.json(name, lambda k=k, lr=lr: run_variant(
                args.model, k, train, test, lr, args.epochs, args.batch_size, args.max_new_tokens, rates, args.seed))
            v = results["variants"][name] = cpu_fractions(measured, rates)
            print(f"{name:>6}: SLU-F1 {v['slu_f1']:.3f} {v['ci']['slu_f1']}  EM {v['exact_match']:.3f}  "
                  f"train {v['train']['cpu_seconds'] / 60:.1f} CPU-min "
                  f"({v['train']['tokens_per_cpu_s']:.0f} tok/CPU-s, "
                  f"{v['train']['fraction_of_bf16_matmul_cpu']:.1%} of bf16 matmul per CPU-s)  "
                  f"decode {v['decode']['prompts'] / v['decode']['cpu_seconds']:.1f} utt/CPU-s "
                  f"({v['decode']['fraction_of_bf16_matmul_cpu']:.1%})  "
                  f"SLU-F1 per train CPU-min {v['slu_f1_per_train_cpu_minute']:.3f}", flush=True)
    return results
