"""End to end on CPU with tiny random models and a few utterances: every strategy, DPO, caching, CLI, errors;
and resumable pretraining of a ladder rung on a tiny corpus."""

from __future__ import annotations

import gzip
import json
import re

import numpy as np
import pytest
import torch

from weakstrong.cli import main
from weakstrong.io import read_json, write_json
from weakstrong.llm.generation.decoding import DecodeConfig, decode, greedy
from weakstrong.llm.generation.live_split import WORD_START
from weakstrong.llm.models.lm import load_causal_lm
from weakstrong.llm.models.ladder import LMPretrainConfig
from weakstrong.llm.pretrain.train import pretrain, save_random_model
from weakstrong.config import ConfigError
from weakstrong.llm.data.slurp import format_prompt, serialise_slots
from weakstrong.theory.records import W2SRecord

SLOTS = [("time", "five am"), ("date", "today"), ("place_name", "paris"), ("date", "this week"),
         ("time", "noon"), ("person", "anna")]


def _rows(n: int, offset: int) -> list[dict]:
    rows = []
    for i in range(n):
        slot, value = SLOTS[(i + offset) % len(SLOTS)]
        words = f"please remind me about {value} number {i + offset}"
        annotated = words.replace(value, f"[{slot} : {value}]") if i % 4 else words  # some have no slots
        rows.append({"slurp_id": i + offset, "sentence": words, "sentence_annotation": annotated, "intent": "x"})
    return rows


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen")
    data = root / "slurp"
    data.mkdir()
    for name, rows in (("devel", _rows(16, 0)), ("test", _rows(10, 100))):
        with gzip.open(data / f"{name}.jsonl.gz", "wt") as fh:
            fh.write("\n".join(json.dumps(r) for r in rows) + "\n")
    texts = [format_prompt(r["sentence"]) + serialise_slots([(s, v)]) for r in _rows(20, 0) for s, v in SLOTS[:2]]
    models = []
    for i, (arch, vocab) in enumerate((("gpt2", 300), ("llama", 360), ("gpt2", 420))):
        torch.manual_seed(i)
        models.append(str(save_random_model(root / f"m{i}", texts * 3, vocab, arch=arch)))
    return root, data, models


def _argv(data, models, out, *extra):
    return ["llm", "generate", "--data-dir", str(data), "--weak", ",".join(models[:2]), "--strong", models[2],
            "--n-weak-train", "6", "--n-w2s-train", "6", "--n-test", "4", "--max-new-tokens", "10",
            "--batch-size", "4", "--finetune-batch-size", "4", "--finetune-epochs", "1", "--n-best", "2",
            "--dpo-n-best", "3", "--dpo-epochs", "1", "--dpo-inputs", "4", "--device", "cpu", "--threads", "1",
            "--no-progress", "--out", str(out), *extra]


def _record_students(monkeypatch) -> dict:
    """{name: Student} of every student a run trains, filled as it trains them."""
    from weakstrong.llm.generation import strategies

    trained = {}
    original = strategies.Student.train

    def recorded(self, stages, cfg):
        trained[self.name] = self
        return original(self, stages, cfg)

    monkeypatch.setattr(strategies.Student, "train", recorded)
    return trained


