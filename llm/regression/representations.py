"""Representations of a regression set's inputs: classic ones (RDKit descriptors and fingerprints of a molecule,
TF-IDF of a text) and frozen neural ones (any backbone of the offline ladder reading the SMILES or the text, as
MolBERT reads SMILES in the paper).

Every representation is an (n, d) float array over the whole data set, computed once and cached in the stage
cache under a key that names its inputs, its settings and :data:`FEATURES_VERSION` (bump it when the code that
computes a classic representation changes). Neural ones go through
:class:`~weakstrong.llm.models.features.FeatureExtractor`; the depths of one backbone share one forward pass
(:class:`~weakstrong.llm.models.features.DepthGroup`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from weakstrong.config import ConfigError
from weakstrong.io import config_hash
from weakstrong.stages import cached_array

FEATURES_VERSION = 1
# Eight physico-chemical descriptors a chemist would try first (RDKit names).
DESC8 = ("MolWt", "MolLogP", "TPSA", "NumHDonors", "NumHAcceptors", "NumRotatableBonds", "RingCount",
         "NumAromaticRings")
CLASSIC_MOLECULE = {
    "desc8": "8 RDKit descriptors (weight, logP, TPSA, H donors/acceptors, rotatable bonds, rings)",
    "maccs": "MACCS keys (167 bits)",
    "morgan1-64": "Morgan count fingerprint, radius 1, 64 hashed counts",
    "morgan2-2048": "Morgan count fingerprint, radius 2, 2048 hashed counts",
    "rdkit-desc": "every RDKit 2-D descriptor (~217)",
}
CLASSIC_TEXT = {"tfidf": "TF-IDF of words and bigrams (5000 terms, fitted on the data set's texts, no labels)"}
TEACHERS = {"calc": "FreeSolv's physics-based estimate (no training, no labels)"}


def is_classic(name: str) -> bool:
    return name in CLASSIC_MOLECULE or name in CLASSIC_TEXT


def kind(name: str) -> str:
    """"teacher" (no representation: a fixed predictor), "classic" or "neural"."""
    return "teacher" if name in TEACHERS else "classic" if is_classic(name) else "neural"


def describe(name: str) -> str:
    return {**CLASSIC_MOLECULE, **CLASSIC_TEXT, **TEACHERS}.get(name, f"frozen {name} (pooled hidden states)")


def _molecule_features(name: str, smiles: Sequence[str]) -> np.ndarray:
    from rdkit import Chem, RDLogger
    from rdkit.Chem import Descriptors, MACCSkeys, rdFingerprintGenerator

    RDLogger.DisableLog("rdApp.*")
    mols = [Chem.MolFromSmiles(s) for s in smiles]
    if any(m is None for m in mols):
        raise ValueError("every input must be a parsable SMILES (the readers drop the others)")
    if name in ("desc8", "rdkit-desc"):
        funcs = dict(Descriptors.descList)
        names = DESC8 if name == "desc8" else tuple(funcs)
        with np.errstate(all="ignore"):
            x = np.array([[funcs[d](m) for d in names] for m in mols], dtype=float)
        # A few descriptors overflow on odd molecules (e.g. Ipc); they carry no usable signal there.
        x[~np.isfinite(x)] = 0.0
        return np.clip(x, -1e6, 1e6)
    if name == "maccs":
        return np.array([list(MACCSkeys.GenMACCSKeys(m)) for m in mols], dtype=float)
    radius, size = {"morgan1-64": (1, 64), "morgan2-2048": (2, 2048)}[name]
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=size)
    return np.array([gen.GetCountFingerprintAsNumPy(m) for m in mols], dtype=float)


def _tfidf(texts: Sequence[str]) -> np.ndarray:
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(max_features=5000, ngram_range=(1, 2), sublinear_tf=True, min_df=2)
    return vec.fit_transform(list(texts)).toarray().astype(np.float32)


def classic_features(name: str, inputs: Sequence[str], cache_dir, log: dict | None = None) -> np.ndarray:
    """The classic representation ``name`` of every input, (n, d), cached."""
    if name not in CLASSIC_MOLECULE and name not in CLASSIC_TEXT:
        raise ConfigError(f"unknown classic representation {name!r}")
    key = {"representation": name, "inputs": config_hash(list(inputs), 16), "version": FEATURES_VERSION}
    if name in CLASSIC_MOLECULE:
        from rdkit import __version__ as rdkit_version

        key["rdkit"] = rdkit_version

    def compute():
        return {"x": _tfidf(inputs) if name in CLASSIC_TEXT else _molecule_features(name, inputs)}

    return cached_array(cache_dir, f"regression-{name}", key, compute, log)["x"]


def neural_features(names: Sequence[str], inputs: Sequence[str], what: str, device, dtype, batch_size: int,
                    max_length: int, cache_dir, log: dict | None = None) -> dict[str, np.ndarray]:
    """{name: (n, H) pooled features} of the neural representations ``names``, one pass per backbone."""
    from weakstrong.llm.models.features import DepthGroup, FeatureExtractor

    extractors = [FeatureExtractor(n, device, batch_size, max_length, cache_dir, log, dtype) for n in names]
    groups: dict[tuple, list] = {}
    for e in extractors:
        groups.setdefault(e.share_key(), []).append(e)
    out: dict[str, np.ndarray] = {}
    for members in groups.values():
        group = DepthGroup(members)
        out.update(group(list(inputs), None, what))
        group.release()
    return out


def check_neural(names: Sequence[str], max_length: int) -> None:
    """Each neural name resolves to a model, and ``max_length`` fits its positions (fails before any work)."""
    from weakstrong.llm.models.registry import check_length, resolve_model

    check_length("RegressionStudyConfig", "max_length", max_length, [resolve_model(n) for n in names])
