"""Tests of ``weakstrong figures``: the registry, the CLI, caching, pending panels and the real simulator.

Most tests drive the figures through a stand-in ``weakstrong sim charikar`` registered on the CLI router,
which writes W2SRecords of a known linear relation; so the figure framework is tested on its own, and
``test_every_available_sim_figure_regenerates`` then runs the real simulator for every figure whose
experiment exists in this build.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from weakstrong.cli import main
from weakstrong.figures import fig_charikar, registry, sources
from weakstrong.figures.registry import FigureContext, FigureOutcome, FigureSpec
from weakstrong.io import read_json, write_json, write_jsonl
from weakstrong.theory.records import W2SRecord

os.environ.setdefault("MPLBACKEND", "Agg")


def _write_fake_charikar(args) -> int:
    """What the contract says ``sim charikar`` writes, from a known relation gain = a·misfit + noise."""
    out = Path(args.out)
    rng = np.random.default_rng(args.seed + {"realizable": 0, "pretrained": 1, "perturbed": 2}[args.setting])
    noise = 0.0 if args.setting == "realizable" else 0.02
    misfit = rng.uniform(0.05, 0.3, size=args.tasks)
    gain = misfit + noise * rng.standard_normal(args.tasks)
    weak = misfit + 0.4
    eps = 0.0 if args.setting == "realizable" else 0.05
    recs = [W2SRecord.from_errors(w, w - g, m, strong_error=eps, epsilon=eps, setting=args.setting,
                                  task=str(i), seed=args.seed).to_dict()
            for i, (w, g, m) in enumerate(zip(weak, gain, misfit))]
    slope, intercept = np.polyfit(misfit, gain, 1)
    r2 = 1 - np.sum((gain - slope * misfit - intercept) ** 2) / np.sum((gain - gain.mean()) ** 2)
    bound_excess = np.abs(gain - misfit) - 2 * np.sqrt(eps * misfit)
    write_jsonl(out / "records.jsonl", recs)
    write_json(out / "summary.json", {
        "slope": slope, "intercept": intercept, "r2": r2,
        "frac_theorem1_holds": float(np.mean(weak - gain <= weak - misfit + 1e-12)),
        "max_nonrealizable_violation": float(bound_excess.max()), "seconds": 0.01})
    _write_fake_charikar.calls += 1
    return 0


_write_fake_charikar.calls = 0


def _fake_records(experiment: str, rng: np.random.Generator, tasks: int) -> list[dict]:
    """Records shaped as each further sim experiment writes them, with the relations its figure checks."""
    rec = W2SRecord.from_errors
    if experiment == "finite-sample":
        return [rec(0.5, 0.5 - m - g, m, strong_error=0.05, sizes={"n_train": n}, task=str(t)).to_dict()
                for n in (50, 500, 5000) for t in range(tasks)
                for m, g in [(rng.uniform(0.1, 0.2), rng.normal(0, 0.3 / np.sqrt(n)))]]
    if experiment == "epsilon-sweep":
        out = []
        for eps in (0.01, 0.05, 0.2):
            for t in range(tasks):
                m = rng.uniform(0.05, 0.2)
                gap = rng.uniform(-1, 1) * 2 * np.sqrt(eps * m)
                out.append(rec(0.6, 0.6 - m - gap, m, epsilon=eps, strong_error=eps, task=str(t)).to_dict())
        return out
    if experiment == "ensembles":
        out = []
        for t in range(tasks):
            members = rng.uniform(0.2, 0.4, size=3)
            out += [rec(0.6, w, 0.1, method=f"member-{j}", task=str(t)).to_dict() for j, w in enumerate(members)]
            out += [rec(0.5, 0.5 - m, m, method=name, task=str(t)).to_dict()
                    for name in ("average", "bayes") for m in [rng.uniform(0.2, 0.3)]]
        return out
    if experiment == "selection":
        return [rec(w, w - m - abs(rng.normal(0, 0.02)), m, task=str(t), weak=f"w{j}").to_dict()
                for t in range(tasks) for j in range(4) for w, m in [(rng.uniform(0.3, 0.6), rng.uniform(0, 0.2))]]
    # classification: realizable KL records with gain >= misfit, and hull sweeps that approach it with k
    out = [rec(0.7, 0.7 - m - abs(rng.normal(0, 0.01)), m, loss="kl", setting="realizable", task=str(t),
               extra={"in_sample": {"misfit": m, "gain": m + 0.001}}).to_dict()
           for t in range(tasks) for m in [rng.uniform(0.05, 0.3)]]
    out += [rec(0.7, 0.7 - m + 0.5 / k, m, loss="kl", setting="nonrealizable", task=str(t), sizes={"k": k}).to_dict()
            for k in (2, 5, 10) for t in range(tasks) for m in [rng.uniform(0.05, 0.3)]]
    return out


def _write_fake_experiment(args) -> int:
    out = Path(args.out)
    write_jsonl(out / "records.jsonl", _fake_records(args.experiment, np.random.default_rng(args.seed), args.tasks))
    write_json(out / "summary.json", {"seconds": 0.01})
    return 0


def _fake_sim_add_parser(subparsers) -> None:
    p = subparsers.add_parser("sim")
    sub = p.add_subparsers(dest="experiment", required=True)
    c = sub.add_parser("charikar")
    c.add_argument("--setting", required=True, choices=["realizable", "pretrained", "perturbed"])
    c.set_defaults(func=_write_fake_charikar)
    parsers = [c]
    for name in FAKE_EXPERIMENTS:
        e = sub.add_parser(name)
        e.set_defaults(func=_write_fake_experiment)
        parsers.append(e)
    for q in parsers:
        q.add_argument("--tasks", type=int, default=20)
        q.add_argument("--seed", type=int, default=0)
        q.add_argument("--no-progress", action="store_true")
        q.add_argument("--out", required=True)


FAKE_EXPERIMENTS = ("finite-sample", "epsilon-sweep", "ensembles", "selection", "classification")


@pytest.fixture
def fake_sim(monkeypatch):
    """Replace the sim subcommands on the router by a stand-in ``charikar`` (the router rebuilds per call)."""
    import weakstrong.sim.cli as sim_cli

    monkeypatch.setattr(sim_cli, "add_parser", _fake_sim_add_parser)
    _write_fake_charikar.calls = 0
    return _write_fake_charikar


def write_fake_llm_results(results_dir: Path, seed: int = 0) -> dict[str, Path]:
    """Committed-results stand-ins in the shapes ``llm classify`` and ``llm generate`` write."""
    rng = np.random.default_rng(seed)
    teachers = [("tfidf", "single"), ("minilm-l1", "single"), ("average", "average"), ("bayes", "bayes")]
    sciq = {"task": "sciq", "sizes": {"n_weak_train": 200, "n_w2s_train": 200, "n_test": 100},
            "students": {}, "records": [], "timings_s": {"data": 0.4, "students/probe": 1.5}}
    for student in ("probe", "finetune"):
        runs = []
        for name, method in teachers:
            p = float(rng.uniform(-0.2, 0.8))
            runs.append({"teacher": name, "method": method, "teacher_test": {"accuracy": float(rng.uniform(.5, .6))},
                         "accuracy": float(rng.uniform(.5, .65)), "pgr": {"pgr": p, "ci": [p - .3, p + .3]}})
            for loss in ("sq", "kl"):
                m = float(rng.uniform(.01, .05))
                sciq["records"].append(W2SRecord.from_errors(
                    .25, .25 - m - float(rng.normal(0, .01)), m, loss=loss, setting=f"{student}/test",
                    weak=name, method=method).to_dict())
        sciq["students"][student] = {"ceiling": {"accuracy": float(rng.uniform(.6, .7))}, "runs": runs}
    scores = lambda: {"slu_f1": float(rng.uniform(.1, .4)), "exact_match": float(rng.uniform(0, .2))}  # noqa: E731
    strategies = {}
    for name in ("single-a", "multi", "joint", "bayes"):
        for suffix in ("", "+dpo"):
            m = float(rng.uniform(.1, .5))
            strategies[name + suffix] = {**scores(), "pgr_slu_f1": float(rng.uniform(-.5, 1)),
                                         "misfit_view": {"misfit": m, "gain": m + float(rng.normal(0, .05))}}
    slurp = {"task": "slurp", "weak": [{"name": "a", **scores()}, {"name": "b", **scores()}],
             "ceiling": scores(), "strategies": strategies, "records": [], "timings_s": {"pretrain": 12.0},
             "splits": {"note": "seeded splits of devel+test"}}
    paths = {"sciq": results_dir / "sciq_cpu_probe" / "results.json",
             "slurp": results_dir / "slurp_cpu_smoke" / "results.json"}
    write_json(paths["sciq"], sciq)
    write_json(paths["slurp"], slurp)
    return paths


@pytest.fixture
def dirs(tmp_path):
    return {"runs": tmp_path / "runs", "images": tmp_path / "img", "results": tmp_path / "results"}


def _argv(dirs, *extra):
    return ["figures", "--out-dir", str(dirs["runs"]), "--images-dir", str(dirs["images"]),
            "--results-dir", str(dirs["results"]), *extra]


def test_charikar_figure_from_the_cli_contract(fake_sim, dirs, capsys):
    assert main(_argv(dirs, "--only", "charikar", "--quick")) == 0
    table = capsys.readouterr().out
    assert "| charikar | ok |" in table
    for ext in ("pdf", "png"):
        path = dirs["images"] / f"charikar.{ext}"
        assert path.is_file() and path.stat().st_size > 1000
    run_dirs = sorted(dirs["runs"].iterdir())
    assert [d.name.split("-")[1] for d in run_dirs] == sorted(["realizable", "pretrained", "perturbed"])
    for d in run_dirs:
        recs = sources.read_records(d)
        assert len(recs) == fig_charikar.QUICK_TASKS
        assert isinstance(read_json(d / "summary.json")["slope"], float)


def test_sim_stages_are_cached_unless_forced(fake_sim, dirs, monkeypatch):
    ctx = FigureContext(runs_dir=dirs["runs"], quick=True)
    first = fig_charikar.run_dirs(ctx)
    assert fake_sim.calls == 3
    assert fig_charikar.run_dirs(ctx) == first and fake_sim.calls == 3, "a finished run must be reused"
    ctx.force = True
    fig_charikar.run_dirs(ctx)
    assert fake_sim.calls == 6
    # A different configuration is a different run folder, not a reuse of the first one.
    other = fig_charikar.run_dirs(FigureContext(runs_dir=dirs["runs"], quick=True, seed=1))
    assert fake_sim.calls == 9 and set(other.values()).isdisjoint(first.values())
    # Changed simulator code is a different run folder too: results of old code are never reused.
    run = fig_charikar.runs(ctx)[0]
    before = run.run_dir(dirs["runs"])
    real_fingerprint = sources.simulator_fingerprint
    monkeypatch.setattr(sources, "simulator_fingerprint", lambda: "edited")
    assert run.run_dir(dirs["runs"]) != before
    monkeypatch.setattr(sources, "simulator_fingerprint", real_fingerprint)
    # A run that died before writing summary.json is not a cache hit.
    (first["realizable"] / "summary.json").unlink()
    fig_charikar.run_dirs(FigureContext(runs_dir=dirs["runs"], quick=True))
    assert fake_sim.calls == 10


def test_missing_sim_experiment_is_skipped_not_invented(monkeypatch, dirs, capsys):
    import weakstrong.sim.cli as sim_cli

    def no_experiments(subparsers):
        subparsers.add_parser("sim").add_subparsers(dest="experiment")

    monkeypatch.setattr(sim_cli, "add_parser", no_experiments)
    assert main(_argv(dirs, "--only", "charikar")) == 0
    out = capsys.readouterr().out
    assert "| charikar | skipped |" in out and "not in this build" in out
    assert not (dirs["images"] / "charikar.png").exists()


def test_llm_figure_is_pending_without_results_and_drawn_with_them(dirs, capsys):
    assert main(_argv(dirs, "--only", "llm_gain_misfit")) == 0
    assert "| llm_gain_misfit | pending |" in capsys.readouterr().out
    pending_png = dirs["images"] / "llm_gain_misfit.png"
    assert pending_png.stat().st_size > 0
    rng = np.random.default_rng(0)
    recs = [W2SRecord.from_errors(0.3, 0.3 - g, m, loss=loss, method="bayes",
                                  extra={"student": student}).to_dict()
            for loss in ("sq", "kl") for student in ("probe", "finetune")
            for m, g in rng.uniform(0.01, 0.1, size=(5, 2))]
    write_json(dirs["results"] / "sciq_test" / "results.json", {"records": recs})
    assert main(_argv(dirs, "--only", "llm_gain_misfit")) == 0
    assert "| llm_gain_misfit | ok |" in capsys.readouterr().out


def test_llm_figures_draw_from_committed_results(dirs, capsys):
    paths = write_fake_llm_results(dirs["results"])
    assert main(_argv(dirs, "--only", "sciq_methods,slurp,throughput,llm_gain_misfit")) == 0
    out = capsys.readouterr().out
    for name in ("sciq_methods", "slurp", "llm_gain_misfit"):
        assert f"| {name} | ok |" in out, out
        assert (dirs["images"] / f"{name}.pdf").stat().st_size > 0
    # No benchmark committed: the throughput figure draws the stage timings and says the rest is pending.
    assert "| throughput | pending |" in out and "results.json" in out
    assert str(paths["sciq"].relative_to(dirs["results"].parent)) in out or "sciq_cpu_probe" in out


def test_malformed_record_is_an_error_and_other_figures_still_run(fake_sim, dirs, capsys):
    write_json(dirs["results"] / "sciq_bad" / "results.json", {"records": [{"weak_error": 1.0}]})
    assert main(_argv(dirs, "--only", "llm_gain_misfit,charikar", "--quick")) == 1
    out = capsys.readouterr().out
    assert "| llm_gain_misfit | error |" in out and "missing required fields" in out
    assert "| charikar | ok |" in out


def test_bad_input_is_reported_clearly(dirs, capsys):
    assert main(_argv(dirs, "--only", "no_such_figure")) == 2
    assert "unknown figure" in capsys.readouterr().err
    with pytest.raises(ValueError, match="kind"):
        FigureSpec("x", "gpu", "", "", "", build=lambda ctx: FigureOutcome("ok"))
    with pytest.raises(ValueError, match="seed"):
        FigureContext(seed=-1)
    with pytest.raises(ValueError, match="status"):
        FigureOutcome("done")


def test_list_names_every_registered_figure(capsys):
    assert main(["figures", "--list"]) == 0
    out = capsys.readouterr().out
    for name, spec in registry.all_figures().items():
        assert name in out and spec.data in out


def test_every_available_sim_figure_regenerates(tmp_path):
    """The real simulator, in quick mode: every sim figure whose experiment exists renders from parsed data."""
    available = sources.available_sim_experiments()
    if "charikar" not in available:
        pytest.skip("'weakstrong sim charikar' is not in this build yet")
    ctx = FigureContext(runs_dir=tmp_path / "runs", images_dir=tmp_path / "img", quick=True)
    sim_specs = [s for s in registry.all_figures().values() if s.kind == "sim"]
    outcomes = {s.name: registry.run_figure(s, ctx) for s in sim_specs}
    assert outcomes["charikar"].status == "ok", outcomes["charikar"].message
    for name, out in outcomes.items():
        assert out.status in ("ok", "skipped"), f"{name}: {out.message}"
        if out.status == "skipped":
            continue
        for path in out.images:
            assert path.is_file() and path.stat().st_size > 0, path
        assert out.data_files, f"{name} names no data file"
        for data in out.data_files:
            if data.suffix == ".jsonl":
                assert sources.read_records(data)
            else:
                json.loads(data.read_text())


def test_run_sizes_apply_only_where_accepted_and_other_options_fail_loudly(fake_sim, dirs):
    run = sources.make_sim_run("selection", sizes={"tasks": 3, "worlds": 2}, seed=4, progress=False)
    assert run.args == (("--tasks", "3"), ("--seed", "4"), ("--no-progress",))
    listed = sources.make_sim_run("selection", sizes={"ks": [2, 5]}, seed=0)
    assert listed.args == (("--seed", "0"),), "a size flag the experiment lacks is left out"
    bad = sources.make_sim_run("selection", no_such_option=1)
    with pytest.raises(sources.DataUnavailable, match="exited 2"):
        sources.ensure_sim_run(bad, dirs["runs"])
