"""Scale-out that is tested: two CPU ranks under ``torchrun`` (gloo) train as one process does.

Classification fine-tuning and generation's SFT both treat the batch size as the global batch: every rank walks
the same seeded batches and takes its contiguous share of each, and its loss is scaled so that DDP's gradient
average is the whole batch's gradient. So a 2-rank run must match the single-process run step by step (same
data order per global batch, same loss within float tolerance, same weights), and only rank 0 writes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
if not torch.distributed.is_available():
    pytest.skip("torch.distributed is not available in this build", allow_module_level=True)

from weakstrong.llm.models.tokenizer_training import train_wordpiece_tokenizer  # noqa: E402
from weakstrong.llm.pretrain.train import save_random_model  # noqa: E402

WORKER = Path(__file__).with_name("ddp_worker.py")
ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str], ranks: int, tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "WEAKSTRONG_CACHE": str(tmp_path / "wscache")}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    launcher = [sys.executable] if ranks == 1 else \
        [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={ranks}"]
    done = subprocess.run([*launcher, str(WORKER), *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]


@pytest.mark.slow
def test_two_ranks_of_sft_match_one_process(tmp_path):
    texts = [f"say the number {i} twice {i} {i} again" for i in range(40)]
    torch.manual_seed(0)
    model = save_random_model(tmp_path / "lm", texts, 120, arch="llama")
    outs = {}
    for ranks in (1, 2):
        out = tmp_path / f"sft{ranks}"
        out.mkdir()
        _run(["sft", str(model), str(out)], ranks, tmp_path)
        outs[ranks] = np.load(out / "sft.npz")
    one, two = outs[1], outs[2]
    assert int(one["world"]) == 1 and int(two["world"]) == 2
    # 22 examples in global batches of 5, 2 epochs: 10 steps, the same batches in the same order on both.
    assert len(one["losses"]) == len(two["losses"]) == 10
    np.testing.assert_allclose(two["losses"], one["losses"], rtol=1e-4, atol=1e-6)
    assert np.abs(two["params"] - one["params"]).max() < 1e-4
    assert np.abs(two["params"] - one["params"]).max() < 1e-2 * np.abs(one["params"]).max()


@pytest.mark.slow
def test_two_ranks_of_classification_finetuning_match_one_process_and_only_rank_0_writes(tmp_path):
    import transformers

    corpus = [f"{w} film number {i}" for i in range(30) for w in ("good", "bad", "great", "awful")]
    tok = train_wordpiece_tokenizer(corpus, vocab_size=120)
    torch.manual_seed(0)
    bert = transformers.BertModel(transformers.BertConfig(
        vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=128, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0))  # no dropout:
    # its masks depend on the shard shapes, so only a dropout-free model can match across rank counts
    bert.save_pretrained(tmp_path / "bert")
    tok.save_pretrained(tmp_path / "bert")
    rows = "".join(f"{'good fine great' if i % 2 else 'bad awful poor'} movie {i}\t{i % 2}\n" for i in range(80))
    (tmp_path / "data" / "sst2").mkdir(parents=True)
    (tmp_path / "data" / "sst2" / "train.tsv").write_text("sentence\tlabel\n" + rows)
    (tmp_path / "data" / "sst2" / "dev.tsv").write_text("sentence\tlabel\n" + rows.replace("movie", "film"))
    config = {"task": "sst2", "data_dir": str(tmp_path / "data"), "weak": ["tfidf"],
              "strong": str(tmp_path / "bert"), "students": ["finetune"], "methods": ["average"],
              "n_weak_train": 30, "n_w2s_train": 34, "n_test": 16, "n_bootstrap": 20,
              "probe": {"evidential_steps": 5}, "finetune": {"epochs": 2, "batch_size": 6, "lr": 1e-3}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    results = {}
    for ranks in (1, 2):
        out = tmp_path / f"run{ranks}"
        _run(["classify", str(tmp_path / "config.json"), str(out)], ranks, tmp_path)
        results[ranks] = json.loads((out / "results.json").read_text())
    one, two = (results[r]["students"]["finetune"]["runs"] for r in (1, 2))
    assert [r["method"] for r in one] == [r["method"] for r in two]
    for a, b in zip(one, two):
        assert a["accuracy"] == b["accuracy"]
        assert a["theory"]["sq_test"]["w2s_error"] == pytest.approx(b["theory"]["sq_test"]["w2s_error"], rel=1e-5)
    # Rank 0 wrote the results and the stage cache; rank 1 ran with every atomic write refused (ddp_worker.py).
    assert {p.name for p in (tmp_path / "run2").iterdir()} == {"cache", "results.json", ".weakstrong.lock"}
