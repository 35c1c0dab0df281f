"""What a generation run reports: per-utterance counts and bootstrap intervals (scores, PGR, the DPO delta), the
non-degeneracy guard (results, stderr, the SLURP figure), the misfit views and the throughput table."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from weakstrong.llm.generation.slu_metric import (METRICS, bootstrap_ci, bootstrap_pgr, bootstrap_weights,
                                                  generation_counts, non_degeneracy, paired_bootstrap_delta,
                                                  scores_from_counts, slu_scores, utterance_counts)

GOLD = [[("date", "today")], [("time", "five am"), ("date", "this week")], [], [("place_name", "paris")]] * 5
GOOD = [" date: today", " date: this week; time: five am", " none", " place_name: paris"] * 5
POOR = [" date: today", " time: five pm", " date: x", " none"] * 5
BAD = [" none", " none", " date: today", " none"] * 5

_slot = st.tuples(st.sampled_from(["date", "time", "place_name"]), st.sampled_from(["today", "five am", "paris x"]))
_lists = st.lists(st.lists(_slot, max_size=3), min_size=1, max_size=6)


@given(_lists, _lists, st.integers(0, 2 ** 16))
@settings(max_examples=50, deadline=None)
def test_counts_sum_to_the_corpus_scores_on_any_subset(gold, pred, seed):
    n = min(len(gold), len(pred))
    gold, pred = gold[:n], pred[:n]
    counts = utterance_counts(gold, pred)
    whole = slu_scores(gold, pred)
    assert np.allclose(scores_from_counts(counts.sum(0), n), [getattr(whole, m) for m in METRICS])
    pick = np.random.default_rng(seed).integers(0, n, size=n)  # a resample is a subset with repeats
    sub = slu_scores([gold[i] for i in pick], [pred[i] for i in pick])
    assert np.allclose(scores_from_counts(counts[pick].sum(0), n), [getattr(sub, m) for m in METRICS])


def test_bootstrap_intervals_hold_the_point_and_shrink_with_more_utterances():
    boot = bootstrap_weights(len(GOLD), 500, seed=0)
    assert boot.shape == (500, len(GOLD)) and np.all(boot.sum(1) == len(GOLD))
    counts = generation_counts(GOLD, POOR)
    point = slu_scores(GOLD, _parse(POOR))
    ci = bootstrap_ci(counts, boot)
    for m in METRICS:
        assert ci[m][0] <= getattr(point, m) <= ci[m][1]
    big = np.tile(counts, (10, 1))
    ci_big = bootstrap_ci(big, bootstrap_weights(len(big), 500, seed=0))
    assert ci_big["slu_f1"][1] - ci_big["slu_f1"][0] < ci["slu_f1"][1] - ci["slu_f1"][0]
    # a perfect model has a degenerate interval at 1
    assert bootstrap_ci(generation_counts(GOLD, GOOD), boot)["exact_match"] == [1.0, 1.0]


def _parse(generations):
    from weakstrong.llm.data.slurp import parse_slots
    return [parse_slots(g)[0] for g in generations]


def test_pgr_with_a_paired_interval():
    boot = bootstrap_weights(len(GOLD), 400, seed=1)
    weak, student, ceiling = (generation_counts(GOLD, g) for g in (BAD, POOR, GOOD))
    out = bootstrap_pgr(weak, student, ceiling, boot)
    f1 = [slu_scores(GOLD, _parse(g)).slu_f1 for g in (BAD, POOR, GOOD)]
    assert out["pgr"] == pytest.approx((f1[1] - f1[0]) / (f1[2] - f1[0]))
    assert out["ci"][0] <= out["pgr"] <= out["ci"][1] and out["n_valid"] == 400
    # the student as good as the ceiling recovers the whole gap in every resample
    assert bootstrap_pgr(weak, ceiling, ceiling, boot)["ci"] == [1.0, 1.0]
    # no gap at all: PGR is undefined, said so rather than divided by zero
    flat = bootstrap_pgr(ceiling, student, ceiling, boot)
    assert flat["pgr"] is None and flat["n_valid"] == 0 and flat["ci"] == [None, None]


def test_dpo_delta_is_paired():
    boot = bootstrap_weights(len(GOLD), 400, seed=2)
    before, after = generation_counts(GOLD, POOR), generation_counts(GOLD, GOOD)
    d = paired_bootstrap_delta(before, after, boot)
    assert d["slu_f1"]["delta"] == pytest.approx(slu_scores(GOLD, _parse(GOOD)).slu_f1
                                                 - slu_scores(GOLD, _parse(POOR)).slu_f1)
    assert 0 < d["slu_f1"]["ci"][0] <= d["slu_f1"]["delta"] <= d["slu_f1"]["ci"][1]
    assert d["slu_f1"]["p_not_better"] == 0.0
    same = paired_bootstrap_delta(before, before, boot)["exact_match"]
    assert same["delta"] == 0.0 and same["ci"] == [0.0, 0.0] and same["p_not_better"] == 1.0
    with pytest.raises(ValueError, match="same utterances"):
        paired_bootstrap_delta(before, after[:-1], boot)


@pytest.mark.parametrize("ceiling, weak, ok, n_problems", [
    (0.7, [0.3, 0.55], True, 0),
    (0.45, [0.1], False, 1),  # the ceiling is too poor
    (0.7, [0.3, 0.65], False, 1),  # one weak model too close
    (0.0, [0.0, 0.0], False, 3),  # the degenerate run: everybody answers "none"
])
def test_non_degeneracy_guard(ceiling, weak, ok, n_problems):
    guard = non_degeneracy(ceiling, weak)
    assert guard["ok"] is ok and len(guard["problems"]) == n_problems
    assert guard["weak_ok"] == [ceiling - w >= 0.1 for w in weak]


def test_guard_banner_goes_to_stderr(capsys):
    from weakstrong.llm.generation.report import guard_lines, warn

    warn(guard_lines(non_degeneracy(0.1, [0.05])))
    captured = capsys.readouterr()
    assert captured.out == "" and "DEGENERATE" in captured.err and "ceiling SLU-F1 0.100 < 0.5" in captured.err


def test_slurp_figure_says_when_a_run_is_degenerate(tmp_path):
    from weakstrong.figures import fig_slurp
    from weakstrong.figures.registry import FigureContext
    from weakstrong.io import write_json

    def result(ceiling, weak, guard=True):
        row = lambda f: {"slu_f1": f, "exact_match": f / 2, "ci": {"slu_f1": [f - .05, f + .05],  # noqa: E731
                                                                   "exact_match": [f / 2 - .05, f / 2 + .05]}}
        strategies = {"joint": {**row(0.4), "pgr_slu_f1": 0.5, "misfit_view": {"misfit": .1, "gain": .2},
                                "token_view": {"misfit": .05, "gain": .1}}}
        data = {"task": "slurp", "weak": [{"name": "runs/ladder/gpt-4m", **row(weak)}], "ceiling": row(ceiling),
                "strategies": strategies, "records": [], "splits": {"note": "seeded"}}
        if guard:
            data["non_degenerate"] = non_degeneracy(ceiling, [weak])
        return data

    assert fig_slurp.degeneracy_note(result(0.7, 0.3)) is None
    # a single-weak student is named by its teacher; others keep their strategy name
    assert fig_slurp.strategy_label("single/0+dpo", result(0.7, 0.3)) == "single gpt-4m+dpo"
    assert fig_slurp.strategy_label("single/7", result(0.7, 0.3)) == "single/7"     # no such weak model
    assert fig_slurp.strategy_label("bayes+dpo", result(0.7, 0.3)) == "bayes+dpo"
    note = fig_slurp.degeneracy_note(result(0.0, 0.0))
    assert note.startswith("DEGENERATE") and "ceiling SLU-F1 0.000 < 0.5" in note
    assert "DEGENERATE" in fig_slurp.degeneracy_note(result(0.0, 0.0, guard=False))  # results older than the guard
    write_json(tmp_path / "results" / "slurp_x" / "results.json", result(0.0, 0.0))
    ctx = FigureContext(images_dir=tmp_path / "img", results_dir=tmp_path / "results")
    assert fig_slurp.build(ctx).status == "ok"
    assert "DEGENERATE" in fig_slurp.tables(ctx)["slurp_table"]


def test_bernoulli_view_terms():
    from weakstrong.llm.generation.report import bernoulli_view, mixture

    student = [np.log([0.9, 0.5]), np.log([0.8])]
    teacher = [np.array([0.6, 0.5]), np.array([0.4])]
    v = bernoulli_view(student, teacher, [np.log([0.95, 0.9]), np.log([0.9])])
    ce = lambda p: float(np.mean(-np.log(p)))  # noqa: E731
    assert v["weak_error"] == pytest.approx(ce([0.6, 0.5, 0.4]))
    assert v["w2s_error"] == pytest.approx(ce([0.9, 0.5, 0.8]))
    assert v["gain"] == pytest.approx(v["weak_error"] - v["w2s_error"]) and v["n_units"] == 3
    kl = lambda p, q: p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))  # noqa: E731
    assert v["misfit"] == pytest.approx(np.mean([kl(.9, .6), kl(.5, .5), kl(.8, .4)]))
    assert v["strong_error"] == pytest.approx(ce([0.95, 0.9, 0.9]))
    # intervals resample utterances: a resample that repeats utterance 1 twice is a mean over its units
    boot = np.array([[1.0, 1.0], [0.0, 2.0], [2.0, 0.0]])
    ci = bernoulli_view(student, teacher, boot=boot, level=1.0)["ci"]
    only = {0: bernoulli_view(student[:1], teacher[:1]), 1: bernoulli_view(student[1:], teacher[1:])}
    for name in ("misfit", "gain"):
        values = [v[name], only[1][name], only[0][name]]
        assert ci[name] == pytest.approx([min(values), max(values)])
    diffs = [v["gain"] - v["misfit"]] + [only[k]["gain"] - only[k]["misfit"] for k in (0, 1)]
    assert ci["gain_minus_misfit"] == pytest.approx([min(diffs), max(diffs)])
    with pytest.raises(ValueError, match="resamples are of 3 examples"):
        bernoulli_view(student, teacher, boot=np.ones((2, 3)))
    mixed = mixture([teacher, [np.array([0.2, 0.1]), np.array([0.0])]], [3, 1])
    assert np.allclose(mixed[0], [0.5, 0.4]) and np.allclose(mixed[1], [0.3])


def test_throughput_table():
    from weakstrong.llm.generation.report import throughput
    from weakstrong.llm.models.matmul_rate import transformer_flops_per_token

    mp = {"forward": 1000, "backward": 600, "trainable": 300}
    ft = {"tokens": 800, "padded_tokens": 1000, "target_tokens": 100, "steps": 4, "seconds": 2.0,
          "cpu_seconds": 4.0, "trainable_params": 300, "top_k": 2, "autocast_bf16": True, "matmul_params": mp}
    dec = {"prompts": 10, "prompt_tokens": 100, "new_tokens": 50, "row_steps": 80, "seconds": 1.0,
           "cpu_seconds": 1.0}
    rates = {"bf16_gflops": 1e-3, "fp32_gflops": 5e-4}
    t = throughput({"ceiling/model": ft, "weak/0/model": ft}, {"ceiling/test": (dec, 1000)},
                   ["ceiling/model", "ceiling/test"], rates)
    row = t["finetune"]["ceiling/model"]
    assert row["tokens_per_s"] == 400 and row["tokens_per_cpu_s"] == 200
    assert row["gflops"] == pytest.approx(1000 * transformer_flops_per_token(1000, 600, 300) / 2.0 / 1e9)
    assert row["fraction_of_bf16_matmul"] == pytest.approx(row["gflops"] / 1e-3)
    assert t["strong_finetune"]["tokens_per_s"] == 400 and t["strong_finetune"]["seconds"] == 2.0  # weak excluded
    assert t["decode"]["ceiling/test"]["new_tokens_per_s"] == 50
    assert t["decode"]["ceiling/test"]["gflops"] == pytest.approx((100 + 80) * 2000 / 1e9)
    assert transformer_flops_per_token(10) == 20 and transformer_flops_per_token(10, 10, 10) == 60


def test_dpo_refines_the_best_student_on_validation_and_the_bayesian_one():
    from weakstrong.llm.generation.preference import dpo_students

    scores = {"single/0": 0.31, "multi": 0.44, "joint": 0.41, "bayes": 0.40}
    # test SLU-F1 says joint is best; only the validation SLU-F1 may choose
    results = {name: {"val_slu_f1": f, "slu_f1": 0.9 if name == "joint" else 0.1} for name, f in scores.items()}
    assert dpo_students(results, "best+bayes") == ["multi", "bayes"]
    assert dpo_students(results, "all") == list(scores)
    results["bayes"]["val_slu_f1"] = 0.5               # bayes is also the best: one stage, not two
    assert dpo_students(results, "best+bayes") == ["bayes"]
    assert dpo_students(results, "best_single+bayes") == ["single/0", "bayes"]
    assert dpo_students(results, "bayes") == ["bayes"]
    del results["bayes"]                               # no Bayesian student: the best alone
    assert dpo_students(results, "best+bayes") == ["multi"]
