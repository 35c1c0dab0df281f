"""Tests of the paper build: generated tables agree with their JSON, notices replace missing data, PDF builds.

The table test parses every number back out of the generated LaTeX and compares it with the value
recomputed from the records / summary it came from, at the printed precision.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from weakstrong.cli import main
from weakstrong.figures import fig_charikar, fig_sciq_methods, fig_slurp, paper, tables
from weakstrong.figures.registry import FigureContext, FigureOutcome, all_figures
from weakstrong.io import write_json
from weakstrong.sim import headline

try:  # the stand-in simulator and results live with the figure tests
    from test_figures import write_fake_llm_results
except ImportError:  # tests/ imported as a package
    from tests.test_figures import write_fake_llm_results

PAPER_SRC = Path(__file__).resolve().parents[1] / "paper"
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def _cells(tex: str) -> list[list[str]]:
    """The body rows of a generated booktabs table, split into cells."""
    body = tex.split(r"\midrule", 1)[1].split(r"\bottomrule", 1)[0]
    return [[c.strip() for c in line.rstrip("\\ ").split("&")] for line in body.strip().splitlines()]


def _parse(cell: str) -> float:
    sci = re.fullmatch(r"\$(-?[\d.]+)\\times 10\^\{(-?\d+)\}\$", cell)
    if sci:
        return float(sci.group(1)) * 10 ** int(sci.group(2))
    assert _NUMBER.match(cell), f"not a number: {cell!r}"
    return float(cell)


def _copy_paper(tmp_path: Path) -> Path:
    dest = tmp_path / "paper"
    shutil.copytree(PAPER_SRC, dest, ignore=shutil.ignore_patterns("build", "generated"))
    return dest


def test_fmt_and_escape():
    assert tables.fmt(None) == "--" and tables.fmt(float("nan")) == "--"
    assert tables.fmt(0.12345) == "0.123" and tables.fmt(7) == "7"
    assert _parse(tables.fmt(-3.2e-6)) == pytest.approx(-3.2e-6)
    assert tables.latex_escape("a_b & 50%") == r"a\_b \& 50\%"
    with pytest.raises(ValueError, match="rows"):
        tables.Table(columns=("a", "b"), rows=[["1"]], caption="", label="t")


def test_charikar_table_matches_its_json(tmp_path):
    """Every cell is the median over seeds of the mean over each run's records (computed here) or of the run's
    summary value; slope and R^2 also give their quartiles over seeds."""
    ctx = FigureContext(runs_dir=tmp_path / "runs", images_dir=tmp_path / "img", quick=True,
                        results_dir=tmp_path / "results")
    assert "Results pending" in fig_charikar.tables(ctx)["charikar_table"]
    found = fig_charikar.runs(ctx)
    summaries: dict = {}
    for (setting, seed), run in found.items():
        summaries.setdefault(setting, {})[seed] = run.summary
    write_json(ctx.results_dir / fig_charikar.SEEDS_SUMMARY, headline.summarise(summaries, fig_charikar.QUICK_TASKS))
    tex = fig_charikar.tables(ctx)["charikar_table"]
    rows = _cells(tex)
    assert [r[0] for r in rows] == ["realizable", "pretrained", "perturbed"]
    for row in rows:
        group = [run for (setting, _), run in found.items() if setting == row[0]]
        assert len(group) == fig_charikar.QUICK_SEEDS == int(row[1])

        def median(values):
            return float(np.median(values))

        def record_mean(name):
            return median([np.mean([getattr(r, name) for r in run.records]) for run in group])

        def summary(name):
            return median([run.summary[name] for run in group])

        expected = [record_mean("weak_error"), record_mean("w2s_error"), record_mean("strong_error"),
                    record_mean("misfit"), record_mean("gain"), "slope", "r2", summary("frac_theorem1_holds"),
                    summary("frac_theorem1_holds_in_sample"), summary("max_nonrealizable_violation"),
                    summary("max_nonrealizable_violation_in_sample")]
        assert len(row) == len(fig_charikar.TABLE_COLUMNS)
        for cell, value in zip(row[2:], expected):
            if isinstance(value, str):          # "median [q25, q75]"
                values = [run.summary[value] for run in group]
                numbers = [_parse(c) for c in re.fullmatch(r"(\S+) \[(\S+), (\S+)\]", cell).groups()]
                assert numbers == pytest.approx(list(np.percentile(values, [50, 25, 75])), abs=5.1e-4), cell
            else:
                assert _parse(cell) == pytest.approx(value, abs=5.1e-4), (row[0], cell, value)
    assert "charikar_seeds/summary.json" in tex


def test_llm_tables_match_their_json(tmp_path):
    paths = write_fake_llm_results(tmp_path / "results")
    ctx = FigureContext(results_dir=tmp_path / "results", images_dir=tmp_path / "img")
    sciq = json.loads(paths["sciq"].read_text())
    rows = _cells(fig_sciq_methods.tables(ctx)["sciq_table"])
    students = list(sciq["students"])
    for row, runs in zip(rows, zip(*(sciq["students"][s]["runs"] for s in students))):
        assert row[0] == tables.latex_escape(fig_sciq_methods.short_teacher(runs[0]["teacher"]))
        assert _parse(row[1]) == pytest.approx(runs[0]["teacher_test"]["accuracy"], abs=5.1e-4)
        for j, run in enumerate(runs):
            acc, pgr, ci = row[2 + 3 * j: 5 + 3 * j]
            assert _parse(acc) == pytest.approx(run["accuracy"], abs=5.1e-4)
            assert _parse(pgr) == pytest.approx(run["pgr"]["pgr"], abs=5.1e-4)
            lo, hi = (_parse(x.strip()) for x in ci.strip("[]").split(","))
            assert (lo, hi) == pytest.approx(tuple(run["pgr"]["ci"]), abs=5.1e-4)
    assert len(rows) == len(sciq["students"][students[0]]["runs"])
    slurp = json.loads(paths["slurp"].read_text())
    out = fig_slurp.tables(ctx)
    rows = _cells(out["slurp_table"])

    def number(x):  # a plain or signed ("$+0.012$") number
        signed = re.fullmatch(r"\$([+-][\d.]+)\$", x.strip())
        return _parse(signed.group(1).lstrip("+")) if signed else _parse(x.strip())

    def interval(cell):
        return [number(x) for x in cell.strip("[]").split(",")]

    expected = [(w["slu_f1"], w["ci"]["slu_f1"], w["exact_match"]) for w in slurp["weak"]]
    expected += [(slurp["ceiling"]["slu_f1"], slurp["ceiling"]["ci"]["slu_f1"], slurp["ceiling"]["exact_match"])]
    expected += [(s["slu_f1"], s["ci"]["slu_f1"], s["exact_match"], s["pgr_slu_f1"], s["pgr_slu_f1_ci"],
                  s["token_view"]["misfit"], s["token_view"]["gain"], s["token_view"]["ci"]["gain_minus_misfit"])
                 for s in slurp["strategies"].values()]
    assert len(rows) == len(expected)
    for row, values in zip(rows, expected):
        for cell, value in zip(row[1:], values):
            got = interval(cell) if isinstance(value, list) else _parse(cell)
            assert got == pytest.approx(value, abs=5.1e-4), (row, values)
    # the paired differences: bayes minus each other student, then each DPO step
    rows = _cells(out["slurp_deltas_table"])
    want = [d for d in slurp["comparison"].values()]
    want += [s["dpo_delta"] for s in slurp["strategies"].values() if "dpo_delta" in s]
    assert len(rows) == len(want) == 7
    for row, d in zip(rows, want):
        for cell, metric in zip(row[1:3], ("slu_f1", "exact_match")):
            point, ci = re.fullmatch(r"\$(\S+)\$ (\[.*\])", cell).groups()
            assert _parse(point.lstrip("+")) == pytest.approx(d[metric]["delta"], abs=5.1e-4)
            assert [_parse(x.strip().strip("$").lstrip("+")) for x in ci.strip("[]").split(",")] == pytest.approx(
                d[metric]["ci"], abs=5.1e-4)
        assert _parse(row[3]) == pytest.approx(d["slu_f1"]["p_not_better"], abs=5.1e-4)


def test_figure_snippet_includes_image_or_says_why(tmp_path):
    spec = all_figures()["charikar"]
    pdf = tmp_path / "img" / "charikar.pdf"
    snippet = paper.figure_snippet(spec, FigureOutcome("ok", images=[pdf]), tmp_path / "paper")
    assert r"\includegraphics" in snippet and "../img/charikar.pdf" in snippet and "fig:charikar" in snippet
    skipped = paper.figure_snippet(spec, FigureOutcome("skipped", message="not in this build"), tmp_path)
    assert r"\includegraphics" not in skipped and "not in this build" in skipped


def test_theory_statements_come_from_the_symbolic_export(monkeypatch):
    fake = types.ModuleType("weakstrong.theory.symbolic")
    fake.latex_statements = lambda: {"theorem_1": r"d(f_{sw}, f^\star) \le d(f_w, f^\star) - d(f_{sw}, f_w)"}
    monkeypatch.setitem(sys.modules, "weakstrong.theory.symbolic", fake)
    tex = paper.theory_statements_tex()
    assert r"d(f_{sw}, f^\star) \le" in tex and "Theorem 1" in tex
    fake.latex_statements = lambda: {}
    with pytest.raises(ValueError, match="non-empty"):
        paper.theory_statements_tex()


def test_paper_without_latexmk_names_the_install_command(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    code = main(["paper", "--paper-dir", str(_copy_paper(tmp_path)), "--images-dir", str(tmp_path / "img")])
    assert code == 2
    assert paper.INSTALL_COMMAND in capsys.readouterr().err


def test_generated_files_cover_every_input_of_the_sources(tmp_path):
    """Every ``\\input{generated/...}`` of main.tex and the sections is written, whatever each figure's status."""
    src = _copy_paper(tmp_path)
    ctx = FigureContext(runs_dir=tmp_path / "runs", images_dir=tmp_path / "img", results_dir=tmp_path / "results",
                        quick=True)
    # Outcomes without drawing: the generated LaTeX must not depend on which figures rendered.
    rows = [(spec, FigureOutcome("skipped", message="not drawn in this test")) for spec in all_figures().values()]
    paper.generate(ctx, rows, src / "generated")
    inputs = set()
    for tex in [src / "main.tex", *src.glob("sections/*.tex"), *src.glob("generated/*.tex")]:
        inputs |= set(re.findall(r"\\input\{generated/([^}]+)\}", tex.read_text()))
    missing = [name for name in inputs if not (src / "generated" / f"{name}.tex").is_file()]
    assert inputs and not missing
    assert {f"fig_{name}" for name in all_figures()} <= inputs


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("latexmk") is None, reason="LaTeX toolchain (latexmk) not installed")
def test_paper_builds_to_pdf(tmp_path):
    """The paper builds with the committed results' tables, every one of them inside the text width."""
    src = _copy_paper(tmp_path)
    committed = Path(__file__).parents[1] / "results"
    assert main(["paper", "--quick", "--only", "charikar", "--paper-dir", str(src), "--out-dir", str(tmp_path / "runs"),
                 "--images-dir", str(tmp_path / "img"), "--results-dir", str(committed)]) == 0
    pdf = src / "build" / "main.pdf"
    assert pdf.is_file() and pdf.read_bytes().startswith(b"%PDF")
    log = (src / "build" / "main.log").read_text(errors="replace")
    assert "LaTeX Warning: Reference" not in log, "an undefined \\ref in the paper"
    assert "Overfull \\hbox" not in log, "a line or table runs past the text width"


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text.replace(r"\left", "").replace(r"\right", ""):
        depth += (ch in "{([") - (ch in "})]")
        if depth < 0:
            return False
    return depth == 0


