"""Tests of ``weakstrong figures``: the registry, the CLI, the runs layer's caching, loud failures, pending
panels, and every simulator figure drawn from real (quick) simulator runs."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest

from weakstrong.cli import main
from weakstrong.figures import fig_charikar, registry
from weakstrong.figures.registry import FigureContext, FigureOutcome, FigureSpec
from weakstrong.io import LOCK_NAME, write_json
from weakstrong.runs import read_run
from weakstrong.theory.records import W2SRecord

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def counted_runs(monkeypatch):
    """Count the simulator computations the runs layer makes (real experiments, wrapped)."""
    from weakstrong.sim import experiments

    real_get = experiments.get
    calls = {"n": 0}

    def counting_get(name):
        experiment = real_get(name)

        def run(config, options):
            calls["n"] += 1
            return experiment.run(config, options)
        return dataclasses.replace(experiment, run=run)

    monkeypatch.setattr(experiments, "get", counting_get)
    return calls


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
                    weak=name, method=method, extra={"student": student, "split": "test"}).to_dict())
        sciq["students"][student] = {"ceiling": {"accuracy": float(rng.uniform(.6, .7))}, "runs": runs}
    def scores():
        f, em = float(rng.uniform(.1, .4)), float(rng.uniform(0, .2))
        return {"slu_f1": f, "exact_match": em,
                "ci": {"slu_f1": [f - .04, f + .05], "exact_match": [em - .03, em + .02]}}

    def delta():
        d = float(rng.normal(0, .03))
        return {m: {"delta": d, "ci": [d - .02, d + .03], "p_not_better": float(rng.uniform())}
                for m in ("slu_f1", "exact_match")}

    strategies = {}
    for name in ("single-a", "multi", "joint", "bayes"):
        for suffix in ("", "+dpo"):
            m, p = float(rng.uniform(.1, .5)), float(rng.uniform(-.5, 1))
            view = lambda: {"misfit": m, "gain": m + float(rng.normal(0, .05)),  # noqa: E731
                            "ci": {"misfit": [m - .02, m + .02], "gain": [m - .1, m + .1],
                                   "gain_minus_misfit": [-.08, .09]}}
            strategies[name + suffix] = {**scores(), "pgr_slu_f1": p, "pgr_slu_f1_ci": [p - .2, p + .1],
                                         "misfit_view": view(), "token_view": view(),
                                         **({"dpo_delta": delta()} if suffix else {})}
    slurp = {"task": "slurp", "weak": [{"name": "a", **scores()}, {"name": "b", **scores()}],
             "ceiling": scores(), "strategies": strategies, "records": [], "timings_s": {"pretrain": 12.0},
             "comparison": {f"bayes-{n}": delta() for n in ("single-a", "multi", "joint")},
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


def test_charikar_figure_from_the_runs_layer(dirs, capsys):
    assert main(_argv(dirs, "--only", "charikar", "--quick")) == 0
    table = capsys.readouterr().out
    assert "| charikar | ok |" in table
    for ext in ("pdf", "png"):
        path = dirs["images"] / f"charikar.{ext}"
        assert path.is_file() and path.stat().st_size > 1000
    found = [read_run(d) for d in sorted(dirs["runs"].iterdir()) if d.is_dir()]
    assert sorted((r.summary["config"]["world"]["setting"], r.summary["config"]["world"]["seed"]) for r in found) \
        == [(s, seed) for s in ("perturbed", "pretrained", "realizable") for seed in range(fig_charikar.QUICK_SEEDS)]
    # The figure writes no data of its own: the seed summary is the simulator's (weakstrong.sim.headline).
    assert not (dirs["runs"] / "charikar-seeds.json").exists()
    spread = fig_charikar.spreads(found)
    for setting in ("perturbed", "pretrained", "realizable"):
        slopes = sorted(r.summary["slope"] for r in found if r.summary["config"]["world"]["setting"] == setting)
        assert sorted(spread[setting]["per_seed"]["slope"]) == slopes
        assert spread[setting]["spread"]["slope"]["median"] == pytest.approx(np.median(slopes))
    for run in found:
        assert len(run.records) == fig_charikar.QUICK_TASKS
        assert isinstance(run.summary["slope"], float)
        assert oct((run.path / "summary.json").stat().st_mode & 0o777) == oct(0o644 & ~_umask())


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_sim_runs_are_cached_unless_forced(counted_runs, dirs, monkeypatch):
    ctx = FigureContext(runs_dir=dirs["runs"], quick=True)
    n = len(fig_charikar.configs(ctx))          # settings x seeds
    first = {s: r.path for s, r in fig_charikar.runs(ctx).items()}
    assert counted_runs["n"] == n
    assert {s: r.path for s, r in fig_charikar.runs(ctx).items()} == first and counted_runs["n"] == n, \
        "a finished run must be reused"
    ctx.force = True
    fig_charikar.runs(ctx)
    assert counted_runs["n"] == 2 * n
    # A different configuration is a different run folder, not a reuse of the first one.
    other = fig_charikar.runs(FigureContext(runs_dir=dirs["runs"], quick=True, seed=fig_charikar.QUICK_SEEDS))
    assert counted_runs["n"] == 3 * n and {r.path for r in other.values()}.isdisjoint(first.values())
    # Changed simulator code is a different run folder too: results of old code are never reused.
    from weakstrong.sim import experiments

    with monkeypatch.context() as patched:
        patched.setattr(experiments, "fingerprint", lambda: "edited")
        fig_charikar.runs(FigureContext(runs_dir=dirs["runs"], quick=True))
    assert counted_runs["n"] == 4 * n
    # A run that died before writing summary.json is not a cache hit: only that one is computed again.
    (first["realizable", 0] / "summary.json").unlink()
    with pytest.raises(FileNotFoundError):
        read_run(first["realizable", 0])
    fig_charikar.runs(FigureContext(runs_dir=dirs["runs"], quick=True))
    assert counted_runs["n"] == 4 * n + 1


def test_a_crashing_experiment_fails_the_figures_command(monkeypatch, dirs, capsys):
    """A bug inside one experiment is an error with its traceback and a non-zero exit, never a skip."""
    from weakstrong.sim import experiments, selection

    def broken(config, options):
        raise RuntimeError("deliberate failure inside the selection experiment")

    monkeypatch.setattr(selection, "EXPERIMENT", dataclasses.replace(selection.EXPERIMENT, run=broken))
    assert experiments.get("selection").run is broken
    assert main(_argv(dirs, "--only", "selection,ensembles", "--quick")) == 1
    captured = capsys.readouterr()
    assert "| selection | error |" in captured.out and "| ensembles | ok |" in captured.out
    assert "Traceback" in captured.err and "deliberate failure" in captured.err
    assert not (dirs["images"] / "selection.png").exists()


def test_a_crash_in_a_sim_command_keeps_its_traceback(monkeypatch, tmp_path):
    """Only user-input errors become one line (exit 2); a bug propagates with its traceback."""
    from weakstrong.sim import selection

    def broken(config, options):
        raise ValueError("operands could not be broadcast together")   # what a numpy bug raises

    monkeypatch.setattr(selection, "EXPERIMENT", dataclasses.replace(selection.EXPERIMENT, run=broken))
    with pytest.raises(ValueError, match="broadcast"):
        main(["sim", "selection", "--worlds", "2", "--out", str(tmp_path / "out")])
    # Only the output lock was made: no result file of a failed run.
    assert [p.name for p in (tmp_path / "out").iterdir()] == [LOCK_NAME]


def test_llm_figure_is_pending_without_results_and_drawn_with_them(dirs, capsys):
    assert main(_argv(dirs, "--only", "llm_gain_misfit")) == 0
    assert "| llm_gain_misfit | pending |" in capsys.readouterr().out
    pending_png = dirs["images"] / "llm_gain_misfit.png"
    assert pending_png.stat().st_size > 0
    rng = np.random.default_rng(0)
    recs = [W2SRecord.from_errors(0.3, 0.3 - g, m, loss=loss, method="bayes",
                                  extra={"student": student, "split": "test"}).to_dict()
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


def test_malformed_record_is_an_error_and_other_figures_still_run(dirs, capsys):
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


def test_every_sim_figure_regenerates(tmp_path):
    """The real simulator, in quick mode: every simulator figure renders from its run's data ("ok")."""
    ctx = FigureContext(runs_dir=tmp_path / "runs", images_dir=tmp_path / "img", quick=True)
    sim_specs = [s for s in registry.all_figures().values() if s.kind == "sim"]
    assert len(sim_specs) == 6
    for spec in sim_specs:
        out = registry.run_figure(spec, ctx)
        assert out.status == "ok", f"{spec.name}: {out.message}"
        for path in out.images:
            assert path.is_file() and path.stat().st_size > 0, path
        assert out.data_files, f"{spec.name} names no data file"
        for data in out.data_files:
            assert data.is_file(), data


