"""Classification tasks for weak-to-strong experiments: SciQ (binary), SST-2, IMDB (polarity and rating).

Every task becomes three disjoint, seeded splits (Burns et al. 2023 protocol): ``weak_train`` (the weak
supervisors learn from its gold labels), ``w2s_train`` (the weak models label it; the student never sees its
gold labels, the ceiling does) and ``test``.

Formats read (plain or ``.gz``) from ``--data-dir/<task>/``:
- SciQ: the official JSON list (question, correct_answer, distractor1-3, support); train.json -> the two
  training splits, test.json -> test. Burns' binary format: each question yields one (question, candidate)
  pair, the correct answer (label 1) or a random distractor (label 0), balanced exactly.
- SST-2: GLUE ``sentence<TAB>label`` with a header; train.tsv -> training splits, dev.tsv -> test.
- IMDB: JSON lines with text, label and rating (1-4 negative, 7-10 positive); train -> training, test -> test.
  ``target`` is the label for ``imdb`` and the rating mapped to [0, 1] for ``imdb-rating`` (a real regression
  target for the squared-loss theory).
Without a data directory the loaders fetch the same data from the HF hub with ``datasets`` and fail clearly
when that is impossible (offline, package missing).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from weakstrong.config import ConfigError
from weakstrong.llm.data.files import read_json_value, read_text

TASKS = ("sciq", "sst2", "imdb", "imdb-rating")
REGRESSION_TASKS = ("imdb-rating",)  # the target is a rating in [0, 1], not a class label
# Hub fallbacks for users with a network: (dataset id, config, train split, test split).
_HUB = {"sciq": ("allenai/sciq", None, "train", "test"), "sst2": ("nyu-mll/glue", "sst2", "train", "validation"),
        "imdb": ("stanfordnlp/imdb", None, "train", "test")}


@dataclass
class Split:
    """One split of a task.

    Attributes
    ----------
    text : (n,) input texts (the question for SciQ).
    pair : (n,) second segments (the candidate answer for SciQ), or None for single-text tasks.
    label : (n,) gold labels in {0, 1}.
    target : (n,) the value the models fit: the label, or the rating scaled to [0, 1] for ``imdb-rating``.
    uid : (n,) source identifiers (question / sentence / review); disjointness is checked on them.
    """

    text: list[str]
    label: np.ndarray
    target: np.ndarray
    uid: list[str]
    pair: list[str] | None = None

    def __len__(self) -> int:
        return len(self.text)

    def joined(self) -> list[str]:
        """One string per example ("Q: ... A: ..." for pairs), for bag-of-words and single-segment models."""
        if self.pair is None:
            return list(self.text)
        return [f"Q: {q} A: {a}" for q, a in zip(self.text, self.pair)]

    def subset(self, idx: np.ndarray) -> "Split":
        idx = np.asarray(idx, dtype=int)
        return Split([self.text[i] for i in idx], self.label[idx], self.target[idx], [self.uid[i] for i in idx],
                     None if self.pair is None else [self.pair[i] for i in idx])


@dataclass
class TaskData:
    """The three splits of a task and how they were made."""

    task: str
    weak_train: Split
    w2s_train: Split
    test: Split
    regression: bool = False
    info: dict = field(default_factory=dict)

    def sizes(self) -> dict[str, int]:
        return {"n_weak_train": len(self.weak_train), "n_w2s_train": len(self.w2s_train), "n_test": len(self.test)}


@dataclass
class SplitConfig:
    """Split sizes (None: the task default) and the seed that draws them."""

    n_weak_train: int | None = None
    n_w2s_train: int | None = None
    n_test: int | None = None
    seed: int = 0


MAX_EMPTY_FRACTION = 0.05  # past this share of empty texts in a split, the data file is refused

DEFAULT_SIZES = {"sciq": (5000, 5000, 1000), "sst2": (5000, 5000, 872), "imdb": (3000, 3000, 1000),
                 "imdb-rating": (3000, 3000, 1000)}


def _find(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise ConfigError(f"missing data file {folder / stem}[.gz]")


def _bad_row(path: Path, row: int, why: str) -> ConfigError:
    return ConfigError(f"{path}: malformed row {row}: {why}")


def _binary_label(value, path: Path, row: int) -> int:
    try:
        label = int(value)
    except (TypeError, ValueError):
        raise _bad_row(path, row, f"label {value!r} is not an integer") from None
    if label not in (0, 1) or str(value).strip() not in ("0", "1"):
        raise _bad_row(path, row, f"label must be 0 or 1 (binary task), got {value!r}")
    return label


def read_sciq(path: Path) -> list[dict]:
    """Rows of an official SciQ JSON file, checked for the fields the binary format needs."""
    rows = read_json_value(path)
    if not isinstance(rows, list) or not rows:
        raise ConfigError(f"{path}: expected a non-empty JSON list of questions")
    for i, r in enumerate(rows):
        for key in ("question", "correct_answer", "distractor1", "distractor2", "distractor3"):
            if not isinstance(r, dict) or not isinstance(r.get(key), str) or not r[key].strip():
                raise _bad_row(path, i, f"field {key!r} missing or empty")
    return rows


def sciq_binary(rows: list[dict], rng: np.random.Generator, source: str) -> Split:
    """Burns' binary SciQ: one (question, candidate) pair per question, exactly balanced labels."""
    labels = np.zeros(len(rows), dtype=int)
    labels[rng.permutation(len(rows))[: len(rows) // 2]] = 1
    answers = [r["correct_answer"] if y else r[f"distractor{rng.integers(1, 4)}"] for r, y in zip(rows, labels)]
    return Split([r["question"] for r in rows], labels, labels.astype(float),
                 [f"sciq:{r['question']}" for r in rows], answers)


def read_sst2(path: Path) -> Split:
    # Split on "\n" only: str.splitlines also breaks at unicode separators that occur inside texts.
    lines = read_text(path).rstrip("\n").split("\n")
    if not lines or lines[0].strip().split("\t") != ["sentence", "label"]:
        raise ConfigError(f"{path}: expected a header 'sentence<TAB>label'")
    text, labels = [], []
    for i, line in enumerate(lines[1:], start=1):
        parts = line.rstrip("\n").split("\t")
        if len(parts) != 2 or not parts[0].strip():
            raise _bad_row(path, i, "expected 'sentence<TAB>label'")
        text.append(parts[0].strip())
        labels.append(_binary_label(parts[1], path, i))
    if not text:
        raise ConfigError(f"{path}: no rows after the header")
    y = np.asarray(labels, dtype=int)
    return Split(text, y, y.astype(float), [f"sst2:{t}" for t in text])


def read_imdb(path: Path, rating_target: bool) -> Split:
    text, labels, ratings, uids = [], [], [], []
    for i, line in enumerate(read_text(path).split("\n")):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            raise _bad_row(path, i, "not valid JSON") from None
        if not isinstance(r, dict) or not isinstance(r.get("text"), str):
            raise _bad_row(path, i, "field 'text' missing")
        label = _binary_label(r.get("label"), path, i)
        rating = r.get("rating")
        if not isinstance(rating, int) or not 1 <= rating <= 10 or (rating >= 7) != bool(label):
            raise _bad_row(path, i, f"rating {rating!r} must be 1-4 (label 0) or 7-10 (label 1)")
        text.append(r["text"].replace("<br />", " "))
        labels.append(label)
        ratings.append(rating)
        uids.append(f"imdb:{r.get('id', path.name + str(i))}:{r['text'][:64]}")
    if not text:
        raise ConfigError(f"{path}: no reviews")
    y = np.asarray(labels, dtype=int)
    target = (np.asarray(ratings, dtype=float) - 1.0) / 9.0 if rating_target else y.astype(float)
    return Split(text, y, target, uids)


def _from_hub(task: str, rng: np.random.Generator) -> tuple[Split, Split]:
    dataset_id, config, train_name, test_name = _HUB["imdb" if task.startswith("imdb") else task]
    if task == "imdb-rating":
        raise ConfigError("task 'imdb-rating' needs --data-dir: the hub copy of IMDB has no ratings")
    try:
        import datasets

        ds = datasets.load_dataset(dataset_id, config)
    except Exception as exc:  # offline, package missing, hub error: all mean "give a data dir"
        raise ConfigError(f"cannot fetch {dataset_id!r} from the HF hub ({type(exc).__name__}: {exc}); "
                          f"pass --data-dir with the official files for task {task!r}") from exc
    out = []
    for name in (train_name, test_name):
        rows = list(ds[name])
        if task == "sciq":
            out.append(sciq_binary(rows, rng, name))
        else:
            key = "sentence" if task == "sst2" else "text"
            y = np.asarray([int(r["label"]) for r in rows])
            out.append(Split([r[key] for r in rows], y, y.astype(float), [f"{task}:{r[key]}" for r in rows]))
    return out[0], out[1]


def unique_pool(pool: Split, exclude: set[str] = frozenset()) -> Split:
    """Drop repeated source examples (keep the first) and those in ``exclude``, so splits cannot leak."""
    seen, keep = set(exclude), []
    for i, uid in enumerate(pool.uid):
        if uid not in seen:
            seen.add(uid)
            keep.append(i)
    return pool if len(keep) == len(pool) else pool.subset(np.asarray(keep))


def _draw(pool: Split, sizes: list[int], rng: np.random.Generator, what: str) -> list[Split]:
    if sum(sizes) > len(pool):
        raise ConfigError(f"{what}: requested {sizes} examples but only {len(pool)} are available")
    perm = rng.permutation(len(pool))
    cuts = np.cumsum([0] + sizes)
    return [pool.subset(perm[a:b]) for a, b in zip(cuts[:-1], cuts[1:])]


def check_disjoint(data: TaskData) -> None:
    """Raise :class:`ConfigError` if any source example appears in two splits (leakage in the user's files)."""
    names = ("weak_train", "w2s_train", "test")
    sets = {n: set(getattr(data, n).uid) for n in names}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            shared = sets[a] & sets[b]
            if shared:
                raise ConfigError(f"splits {a} and {b} overlap in {len(shared)} examples "
                                  f"(e.g. {sorted(shared)[0][:80]!r}): leakage across splits")


def load_task(task: str, data_dir: str | os.PathLike | None, config: SplitConfig | None = None) -> TaskData:
    """Load ``task`` and draw its seeded, disjoint splits.

    Parameters
    ----------
    task : one of :data:`TASKS`.
    data_dir : folder holding ``<task>/`` (e.g. ``../shared/data``), or None to fetch from the HF hub.
    config : split sizes and seed (defaults per task in :data:`DEFAULT_SIZES`).

    Raises
    ------
    ConfigError
        unknown task, missing or malformed file, non-binary label, sizes larger than the data, or overlap.
    """
    if task not in TASKS:
        raise ConfigError(f"task must be one of {TASKS}, got {task!r}")
    config = config or SplitConfig()
    defaults = DEFAULT_SIZES[task]
    sizes = [s if s is not None else d for s, d in zip((config.n_weak_train, config.n_w2s_train, config.n_test),
                                                        defaults)]
    if any(s < 1 for s in sizes):
        raise ConfigError(f"split sizes must be >= 1, got {sizes}")
    rng = np.random.default_rng(config.seed)
    if data_dir is None:
        train_pool, test_pool = _from_hub(task, rng)
    else:
        folder = Path(data_dir) / ("imdb" if task.startswith("imdb") else task)
        if not folder.is_dir():
            raise ConfigError(f"data dir {folder} does not exist (expected {task} files under --data-dir)")
        if task == "sciq":
            train_pool = sciq_binary(read_sciq(_find(folder, "train.json")), rng, "train")
            test_pool = sciq_binary(read_sciq(_find(folder, "test.json")), rng, "test")
        elif task == "sst2":
            train_pool, test_pool = read_sst2(_find(folder, "train.tsv")), read_sst2(_find(folder, "dev.tsv"))
        else:
            rating = task == "imdb-rating"
            train_pool = read_imdb(_find(folder, "train.jsonl"), rating)
            test_pool = read_imdb(_find(folder, "test.jsonl"), rating)
    # The official files repeat some sentences/questions, within train and across train and test.
    # Overlaps are removed from the training side, so the official test set stays whole.
    test_pool = unique_pool(test_pool)
    train_pool = unique_pool(train_pool, exclude=set(test_pool.uid))
    weak_train, w2s_train = _draw(train_pool, sizes[:2], rng, f"{task} training splits")
    (test,) = _draw(test_pool, sizes[2:], rng, f"{task} test split")
    data = TaskData(task, weak_train, w2s_train, test, regression=task in REGRESSION_TASKS,
                    info={"source": str(data_dir) if data_dir else "hf-hub", "seed": config.seed})
    check_disjoint(data)
    check_trainable(data, folder if data_dir is not None else "the hub copy")
    return data


def check_trainable(data: TaskData, source) -> None:
    """Every split has text, and a classification task's training splits hold both classes: a weak model fitted
    on one class, or on empty strings, would fail deep inside the solver or learn nothing."""
    for name in ("weak_train", "w2s_train", "test"):
        split = getattr(data, name)
        empty = sum(not str(t).strip() for t in split.text)
        if empty > MAX_EMPTY_FRACTION * len(split):
            raise ConfigError(f"{source}: {empty} of the {len(split)} {data.task} {name} texts are empty (more than "
                              f"{MAX_EMPTY_FRACTION:.0%}); the data file looks damaged")
        if not data.regression and name != "test" and len(np.unique(split.label)) < 2:
            raise ConfigError(f"{source}: the {data.task} {name} split holds only class {int(split.label[0])}; "
                              f"a classifier needs both classes (is the data file damaged, or the split tiny?)")
