"""The DPO stage of a generation run: preference pairs from the student's own n-best, ranked by the weak
ensemble, then conservative DPO (:func:`weakstrong.llm.students.dpo.train_dpo`) from the student."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from weakstrong.llm.data.slurp import SlurpExample, as_target, subsample
from weakstrong.llm.generation.config import GenerateConfig
from weakstrong.llm.generation.decoding import DecodeConfig, decode, ensemble_candidate_scores
from weakstrong.llm.generation.stages import DECODING, SCORING, GenerationStages, evaluate
from weakstrong.llm.models.lm import encode_examples
from weakstrong.llm.students.dpo import conservative_dpo_loss, select_pairs, train_dpo
from weakstrong.io import config_hash
from weakstrong.stages import code_version


def dpo_students(results: dict, dpo_on: str) -> list[str]:
    """The students DPO refines: every one (``"all"``), or the best by validation SLU-F1 (of every student, or of
    the single-weak ones: ``"best_single+bayes"``) and the Bayesian one, or the Bayesian one alone.

    ``"best+bayes"`` follows the reference: DPO on top of the best student and of the Bayesian (``edl_step``)
    student (one stage when they are the same; ties go to the first trained). The best is chosen on the
    validation utterances (held out of weak-train), never on test (without validation: the first trained);
    DPO's effect is then measured against the same student on the same test utterances (a paired delta).
    """
    if dpo_on == "all":
        return list(results)
    bayes = ["bayes"] if "bayes" in results else []
    pool = [n for n in results if n.startswith("single/")] if dpo_on == "best_single+bayes" else \
        [] if dpo_on == "bayes" else list(results)
    best = [max(pool, key=lambda name: results[name].get("val_slu_f1") or 0.0)] if pool else []
    return list(dict.fromkeys(best + bayes))


def dpo_names(cfg: GenerateConfig, stage: str, weights: list[float]) -> dict[str, str]:
    """The stage names of student ``stage``'s DPO: its n-best lists (named by the n-best size and the inputs),
    its preference pairs (by those and the weak ensemble's ranking ``weights``) and its DPO run (by every DPO
    setting but the seed, which the strong seed's folder names, and the weights), so that runs with other DPO
    settings share one folder, everything before DPO and every stage their settings leave unchanged."""
    settings = {k: v for k, v in asdict(cfg.dpo_config).items() if k != "seed"}
    nbest = {"n_best": cfg.dpo_config.n_best, "dpo_inputs": cfg.dpo_inputs}
    lists, pairs = config_hash(nbest, 8), config_hash({**nbest, "weights": list(weights)}, 8)
    run = config_hash({**settings, "dpo_inputs": cfg.dpo_inputs, "weights": list(weights)}, 8)
    return {"nbest": f"{stage}/dpo_nbest@{lists}", "val_nbest": f"{stage}/dpo_val_nbest@{lists}",
            "pairs": f"{stage}/dpo_pairs@{pairs}", "val_pairs": f"{stage}/dpo_val_pairs@{pairs}",
            "run": f"{stage}+dpo@{run}"}


def dpo_stage(stages: GenerationStages, cfg: GenerateConfig, stage: str, name: str, model, tok, models: list[tuple],
              weights: list[float], w2s: list[SlurpExample], val: list[SlurpExample], test: list[SlurpExample]
              ) -> dict:
    """Student ``name`` (stage ``stage``) refined by DPO and evaluated on test (as :func:`~.stages.evaluate`,
    plus ``dpo``); the weak ensemble ranks the student's own n-best candidates with ``weights``: the best is
    chosen, the worst rejected. Pairs built the same way on the validation inputs (never trained on) measure the
    preference DPO generalises, before and after."""
    dcfg = cfg.dpo_config
    names = dpo_names(cfg, stage, weights)

    def pairs_of(prompts, label, split=""):
        def candidates():
            decoding = DecodeConfig(dcfg.n_best, dcfg.n_best, cfg.max_new_tokens, max(1, cfg.batch_size // 4))
            cands = decode(model, tok, prompts, decoding, stages.bar(f"{name}: {dcfg.n_best}-best {label}"))
            return {"candidates": [list(dict.fromkeys(as_target(x) for x in c)) for c in cands]}

        def ranked():
            cands = stages.json(names[f"{split}nbest"], candidates, *DECODING)["candidates"]
            scores = ensemble_candidate_scores(models, prompts, cands, weights, cfg.batch_size)
            return {"pairs": select_pairs(cands, scores)}
        return stages.json(names[f"{split}pairs"], ranked, *SCORING, select_pairs)["pairs"]

    def encoded(t, prompts, pairs):
        ps = [prompts[i] for i, _, _ in pairs]
        return encode_examples(t, ps, [c for _, c, _ in pairs]), encode_examples(t, ps, [r for _, _, r in pairs])

    prompts = [e.prompt for e in subsample(w2s, cfg.dpo_inputs)]
    chosen_rejected = pairs_of(prompts, "w2s-train")
    val_prompts = [e.prompt for e in val]
    val_pairs = pairs_of(val_prompts, "validation", "val_") if val else []

    def train(m, t):
        if not chosen_rejected:
            return {"n_pairs": 0, "note": "no input had distinct best and worst candidates"}
        info = train_dpo(m, t, *encoded(t, prompts, chosen_rejected), dcfg, stages.bar(f"{name}: dpo"),
                         heldout=encoded(t, val_prompts, val_pairs) if val_pairs else None)
        return {"n_pairs": info["n_pairs"], "optimizer_steps": info["optimizer_steps"],
                "final_margin": info["final_margin"], "final_loss": float(np.mean(info["losses"][-5:])),
                "heldout": info.get("heldout"), "n_inputs": len(prompts)}
    train.code = code_version(train_dpo, conservative_dpo_loss, encode_examples)
    tuned = stages.model(f"{names['run']}/model", str(stages.folder.path(f"{stage}/model")), train)
    info = stages.stage_info[f"{names['run']}/model"]
    return {**evaluate(stages, names["run"], *tuned, test, cfg.max_new_tokens, cfg.batch_size),
            "dpo": {k: info.get(k) for k in ("n_inputs", "n_pairs", "optimizer_steps", "final_margin", "final_loss",
                                             "heldout")}}
