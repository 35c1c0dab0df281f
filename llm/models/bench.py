"""LLM benchmark: the study's two hot loops against the machine's matmul rate, measured side by side in one run
(``weakstrong llm bench``, ``make bench-llm``).

Rows, each at every ``--threads`` setting and for float32 and, where the CPU runs it natively, bf16 (timings:
medians of ``--repeats``; ``bench.json`` says why bf16 was left out):

1. ``matmul``: the dense torch matmul rate (:mod:`weakstrong.llm.models.matmul_rate`: square 1024 products, the best
   of three timings), the ceiling the other rows are compared to;
2. ``features``: a frozen forward pass of the model (weights in that dtype) over ``--texts`` SST-2-like
   sentences in length-sorted batches, as the study's feature extraction runs it: tokens/s and the model flop
   rate (2 flops per non-embedding parameter per token, plus attention's 4 T d per token per layer);
3. ``finetune``: training steps of a top-K student (:mod:`weakstrong.llm.students.topk`) on cached hidden states:
   tokens/s and its flop rate (6 flops per trainable parameter per token, plus attention's 12 T d per token
   per layer), bf16 meaning bf16 autocast over float32 weights.

The fraction of the matmul rate is each row's flop rate over the matmul rate of the same dtype and threads,
measured minutes apart in the same process. :func:`run` returns the rows; the command
(:mod:`weakstrong.llm.bench_cli`) writes ``OUT/bench.json`` atomically.
"""

from __future__ import annotations

import platform
import time

import numpy as np


SENTENCES = ("a gripping, beautifully acted film", "the plot drags and the jokes fall flat",
             "one of the best movies of the year , full of heart and wit",
             "an overlong , muddled mess that never finds its footing", "charming", "dull and lifeless",
             "the performances are strong but the script lets them down in the final act")


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _attention_flops(model, tokens_per_text: np.ndarray, train: bool) -> float:
    """Attention's score and mix flops (4 T d per token per layer forward; 3x that with the backward)."""
    cfg = model.config
    per = 4.0 * float(np.sum(tokens_per_text.astype(float) ** 2)) * cfg.hidden_size * cfg.num_hidden_layers
    return 3 * per if train else per


def bench_features(model, tokenizer, texts, batch_size: int, repeats: int) -> dict:
    """Frozen forward passes over ``texts`` as the study runs them; tokens/s and GFLOP/s."""
    import torch

    from weakstrong.llm.models.batching import length_sorted_batches

    lengths = np.array([len(tokenizer(t)["input_ids"]) for t in texts])
    batches = [tokenizer([texts[i] for i in idx], padding=True, return_tensors="pt")
               for idx in length_sorted_batches(lengths, batch_size)]
    params = sum(p.numel() for n, p in model.named_parameters() if "embed" not in n)
    flops = 2.0 * params * lengths.sum() + _attention_flops(model, lengths, train=False)

    def run():
        with torch.inference_mode():
            for enc in batches:
                model(**enc)

    run()  # warm-up
    seconds = _median_time(run, repeats)
    return {"tokens": int(lengths.sum()), "seconds": round(seconds, 4),
            "tokens_per_s": round(lengths.sum() / seconds, 1),
            "gflops": round(flops / seconds / 1e9, 2), "params": int(params)}


def bench_finetune(model, k: int, tokens: int, batch: int, bf16: bool, steps: int, repeats: int) -> dict:
    """Top-K training steps on random hidden states of ``batch`` x ``tokens``; tokens/s and GFLOP/s."""
    import torch

    from weakstrong.llm.students.topk import TopKClassifier, top_layers

    torch.manual_seed(0)
    student = TopKClassifier.make(top_layers(model, k))
    trainable = [p for p in student.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=1e-5)
    hidden = torch.randn(batch, tokens, model.config.hidden_size)
    mask = torch.ones(batch, tokens, dtype=torch.long)
    target = torch.randint(0, 2, (batch,))

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = student(hidden, mask)
        loss = torch.nn.functional.cross_entropy(logits.float(), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def run():
        for _ in range(steps):
            step()

    step()  # warm-up
    seconds = _median_time(run, repeats)
    n_params = sum(p.numel() for p in trainable)
    n_tokens = steps * batch * tokens
    top = student.top
    flops = 6.0 * n_params * n_tokens + steps * _attention_flops(top, np.full(batch, tokens), train=True)
    return {"tokens": n_tokens, "seconds": round(seconds, 4), "tokens_per_s": round(n_tokens / seconds, 1),
            "gflops": round(flops / seconds / 1e9, 2), "trainable": int(n_params), "k": k}


def run(args) -> dict:
    import torch

    from weakstrong.llm.models.device import torch_threads
    from weakstrong.llm.models.matmul_rate import matmul_rates
    from weakstrong.llm.models.precision import describe, native_bf16
    from weakstrong.llm.models.registry import load_backbone

    texts = [SENTENCES[i % len(SENTENCES)] + f" ({i})" for i in range(args.texts)]
    base, tokenizer, _ = load_backbone(args.model, "cpu")
    rows = []
    # bf16 rows only where bf16 is native: an emulated bf16 matmul (AVX2-only CPUs, ~100x slower) is no
    # ceiling to compare with, and a model pass in it would read as several times "the matmul rate".
    dtypes = [("bf16", torch.bfloat16)] if native_bf16("cpu") else []
    dtypes.append(("fp32", torch.float32))
    skipped = None if native_bf16("cpu") else "bf16 is not native on this CPU (no AVX512-BF16 or AMX): not measured"
    for threads in args.threads:
        with torch_threads(threads):
            rates = matmul_rates(size=args.matmul_size)
            for name, dtype in dtypes:
                rate = rates[f"{name}_gflops"]
                model = base.to(dtype)
                feats = bench_features(model, tokenizer, texts, args.batch_size, args.repeats)
                base.to(torch.float32)
                tune = bench_finetune(base, args.top_k, 48, args.batch_size, name == "bf16", args.steps,
                                      args.repeats)
                for row, what in ((feats, "features"), (tune, "finetune")):
                    row.update(what=what, dtype=name, threads=threads, matmul_gflops=round(rate, 2),
                               fraction_of_matmul=round(row["gflops"] / rate, 3))
                rows += [{"what": "matmul", "dtype": name, "threads": threads, "gflops": round(rate, 2),
                          "shape": [rates["size" if name == "fp32" else "bf16_size"]] * 3}, feats, tune]
                print(f"threads {threads} {name}: matmul {rate:7.1f} GFLOP/s | features {feats['tokens_per_s']:8.0f} "
                      f"tok/s {feats['gflops']:6.1f} GFLOP/s ({feats['fraction_of_matmul']:.0%}) | top-{args.top_k} "
                      f"finetune {tune['tokens_per_s']:7.0f} tok/s {tune['gflops']:6.1f} GFLOP/s "
                      f"({tune['fraction_of_matmul']:.0%})", flush=True)
    return {"model": args.model, "rows": rows, "machine": {"platform": platform.platform(),
                                                          "processor": platform.processor(),
                                                          "torch": torch.__version__},
            "precision": describe("cpu"), "bf16_skipped": skipped,
            "config": {k: v for k, v in vars(args).items() if k != "func"}}
