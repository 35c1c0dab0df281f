"""Bad input on the command line: a table of wrong values for every simulator, theory, figures and paper option.

Every row must end in exit status 2 with one message that names the option, no traceback, and no output
file created or changed, and it must be refused before any work: the experiments' ``run`` (and the theory
check, and every figure) is replaced by a function that fails the test if it is ever reached. The LLM
commands have their own table (``test_bad_inputs_llm.py``), the Python API of the theory layer too
(``test_bad_inputs_theory.py``). Output folders locked by another run are refused the same way.
"""

from __future__ import annotations

import dataclasses
import importlib
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from weakstrong.cli import build_parser, main
from weakstrong.config import ConfigError
from weakstrong.io import output_lock
from weakstrong.sim import experiments

UNWRITABLE = "/proc/weakstrong-cannot-write-here"   # even root cannot create files under /proc


def _numeric_options(experiment: str) -> list[str]:
    """Every option of ``weakstrong sim <experiment>`` that takes numbers (config fields and run options)."""
    sim = build_parser()._subparsers._group_actions[0].choices["sim"]
    parser = sim._subparsers._group_actions[0].choices[experiment]
    return [a.option_strings[-1] for a in parser._actions
            if a.option_strings and (a.metavar in ("INT", "FLOAT") or a.option_strings[-1] in ("--threads", "--jobs"))]


def _arity(experiment: str, option: str) -> int:
    sim = build_parser()._subparsers._group_actions[0].choices["sim"]
    parser = sim._subparsers._group_actions[0].choices[experiment]
    action = next(a for a in parser._actions if option in a.option_strings)
    return action.nargs if isinstance(action.nargs, int) else 1


def _sim_rows():
    rows = []
    for name in experiments.names():
        for option in _numeric_options(name):
            for value in ("-1", "nan", "inf", "-inf", "1e400", "abc", ""):
                rows.append(pytest.param(["sim", name, option, *[value] * _arity(name, option)], option,
                                         id=f"sim-{name}{option}={value or 'empty'}"))
        for value in ("1.5", "2**3"):
            rows.append(pytest.param(["sim", name, "--seed", value], "--seed", id=f"sim-{name}--seed={value}"))
        rows.append(pytest.param(["sim", name, "--cache-dir", "{file}"], "--cache-dir", id=f"sim-{name}-cache-file"))
    rows += [
        pytest.param(["sim", "charikar", "--setting", "pretrain"], "--setting", id="sim-unknown-setting"),
        pytest.param(["sim", "charikar", "--head", "lasso"], "--head", id="sim-unknown-head"),
        pytest.param(["sim", "charikar", "--pretrain-optimizer", "sgd"], "--pretrain-optimizer", id="sim-unknown-optimizer"),
        pytest.param(["sim", "charikar", "--pretrain-beta1", "1"], "--pretrain-beta1", id="sim-beta1=1"),
        pytest.param(["sim", "charikar", "--pretrain-final-lr-fraction", "2"], "--pretrain-final-lr-fraction",
                     id="sim-final-lr-fraction>1"),
        pytest.param(["sim", "charikar", "--n-train", "5"], "--n-train", id="sim-n-train-below-width"),
        pytest.param(["sim", "charikar", "--radius", "0"], "--radius", id="sim-radius=0"),
        pytest.param(["sim", "epsilon-sweep", "--setting", "pretrained"], "--setting", id="sim-eps-sweep-setting"),
        pytest.param(["sim", "epsilon-sweep", "--pretrain-samples", "0"], "--pretrain-samples",
                     id="sim-eps-sweep-pretrain-samples=0"),
        pytest.param(["sim", "selection", "--noise-range", "0.5", "0.1"], "--noise-range", id="sim-noise-range-reversed"),
        pytest.param(["sim", "selection", "--candidates", "2"], "--candidates", id="sim-candidates=2"),
        pytest.param(["sim", "ensembles", "--weak-noises", "0.1"], "--weak-noises", id="sim-one-weak-noise"),
        pytest.param(["sim", "ensembles", "--scheduler", " "], "--scheduler", id="sim-blank-scheduler"),
        pytest.param(["sim", "classification", "--classes", "1"], "--classes", id="sim-classes=1"),
        pytest.param(["sim", "finite-sample", "--delta", "1"], "--delta", id="sim-delta=1"),
        pytest.param(["sim", "finite-sample", "--sizes", "100"], "--sizes", id="sim-one-size"),
        pytest.param(["sim", "charikar", "--out", "{file}"], "--out", id="sim-out-is-a-file"),
        pytest.param(["sim", "charikar", "--out", "{file}/sub"], "--out", id="sim-out-under-a-file"),
        pytest.param(["sim", "charikar", "--out", UNWRITABLE], "--out", id="sim-out-unwritable"),
        pytest.param(["sim", "charikar", "--cache-dir", "{file}/sub"], "--cache-dir", id="sim-cache-under-a-file"),
        pytest.param(["sim", "charikar", "--cache-dir", UNWRITABLE], "--cache-dir", id="sim-cache-unwritable"),
        pytest.param(["sim", "nosuch"], "nosuch", id="sim-unknown-experiment"),
    ]
    return rows


