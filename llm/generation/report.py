"""What a generation run reports beyond the scores: misfit views, intervals, the non-degeneracy guard, throughput.

- :func:`bernoulli_view`: the misfit theory's terms on held-out gold outputs. Each model gives p(unit | prompt,
  previous gold units) for every gold unit (a whitespace word, or a token of the strong tokenizer); the truth
  is the gold unit, so over the two outcomes {gold unit, other} the error is the cross-entropy -log p and the
  misfit is KL(Bern(p_student) || Bern(p_teacher)), the teacher being the ensemble weights' mixture. The terms
  come from ``weakstrong.theory.bounds.kl_theorem``; no bound is stated, since a fine-tuned student is not a
  projection of its teacher.
- :func:`token_teacher_probs`: the teacher's probability of each gold token of the *strong* tokenizer: a weak
  model that tokenizes the gold outputs exactly as the strong model does gives its own token probabilities;
  any other is carried over by the word bridge (its word probability spread over the strong pieces,
  ``weakstrong.llm.generation.bridge.piece_confidence``).
- :func:`summarise`: a student's scores with intervals, its PGR with an interval, and both misfit views as
  :class:`~weakstrong.theory.records.W2SRecord` rows;
- :func:`throughput`: tokens per second of fine-tuning and decoding, and their share of the bf16 matmul rate
  measured in the same run (``weakstrong.llm.models.matmul_rate``).
"""

from __future__ import annotations

import sys
from typing import Sequence

import numpy as np

from weakstrong.llm.generation.bridge import bridged_token_probs, ensemble_word_probs
from weakstrong.llm.generation.slu_metric import bootstrap_ci, bootstrap_pgr
from weakstrong.llm.models.matmul_rate import transformer_flops_per_token
from weakstrong.theory.records import W2SRecord

# Every student here is a fine-tuned LM, so its record carries the terms and no bound, slack or holds.
STATEMENTS = "none guaranteed: fine-tuned student is not a projection"


def bernoulli_view(student: Sequence[np.ndarray], teacher_probs: Sequence[np.ndarray],
                   ceiling: Sequence[np.ndarray] | None = None, boot: np.ndarray | None = None,
                   level: float = 0.95) -> dict:
    """Errors, misfit and gain over gold units (definition in the module docstring).

    Parameters
    ----------
    student, ceiling : per example, the model's log p(gold unit) for each gold unit (EOS last).
    teacher_probs : per example, the teacher's p(gold unit) (already mixed over the weak models).
    boot : (n_boot, n examples) resampling multiplicities of the examples (``slu_metric.bootstrap_weights``);
        given, the result also has ``ci``: percentile intervals of misfit, gain and gain - misfit, the
        resampling unit being the example (an utterance), not the gold unit.

    Returns
    -------
    dict : ``weak_error``, ``w2s_error``, ``misfit``, ``gain`` (nats per unit), ``strong_error`` with a
    ceiling, ``n_units``, and ``ci`` when ``boot`` is given.
    """
    from weakstrong.theory.bounds import kl_theorem

    def rows(p):
        p = np.clip(np.concatenate([np.asarray(x, dtype=float) for x in p]), 1e-12, 1 - 1e-12)
        return np.stack([p, 1 - p], 1)

    teacher = rows(teacher_probs)
    truth = np.tile([1.0, 0.0], (len(teacher), 1))
    w2s = rows([np.exp(s) for s in student])
    out = dict(kl_theorem(truth, teacher, w2s).terms)
    if ceiling is not None:
        out["strong_error"] = float(-np.log(rows([np.exp(c) for c in ceiling])[:, 0]).mean())
    out = {**{k: float(v) for k, v in out.items()}, "n_units": int(len(teacher))}
    if boot is not None:
        out["ci"] = _view_intervals(teacher, w2s, [len(np.atleast_1d(x)) for x in teacher_probs], boot, level)
    return out


def _view_intervals(teacher: np.ndarray, w2s: np.ndarray, units: list[int], boot: np.ndarray,
                    level: float) -> dict:
    """Bootstrap intervals of the per-unit means of misfit, gain and gain - misfit, resampling examples."""
    if boot.shape[1] != len(units):
        raise ValueError(f"the resamples are of {boot.shape[1]} examples, the view has {len(units)}")
    misfit = np.sum(w2s * (np.log(w2s) - np.log(teacher)), axis=1)       # KL(Bern(student) || Bern(teacher))
    gain = np.log(w2s[:, 0]) - np.log(teacher[:, 0])                     # weak error - w2s error (cross-entropy)
    owner = np.repeat(np.arange(len(units)), units)
    per_example = np.stack([np.bincount(owner, weights=v, minlength=len(units))
                            for v in (misfit, gain, gain - misfit)], 1)
    resampled = (boot @ per_example) / (boot @ np.asarray(units, dtype=float))[:, None]
    q = [(1 - level) / 2, (1 + level) / 2]
    return {name: [float(x) for x in np.quantile(resampled[:, k], q)]
            for k, name in enumerate(("misfit", "gain", "gain_minus_misfit"))}