def test_every_method_end_to_end_with_dpo_and_cache(setup, capsys, monkeypatch):
    trained = _record_students(monkeypatch)
    root, data, models = setup
    out = root / "run"
    argv = _argv(data, models, out, "--methods", "all", "--dpo", "--dpo-on", "all", "--weights", "1", "3",
                 "--weak-lr", "1e-3")
    assert main(argv) == 0
    res = read_json(out / "results.json")
    assert res["config"]["weak_finetune"]["lr"] == 1e-3 and res["config"]["finetune"]["lr"] == 3e-4
    names = {"single/0", "single/1", "multi", "joint", "bayes", "bayes-edl"}
    assert set(res["strategies"]) == names | {f"{n}+dpo" for n in names}
    assert res["splits"]["n_weak_train"] == 6 and res["splits"]["n_test_used"] == 4
    # naive and Bayesian multi-weak see identical targets, confidences and weights: only the loss differs
    multi, bayes, edl = trained["multi"], trained["bayes"], trained["bayes-edl"]
    assert multi.prompts == bayes.prompts == edl.prompts and multi.targets == bayes.targets == edl.targets
    assert multi.weights == bayes.weights  # --weights 1 3, normalised, over each target's number of tokens:
    assert multi.weights == pytest.approx([w / len(c) for w, c in zip([0.25] * 6 + [0.75] * 6, multi.confidence)])
    assert all(np.array_equal(a, b) for a, b in zip(multi.confidence, bayes.confidence))
    assert multi.loss.func.__name__ == "live_soft_kl_token_loss" and bayes.loss.keywords["edl_step"] is True
    assert edl.loss.keywords["edl_step"] is False and res["supervision"]["weights"] == [0.25, 0.75]
    assert res["supervision"]["confidence_source"] == "own" and res["supervision"]["piece_split"] == "live"
    assert all(c[0] < -WORD_START / 2 for c in multi.confidence)  # encoded word log-scores, split in training
    stage_of = res["supervision"]["student_stages"]
    for s in [*res["weak"], res["ceiling"], *res["strategies"].values()]:
        assert 0.0 <= s["slu_f1"] <= 1.0 and 0.0 <= s["exact_match"] <= 1.0
    records = [W2SRecord.from_dict(r) for r in res["records"]]  # validated schema
    assert len(records) == 24 and all(r.loss == "kl" and r.misfit >= 0 for r in records)
    assert {r.method for r in records} == set(res["strategies"])
    assert {r.setting for r in records} == {"slurp/test-words", "slurp/test-tokens"}
    # intervals, PGR with its interval, the DPO delta with a paired interval, both misfit views
    for s in [*res["weak"], res["ceiling"], *res["strategies"].values()]:
        for metric in ("slu_f1", "word_f1", "char_f1", "exact_match", "slot_precision", "slot_recall"):
            lo, hi = s["ci"][metric]
            assert lo <= s[metric] + 1e-12 and s[metric] <= hi + 1e-12
    for name in names:
        s = res["strategies"][name]
        assert set(s["token_view"]) >= {"misfit", "gain", "weak_error", "w2s_error", "strong_error"}
        assert s["token_view"]["n_units"] >= s["misfit_view"]["n_units"]  # tokens at least as many as words
        for view in ("token_view", "misfit_view"):
            assert all(lo <= hi for lo, hi in s[view]["ci"].values())  # exactness: test_bernoulli_view_terms
            assert set(s[view]["ci"]) == {"misfit", "gain", "gain_minus_misfit"}
        assert len(s["pgr_slu_f1_ci"]) == 2
        # the evidential students score gold tokens by their Dirichlet mean, DPO'd and other ones by softmax
        assert s["scoring"] == ("dirichlet_logprob" if name in ("bayes", "bayes-edl") else "logprob")
        assert res["strategies"][f"{name}+dpo"]["scoring"] == "logprob"
        delta = res["strategies"][f"{name}+dpo"]["dpo_delta"]["slu_f1"]
        assert delta["delta"] == pytest.approx(res["strategies"][f"{name}+dpo"]["slu_f1"] - s["slu_f1"])
    # the Bayesian student against every other one, paired on the same utterances
    assert set(res["comparison"]) == {f"bayes-{n}" for n in names - {"bayes"}}
    for other in names - {"bayes"}:
        d = res["comparison"][f"bayes-{other}"]["slu_f1"]
        assert d["delta"] == pytest.approx(res["strategies"]["bayes"]["slu_f1"] - res["strategies"][other]["slu_f1"])
        assert d["ci"][0] <= d["delta"] + 1e-12 <= d["ci"][1] + 2e-12
    # the tiny models are degenerate: the guard says so in results.json and loudly on stderr
    guard = res["non_degenerate"]
    assert guard["ok"] is False and guard["ceiling_ok"] is False and guard["problems"]
    printed = capsys.readouterr()
    assert "DEGENERATE" in printed.err
    assert "bayes - multi" in printed.out and "DPO delta SLU-F1" in printed.out  # the summary on stdout
    assert "gain - misfit in [" in printed.out
    # throughput of fine-tuning and decoding, and the matmul rate measured in the same run
    tp = res["throughput"]
    assert tp["matmul"]["bf16_gflops"] > 0 and tp["matmul"]["threads"] == 1
    assert tp["strong_finetune"]["tokens_per_s"] > 0 and tp["strong_decode"]["new_tokens_per_s"] > 0
    assert 0 < tp["finetune"]["ceiling/model"]["fraction_of_bf16_matmul"]
    dpo_of = res["strategies"]["bayes+dpo"]["dpo_stage"]  # named by the DPO settings
    assert dpo_of.startswith(f"{stage_of['bayes']}+dpo@")
    assert set(tp["decode"]) >= {"weak/0/test", "ceiling/test", f"{dpo_of}/test"}
    assert all(isinstance(w["tokenizer_matches_strong"], bool) for w in res["weak"])
    assert res["timings_s"]["weak/0/model"] > 0 and f"{dpo_of}/model" in res["timings_s"]
    # CPU time of every computed stage (all threads), and their total in CPU-hours
    assert set(res["cpu_seconds"]) >= {"weak/0/model", "weak/0/test", f"{dpo_of}/model"}
    assert all(v > 0 for v in res["cpu_seconds"].values())
    assert res["cpu_hours_total"] == pytest.approx(sum(res["cpu_seconds"].values()) / 3600)
    # joint decoding: the target is the pooled candidate with the best weighted score
    (joint_file,) = (out / "joint").glob("targets@*.json")
    joint = read_json(joint_file)
    for target, pool, scores in zip(joint["targets"], joint["pool"], joint["scores"]):
        assert target == pool[max(range(len(pool)), key=scores.__getitem__)]
    assert res["strategies"]["joint+dpo"]["dpo"]["n_pairs"] >= 0 and "dpo" not in res["strategies"]["joint"]
    # DPO pairs: chosen and rejected differ
    (pairs_file,) = (out / stage_of["joint"]).glob("dpo_pairs@*.json")
    assert all(c != r for _, c, r in read_json(pairs_file)["pairs"])
    # a rerun reuses every stage (no retraining) and reproduces the numbers
    stage = out / stage_of["bayes"] / "model" / "stage.json"
    mtime = stage.stat().st_mtime_ns
    assert main(argv) == 0
    again = read_json(out / "results.json")
    assert stage.stat().st_mtime_ns == mtime
    assert again["strategies"] == res["strategies"] and again["records"] == res["records"]
    # the default refines only the best student and the Bayesian one, from the same cached stages
    i = argv.index("--dpo-on")
    assert main(argv[:i] + argv[i + 2:]) == 0
    fewer = read_json(out / "results.json")
    order = [n for n in res["strategies"] if not n.endswith("+dpo")]  # in training order: ties go to the first
    best = max(order, key=lambda n: res["strategies"][n]["val_slu_f1"] or 0.0)  # validation, never test
    assert {n for n in fewer["strategies"] if n.endswith("+dpo")} == {f"{best}+dpo", "bayes+dpo"}
    assert all(fewer["strategies"][n] == res["strategies"][n] for n in fewer["strategies"])
    # another DPO setting runs in the same folder: everything before DPO, the pairs included, is reused
    lr = argv + ["--methods", "bayes", "--dpo-on", "bayes", "--dpo-lr", "1e-4", "--results-name", "dpo-lr.json"]
    assert main(lr) == 0
    other = read_json(out / "dpo-lr.json")["strategies"]["bayes+dpo"]
    assert other["dpo_stage"] != dpo_of and other["dpo"]["n_pairs"] == res["strategies"]["bayes+dpo"]["dpo"]["n_pairs"]
    assert len(list((out / stage_of["bayes"]).glob("dpo_pairs@*.json"))) == 1
    assert stage.stat().st_mtime_ns == mtime
    # other ranking weights: the same n-best lists, ranked again into other pairs, and another DPO run
    assert res["supervision"]["dpo_weights"] == [0.25, 0.75]  # --weights 1 3 where --dpo-weights is not given
    ranked = lr[:-2] + ["--dpo-weights", "1", "1", "--results-name", "dpo-w.json"]
    assert main(ranked) == 0
    flat = read_json(out / "dpo-w.json")
    assert flat["supervision"]["dpo_weights"] == [0.5, 0.5]
    assert flat["strategies"]["bayes+dpo"]["dpo_stage"] not in (dpo_of, other["dpo_stage"])
    assert len(list((out / stage_of["bayes"]).glob("dpo_nbest@*.json"))) == 1
    assert len(list((out / stage_of["bayes"]).glob("dpo_pairs@*.json"))) == 2
    # ... but a different configuration in the same folder is refused
    assert main(_argv(data, models, out, "--methods", "joint", "--seed", "1")) == 2
    assert "different configuration" in capsys.readouterr().err