def _other_rows():
    rows = []
    for option in ("--instances", "--seed", "--max-samples", "--max-dim", "--max-predictors", "--max-classes"):
        for value in ("-1", "0" if option != "--seed" else "-5", "nan", "1e400", "x"):
            rows.append(pytest.param(["theory", "check", option, value], option, id=f"theory{option}={value}"))
    rows += [
        pytest.param(["theory", "check", "--max-samples", "1"], "--max-samples", id="theory-max-samples=1"),
        pytest.param(["theory", "check", "--max-classes", "1"], "--max-classes", id="theory-max-classes=1"),
        pytest.param(["theory", "check", "--json", "{dir}"], "--json", id="theory-json-is-a-folder"),
        pytest.param(["theory", "check", "--json", "{file}/x.json"], "--json", id="theory-json-under-a-file"),
        pytest.param(["theory", "check", "--json", UNWRITABLE + "/x.json"], "--json", id="theory-json-unwritable"),
    ]
    for command in (["figures"], ["paper", "--no-pdf", "--paper-dir", "{paper}"]):
        tag = command[0]
        rows += [
            pytest.param([*command, "--seed", "-1"], "--seed", id=f"{tag}-seed=-1"),
            pytest.param([*command, "--seed", "nan"], "--seed", id=f"{tag}-seed=nan"),
            pytest.param([*command, "--only", "nosuch"], "--only", id=f"{tag}-unknown-figure"),
            pytest.param([*command, "--out-dir", "{file}"], "--out-dir", id=f"{tag}-out-dir-is-a-file"),
            pytest.param([*command, "--out-dir", UNWRITABLE], "--out-dir", id=f"{tag}-out-dir-unwritable"),
            pytest.param([*command, "--images-dir", "{file}/sub"], "--images-dir", id=f"{tag}-images-under-a-file"),
            pytest.param([*command, "--images-dir", UNWRITABLE], "--images-dir", id=f"{tag}-images-unwritable"),
        ]
    rows.append(pytest.param(["paper", "--no-pdf", "--paper-dir", "{dir}"], "--paper-dir", id="paper-no-main-tex"))
    return rows


BAD_INPUTS = _sim_rows() + _other_rows()


@pytest.fixture
def no_work(monkeypatch):
    """Replace every piece of real work by a failure, so a bad input that gets through fails loudly and fast."""
    def reached(*args, **kwargs):
        raise AssertionError("a bad input reached the computation")

    for name in experiments.names():
        module = importlib.import_module(experiments.MODULES[name])
        monkeypatch.setattr(module, "EXPERIMENT", dataclasses.replace(module.EXPERIMENT, run=reached))
    monkeypatch.setattr("weakstrong.theory.check.check_report", reached)
    monkeypatch.setattr("weakstrong.figures.cli.run_figure", reached)


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("argv, option", BAD_INPUTS)
def test_bad_input_is_one_clear_error_before_any_work(argv, option, tmp_path, monkeypatch, capsys, no_work):
    monkeypatch.chdir(tmp_path)                      # default outputs (runs/, figures/out) land here
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "keep.json").write_text("{}")
    (tmp_path / "a_file").write_text("not a folder")
    (tmp_path / "paper").mkdir()
    (tmp_path / "paper" / "main.tex").write_text("\\documentclass{article}\n")
    argv = [a.replace("{file}", str(tmp_path / "a_file")).replace("{dir}", str(existing))
            .replace("{paper}", str(tmp_path / "paper")) for a in argv]
    if "--out" not in argv and argv[0] == "sim":
        argv += ["--out", str(existing)]
    before = _snapshot(tmp_path)
    try:
        code = main(argv)
    except SystemExit as exc:                        # argparse: a value of the wrong type or choice
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, f"exit status {code} for {argv}: {err}"
    assert "Traceback" not in err
    message = err.strip().splitlines()[-1]
    assert option in message, f"the message does not name {option}: {message}"
    assert _snapshot(tmp_path) == before, "a refused command created or changed files"


def test_the_table_covers_every_numeric_option_of_every_experiment():
    covered = {(p.values[0][1], p.values[1]) for p in BAD_INPUTS if p.values[0][0] == "sim"}
    for name in experiments.names():
        for option in _numeric_options(name):
            assert (name, option) in covered
    assert len(BAD_INPUTS) >= 300


# ---- concurrency: two runs into one output folder ---------------------------------------------------------

def test_a_second_run_into_a_locked_out_folder_is_refused(tmp_path, capsys, no_work):
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from weakstrong.io import output_lock\n"
         f"with output_lock({str(out)!r}):\n    print('locked', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        (out / "records.jsonl").write_text("the first run's\n")
        before = _snapshot(out)
        code = main(["sim", "charikar", "--tasks", "2", "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 2
        assert "--out" in err and "another weakstrong run" in err
        assert _snapshot(out) == before
    finally:
        holder.kill()
        holder.wait()
    # The holder died without releasing anything: the kernel dropped its lock, so no stale lock remains.
    with output_lock(out, wait=False):
        pass


def test_output_lock_refuses_a_second_holder_in_the_same_process(tmp_path):
    with output_lock(tmp_path / "o", "--out"):
        with pytest.raises(ConfigError, match="--out .* another weakstrong run"):
            with output_lock(tmp_path / "o", "--out"):
                pass


def test_two_processes_asking_for_one_cached_run_compute_it_once(tmp_path):
    from weakstrong.runs import cached_run

    @dataclasses.dataclass(frozen=True)
    class Cfg:
        n: int = 1

    calls = []

    def compute(config):
        calls.append(threading.get_ident())
        time.sleep(0.5)
        return [], {"n": config.n}

    results = []
    threads = [threading.Thread(target=lambda: results.append(cached_run("demo", Cfg(), compute, tmp_path, "v")))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1, "the second caller recomputed instead of waiting for the first"
    assert sorted(r.reused for r in results) == [False, True]
    assert all(r.summary == {"n": 1} for r in results)