def test_ladder_figure_is_pending_without_the_study_and_drawn_from_it(dirs, capsys):
    assert main(_argv(dirs, "--only", "ladder")) == 0
    assert "| ladder | pending |" in capsys.readouterr().out
    committed = Path(__file__).parents[1] / "results"
    if not (committed / "ladder" / "results.json").is_file():
        pytest.skip("results/ladder/results.json not committed")
    assert main(_argv(dirs, "--only", "ladder") + ["--results-dir", str(committed)]) == 0
    assert "| ladder | ok | " in capsys.readouterr().out
    assert (dirs["images"] / "ladder.png").stat().st_size > 10_000


def test_slurp_dpo_rows_read_each_seeds_scale_and_held_out_preferences():
    from weakstrong.figures.fig_slurp import dpo_rows

    held = {"before": {"accuracy": 0.5, "margin": -0.25}, "after": {"accuracy": 0.75, "margin": 0.5}}
    dpo = {"n_inputs": 1000, "n_pairs": 990, "optimizer_steps": 1485, "heldout": held}
    delta = {"slu_f1": {"delta": 0.01, "ci": [-0.02, 0.04]}}
    run = lambda: {"strategies": {"bayes": {}, "bayes+dpo": {"dpo": dpo, "dpo_delta": delta}}}  # noqa: E731
    data = {"config": {"dpo_config": {"lr": 5e-7}}, "weak": [], "seeds": {"0": run(), "1": run()}}
    rows = dpo_rows(data)
    assert [r[:6] for r in rows] == [[s, "bayes", "1000", "990", "1485", "5e-07"] for s in ("0", "1")]
    assert rows[0][6:10] == ["0.500", "0.750", "-0.250", "0.500"] and "+0.010" in rows[0][10]
    assert dpo_rows({"config": {}, "weak": [], "strategies": {"multi": {}}}) == []  # no DPO: no table