def mixture(per_model: Sequence[Sequence[np.ndarray]], weights: Sequence[float]) -> list[np.ndarray]:
    """sum_j w_j p_j per example (weights normalised here)."""
    w = np.asarray(weights, dtype=float)
    w = w / w.sum()
    return [sum(wj * np.asarray(m[i]) for wj, m in zip(w, per_model)) for i in range(len(per_model[0]))]


def token_teacher_probs(targets: Sequence[str], strong_tokenizer, same_tokens: bool, token_lps: Sequence[np.ndarray],
                        word_lps: Sequence[np.ndarray]) -> list[np.ndarray]:
    """One weak model's p(gold token) on the strong tokenizer's tokens of each target (EOS last).

    ``same_tokens``: the weak model tokenizes every target as the strong model does, so its own ``token_lps``
    are used; otherwise its ``word_lps`` are bridged onto the strong pieces.
    """
    if same_tokens:
        return [np.exp(np.asarray(lp)) for lp in token_lps]
    return [bridged_token_probs(w, strong_tokenizer, t) for w, t in zip(word_lps, targets)]


def warn(lines: Sequence[str], stream=None) -> None:
    """A banner on stderr that a scrolling progress log cannot hide."""
    stream = stream or sys.stderr
    bar = "!" * 78
    print("\n".join([bar, *[f"!! {line}" for line in lines], bar]), file=stream, flush=True)


def guard_lines(guard: dict) -> list[str]:
    """The warning a degenerate run prints (:func:`weakstrong.llm.generation.slu_metric.non_degeneracy`)."""
    return ["DEGENERATE SLURP RUN: PGR is not meaningful here.", *guard["problems"],
            f"(needs ceiling SLU-F1 >= {guard['min_ceiling_slu_f1']} and every weak model >= "
            f"{guard['min_weak_gap']} below it; train the strong model longer or use weaker supervisors)"]


def _rate(flops: float, seconds: float, rates: dict | None, cpu_seconds: float | None = None) -> dict:
    """Achieved GFLOP/s and its share of the matmul rates: per wall second, and (with ``cpu_seconds``) per CPU
    second of this process on both sides, the share that time-sharing with other jobs does not distort."""
    gflops = flops / max(seconds, 1e-9) / 1e9
    out = {"gflops": gflops}
    if rates:
        out["fraction_of_bf16_matmul"] = gflops / rates["bf16_gflops"]
        out["fraction_of_fp32_matmul"] = gflops / rates["fp32_gflops"]
        if cpu_seconds and rates.get("bf16_gflops_per_cpu_s"):
            per_cpu = flops / cpu_seconds / 1e9
            out["gflops_per_cpu_s"] = per_cpu
            out["fraction_of_bf16_matmul_cpu"] = per_cpu / rates["bf16_gflops_per_cpu_s"]
    return out


def finetune_throughput(info: dict, rates: dict | None) -> dict:
    """One fine-tuning stage: tokens/s and the achieved matmul rate (padded tokens x FLOPs per token: the head
    is counted on every position although it runs only from the first target on, so this is an upper
    estimate of the work)."""
    mp = info["matmul_params"]
    flops = info["padded_tokens"] * transformer_flops_per_token(mp["forward"], mp["backward"], mp["trainable"])
    return {"tokens_per_s": info["tokens"] / max(info["seconds"], 1e-9), "tokens": info["tokens"],
            "tokens_per_cpu_s": info["tokens"] / max(info.get("cpu_seconds", info["seconds"]), 1e-9),
            "padded_tokens": info["padded_tokens"], "seconds": info["seconds"],
            "cpu_seconds": info.get("cpu_seconds"), "steps": info["steps"],
            "trainable_params": info["trainable_params"], "top_k": info.get("top_k"),
            "autocast_bf16": info.get("autocast_bf16"),
            **_rate(flops, info["seconds"], rates, info.get("cpu_seconds"))}


def decode_throughput(stats: dict, matmul_forward: int, rates: dict | None) -> dict:
    """One decoding stage: generated tokens/s, utterances/s and the achieved matmul rate (prompt prefill plus
    every row-step, padding and beams included, at 2 FLOPs per weight)."""
    flops = (stats["prompt_tokens"] + stats["row_steps"]) * transformer_flops_per_token(matmul_forward)
    s = max(stats["seconds"], 1e-9)
    cpu = max(stats.get("cpu_seconds", stats["seconds"]), 1e-9)
    return {"new_tokens_per_s": stats["new_tokens"] / s, "utterances_per_s": stats["prompts"] / s,
            "new_tokens_per_cpu_s": stats["new_tokens"] / cpu, "new_tokens": stats["new_tokens"],
            "prompts": stats["prompts"], "seconds": stats["seconds"], "cpu_seconds": stats.get("cpu_seconds"),
            **_rate(flops, stats["seconds"], rates, stats.get("cpu_seconds"))}