def test_same_seed_reproduces_a_fresh_run(setup):
    root, data, models = setup
    a, b = root / "rep_a", root / "rep_b"
    for out in (a, b):
        assert main(_argv(data, models, out, "--methods", "joint")) == 0
    ra, rb = read_json(a / "results.json"), read_json(b / "results.json")
    assert ra["strategies"] == rb["strategies"]


def test_a_refused_run_leaves_no_stamp_and_an_unfinished_stamp_gives_way(setup, capsys):
    root, data, models = setup
    out = root / "stamp"
    damaged = root / "damaged"
    damaged.mkdir()
    (damaged / "devel.jsonl.gz").write_bytes(b"not gzip at all")
    (damaged / "test.jsonl.gz").write_bytes((data / "test.jsonl.gz").read_bytes())
    assert main(_argv(damaged, models, out, "--methods", "joint")) == 2
    assert "devel.jsonl.gz is damaged" in capsys.readouterr().err and not (out / "run.json").exists()
    # The stamp an earlier failed run left (another configuration, no stage finished) gives way to a good run.
    write_json(out / "run.json", {"hash": "0" * 12, "config": {"seed": 99}})
    assert main(_argv(data, models, out, "--methods", "joint")) == 0
    assert read_json(out / "run.json")["config"]["seed"] == 0
    # Once stages are finished, another configuration is refused, finished or not, and nothing is touched.
    (out / "results.json").unlink()
    stamp = (out / "run.json").read_bytes()
    assert main(_argv(data, models, out, "--methods", "joint", "--seed", "1")) == 2
    assert "unfinished run with" in capsys.readouterr().err and (out / "run.json").read_bytes() == stamp


