"""Every llm subcommand refuses bad input the same way: exit 2, one line on stderr naming the option, field or
file at fault, no traceback, and the output folder exactly as it was (no stamp, cache or tokenizer written).

Each row of the table is one bad command line, run in-process through ``weakstrong.cli.main``. Rows cover
bad numbers (zero, negative, out of range), bad choices and devices, limits that only a model or preset
knows (positions, context), damaged or foreign data files, and output folders that hold something else.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

transformers = pytest.importorskip("transformers")

from weakstrong.cli import main  # noqa: E402

SST2_ROWS = "".join(f"{'good fine' if i % 2 else 'bad awful'} movie {i}\t{i % 2}\n" for i in range(40))
SCIQ_ROW = {"question": "q", "correct_answer": "a", "distractor1": "b", "distractor2": "c", "distractor3": "d"}


def _slurp_rows(n: int, offset: int) -> str:
    return "".join(json.dumps({"slurp_id": offset + i, "sentence": f"wake me at {i} am",
                               "sentence_annotation": f"wake me at [time : {i} am]"}) + "\n" for i in range(n))


def _gz(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(text)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """Valid data for every subcommand, and models that exist only as a config.json (no weights: a row that
    got as far as loading one would fail there, after the point every check must come before)."""
    root = tmp_path_factory.mktemp("bad_inputs")
    data = root / "data"
    _gz(data / "sst2" / "train.tsv.gz", "sentence\tlabel\n" + SST2_ROWS)
    _gz(data / "sst2" / "dev.tsv.gz", "sentence\tlabel\n" + SST2_ROWS.replace("movie", "film"))
    _gz(data / "sciq" / "train.json.gz", json.dumps([{**SCIQ_ROW, "question": f"q{i}"} for i in range(30)]))
    _gz(data / "sciq" / "test.json.gz", json.dumps([{**SCIQ_ROW, "question": f"t{i}"} for i in range(10)]))
    imdb = [{"id": i, "rating": [1, 9][i % 2], "label": i % 2, "text": f"film {i}"} for i in range(30)]
    _gz(data / "imdb" / "train.jsonl.gz", "".join(json.dumps(r) + "\n" for r in imdb))
    _gz(data / "imdb" / "test.jsonl.gz", "".join(json.dumps({**r, "id": 100 + r["id"], "text": f"show {r['id']}"})
                                                  + "\n" for r in imdb))
    _gz(data / "slurp" / "devel.jsonl.gz", _slurp_rows(10, 0))
    _gz(data / "slurp" / "test.jsonl.gz", _slurp_rows(10, 100))
    _gz(data / "slurp" / "lm.txt.gz", "\n".join(f"wake me up at {i} am" for i in range(50)))
    _gz(data / "gutenberg" / "books.txt.gz", "It was a bright cold day in April. " * 50)
    transformers.BertConfig(vocab_size=100, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                            intermediate_size=32, max_position_embeddings=512).save_pretrained(root / "bert")
    transformers.GPT2Config(vocab_size=100, n_embd=16, n_layer=1, n_head=2, n_positions=256, bos_token_id=0,
                            eos_token_id=0).save_pretrained(root / "gpt2")
    return root


# ---------------------------------------------------------------------------------------------------------
# Command lines: each row appends its bad part to a valid one (argparse keeps the last value of an option).

CLASSIFY = ["llm", "classify", "--task", "sst2", "--data-dir", "{data}", "--weak", "tfidf", "--strong", "{bert}",
            "--n-weak-train", "10", "--n-w2s-train", "10", "--n-test", "5", "--device", "cpu", "--out", "{out}"]
GENERATE = ["llm", "generate", "--data-dir", "{data}/slurp", "--weak", "{gpt2}", "--strong", "{gpt2}",
            "--n-weak-train", "4", "--n-w2s-train", "4", "--device", "cpu", "--no-progress", "--out", "{out}"]
STUDY = ["llm", "misfit-study", "--tasks", "sst2", "--data-dir", "{data}", "--weak", "tfidf", "--strong", "{bert}",
         "--n-weak-train", "10", "--n-w2s-train", "10", "--n-test", "5", "--device", "cpu", "--out", "{out}"]
PREDICT = ["llm", "predict", "--task", "sst2", "--data-dir", "{data}", "--weak", "tfidf", "--strong", "{bert}",
           "--n-weak-train", "10", "--n-w2s-train", "10", "--n-test", "5", "--k", "3", "--device", "cpu",
           "--cache-dir", "{out}/cache", "--out", "{out}"]
REGRESSION = ["llm", "regression-study", "--datasets", "freesolv", "--molecule-weak", "desc8", "--molecule-strong",
              "maccs", "--random-splits", "0", "--no-scaffold-split", "--quiet", "--out", "{out}"]
DEMO = ["llm", "demo", "--data-dir", "{data}", "--weak", "tfidf", "--strong", "{bert}", "--n-weak-train", "10",
        "--n-w2s-train", "10", "--n-test", "5", "--out", "{out}"]
BENCH = ["llm", "bench", "--model", "{gpt2}", "--threads", "1", "--out", "{out}/bench"]
POOL = ["llm", "pool-seeds", "{out}/seed0.json", "--out", "{out}/pooled.json"]
GENERATE_BENCH = ["llm", "generate-bench", "--data-dir", "{data}/slurp", "--model", "{gpt2}", "--out", "{out}/gb"]
PREDICT_EVAL = ["llm", "predict-eval", "--cache-dir", "{out}/cache"]
PRETRAIN = ["llm", "pretrain", "--presets", "gpt-0.3m", "--data-dir", "{data}", "--out", "{out}", "--device", "cpu",
            "--max-steps", "2", "--batch-size", "2", "--seq-len", "16"]


def _damage(relpath: str, payload: bytes | str):
    """A ``damage(data)`` that replaces one data file with ``payload`` (bytes as is, text gzipped when the name
    ends in .gz)."""
    def damage(data: Path) -> None:
        path = data / relpath
        if isinstance(payload, bytes):
            path.write_bytes(payload)
        elif path.suffix == ".gz":
            _gz(path, payload)
        else:
            path.write_text(payload)
    return damage


def _truncated(relpath: str):
    def damage(data: Path) -> None:
        blob = (data / relpath).read_bytes()
        (data / relpath).write_bytes(blob[: len(blob) // 2])
    return damage


def _replace_by_plain(relpath_gz: str, payload: bytes):
    """Swap ``x.gz`` for a plain ``x`` holding ``payload`` (the loaders take either)."""
    def damage(data: Path) -> None:
        (data / relpath_gz).unlink()
        (data / relpath_gz.removesuffix(".gz")).write_bytes(payload)
    return damage


def _in_out(relpath: str, payload: bytes | None = None, checkpoint_seed: int | None = None):
    """A ``prepare(out)`` that leaves something in the output folder before the run."""
    def prepare(out: Path) -> None:
        path = out / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        if checkpoint_seed is None:
            path.write_bytes(payload or b"")
            return
        import numpy as np
        import torch

        from weakstrong.llm.models.checkpoint import save_checkpoint
        from weakstrong.llm.models.ladder import LMPretrainConfig, get_preset
        from weakstrong.llm.pretrain.train import run_identity

        model = torch.nn.Linear(2, 2)
        config = LMPretrainConfig(preset="gpt-0.3m", batch_size=2, seq_len=16, seed=checkpoint_seed)
        save_checkpoint(path, model, torch.optim.AdamW(model.parameters()), np.random.default_rng(0),
                        {"identity": run_identity(config, get_preset("gpt-0.3m")), "step": 1, "tokens_seen": 32,
                         "losses": [1.0]})
    return prepare


def row(base, extra, expect, damage=None, prepare=None, id=None):
    return pytest.param(base, extra, expect, damage, prepare, id=id)


CASES = [
    # --- classify: numbers ------------------------------------------------------------------------------
    row(CLASSIFY, ["--max-length", "0"], r"max[_-]length", id="classify-max-length-0"),
    row(CLASSIFY, ["--max-length", "100000"], r"max[_-]length.*positions of model", id="classify-max-length-long"),
    row(CLASSIFY, ["--batch-size", "0"], r"batch[_-]size", id="classify-batch-size-0"),
    row(CLASSIFY, ["--n-bootstrap", "0"], r"n[_-]bootstrap", id="classify-n-bootstrap-0"),
    row(CLASSIFY, ["--seed", "-1"], r"seed", id="classify-seed-negative"),
    row(CLASSIFY, ["--n-test", "0"], r"n[_-]test", id="classify-n-test-0"),
    row(CLASSIFY, ["--n-weak-train", "-5"], r"n[_-]weak[_-]train", id="classify-n-weak-train-negative"),
    row(CLASSIFY, ["--n-w2s-train", "100000"], r"requested .* only \d+ are available",
        id="classify-n-w2s-train-too-many"),
    row(CLASSIFY, ["--radius", "-1"], r"radius", id="classify-radius-negative"),
    row(CLASSIFY, ["--radius", "0"], r"radius", id="classify-radius-0"),
    row(CLASSIFY, ["--ridge", "-1"], r"ridge", id="classify-ridge-negative"),
    row(CLASSIFY, ["--ridge", "1", "--radius", "2"], r"either ridge or radius", id="classify-ridge-and-radius"),
    row(CLASSIFY, ["--logconf-max", "1.5"], r"logconf[_-]max", id="classify-logconf-max"),
    row(CLASSIFY, ["--logconf-warmup-rounds", "0"], r"logconf[_-]warmup[_-]rounds", id="classify-warmup-rounds-0"),
    row(CLASSIFY, ["--evidential-lr", "0"], r"evidential[_-]lr", id="classify-evidential-lr-0"),
    row(CLASSIFY, ["--evidential-steps", "0"], r"evidential[_-]steps", id="classify-evidential-steps-0"),
    row(CLASSIFY, ["--finetune-lr", "0"], r"finetune[._-]lr", id="classify-finetune-lr-0"),
    row(CLASSIFY, ["--finetune-epochs", "0"], r"finetune[._-]epochs", id="classify-finetune-epochs-0"),
    row(CLASSIFY, ["--finetune-batch-size", "0"], r"finetune[._-]batch[_-]size", id="classify-finetune-batch-0"),
    row(CLASSIFY, ["--finetune-warmup-frac", "2"], r"finetune[._-]warmup[_-]frac", id="classify-warmup-frac-2"),
    row(CLASSIFY, ["--finetune-weight-decay", "-1"], r"finetune[._-]weight[_-]decay", id="classify-decay-negative"),
    # --- classify: choices, devices, folders -----------------------------------------------------------------
    row(CLASSIFY, ["--device", "tpu"], r"device", id="classify-device-tpu"),
    row(CLASSIFY, ["--device", "cuda:99"], r"device 'cuda:99'", id="classify-device-missing-gpu"),
    row(CLASSIFY, ["--methods", "median"], r"methods", id="classify-methods-unknown"),
    row(CLASSIFY, ["--students", "distill"], r"students", id="classify-students-unknown"),
    row(CLASSIFY, ["--weak", "tfidf,tfidf"], r"weak", id="classify-weak-repeated"),
    row(CLASSIFY, ["--task", "imdb-rating", "--data-dir", "none"], r"data[_-]dir", id="classify-rating-no-data"),
    row(CLASSIFY, ["--task", "imdb-rating", "--methods", "vote"], r"vote", id="classify-rating-vote"),
    row(CLASSIFY, ["--strong", "{root}/missing-model"], r"missing-model", id="classify-strong-missing"),
    row(CLASSIFY, ["--out", "{out}/taken"], r"--out", prepare=_in_out("taken", b"a file"), id="classify-out-is-file"),
    row(CLASSIFY, ["--cache-dir", "{out}/taken"], r"--cache-dir", prepare=_in_out("taken", b"x"),
        id="classify-cache-dir-is-file"),
    row(CLASSIFY, ["--data-dir", "{root}/nowhere"], r"nowhere", id="classify-data-dir-missing"),
    # --- classify: data files ----------------------------------------------------------------------------------
    row(CLASSIFY, [], r"train\.tsv\.gz", damage=_damage("sst2/train.tsv.gz", b"not gzip"), id="sst2-not-gzip"),
    row(CLASSIFY, [], r"train\.tsv\.gz", damage=_truncated("sst2/train.tsv.gz"), id="sst2-truncated"),
    row(CLASSIFY, [], r"dev\.tsv\.gz", damage=_damage("sst2/dev.tsv.gz", "text\tstars\nnice\t5\n"),
        id="sst2-wrong-columns"),
    row(CLASSIFY, [], r"dev\.tsv\.gz", damage=_damage("sst2/dev.tsv.gz", "sentence\tlabel\n"), id="sst2-no-rows"),
    row(CLASSIFY, [], r"dev\.tsv", damage=_replace_by_plain("sst2/dev.tsv.gz", bytes(range(128, 256)) * 8),
        id="sst2-garbage-bytes"),
    row(CLASSIFY, ["--task", "sciq"], r"train\.json\.gz", damage=_damage("sciq/train.json.gz", '[{"question": "q"}]'),
        id="sciq-missing-keys"),
    row(CLASSIFY, ["--task", "sciq"], r"test\.json\.gz", damage=_damage("sciq/test.json.gz", b"\x1f\x8b\x08garbage"),
        id="sciq-corrupt-gzip"),
    row(CLASSIFY, ["--task", "imdb"], r"train\.jsonl\.gz",
        damage=_damage("imdb/train.jsonl.gz", '{"id": 1, "label": 1, "rating": 9}\n'), id="imdb-missing-text"),
    row(CLASSIFY, ["--task", "imdb"], r"test\.jsonl\.gz", damage=_damage("imdb/test.jsonl.gz", ""), id="imdb-empty"),
    # --- generate: numbers -----------------------------------------------------------------------------------
    row(GENERATE, ["--batch-size", "0"], r"batch[_-]size", id="generate-batch-size-0"),
    row(GENERATE, ["--max-new-tokens", "0"], r"max[_-]new[_-]tokens", id="generate-max-new-tokens-0"),
    row(GENERATE, ["--max-new-tokens", "5000"], r"max[_-]new[_-]tokens.*positions", id="generate-max-new-tokens-long"),
    row(GENERATE, ["--n-best", "0"], r"n[_-]best", id="generate-n-best-0"),
    row(GENERATE, ["--n-test", "0"], r"n[_-]test", id="generate-n-test-0"),
    row(GENERATE, ["--n-test", "100000"], r"n[_-]test", id="generate-n-test-too-many"),
    row(GENERATE, ["--n-weak-train", "100000"], r"n_weak_train", id="generate-n-weak-train-too-many"),
    row(GENERATE, ["--dpo", "--dpo-inputs", "100000"], r"dpo[_-]inputs", id="generate-dpo-inputs-too-many"),
    row(GENERATE, ["--seed", "-1"], r"seed", id="generate-seed-negative"),
    row(GENERATE, ["--kl-weight", "-1"], r"kl[_-]weight", id="generate-kl-weight-negative"),
    row(GENERATE, ["--weights", "1", "2"], r"weights", id="generate-weights-count"),
    row(GENERATE, ["--finetune-lr", "0"], r"finetune[._-]lr", id="generate-finetune-lr-0"),
    row(GENERATE, ["--finetune-warmup-frac", "1.5"], r"finetune[._-]warmup[_-]frac", id="generate-warmup-frac"),
    row(GENERATE, ["--finetune-max-grad-norm", "0"], r"max[_-]grad[_-]norm", id="generate-grad-norm-0"),
    row(GENERATE, ["--dpo-eps", "0.5"], r"eps", id="generate-dpo-eps-half"),
    row(GENERATE, ["--dpo-beta", "0"], r"beta", id="generate-dpo-beta-0"),
    row(GENERATE, ["--dpo-n-best", "1"], r"n_best|n-best", id="generate-dpo-n-best-1"),
    row(GENERATE, ["--dpo-on", "best"], r"dpo[_-]on", id="generate-dpo-on-unknown"),
    row(GENERATE, ["--weak-lr", "0"], r"weak_finetune\.lr|weak-lr", id="generate-weak-lr-0"),
    row(GENERATE, ["--weak-epochs", "0"], r"weak_finetune\.epochs|weak-epochs", id="generate-weak-epochs-0"),
    # --- generate: choices, devices, folders, models ------------------------------------------------------------
    row(GENERATE, ["--methods", "vote"], r"methods", id="generate-methods-unknown"),
    row(GENERATE, ["--device", "tpu"], r"device", id="generate-device-tpu"),
    row(GENERATE, ["--threads", "0"], r"--threads", id="generate-threads-0"),
    row(GENERATE, ["--official-splits", "a", "b"], r"--official-splits", id="generate-official-two-files"),
    row(GENERATE, ["--strong", "{data}"], r"config\.json", id="generate-strong-not-a-model"),
    row(GENERATE, ["--out", "{out}/taken"], r"--out", prepare=_in_out("taken", b"a file"), id="generate-out-is-file"),
    row(GENERATE, ["--data-dir", "{root}/nowhere"], r"nowhere", id="generate-data-dir-missing"),
    # --- generate: data files ----------------------------------------------------------------------------------
    row(GENERATE, [], r"devel\.jsonl\.gz", damage=_damage("slurp/devel.jsonl.gz", b"not gzip"), id="slurp-not-gzip"),
    row(GENERATE, [], r"test\.jsonl\.gz", damage=_truncated("slurp/test.jsonl.gz"), id="slurp-truncated"),
    row(GENERATE, [], r"devel\.jsonl\.gz", damage=_damage("slurp/devel.jsonl.gz", '{"slurp_id": 1, "text": "hi"}\n'),
        id="slurp-wrong-columns"),
    row(GENERATE, [], r"devel\.jsonl\.gz", damage=_damage("slurp/devel.jsonl.gz", "id,sentence\n1,hi\n"),
        id="slurp-csv-not-jsonl"),
    row(GENERATE, [], r"test\.jsonl", damage=_replace_by_plain("slurp/test.jsonl.gz", bytes(range(128, 256)) * 8),
        id="slurp-garbage-bytes"),
    # --- pretrain: numbers -----------------------------------------------------------------------------------
    row(PRETRAIN, ["--lr", "0"], r"lr", id="pretrain-lr-0"),
    row(PRETRAIN, ["--seq-len", "0"], r"seq[_-]len", id="pretrain-seq-len-0"),
    row(PRETRAIN, ["--seq-len", "1"], r"seq[_-]len", id="pretrain-seq-len-1"),
    row(PRETRAIN, ["--seq-len", "100000"], r"seq[_-]len.*context", id="pretrain-seq-len-past-context"),
    row(PRETRAIN, ["--time-budget", "-1"], r"time[_-]budget", id="pretrain-time-budget-negative"),
    row(PRETRAIN, ["--time-budget", "0"], r"time[_-]budget", id="pretrain-time-budget-0"),
    row(PRETRAIN, ["--batch-size", "0"], r"batch[_-]size", id="pretrain-batch-size-0"),
    row(PRETRAIN, ["--max-steps", "0"], r"max[_-]steps", id="pretrain-max-steps-0"),
    row(PRETRAIN, ["--save-every", "0"], r"save[_-]every", id="pretrain-save-every-0"),
    row(PRETRAIN, ["--warmup-steps", "-1"], r"warmup[_-]steps", id="pretrain-warmup-negative"),
    row(PRETRAIN, ["--weight-decay", "-0.1"], r"weight[_-]decay", id="pretrain-weight-decay-negative"),
    row(PRETRAIN, ["--slurp-fraction", "1.5"], r"slurp[_-]fraction", id="pretrain-slurp-fraction"),
    row(PRETRAIN, ["--max-chars", "0"], r"max[_-]chars", id="pretrain-max-chars-0"),
    row(PRETRAIN, ["--seed", "-1"], r"seed", id="pretrain-seed-negative"),
    # --- pretrain: choices, devices, folders -------------------------------------------------------------------
    row(PRETRAIN, ["--presets", "gpt-9t"], r"--presets", id="pretrain-preset-unknown"),
    row(PRETRAIN, ["--presets", "gpt-0.3m,gpt-0.3m"], r"--presets", id="pretrain-preset-repeated"),
    row(PRETRAIN, ["--presets", "gpt-50m,gpt-0.3m", "--seq-len", "300"], r"--presets gpt-0\.3m: .*seq_len",
        id="pretrain-seq-len-past-one-rung"),
    row(PRETRAIN, ["--device", "tpu"], r"--device", id="pretrain-device-tpu"),
    row(PRETRAIN, ["--device", "cuda:99"], r"device 'cuda:99'", id="pretrain-device-missing-gpu"),
    row(PRETRAIN, ["--threads", "0"], r"--threads", id="pretrain-threads-0"),
    row(PRETRAIN, ["--data-dir", "{root}/nowhere"], r"--data-dir", id="pretrain-data-dir-missing"),
    row(PRETRAIN, ["--out", "{out}/taken"], r"--out", prepare=_in_out("taken", b"a file"), id="pretrain-out-is-file"),
    row(PRETRAIN, [], r"checkpoint\.safetensors.*seed", prepare=_in_out("gpt-0.3m/checkpoint.safetensors",
                                                                       checkpoint_seed=7),
        id="pretrain-checkpoint-of-other-settings"),
    row(PRETRAIN, [], r"checkpoint\.pt", prepare=_in_out("gpt-0.3m/checkpoint.pt", b"\x80\x04pickle"),
        id="pretrain-pickle-checkpoint"),
    row(PRETRAIN, [], r"pretrain\.json", prepare=_in_out("gpt-0.3m/pretrain.json", b"{not json"),
        id="pretrain-record-damaged"),
    # --- pretrain: data files ----------------------------------------------------------------------------------
    row(PRETRAIN, [], r"books\.txt\.gz", damage=_damage("gutenberg/books.txt.gz", b"plain text"), id="books-not-gzip"),
    row(PRETRAIN, [], r"books\.txt\.gz", damage=_truncated("gutenberg/books.txt.gz"), id="books-truncated"),
    row(PRETRAIN, [], r"books\.txt\.gz", damage=_damage("gutenberg/books.txt.gz", "\x1e\n\x1e"), id="books-empty"),
    row(PRETRAIN, [], r"lm\.txt\.gz", damage=_damage("slurp/lm.txt.gz", b"\x1f\x8b\x08\x00garbage"),
        id="lm-text-corrupt-gzip"),
    row(PRETRAIN, [], r"lm\.txt\.gz", damage=_damage("slurp/lm.txt.gz", "\n \n"), id="lm-text-empty"),
    # --- misfit-study ------------------------------------------------------------------------------------
    row(STUDY, ["--tasks", "mnist"], r"tasks", id="study-unknown-task"),
    row(STUDY, ["--n-test", "0"], r"n[_-]test", id="study-n-test-0"),
    row(STUDY, ["--n-weak-train", "-1"], r"n[_-]weak[_-]train", id="study-n-weak-train-negative"),
    row(STUDY, ["--batch-size", "0"], r"batch[_-]size", id="study-batch-size-0"),
    row(STUDY, ["--max-length", "0"], r"max[_-]length", id="study-max-length-0"),
    row(STUDY, ["--seed", "-1"], r"seed", id="study-seed-negative"),
    row(STUDY, ["--radius", "-1"], r"radius", id="study-radius-negative"),
    row(STUDY, ["--ridge", "nan"], r"ridge", id="study-ridge-nan"),
    row(STUDY, ["--n-bootstrap", "0"], r"n[_-]bootstrap", id="study-n-bootstrap-0"),
    row(STUDY, ["--ensembles", "median"], r"ensembles", id="study-unknown-ensemble"),
    row(STUDY, ["--weak", "no-such-model-here"], r"no-such-model-here", id="study-unknown-weak"),
    row(STUDY, ["--device", "tpu"], r"device", id="study-device-tpu"),
    row(STUDY, ["--threads", "0"], r"threads", id="study-threads-0"),
    row(STUDY, ["--data-dir", "{root}/missing"], r"data[_-]dir", id="study-missing-data-dir"),
    row(STUDY, ["--out", "{data}/sst2/dev.tsv.gz"], r"--out", id="study-out-is-a-file"),
    row(STUDY, ["--top-k", "0"], r"top[_-]k", id="study-top-k-0"),
    row(STUDY, ["--finetune-lr", "0"], r"finetune[._-]lr", id="study-finetune-lr-0"),
    row(STUDY, ["--finetune-epochs", "0"], r"finetune[._-]epochs", id="study-finetune-epochs-0"),
    row(STUDY, ["--extra-seeds", "0"], r"extra[_-]seeds", id="study-extra-seed-is-the-seed"),
    row(STUDY, ["--extra-seed-tasks", "mnist"], r"extra[_-]seed[_-]tasks", id="study-extra-seed-task-unknown"),
    row(STUDY, ["--finetune-tasks", "mnist"], r"finetune[_-]tasks", id="study-finetune-task-unknown"),
    row(STUDY, ["--finetune-strong", "{bert}"], r"finetune[_-]strong", id="study-finetune-an-encoder"),
    row(STUDY, ["--finetune-strong", "gemma3-270m"], r"finetune[_-]strong", id="study-finetune-not-a-strong"),
    # --- predict -----------------------------------------------------------------------------------------
    row(PREDICT, ["--k", "1"], r"--k", id="predict-k-1"),
    # --- regression-study ----------------------------------------------------------------------------------
    row(REGRESSION, ["--strong-dim", "0"], r"strong[_-]dim", id="regression-strong-dim-0"),
    row(REGRESSION, ["--strong-dim", "5000"], r"strong[_-]dim.*w2s-train rows", id="regression-strong-dim-too-big"),
    row(REGRESSION, ["--test-fraction", "0.9"], r"test[_-]fraction", id="regression-test-fraction-high"),
    row(REGRESSION, ["--datasets", "esol"], r"datasets", id="regression-unknown-dataset"),
    row(REGRESSION, ["--molecule-strong", "calc"], r"molecule[_-]strong", id="regression-calc-as-strong"),
    row(REGRESSION, ["--text-weak", "maccs"], r"text[_-]weak", id="regression-molecule-rep-on-text"),
    row(REGRESSION, ["--datasets", "imdb-rating"], r"--data-dir", id="regression-imdb-without-data"),
    row(REGRESSION, ["--max-bad-fraction", "2"], r"max[_-]bad[_-]fraction", id="regression-bad-fraction-2"),
    row(REGRESSION, ["--n-bootstrap", "0"], r"n[_-]bootstrap", id="regression-n-bootstrap-0"),
    row(REGRESSION, ["--molecule-weak", "desc8,{gpt2}", "--max-length", "100000"],
        r"max[_-]length.*positions of model", id="regression-max-length-past-the-positions"),
    row(REGRESSION, ["--random-splits", "1", "1"], r"random[_-]splits", id="regression-repeated-split"),
    row(REGRESSION, ["--molecule-weak", "{root}/no-such-model"], r"no-such-model", id="regression-missing-model"),
    row(REGRESSION, ["--cache-dir", "{out}/summary.json/x"], r"--cache-dir", id="regression-cache-under-a-file",
        prepare=lambda out: (out / "summary.json").write_text("{}")),
    # --- pool-seeds ----------------------------------------------------------------------------------------------
    row(POOL, [], r"RESULTS: .*seed0.json is not a file", id="pool-missing-results"),
    row(POOL, [], r"RESULTS: .*not valid JSON", id="pool-results-not-json",
        prepare=lambda out: (out / "seed0.json").write_text("{not json")),
    row(POOL, [], r"not the results of weakstrong llm generate", id="pool-results-of-another-command",
        prepare=lambda out: (out / "seed0.json").write_text("{}")),
    row(POOL, [], r"--out .*pooled.json is a folder", id="pool-out-is-a-folder",
        prepare=lambda out: ((out / "seed0.json").write_text("{}"), (out / "pooled.json").mkdir())),
    # --- bench, generate-bench, predict-eval (their own parsers, forwarded) ---------------------------------------
    row(BENCH, ["--texts", "0"], r"weakstrong llm bench: error: --texts", id="bench-texts-0"),
    row(BENCH, ["--threads", "0"], r"--threads", id="bench-threads-0"),
    row(BENCH, ["--repeats", "x"], r"--repeats", id="bench-repeats-not-a-number"),
    row(GENERATE_BENCH, ["--n-train", "abc"], r"--n-train", id="generate-bench-n-train-text"),
    row(GENERATE_BENCH, ["--unknown"], r"unrecognized arguments: --unknown", id="generate-bench-unknown-option"),
    row(PREDICT_EVAL, ["--study", "{root}/none.json"], r"--study: .*none.json", id="predict-eval-no-study"),
    row(PREDICT_EVAL, ["--ks", "0"], r"ks", id="predict-eval-ks-0"),
    # --- demo -------------------------------------------------------------------------------------------------
    row(DEMO, ["--threads", "0"], r"--threads", id="demo-threads-0"),
    row(DEMO, ["--radius", "0"], r"radius", id="demo-radius-0"),
    row(DEMO, ["--n-test", "0"], r"n[_-]test", id="demo-n-test-0"),
    row(DEMO, ["--strong", "{root}/no-such-model"], r"no-such-model", id="demo-missing-model"),
    row(PREDICT, ["--k", "6"], r"--k.*n_test", id="predict-k-above-n-test"),
    row(PREDICT, ["--level", "1"], r"level", id="predict-level-1"),
    row(PREDICT, ["--label-seed", "-1"], r"label[_-]seed", id="predict-label-seed-negative"),
    row(PREDICT, ["--strong", "tfidf"], r"strong", id="predict-strong-tfidf"),
    row(PREDICT, ["--weak", "tfidf,tfidf"], r"weak", id="predict-weak-repeated"),
    row(PREDICT, ["--weak", "no-such-model-here"], r"no-such-model-here", id="predict-unknown-weak"),
    row(PREDICT, ["--max-length", "100000"], r"max[_-]length", id="predict-max-length-long"),
    row(PREDICT, ["--threads", "0"], r"threads", id="predict-threads-0"),
    row(PREDICT, ["--device", "tpu"], r"device", id="predict-device-tpu"),
    row(PREDICT, ["--data-dir", "{root}/missing"], r"data[_-]dir", id="predict-missing-data-dir"),
    row(PREDICT, ["--out", "{data}/sst2/dev.tsv.gz"], r"--out", id="predict-out-is-a-file"),
]


def _snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry under ``folder``: kind, size, modification time and content hash."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_dir():
            out[str(path.relative_to(folder))] = ("dir",)
        else:
            out[str(path.relative_to(folder))] = ("file", path.stat().st_size, path.stat().st_mtime_ns,
                                                  hashlib.sha256(path.read_bytes()).hexdigest())
    return out


@pytest.mark.parametrize("base, extra, expect, damage, prepare", CASES)
def test_bad_input_is_one_line_before_any_work(base, extra, expect, damage, prepare, pristine, tmp_path, capsys,
                                               monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    data, out = tmp_path / "data", tmp_path / "out"
    shutil.copytree(pristine / "data", data)
    out.mkdir()
    if damage is not None:
        damage(data)
    if prepare is not None:
        prepare(out)
    places = {"data": str(data), "out": str(out), "root": str(tmp_path), "bert": str(pristine / "bert"),
              "gpt2": str(pristine / "gpt2")}
    argv = [arg.format(**places) for arg in base + extra]
    before = _snapshot(out)

    code = main(argv)

    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, f"exit {code}; stderr: {captured.err[-2000:]}"
    assert len(lines) == 1 and lines[0].startswith("weakstrong "), captured.err
    assert re.search(expect, lines[0]), f"{lines[0]!r} does not name {expect!r}"
    assert "Traceback" not in captured.err + captured.out
    assert _snapshot(out) == before, "the output folder changed"


def test_the_table_covers_every_llm_subcommand(capsys):
    with pytest.raises(SystemExit):
        main(["llm", "--help"])
    commands = set(re.findall(r"^    ([\w-]+)\s", capsys.readouterr().out, flags=re.MULTILINE))
    covered = {case.values[0][1] for case in CASES}
    # ``llm models`` takes no input: it only lists what is installed.
    assert commands - {"models"} == covered == {"classify", "generate", "pretrain", "misfit-study", "predict",
                                                "regression-study", "demo", "bench", "generate-bench",
                                                "predict-eval", "pool-seeds"}
    assert len(CASES) >= 40
