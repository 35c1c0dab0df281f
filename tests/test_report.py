"""`weakstrong report`: docs generated from results/, and --check failing when a results file changes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from weakstrong.cli import main
from weakstrong.figures.registry import FigureContext
from weakstrong.figures.report import check_docs, write_docs
from weakstrong.figures.tables import Table, latex_to_text

RESULTS = Path(__file__).parents[1] / "results"


def test_latex_cells_become_plain_markdown():
    assert latex_to_text(r"$+0.012$ [$-0.003$, $+0.020$]") == "+0.012 [-0.003, +0.020]"
    assert latex_to_text(r"$R^2$") == "R²" and latex_to_text("--") == "–"
    assert latex_to_text(r"\texttt{a/\allowbreak{}b -{}-x}") == "`a/b --x`"
    assert latex_to_text(r"$|\mathrm{gain}| \le 2\sqrt{\varepsilon}$") == r"\|gain\| ≤ 2√(ε)"
    assert latex_to_text(r"\begin{tabular}[b]{@{}c@{}}weak \\ err.\end{tabular}") == "weak err."
    md = Table(columns=["a", "$R^2$"], rows=[["x\\_y", "0.500"]], caption="c", label="t",
               sources=["results/x.json"]).to_markdown()
    assert md.splitlines()[2:5] == ["| a | R² |", "|---|---:|", "| x_y | 0.500 |"]
    assert "Data: `results/x.json`" in md


def test_docs_follow_the_results_and_check_catches_an_edit(tmp_path, capsys):
    results = tmp_path / "results"
    for name in ("regression", "ladder", "charikar_protocol_seeds"):
        if (RESULTS / name).is_dir():
            shutil.copytree(RESULTS / name, results / name, ignore=shutil.ignore_patterns("seed*"))
    if not (results / "regression" / "results.json").is_file():
        pytest.skip("results/regression/results.json not committed")
    ctx = FigureContext(results_dir=results)
    docs = tmp_path / "docs"
    paths = write_docs(ctx, docs)
    assert sorted(p.name for p in paths) == ["guide.md", "limitations.md", "performance.md", "results.md"]
    assert check_docs(ctx, docs) == []
    text = (docs / "results.md").read_text()
    data = json.loads((results / "regression" / "results.json").read_text())
    eps = data["datasets"]["freesolv"]["by_strong"]["rdkit-desc"]["mean_epsilon"]
    assert f"{eps:.3f}" in text and "weakstrong llm regression-study" in text
    assert "Pending" in text  # no simulator seed summary in this copy: said, not invented
    # Edit one number of the results: the check names the doc that no longer matches.
    data["datasets"]["freesolv"]["by_strong"]["rdkit-desc"]["mean_epsilon"] = eps + 0.5
    (results / "regression" / "results.json").write_text(json.dumps(data))
    diffs = check_docs(ctx, docs)
    assert len(diffs) == 1 and "results.md" in diffs[0] and f"{eps + 0.5:.3f}" in diffs[0]
    assert main(["report", "--check", "--out-dir", str(docs), "--results-dir", str(results)]) == 1
    assert main(["report", "--out-dir", str(docs), "--results-dir", str(results)]) == 0
    assert main(["report", "--check", "--out-dir", str(docs), "--results-dir", str(results)]) == 0
    assert main(["report", "--results-dir", str(tmp_path / "missing")]) == 2
    assert "--results-dir" in capsys.readouterr().err


def test_limitations_say_which_slurp_seeds_and_dpo_are_missing(tmp_path):
    from weakstrong.figures.report import limitations_md

    run = {"non_degenerate": {"ok": True}}
    data = {"strong_seeds": [0], "seeds": {"0": run}, "config": {"dpo": True, "dpo_on": "bayes"}}
    path = tmp_path / "slurp_real" / "results.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(data))
    text = limitations_md(FigureContext(results_dir=tmp_path))
    assert "seeds [1, 2] of the protocol's [0, 1, 2] not run yet; DPO: on bayes" in text
    assert "ablation table (`make slurp-ablations`, seed 0): not run yet: edl, even," in text
    (path.parent / "ablation-edl.json").write_text("{}")
    text = limitations_md(FigureContext(results_dir=tmp_path))
    assert "committed: edl; not run yet: even," in text
    data.update(strong_seeds=[0, 1, 2], seeds={s: run for s in "012"}, config={"dpo": False})
    path.write_text(json.dumps(data))
    text = limitations_md(FigureContext(results_dir=tmp_path))
    assert "not run yet;" not in text and "DPO: not run; non-degenerate at every seed: True." in text
    assert "earlier defaults" in text and "fixed split" not in text and "weights per token" in text
    data.update(config={"dpo": False, "piece_split": "live", "weight_pooling": "per_target"})  # the reference's
    path.write_text(json.dumps(data))
    assert "earlier defaults" not in limitations_md(FigureContext(results_dir=tmp_path))
    for fixed in ("strong", "base"):  # "strong": the base split's name in earlier runs
        data.update(config={"dpo": False, "piece_split": fixed, "weight_pooling": "per_target"})
        path.write_text(json.dumps(data))
        text = limitations_md(FigureContext(results_dir=tmp_path))
        assert "earlier defaults that are ablations now: the word bridge's fixed split" in text
        assert "weights per token" not in text
    data.update(config={"dpo": False})
    data.update(same_weak_models=False, weak_slu_f1_by_run={"a/seed0.json": [0.3, 0.1], "b/seed1.json": [0.31, 0.1]})
    path.write_text(json.dumps(data))
    text = limitations_md(FigureContext(results_dir=tmp_path))
    assert "trained their weak models apart (weak SLU-F1 by run: seed0.json 0.300, 0.100; seed1.json 0.310" in text


def test_slurp_stage_costs_group_every_stage_and_sum_to_the_total():
    from weakstrong.figures.report import SLURP_STAGE_GROUPS, slurp_cpu_hours, slurp_stage_group

    assert slurp_stage_group("weak/0/w2s_nbest") == "weak models"
    assert slurp_stage_group("seed1/ceiling/model") == "ceiling"
    assert slurp_stage_group("seed2/students/bayes@ab12cd34+dpo/model") == "DPO"
    assert slurp_stage_group("students/bayes@ab12cd34/dpo_pairs") == "DPO"
    assert slurp_stage_group("students/multi@ab12cd34/gold_dirichlet_logprob") == "students"
    assert slurp_stage_group("joint/targets@0011aabb") == "targets and confidences"
    assert slurp_stage_group("strong/max_probs/1") == "targets and confidences"
    hours = slurp_cpu_hours({"cpu_seconds": {"weak/0/model": 3600.0, "students/multi@x/model": 1800.0,
                                             "seed1/students/bayes@x+dpo/test": 900.0}})
    assert list(hours) == [*SLURP_STAGE_GROUPS, "total"]
    assert hours["weak models"] == 1.0 and hours["students"] == 0.5 and hours["DPO"] == 0.25
    assert hours["total"] == 1.75 and hours["ceiling"] == 0.0


def test_matmul_share_is_against_the_faster_precision():
    from weakstrong.figures.report import matmul_share

    avx2 = {"matmul": {"bf16_gflops_per_cpu_s": 1.0, "fp32_gflops_per_cpu_s": 80.0},
            "strong_finetune": {"gflops_per_cpu_s": 40.0}}
    assert matmul_share(avx2) == 0.5  # not 40x the bf16 rate
    amx = {"matmul": {"bf16_gflops_per_cpu_s": 1600.0, "fp32_gflops_per_cpu_s": 200.0},
           "strong_finetune": {"gflops_per_cpu_s": 160.0}}
    assert matmul_share(amx) == 0.1 and matmul_share({}) is None
