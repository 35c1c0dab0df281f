"""Reliability past the happy path, one table per class of fault: hostile output paths, checks before work,
sizes and magnitudes, corrupt or stale caches, signals and worker processes, degenerate data, small bugs.

Every row asserts the exit code (0 or 2), no traceback, a one-line message naming the culprit, and that nothing
outside the output folder was created or replaced.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from weakstrong.cli import main
from weakstrong.config import ConfigError


def _run(argv, capsys) -> tuple[int, list[str]]:
    code = main(argv)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return code, captured.err.strip().splitlines()


def _one_line(code, lines, expect):
    assert code == 2, lines
    assert len(lines) == 1 and re.search(expect, lines[0]), lines


# ---------------------------------------------------------------------------------------------------------
# Class 1: the writer replaces only regular files it writes.

def _fifo(p: Path):
    os.mkfifo(p)


def _symlink_to_file(p: Path):
    (p.parent / "target.txt").write_text("keep me")
    p.symlink_to(p.parent / "target.txt")


def _symlink_dangling(p: Path):
    p.symlink_to(p.parent / "not-there.json")


def _symlink_to_devnull(p: Path):
    p.symlink_to("/dev/null")


def _char_device(p: Path):
    try:
        os.mknod(p, stat.S_IFCHR | 0o666, os.makedev(1, 3))   # a /dev/null twin, inside the temporary folder
    except (PermissionError, OSError):
        pytest.skip("mknod is not permitted here")


def _folder(p: Path):
    p.mkdir()


WRITER_TARGETS = [(_fifo, "a FIFO"), (_symlink_to_file, "a symbolic link"), (_symlink_dangling, "a symbolic link"),
                  (_symlink_to_devnull, "a symbolic link"), (_char_device, "a character device"),
                  (_folder, "a folder")]


def _kind(p: Path) -> str:
    mode = os.lstat(p).st_mode
    return stat.filemode(mode)[0]


@pytest.mark.parametrize("make, what", WRITER_TARGETS, ids=[m.__name__ for m, _ in WRITER_TARGETS])
def test_json_output_that_is_not_a_regular_file_is_refused_and_left_alone(make, what, tmp_path, capsys):
    target = tmp_path / "report.json"
    make(target)
    before = _kind(target)
    code, lines = _run(["theory", "check", "--instances", "2", "--json", str(target)], capsys)
    _one_line(code, lines, rf"--json .*report.json is {what}")
    assert _kind(target) == before
    assert not (tmp_path / "not-there.json").exists()
    if (tmp_path / "target.txt").exists():
        assert (tmp_path / "target.txt").read_text() == "keep me"


@pytest.mark.parametrize("name", ["summary.json", "records.jsonl", ".weakstrong.lock"])
@pytest.mark.parametrize("make, what", WRITER_TARGETS[:2] + WRITER_TARGETS[5:],
                         ids=["fifo", "symlink", "folder"])
def test_result_files_in_an_output_folder_are_checked_before_work(name, make, what, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    make(out / name)
    before = {p.name: _kind(p) for p in out.iterdir()}
    code, lines = _run(["sim", "charikar", "--setting", "realizable", "--tasks", "2", "--out", str(out)], capsys)
    _one_line(code, lines, rf"--out .*{re.escape(name)} is {what}")
    assert {p.name: _kind(p) for p in out.iterdir()} == before and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_every_atomic_writer_refuses_a_fifo(tmp_path):
    from weakstrong.io import atomic_write_text, save_npz_atomic, write_json

    fifo = tmp_path / "x"
    os.mkfifo(fifo)
    for write in (lambda: atomic_write_text(fifo, "a"), lambda: write_json(fifo, {}),
                  lambda: save_npz_atomic(fifo, a=np.zeros(1))):
        with pytest.raises(ConfigError, match="is a FIFO"):
            write()
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and sorted(p.name for p in tmp_path.iterdir()) == ["x"]


# ---------------------------------------------------------------------------------------------------------
# Class 2: every path and option is checked before any work.

def _loop(tmp: Path) -> str:
    (tmp / "a").symlink_to(tmp / "b")
    (tmp / "b").symlink_to(tmp / "a")
    return str(tmp / "a")


def _dangling(tmp: Path) -> str:
    (tmp / "gone").symlink_to(tmp / "nowhere")
    return str(tmp / "gone")


def _a_file(tmp: Path) -> str:
    (tmp / "f").write_text("x")
    return str(tmp / "f")


SIM = ["sim", "charikar", "--setting", "realizable", "--tasks", "2"]
CHECKS = [
    ("out-looping-symlink", lambda t: SIM + ["--out", _loop(t)], r"--out .*dangles or loops"),
    ("out-dangling-symlink", lambda t: SIM + ["--out", _dangling(t)], r"--out .*dangles or loops"),
    ("out-name-too-long", lambda t: SIM + ["--out", str(t / ("n" * 300))], r"--out .*longer than"),
    ("out-under-a-file", lambda t: SIM + ["--out", _a_file(t) + "/sub"], r"--out .*which is a file"),
    ("cache-dir-a-file", lambda t: SIM + ["--out", str(t / "o"), "--cache-dir", _a_file(t)], r"--cache-dir"),
    ("cache-dir-dangling", lambda t: SIM + ["--out", str(t / "o"), "--cache-dir", _dangling(t)], r"--cache-dir"),
    ("seed-too-large", lambda t: SIM + ["--out", str(t / "o"), "--seed", str(2**40)], r"seed.*2\*\*32"),
    ("theory-seed-too-large", lambda t: ["theory", "check", "--seed", str(2**40)], r"seed"),
    ("scheduler-no-port", lambda t: ["sim", "selection", "--worlds", "2", "--out", str(t / "o"), "--scheduler",
                                     "tcp://localhost"], r"scheduler"),
    ("scheduler-bad-port", lambda t: ["sim", "selection", "--worlds", "2", "--out", str(t / "o"), "--scheduler",
                                      "localhost:99999"], r"scheduler"),
    ("scheduler-spaces", lambda t: ["sim", "selection", "--worlds", "2", "--out", str(t / "o"), "--scheduler",
                                    "a b:1"], r"scheduler"),
    ("report-out-dir-a-file", lambda t: ["report", "--out-dir", _a_file(t)], r"--out-dir"),
    ("figures-images-dir-dangling", lambda t: ["figures", "--only", "regression", "--images-dir", _dangling(t)],
     r"--images-dir"),
]


@pytest.mark.parametrize("make_argv, expect", [c[1:] for c in CHECKS], ids=[c[0] for c in CHECKS])
def test_bad_paths_and_options_fail_before_work(make_argv, expect, tmp_path, capsys):
    argv = make_argv(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, lines = _run(argv, capsys)
    _one_line(code, lines, expect)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("value, expect", [("file", "is a file"), ("dangling", "dangles or loops")])
def test_a_bad_cache_location_in_the_environment_is_one_line(value, expect, tmp_path, monkeypatch, capsys):
    where = _a_file(tmp_path) if value == "file" else _dangling(tmp_path)
    monkeypatch.setenv("WEAKSTRONG_CACHE", where)
    code, lines = _run(["theory", "check", "--instances", "2"], capsys)
    _one_line(code, lines, rf"WEAKSTRONG_CACHE .*{expect}")


# ---------------------------------------------------------------------------------------------------------
# Class 3: sizes and magnitudes have bounds; what cannot fit is refused with the estimate.

MAGNITUDES = [
    ("memory-charikar", ["--tasks", "100000", "--n-train", "100000"], r"needs about [\d.]+ GiB"),
    ("sigma-tiny", ["--sigma", "1e-300"], r"--sigma must be >= 0.001"),
    ("sigma-huge", ["--sigma", "1e300"], r"--sigma must be <= 1000000"),
    ("noise-huge", ["--setting", "perturbed", "--strong-noise", "1e9"], r"strong[_-]noise"),
    ("radius-huge", ["--head", "ball", "--radius", "1e300"], r"radius"),
    ("width-huge", ["--width", "100000"], r"width"),
    ("pretrain-memory", ["--setting", "pretrained", "--pretrain-samples", "10000000", "--pretrain-tasks", "5000"],
     r"needs about [\d.]+ GiB"),
]


@pytest.mark.parametrize("extra, expect", [m[1:] for m in MAGNITUDES], ids=[m[0] for m in MAGNITUDES])
def test_sizes_and_magnitudes_out_of_range_are_refused(extra, expect, tmp_path, capsys):
    code, lines = _run(["sim", "charikar", "--out", str(tmp_path / "o"), *extra], capsys)
    _one_line(code, lines, expect)
    assert not (tmp_path / "o").exists()


OTHER_EXPERIMENTS = [
    ("classification-logit-scale", ["classification", "--logit-scale", "1e300"], r"--logit-scale.*1e\+06"),
    ("classification-spread", ["classification", "--spread", "1e9"], r"--spread"),
    ("selection-n-test", ["selection", "--n-test", "1000000000"], r"--n-test.*100,000,000"),
    ("ensembles-memory", ["ensembles", "--tasks", "100000", "--n-test", "1000000"], r"needs about [\d.]+ GiB"),
    ("epsilon-sweep-noise", ["epsilon-sweep", "--strong-noises", "0.1", "1e9"], r"--strong-noises"),
    ("gain-prediction-draws", ["gain-prediction", "--draws", "1000000000"], r"--draws"),
]


@pytest.mark.parametrize("argv, expect", [o[1:] for o in OTHER_EXPERIMENTS], ids=[o[0] for o in OTHER_EXPERIMENTS])
def test_every_simulator_experiment_bounds_its_numbers(argv, expect, tmp_path, capsys):
    code, lines = _run(["sim", *argv, "--out", str(tmp_path / "o")], capsys)
    _one_line(code, lines, expect)
    assert not (tmp_path / "o").exists()


def test_finite_sample_memory_is_estimated(tmp_path, capsys):
    code, lines = _run(["sim", "finite-sample", "--sizes", "50", "10000000000", "--out", str(tmp_path / "o")],
                       capsys)
    _one_line(code, lines, r"GiB")


def test_jobs_are_capped_by_the_work_and_the_cores(monkeypatch):
    import joblib

    from weakstrong.sim import parallel

    seen = {}
    real = joblib.Parallel

    def spy(*args, **kwargs):
        seen["n_jobs"] = kwargs.get("n_jobs")
        return real(*args, **kwargs)

    monkeypatch.setattr(joblib, "Parallel", spy)
    assert parallel.run_sweep(abs, [-1, -2, 3], parallel.RunOptions(jobs=999)) == [1, 2, 3]
    assert 1 <= seen["n_jobs"] <= min(3, os.cpu_count())
    with pytest.raises(ConfigError, match="jobs"):
        parallel.RunOptions(jobs=5000).validate()


# ---------------------------------------------------------------------------------------------------------
# Class 4: a damaged or stale cache entry is set aside and recomputed, with a warning naming it.

def _pickled(path: Path):
    np.savez(path, x=np.array([{"a": 1}], dtype=object))


DAMAGE = [("truncated", lambda p: p.write_bytes(p.read_bytes()[:30])), ("empty", lambda p: p.write_bytes(b"")),
          ("garbage", lambda p: p.write_bytes(os.urandom(200))), ("pickled-objects", _pickled),
          ("wrong-shape", lambda p: np.savez(p, x=np.zeros((3, 2)), _seconds=np.asarray(0.1)))]


@pytest.mark.parametrize("damage", [d[1] for d in DAMAGE], ids=[d[0] for d in DAMAGE])
def test_a_damaged_stage_cache_is_recomputed_with_one_warning(damage, tmp_path, capsys):
    from weakstrong.stages import cached_array

    calls = []

    def compute():
        calls.append(1)
        return {"x": np.arange(10.0).reshape(5, 2)}

    def check(a):
        if a["x"].shape != (5, 2):
            raise ValueError(f"shape {a['x'].shape}")

    first = cached_array(tmp_path, "stage", {"k": 1}, compute, check=check)
    (path,) = tmp_path.glob("stage-*.npz")
    damage(path)
    capsys.readouterr()
    again = cached_array(tmp_path, "stage", {"k": 1}, compute, check=check)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(calls) == 2 and np.array_equal(again["x"], first["x"])
    assert len(err) == 1 and "damaged" in err[0] and path.name in err[0] and "allow_pickle" not in err[0]
    assert path.with_name(path.name + ".corrupt").exists()
    cached_array(tmp_path, "stage", {"k": 1}, compute, check=check)
    assert len(calls) == 2  # the recomputed file is read again


@pytest.mark.parametrize("edit", ["empty-records", "edited-summary", "no-marker"])
def test_a_run_folder_edited_after_it_finished_is_not_reused(edit, tmp_path, capsys):
    from dataclasses import dataclass

    from weakstrong.runs import COMPLETE, cached_run
    from weakstrong.theory.records import W2SRecord

    @dataclass(frozen=True)
    class Cfg:
        n: int = 2

    calls = []

    def compute(c):
        calls.append(1)
        return [W2SRecord.from_errors(0.5, 0.2, 0.3) for _ in range(c.n)], {"slope": 1.0}

    run = cached_run("demo", Cfg(), compute, tmp_path, fingerprint="v1")
    {"empty-records": lambda: (run.path / "records.jsonl").write_text(""),
     "edited-summary": lambda: (run.path / "summary.json").write_text('{"slope": 9.0}'),
     "no-marker": lambda: (run.path / COMPLETE).unlink()}[edit]()
    capsys.readouterr()
    again = cached_run("demo", Cfg(), compute, tmp_path, fingerprint="v1")
    err = capsys.readouterr().err
    assert len(calls) == 2 and len(again.records) == 2 and again.summary == {"slope": 1.0}
    assert "not a finished run" in err and str(run.path) in err
    assert cached_run("demo", Cfg(), compute, tmp_path, fingerprint="v1").reused and len(calls) == 2


def test_a_damaged_representation_cache_is_pretrained_again(tmp_path, capsys):
    from weakstrong.sim.pretrain import PretrainConfig
    from weakstrong.sim.worlds import WorldConfig, make_world

    config = WorldConfig(setting="pretrained", seed=3, pretrain=PretrainConfig(optimizer="adam", epochs=3))
    first = make_world(config, tmp_path)
    files = sorted(tmp_path.glob("representation-*.npz"))
    files[0].write_bytes(b"\0" * 10)
    capsys.readouterr()
    again = make_world(config, tmp_path)
    assert "damaged" in capsys.readouterr().err
    assert np.array_equal(again.strong.weights[0], first.strong.weights[0])


# ---------------------------------------------------------------------------------------------------------
# Class 5: Ctrl-C and SIGTERM stop a run within seconds, in one line, taking its workers with it.

def _children(pid: int) -> list[int]:
    import psutil

    try:
        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


@pytest.mark.slow
@pytest.mark.parametrize("sig, code, word", [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")])
def test_a_signal_stops_a_parallel_sweep_cleanly(sig, code, word, tmp_path):
    import psutil

    env = {**os.environ, "WEAKSTRONG_CACHE": str(tmp_path / "cache")}
    proc = subprocess.Popen([sys.executable, "-m", "weakstrong", "sim", "selection", "--worlds", "4000", "--jobs", "2",
                             "--n-test", "20000", "--out", str(tmp_path / "out")], stderr=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 60
    while time.time() < deadline and len(_children(proc.pid)) < 2:
        time.sleep(0.2)
    workers = _children(proc.pid)
    assert workers, "the sweep never started its workers"
    time.sleep(1.0)
    start = time.time()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == code and time.time() - start < 15
    lines = err.strip().splitlines()
    assert "Traceback" not in err and len(lines) == 1 and word in lines[0], err
    time.sleep(2.0)
    alive = [p for p in workers if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"workers left running: {alive}"
    assert not (tmp_path / "out" / "summary.json").exists()


@pytest.mark.slow
def test_ctrl_c_during_pretraining_stops_at_once(tmp_path):
    """A numba pretraining kernel cannot be interrupted; it runs in a daemon thread, so the run still stops."""
    proc = subprocess.Popen([sys.executable, "-m", "weakstrong", "sim", "charikar", "--setting", "pretrained",
                             "--seed", "4242", "--tasks", "2", "--cache-dir", str(tmp_path / "cache"), "--out",
                             str(tmp_path / "out")], stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    time.sleep(4.0)   # inside the pretraining (about 20 s of kernel time)
    start = time.time()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and time.time() - start < 3.0, (proc.returncode, err)
    assert len(err.strip().splitlines()) == 1 and "interrupted" in err and "Traceback" not in err
    assert not list((tmp_path / "cache").glob("representation-*.npz")) if (tmp_path / "cache").exists() else True


# ---------------------------------------------------------------------------------------------------------
# Class 6: degenerate data is a clear error naming the file, or a counted, bounded handling.

def _sst2(folder: Path, rows: list[tuple[str, int]], dev: list[tuple[str, int]] | None = None):
    (folder / "sst2").mkdir(parents=True, exist_ok=True)
    for name, data in (("train.tsv", rows), ("dev.tsv", dev or [(f"dev sentence {i}", i % 2) for i in range(20)])):
        (folder / "sst2" / name).write_text("sentence\tlabel\n" + "".join(f"{s}\t{y}\n" for s, y in data))


DATA = [
    ("single-class", [(f"sentence {i}", 1) for i in range(40)], r"holds only class 1"),
    # The SST-2 reader refuses an empty sentence itself, naming its row; either check names the file.
    ("empty-texts", [(" " if i % 3 else f"s {i}", i % 2) for i in range(60)], r"texts are empty|malformed row 2"),
]


@pytest.mark.parametrize("rows, expect", [d[1:] for d in DATA], ids=[d[0] for d in DATA])
def test_degenerate_training_data_in_the_loader(rows, expect, tmp_path):
    from weakstrong.llm.data.tasks import SplitConfig, load_task

    _sst2(tmp_path, rows)
    with pytest.raises(ConfigError, match=expect) as info:
        load_task("sst2", tmp_path, SplitConfig(8, 8, 4))
    assert "sst2" in str(info.value)


def test_slurp_splits_that_share_utterances_are_refused(tmp_path):
    from weakstrong.llm.data.slurp import load_slurp

    rows = [{"slurp_id": i, "sentence": f"wake me at {i}", "sentence_annotation": f"wake me at [time : {i}]"}
            for i in range(20)]
    path = tmp_path / "part.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(ConfigError, match=r"share 20 utterances"):
        load_slurp(tmp_path, official={"weak_train": path, "w2s_train": path, "test": path})


# ---------------------------------------------------------------------------------------------------------
# Class 7: small bugs seen on the way.

def test_finite_sample_with_two_sizes_reports_without_a_rate(tmp_path, capsys):
    from weakstrong.sim.finite_sample import report

    summary = {"config": {"world": {"setting": "realizable"}, "tasks": 2}, "sizes": [50, 100], "seconds": 1.0,
               "empirical_rate": -0.5, "w2s_excess_rate": None, "frac_theorem2_holds": 1.0}
    text = report(summary)
    assert "n^-0.500" in text and "w2s excess rate n/a" in text


@pytest.mark.parametrize("argv, expect", [
    (["sim", "charikar", "--tasks", "abc", "--out", "o"], r"--tasks expects an integer, got 'abc'"),
    (["sim", "charikar", "--seed", "٣", "--out", "o"], r"--seed expects an ASCII int"),
    (["sim", "charikar", "--sigma", "1e", "--out", "o"], r"--sigma expects a number"),
    (["sim", "charikar", "--setting", "nope", "--out", "o"], r"invalid choice"),
    (["llm", "regression-study", "--strong-dim", "x"], r"--strong-dim"),
    (["figures", "--seed", "١"], r"ASCII"),
])
def test_a_malformed_option_is_one_line_not_the_whole_usage(argv, expect, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and len(err) == 1 and re.search(expect, err[0]), err
    assert not (tmp_path / "o").exists()


def test_throughput_is_a_share_of_the_faster_matmul_rate():
    from weakstrong.llm.generate_cli import throughput_lines

    # An AVX2-only machine: bf16 emulated at 0.9 GFLOP/s, fp32 at 90.8; fine-tuning ran at 15.6 GFLOP/s.
    tp = {"matmul": {"bf16_gflops": 0.9, "fp32_gflops": 90.8},
          "strong_finetune": {"tokens_per_s": 100.0, "tokens_per_cpu_s": 50.0, "gflops": 15.6}}
    (line,) = throughput_lines(tp)
    assert "17.2% of the fp32 matmul rate" in line and "1733" not in line
    tp["matmul"] = {"bf16_gflops": 190.0, "fp32_gflops": 77.0}   # native bf16: the share of bf16
    assert "8.2% of the bf16 matmul rate" in throughput_lines(tp)[0]
