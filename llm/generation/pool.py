"""Several runs of one SLURP protocol at different strong seeds, pooled into one results file.

A strong seed of the reference's protocol costs hours of CPU, so the seeds may run apart (on several machines,
or one per stint) and land one file each (``weakstrong llm generate --seeds S --results-name ...``). Every
results file carries each student's per-utterance counts (``utterance_counts``), which is all a paired
bootstrap needs: :func:`pool_runs` checks that the runs are of the same protocol (the configuration up to the
strong seeds, the same test utterances), keeps every seed's results, and recomputes the answers per seed and
pooled over the seeds, exactly as one run over all the seeds would. Runs in other folders retrain the weak
models, which another CPU's kernels (bf16 or fp32) make differ a little: the pooled file records each run's
weak scores and precision (``same_weak_models``), and each seed's comparisons stay paired within its run.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from weakstrong.config import ConfigError
from weakstrong.llm.generation.slu_metric import bootstrap_weights, paired_bootstrap_delta, pooled_paired_delta

# Configuration keys a pooled run may differ in: which strong seeds it ran, and which students DPO refined
# (best_single+bayes refines the best single at --seed only, so a run of other seeds asks for less).
PER_RUN_KEYS = ("seeds", "dpo_on")
QUESTIONS = {"bayes-multi": ("multi", "bayes"), "bayes-joint": ("joint", "bayes"),
             "bayes-best_single": (None, "bayes"), "dpo_on_bayes": ("bayes", "bayes+dpo"),
             "dpo_on_best_single": (None, "+dpo")}


def best_single(results: dict) -> str | None:
    """The single-weak student with the best validation SLU-F1 (never test; ties go to the first), or None."""
    singles = [n for n in results if n.startswith("single/") and not n.endswith("+dpo")]
    return max(singles, key=lambda n: results[n].get("val_slu_f1") or 0.0) if singles else None


def answers(strategies: dict, counts: dict, boot: np.ndarray) -> dict:
    """The paper's two questions, per seed and pooled over the seeds (paired bootstrap over test utterances):
    does Bayesian multi-weak beat naive multi-weak (same targets), joint decoding and the best single weak
    model, and what does DPO add (on the Bayesian student and on the best single)?

    ``strategies[seed]``: that seed's student summaries (for the best single on validation); ``counts[seed]
    [student]``: its per-utterance count matrix on test.
    """
    out = {}
    for seed in strategies:
        best = best_single(strategies[seed])
        for question, (before, after) in QUESTIONS.items():
            before = best if before is None else before
            after = f"{best}{after}" if after == "+dpo" else after
            if before in counts[seed] and after in counts[seed]:
                entry = out.setdefault(question, {"pairs": {}, "per_seed": {}})
                entry["pairs"][str(seed)] = [after, before]
                entry["per_seed"][str(seed)] = paired_bootstrap_delta(
                    counts[seed][before], counts[seed][after], boot)["slu_f1"]
    for entry in out.values():
        pairs = [(counts[s][b], counts[s][a]) for s, (a, b) in ((int(s), p) for s, p in entry["pairs"].items())]
        entry["pooled"] = pooled_paired_delta(pairs, boot)["slu_f1"]
    return out


def encode_counts(counts: np.ndarray) -> str:
    """A count matrix as one compact JSON string: rows separated by ``;``, counts by ``,`` (integers where
    whole, else 6 significant digits), so a results file stays small."""
    counts = np.asarray(counts, dtype=float)
    if counts.ndim != 2:
        raise ValueError(f"counts must be a matrix (utterances x count columns), got shape {counts.shape}")
    cell = (lambda x: str(int(x))) if np.all(counts == np.round(counts)) else (lambda x: f"{x:.6g}")
    return ";".join(",".join(cell(x) for x in row) for row in counts)


def decode_counts(text: str | list) -> np.ndarray:
    """The count matrix :func:`encode_counts` wrote (or a nested list of rows, as files written before it)."""
    if not isinstance(text, str):
        return np.asarray(text, dtype=float)
    return np.array([[float(x) for x in row.split(",")] for row in text.split(";")])


def _counts(run: dict, path: str) -> dict[int, dict[str, np.ndarray]]:
    if "utterance_counts" not in run:
        raise ConfigError(f"{path} has no utterance_counts (written by an earlier version of weakstrong llm "
                          f"generate): rerun that seed, whose cached stages make it quick, to pool it")
    return {int(s): {name: decode_counts(c) for name, c in by_name.items()}
            for s, by_name in run["utterance_counts"].items()}


def _protocol(run: dict) -> dict:
    return {k: v for k, v in run["config"].items() if k not in PER_RUN_KEYS}


def pool_runs(runs: Sequence[dict], names: Sequence[str] | None = None) -> dict:
    """One results dict holding every strong seed of ``runs`` (results of ``weakstrong llm generate``).

    The run that holds ``--seed``'s strong seed (else the first) gives the top level; ``seeds``,
    ``utterance_counts``, ``records`` and ``answers`` cover every seed; ``pooled_from`` names the inputs with
    their seeds. Raises :class:`ConfigError` when the runs are not of one protocol or a seed appears twice.
    """
    names = list(names or [f"run {i}" for i in range(len(runs))])
    if not runs:
        raise ConfigError("pool needs at least one results file")
    first = runs[0]
    counts, by_seed = {}, {}
    for run, name in zip(runs, names):
        if run.get("task") != "slurp" or "seeds" not in run:
            raise ConfigError(f"{name} is not the results of weakstrong llm generate (no task slurp with seeds)")
        diff = sorted(k for k in set(_protocol(run)) | set(_protocol(first))
                      if _protocol(run).get(k) != _protocol(first).get(k))
        if diff:
            raise ConfigError(f"{name} ran another protocol than {names[0]}: they differ in {', '.join(diff)}")
        if run["splits"] != first["splits"]:
            raise ConfigError(f"{name} scored other utterances than {names[0]} (splits differ)")
        for seed, c in _counts(run, name).items():
            if seed in counts:
                raise ConfigError(f"strong seed {seed} is in {name} and in an earlier file: pool each seed once")
            counts[seed], by_seed[seed] = c, (run, name)
    seeds = sorted(counts)
    # The weak models are trained once per run folder; runs on other machines train them again, and bf16 or
    # fp32 kernels make them differ a little. Each seed's comparisons stay paired within its own run; the
    # pooled file says which weak models each run had.
    weak = {name: [w["slu_f1"] for w in run["weak"]] for run, name in zip(runs, names)}
    same_weak = len({tuple(round(x, 9) for x in v) for v in weak.values()}) == 1
    home = next((run for run in runs if first["config"]["seed"] in [int(s) for s in run["seeds"]]), first)
    boot = bootstrap_weights(first["splits"]["n_test_used"], first["config"]["n_boot"], first["config"]["seed"])
    strategies = {s: by_seed[s][0]["seeds"][str(s)]["strategies"] for s in seeds}
    return {
        **home,
        "config": {**home["config"], "seeds": seeds},
        "strong_seeds": seeds,
        "seeds": {str(s): by_seed[s][0]["seeds"][str(s)] for s in seeds},
        "utterance_counts": {str(s): by_seed[s][0]["utterance_counts"][str(s)] for s in seeds},
        "answers": answers(strategies, counts, boot),
        "records": [r for run in runs for r in run.get("records", [])],
        "cpu_hours_total": sum(run.get("cpu_hours_total", 0.0) for run in runs),
        "pooled_from": {name: sorted(int(s) for s in run["seeds"]) for run, name in zip(runs, names)},
        "weak_slu_f1_by_run": weak, "same_weak_models": same_weak,
        "precision_by_run": {name: run.get("precision") for run, name in zip(runs, names)},
    }