def throughput(finetune: dict[str, dict], decode: dict[str, tuple[dict, int]], strong: Sequence[str],
               rates: dict | None) -> dict:
    """The run's throughput table.

    Parameters
    ----------
    finetune : stage name -> the fine-tuning stats of that stage (:func:`weakstrong.llm.lm.finetune`).
    decode : stage name -> (decoding stats, the model's forward matmul weights).
    strong : the stage names that ran the strong model; their totals are the headline numbers.
    rates : :func:`weakstrong.llm.models.matmul_rate.matmul_rates` of this run.
    """
    ft = {k: finetune_throughput(v, rates) for k, v in finetune.items()}
    dec = {k: decode_throughput(s, n, rates) for k, (s, n) in decode.items()}

    def total(table: dict, key: str, count: str) -> dict | None:
        rows = [v for k, v in table.items() if k in strong]
        if not rows:
            return None
        seconds = sum(r["seconds"] for r in rows)
        cpu = sum(r["cpu_seconds"] or r["seconds"] for r in rows)
        gflop = sum(r["gflops"] * r["seconds"] for r in rows)
        return {key: sum(r[count] for r in rows) / max(seconds, 1e-9), "seconds": seconds, "cpu_seconds": cpu,
                key.replace("_per_s", "_per_cpu_s"): sum(r[count] for r in rows) / max(cpu, 1e-9),
                **_rate(gflop * 1e9, seconds, rates, cpu)}

    return {"matmul": rates, "finetune": ft, "decode": dec,
            "strong_finetune": total(ft, "tokens_per_s", "tokens"),
            "strong_decode": total(dec, "new_tokens_per_s", "new_tokens")}


def summarise(cfg, name: str, student: dict, teachers: list[int], weak: list[dict], ceiling: dict, strong_tokenizer,
              targets: Sequence[str], n_w2s: int, boot: np.ndarray, weights: Sequence[float]
              ) -> tuple[dict, list[dict]]:
    """A student's summary (scores with intervals, PGR against its best teacher with an interval, both misfit
    views) and its two records (gold words, gold tokens of the strong tokenizer).

    ``student``, ``ceiling`` and each of ``weak`` are evaluations (``stages.evaluate``); ``teachers`` index the
    weak models that taught the student, mixed with their ensemble ``weights``.
    """
    s = student["scores"]
    ref = max((weak[j] for j in teachers), key=lambda x: x["scores"]["slu_f1"])
    tw = [weights[j] for j in teachers]
    word_teacher = ensemble_word_probs([weak[j]["word_logprobs"] for j in teachers], tw)
    token_teacher = mixture([token_teacher_probs(targets, strong_tokenizer, weak[j]["same_tokens"],
                                                 weak[j]["token_logprobs"], weak[j]["word_logprobs"])
                             for j in teachers], tw)
    views = {"misfit_view": bernoulli_view(student["word_logprobs"], word_teacher, ceiling["word_logprobs"], boot),
             "token_view": bernoulli_view(student["token_logprobs"], token_teacher, ceiling["token_logprobs"], boot)}
    records = []
    for key, level in (("misfit_view", "gold word"), ("token_view", "gold token of the strong tokenizer")):
        v = views[key]
        rec = W2SRecord.from_errors(
            v["weak_error"], v["w2s_error"], v["misfit"], strong_error=v["strong_error"], loss="kl",
            setting=f"slurp/test-{'words' if key == 'misfit_view' else 'tokens'}", task="slurp",
            weak="+".join(cfg.weak[j] for j in teachers), strong=cfg.strong, method=name, seed=cfg.seed,
            sizes={"n_w2s_train": n_w2s, "n_test": len(targets)},
            extra={"slu_f1": s["slu_f1"], "exact_match": s["exact_match"], "level": level, "statements": STATEMENTS,
                   "scoring": student.get("scoring", "logprob")})
        records.append(rec.to_dict())
    p = bootstrap_pgr(ref["counts"], student["counts"], ceiling["counts"], boot)
    pgr_em = bootstrap_pgr(ref["counts"], student["counts"], ceiling["counts"], boot, "exact_match")
    summary = {**s, "ci": bootstrap_ci(student["counts"], boot),
               "pgr_slu_f1": p["pgr"], "pgr_slu_f1_ci": p["ci"], "pgr_slu_f1_n_valid": p["n_valid"],
               "pgr_exact_match": pgr_em["pgr"], "pgr_exact_match_ci": pgr_em["ci"],
               "pgr_reference": "best teacher by SLU-F1", "teachers": teachers,
               "scoring": student.get("scoring", "logprob"),
               **({"dpo": student["dpo"]} if "dpo" in student else {}),
               **{k: {m: v[m] for m in ("weak_error", "w2s_error", "misfit", "gain", "strong_error", "n_units", "ci")}
                  for k, v in views.items()}}
    return summary, records