def test_unknown_model_offline_is_a_clear_error(setup, capsys, monkeypatch):
    root, data, models = setup
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    argv = _argv(data, ["no-such-org/no-such-model", *models[1:]], root / "bad", "--methods", "joint")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "no-such-org/no-such-model" in err and "HF_HUB_OFFLINE" in err
    with pytest.raises(ValueError, match="config.json"):
        load_causal_lm(str(root / "slurp"))  # a folder that is not a model


@pytest.mark.parametrize("extra, message", [
    (["--finetune-train-top-k", "0"], r"train[_-]top[_-]k"),
    (["--finetune-train-top-k", "5"], r"--finetune-train-top-k.*<= 1, the layers of model"),
    (["--weak-train-top-k", "2"], r"--weak-train-top-k.*<= 1, the layers of model"),
    (["--weak-train-top-k", "x"], r"--weak-train-top-k"),
    (["--n-boot", "0"], r"n[_-]boot"),
    (["--min-ceiling-slu-f1", "2"], r"min[_-]ceiling[_-]slu[_-]f1"),
    (["--min-weak-gap", "-0.1"], r"min[_-]weak[_-]gap"),
    (["--weak", "minilm-l6"], r"encoder"),
])
def test_new_options_refuse_bad_values(setup, capsys, extra, message):
    root, data, models = setup
    out = root / f"bad{abs(hash(tuple(extra)))}"
    assert main(_argv(data, models, out, "--methods", "joint", *extra)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and re.search(message, err[-1]), err
    assert not out.exists() or not any(out.iterdir())  # refused before any work: nothing written


def test_batched_greedy_equals_one_at_a_time_and_beams_are_distinct(setup):
    _, _, models = setup
    for path in models[:2]:  # GPT-2 and Llama: left padding must not change the result
        model, tok = load_causal_lm(path, "cpu")
        prompts = [format_prompt("hi"), format_prompt("please remind me about paris number 3 today")]
        batched = greedy(model, tok, prompts, max_new_tokens=6, batch_size=2)
        assert batched == [greedy(model, tok, [p], max_new_tokens=6)[0] for p in prompts]
        nbest = decode(model, tok, prompts, DecodeConfig(n_best=3, num_beams=3, max_new_tokens=6, batch_size=2))
        assert all(len(c) == 3 for c in nbest)


def test_pretrain_is_resumable_and_loads_back_by_path(tmp_path):
    data = tmp_path / "data"
    (data / "gutenberg").mkdir(parents=True)
    (data / "slurp").mkdir()
    book = "It was a bright cold day in April, and the clocks were striking thirteen. " * 40
    with gzip.open(data / "gutenberg" / "books.txt.gz", "wt") as fh:
        fh.write(book + "\n\x1e\n" + book.upper())
    with gzip.open(data / "slurp" / "lm.txt.gz", "wt") as fh:
        fh.write("\n".join(f"wake me up at {i} am" for i in range(200)))
    out = tmp_path / "gpt"
    logs = []
    cfg = dict(preset="gpt-0.3m", batch_size=2, seq_len=16, warmup_steps=1, save_every=2)
    first = pretrain(data, out, LMPretrainConfig(max_steps=3, **cfg), "cpu", log=logs.append)
    assert first["step"] == 3 and (out / "checkpoint.safetensors").exists()
    second = pretrain(data, out, LMPretrainConfig(max_steps=5, **cfg), "cpu", log=logs.append)
    assert any("resumed at step 3" in line for line in logs)
    assert second["step"] == 5 and second["tokens_seen"] == 5 * 2 * 16 and second["tokens_per_s"] > 0
    model, tok = load_causal_lm(str(out), "cpu")
    assert model.config.model_type == "gpt2" and tok.eos_token_id is not None
    assert second["n_params"] == sum(p.numel() for p in model.parameters())
    done = pretrain(data, out, LMPretrainConfig(max_steps=5, **cfg), "cpu", log=logs.append)
    assert done == second and "already pretrained" in logs[-1]


def test_a_stage_computed_by_older_code_is_computed_again(setup, monkeypatch, capsys):
    """Stage keys include the code that computes them: change the naive multi-weak loss and only that student
    is trained again; the weak models, the targets and the other students are reused."""
    from weakstrong.llm.generation import strategies

    root, data, models = setup
    out = root / "stale"
    argv = _argv(data, models, out, "--methods", "multi,bayes")
    assert main(argv) == 0
    stages = read_json(out / "results.json")["supervision"]["student_stages"]

    def mtimes():
        return {name: (out / path / "stage.json").stat().st_mtime_ns for name, path in
                [("weak", "weak/0/model"), ("multi", f"{stages['multi']}/model"), ("bayes", f"{stages['bayes']}/model")]}

    before = mtimes()
    assert main(argv) == 0
    assert mtimes() == before  # same code: nothing recomputed
    original = strategies.live_soft_kl_token_loss

    def changed_loss(*args, **kwargs):  # another loss: its source differs
        return 2.0 * original(*args, **kwargs)

    monkeypatch.setattr(strategies, "live_soft_kl_token_loss", changed_loss)
    assert main(argv) == 0
    after = mtimes()
    assert after["multi"] != before["multi"] and after["weak"] == before["weak"] and after["bayes"] == before["bayes"]
    assert f"stage {stages['multi']}/model was computed by other code" in capsys.readouterr().err


def test_strong_seeds_share_the_weak_stages_and_pool_the_answers(setup):
    """--seeds 0 1: the weak models, their labels and the targets are computed once (as in the reference, the
    weak models are trained at one seed); each strong seed trains its own ceiling, students and DPO (under
    seedN/), and the answers come per seed and pooled over the seeds, paired on the same test utterances."""
    from safetensors.numpy import load_file

    root, data, models = setup
    out = root / "seeds"
    assert main(_argv(data, models, out, "--methods", "single,multi,bayes,joint", "--dpo", "--dpo-on",
                      "best_single+bayes", "--seeds", "0", "1")) == 0
    res = read_json(out / "results.json")
    # DPO: the best single student (on validation) at --seed, the Bayesian one at every seed
    dpo = {s: sorted(n for n in res["seeds"][s]["strategies"] if n.endswith("+dpo")) for s in ("0", "1")}
    assert dpo["1"] == ["bayes+dpo"] and dpo["0"] == ["bayes+dpo", "single/0+dpo"]
    assert res["strong_seeds"] == [0, 1] and set(res["seeds"]) == {"0", "1"}
    assert sorted({r["seed"] for r in res["records"]}) == [0, 1]
    assert not (out / "seed1" / "weak").exists() and (out / "seed1" / "ceiling" / "model" / "stage.json").exists()
    w0 = load_file(str(out / "ceiling" / "model" / "model.safetensors"))
    w1 = load_file(str(out / "seed1" / "ceiling" / "model" / "model.safetensors"))
    assert any(not np.array_equal(w0[k], w1[k]) for k in w0)  # another initialisation and data order
    answers = res["answers"]
    assert set(answers) >= {"bayes-multi", "bayes-joint", "bayes-best_single", "dpo_on_bayes"}
    for question, entry in answers.items():
        seeds = ("0",) if question == "dpo_on_best_single" else ("0", "1")  # that DPO runs at --seed only
        assert set(entry["per_seed"]) == set(seeds) and entry["pooled"]["n_seeds"] == len(seeds)
        per_seed = [entry["per_seed"][s]["delta"] for s in seeds]
        assert entry["pooled"]["delta"] == pytest.approx(np.mean(per_seed))
        lo, hi = entry["pooled"]["ci"]
        assert lo <= entry["pooled"]["delta"] + 1e-12 <= hi + 2e-12
    seed0 = res["seeds"]["0"]["comparison"]["bayes-multi"]["slu_f1"]["delta"]
    assert answers["bayes-multi"]["per_seed"]["0"]["delta"] == pytest.approx(seed0)
    # The seeds run apart (as on two machines, each its own file) and pooled give the same answers; the
    # per-utterance counts in results.json are what the pooling resamples.
    assert set(res["utterance_counts"]) == {"0", "1"} and "ceiling" in res["utterance_counts"]["1"]
    for seed in ("0", "1"):
        assert main(_argv(data, models, out, "--methods", "single,multi,bayes,joint", "--dpo", "--dpo-on",
                          "best_single+bayes", "--seeds", seed, "--results-name", f"seed{seed}.json")) == 0
    pooled_path = root / "pooled.json"
    assert main(["llm", "pool-seeds", str(out / "seed1.json"), str(out / "seed0.json"), "--out",
                 str(pooled_path)]) == 0
    pooled = read_json(pooled_path)
    assert pooled["strong_seeds"] == [0, 1] and pooled["answers"] == answers
    assert pooled["strategies"] == res["strategies"]  # --seed's run gives the top level
    assert sorted(pooled["pooled_from"].values()) == [[0], [1]] and pooled["same_weak_models"] is True
    # a run from another machine retrained the weak models: pooled, and said
    moved = read_json(out / "seed1.json")
    moved["weak"][0]["slu_f1"] += 0.01
    (root / "moved.json").write_text(json.dumps(moved))
    assert main(["llm", "pool-seeds", str(out / "seed0.json"), str(root / "moved.json"), "--out",
                 str(root / "moved-pooled.json")]) == 0
    assert read_json(root / "moved-pooled.json")["same_weak_models"] is False
    # a seed twice, or runs of another protocol, are refused by name
    assert main(["llm", "pool-seeds", str(out / "seed0.json"), str(out / "results.json"), "--out",
                 str(root / "twice.json")]) == 2
    other = read_json(out / "seed1.json")
    other["config"]["n_best"] = 5
    (root / "other.json").write_text(json.dumps(other))
    assert main(["llm", "pool-seeds", str(out / "seed0.json"), str(root / "other.json"), "--out",
                 str(root / "other-pooled.json")]) == 2
    assert not (root / "twice.json").exists() and not (root / "other-pooled.json").exists()


def test_per_target_weight_pooling_gives_each_target_its_weight_whatever_its_length(setup, monkeypatch):
    """--weight-pooling per_target (the reference's, the default): an example's weight is w_j over its number of
    strong tokens, so each (input, weak model) contributes w_j times its mean token loss; tokens (ablation, the
    earlier default) keeps w_j per token and the stage names of the runs that used it."""
    from weakstrong.llm.generation.config import GenerateConfig

    trained = _record_students(monkeypatch)
    root, data, models = setup
    out = root / "pooling"
    assert main(_argv(data, models, out, "--methods", "multi", "--weights", "1", "3", "--weight-pooling",
                      "per_target", "--n-boot", "50")) == 0
    multi = trained["multi"]
    base = [0.25] * 6 + [0.75] * 6  # weak model 0's targets, then weak model 1's
    assert len({len(c) for c in multi.confidence}) > 1  # targets of several lengths
    assert multi.weights == pytest.approx([w / len(c) for w, c in zip(base, multi.confidence)])
    assert read_json(out / "results.json")["supervision"]["weight_pooling"] == "per_target"
    assert "weight_pooling" not in GenerateConfig(weight_pooling="tokens").strategy_key()  # earlier names hold
    assert GenerateConfig().strategy_key()["weight_pooling"] == "per_target"
    with pytest.raises(ConfigError, match="weight_pooling"):
        GenerateConfig(data_dir=str(data), weak=tuple(models[:2]), strong=models[2], weight_pooling="words").validate()


@pytest.mark.parametrize("split", ["base", "even"])
def test_the_fixed_splits_run_as_ablations_beside_the_live_one(setup, monkeypatch, split):
    """The strong model's probabilities before w2s training (base) or an even split: confidences in (0, 1],
    computed once before training, and the fixed-split losses."""
    trained = _record_students(monkeypatch)
    root, data, models = setup
    assert main(_argv(data, models, root / f"split-{split}", "--methods", "multi", "--piece-split", split)) == 0
    res = read_json(root / f"split-{split}" / "results.json")
    multi = trained["multi"]
    assert multi.loss.func.__name__ == "soft_kl_token_loss" and res["supervision"]["piece_split"] == split
    assert all(c.ndim == 1 and np.all((c > 0) & (c <= 1)) for c in multi.confidence)


def test_singles_best_trains_only_the_best_teachers_single_student(setup):
    """--singles best (seeds after the first may drop the weaker teachers' single students): one single-weak
    student, that of the weak model with the best validation SLU-F1; the folder's other stages are shared."""
    root, data, models = setup
    out = root / "singles"
    assert main(_argv(data, models, out, "--methods", "single", "--n-boot", "50")) == 0
    every = read_json(out / "results.json")
    assert main(_argv(data, models, out, "--methods", "single", "--singles", "best", "--n-boot", "50",
                      "--results-name", "best.json")) == 0
    best = read_json(out / "best.json")
    val = [w["val_slu_f1"] or 0.0 for w in best["weak"]]
    j = max(range(len(val)), key=val.__getitem__)
    assert list(best["strategies"]) == [f"single/{j}"]
    assert best["strategies"][f"single/{j}"] == every["strategies"][f"single/{j}"]  # the same cached student


def test_utterance_counts_round_trip_compactly():
    from weakstrong.llm.generation.pool import decode_counts, encode_counts

    whole = np.array([[0, 2, 1], [3, 0, 0]], dtype=float)
    assert encode_counts(whole) == "0,2,1;3,0,0"
    np.testing.assert_array_equal(decode_counts(encode_counts(whole)), whole)
    frac = np.array([[0.5, 1 / 3], [2.0, 0.25]])
    np.testing.assert_allclose(decode_counts(encode_counts(frac)), frac, rtol=1e-6)
    np.testing.assert_array_equal(decode_counts(whole.tolist()), whole)  # the earlier nested-list form
    with pytest.raises(ValueError, match="matrix"):
        encode_counts(np.zeros(3))