def test_long_statements_break_only_between_top_level_terms():
    terms = [rf"\left(a_{{{i}}} + b_{{{i}}}\right)^{{2}}" for i in range(30)]
    latex = r"d\left(f, g\right) \leq " + " + ".join(terms)
    lines = paper.split_statement(latex, width=40)
    assert len(lines) > 1
    assert " ".join(lines).split() == latex.split(), "breaking must not change the statement"
    assert all(_balanced(line) for line in lines)
    assert all(paper.visual_length(line) <= 40 for line in lines[1:-1])
    assert paper.split_statement("x = y") == ["x = y"]


def test_exported_theory_statements_typeset(monkeypatch):
    symbolic = pytest.importorskip("weakstrong.theory.symbolic")
    statements = symbolic.statement_latex()
    tex = paper.theory_statements_tex()
    for name, latex in statements.items():
        lines = paper.split_statement(latex)
        assert all(_balanced(line) for line in lines), name
        assert all(line in tex for line in lines), name


def test_theory_check_table_matches_its_json(tmp_path):
    ctx = FigureContext(runs_dir=tmp_path / "runs", quick=True)
    tex = paper.theory_check_table(ctx)  # runs `weakstrong theory check` in-process, cached by its arguments
    path = next((tmp_path / "runs").glob("theory-check-*/check.json"))
    check = json.loads(path.read_text())
    rows = _cells(tex)
    assert len(rows) == len(check["statements"])
    for row, s in zip(rows, check["statements"]):
        assert row[0] == tables.latex_escape(s["statement"])
        assert int(row[2]) == s["instances"] == paper.QUICK_THEORY_INSTANCES
        assert _parse(row[3]) == pytest.approx(s["worst_relative"], rel=0.05, abs=5.1e-4)
        assert int(row[4]) == s["violations"]
    mtime = path.stat().st_mtime_ns
    paper.theory_check_table(ctx)
    assert path.stat().st_mtime_ns == mtime, "a finished check is reused"


def test_install_needs_root_and_says_the_command(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/apt-get" if name == "apt-get" else None)
    monkeypatch.setattr(paper.os, "geteuid", lambda: 1000)
    with pytest.raises(ValueError, match="sudo apt-get update && sudo " + re.escape(paper.INSTALL_COMMAND)):
        paper.install_toolchain()
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ValueError, match="apt-get"):
        paper.install_toolchain()