def test_slurp_ablation_rows_put_each_deviation_beside_the_main_run():
    from weakstrong.figures.fig_slurp import ablation_rows
    from weakstrong.llm.generation.pool import decode_counts, encode_counts
    from weakstrong.llm.generation.slu_metric import bootstrap_weights, paired_bootstrap_delta

    rng = np.random.default_rng(0)
    n = 40

    def counts():
        return encode_counts(rng.integers(0, 3, size=(n, 11)))

    def run(multi, bayes, key="bayes"):
        strategies = {key: {"slu_f1": bayes, "ci": {"slu_f1": [bayes - .01, bayes + .01]}}}
        by_name = {key: counts()}
        if multi is not None:
            strategies["multi"] = {"slu_f1": multi, "ci": {"slu_f1": [multi - .01, multi + .01]}}
            by_name["multi"] = counts()
        comparison = {} if multi is None or key != "bayes" else {
            "bayes-multi": {"slu_f1": {"delta": bayes - multi, "ci": [-0.05, 0.05]}}}
        return {"seeds": {"0": {"strategies": strategies, "comparison": comparison}},
                "utterance_counts": {"0": by_name}, "config": {"n_boot": 200, "seed": 0},
                "splits": {"n_test_used": n}}

    main = run(0.3, 0.25)
    edl = run(None, 0.2, "bayes-edl")
    rows = ablation_rows(main, {"uniform": run(0.31, 0.28), "edl": edl})
    assert [r[0] for r in rows] == ["the reference's settings (main run, seed 0)", "plain edl instead of edl\\_step",
                                    "uniform weights"]
    assert rows[0][1] == "0.300" and rows[0][2] == "0.250" and "-0.050" in rows[0][4] and rows[0][5] == "--"
    assert rows[2][2] == "0.280" and "-0.030" in rows[2][4]  # its own naive student and comparison
    # edl trains no naive student: the main run's naive one, paired on the utterance counts
    boot = bootstrap_weights(n, 200, 0)
    c = lambda data, k: decode_counts(data["utterance_counts"]["0"][k])  # noqa: E731
    expected = paired_bootstrap_delta(c(main, "multi"), c(edl, "bayes-edl"), boot)["slu_f1"]
    assert rows[1][1] == "0.300" and f"{expected['delta']:+.3f}" in rows[1][4]
    versus_main = paired_bootstrap_delta(c(main, "bayes"), c(edl, "bayes-edl"), boot)["slu_f1"]
    assert f"{versus_main['delta']:+.3f}" in rows[1][5]
    # runs made before a default changed: paired with the main run only where they differ in their own settings
    main["config"].update(piece_split="live", weight_pooling="per_target")
    old = run(None, 0.27)
    old["config"].update(piece_split="strong", kl_clamp_order="raw")  # no weight_pooling yet: per token
    earlier = run(0.36, 0.26)
    earlier["config"].update(piece_split="strong")
    rows = ablation_rows(main, {"old_clamp": old, "earlier": earlier})
    assert rows[1][0].startswith("the earlier defaults") and "not paired" not in rows[1][0]
    assert rows[1][5] != "--" and rows[1][1] == "0.360"
    assert rows[2][0].endswith(r"(also piece\_split base, weight\_pooling tokens: not paired with the main run)")
    assert rows[2][1] == "--" and rows[2][4] == "--" and rows[2][5] == "--"
