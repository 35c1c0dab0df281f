"""SLURP slot filling as text generation: loader, annotation parser, seeded splits, canonical serialisation.

SLURP (Bastianelli et al. 2020, EMNLP) annotates each utterance inline, e.g.
``"wake me up at [time : five am] [date : this week]"``. The task here is generation: from the utterance, produce
the list of slot:value pairs, serialised canonically as compact JSON, sorted, so that exact match is well
defined: ``[{"date":"this week"},{"time":"five am"}]``.

Offline only the official devel and test files exist (2,033 + 2,974 = 5,007 utterances). The default splits,
as in Bayesian WeakS-to-Strong (Cui et al. 2024, §5: 2k weak-train / 2k w2s-train), draw 2,000 weak-train and
2,000 w2s-train utterances from their union with a seeded permutation and keep the rest as test; official split
files are used instead when the user supplies them.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from weakstrong.config import ConfigError

from .files import read_lines, read_text

# The fixed prompt template: utterance -> JSON list of {slot: value}. The target follows the prompt directly.
PROMPT_TEMPLATE = "utterance: {sentence}\nslots: "

_SPAN = re.compile(r"\[([^\[\]]*)\]")

Slot = tuple[str, str]
# The fields every row of an official SLURP file has; a file without them is not a SLURP file.
SLURP_FIELDS = ("slurp_id", "sentence", "sentence_annotation")


@dataclass(frozen=True)
class SlurpExample:
    """One utterance with its gold slots (sorted (slot, value) pairs)."""

    slurp_id: int
    sentence: str
    slots: tuple[Slot, ...]
    intent: str = ""

    @property
    def prompt(self) -> str:
        return format_prompt(self.sentence)

    @property
    def target(self) -> str:
        return serialise_slots(self.slots)


@dataclass(frozen=True)
class SlurpSplits:
    """The three disjoint splits of the weak-to-strong protocol, plus how they were made."""

    weak_train: list[SlurpExample]
    w2s_train: list[SlurpExample]
    test: list[SlurpExample]
    source: str  # "seeded" or "official"
    seed: int | None = None

    def sizes(self) -> dict[str, int]:
        return {"n_weak_train": len(self.weak_train), "n_w2s_train": len(self.w2s_train),
                "n_test": len(self.test)}


def format_prompt(sentence: str) -> str:
    """The generation prompt for one utterance."""
    return PROMPT_TEMPLATE.format(sentence=" ".join(sentence.split()))


def parse_annotation(annotation: str) -> tuple[Slot, ...]:
    """Slots of a SLURP ``sentence_annotation``: every ``[slot : value]`` span, in order.

    Parameters
    ----------
    annotation : the annotated sentence, spans written ``[type : filler]``.

    Returns
    -------
    tuple of (slot, value) pairs, whitespace-normalised, in order of appearance.

    Raises
    ------
    ValueError : unbalanced or nested brackets, a span without ``:``, or an empty slot name or value.
    """
    if not isinstance(annotation, str):
        raise ValueError(f"annotation must be a string, got {type(annotation).__name__}")
    # Brackets outside well-formed spans mean the annotation is malformed (nested or unclosed span).
    if _SPAN.sub("", annotation).count("[") or _SPAN.sub("", annotation).count("]"):
        raise ValueError(f"annotation has unbalanced or nested brackets: {annotation!r}")
    slots = []
    for body in _SPAN.findall(annotation):
        slot, sep, value = body.partition(":")
        slot, value = slot.strip(), " ".join(value.split())
        if not sep or not slot or not value:
            raise ValueError(f"annotation span must read '[slot : value]' with both parts non-empty, "
                             f"got [{body}] in {annotation!r}")
        slots.append((slot, value))
    return tuple(slots)


def canonical_slots(slots: Iterable[Slot]) -> tuple[Slot, ...]:
    """Sorted (slot, value) pairs: the canonical order, so two equal slot multisets serialise identically."""
    return tuple(sorted((str(s), str(v)) for s, v in slots))


def serialise_slots(slots: Iterable[Slot]) -> str:
    """Canonical compact JSON: a sorted list of one-key objects, e.g. ``[{"date":"today"}]``; ``[]`` if none."""
    items = [{s: v} for s, v in canonical_slots(slots)]
    return json.dumps(items, separators=(",", ":"), ensure_ascii=False)


def parse_slots(text: str) -> tuple[tuple[Slot, ...], bool]:
    """Parse a generated slot list; never raises.

    Returns
    -------
    (slots, ok) : the canonical slots and whether the text was a well-formed list of one-key string objects.
    Anything else (truncated JSON, wrong types, empty output) gives ``((), False)``: an unparseable generation
    counts as an empty prediction, so it costs recall and exact match instead of crashing a run. Text after the
    closing bracket of the first JSON value is ignored (generation may run on past the end of the list).
    """
    if not isinstance(text, str):
        return (), False
    try:
        value, _ = json.JSONDecoder().raw_decode(text.lstrip())
    except (json.JSONDecodeError, ValueError):
        return (), False
    if not isinstance(value, list):
        return (), False
    slots = []
    for item in value:
        if not (isinstance(item, dict) and len(item) == 1):
            return (), False
        (slot, val), = item.items()
        if not (isinstance(slot, str) and isinstance(val, str)) or not slot.strip():
            return (), False
        slots.append((slot.strip(), " ".join(val.split())))
    return canonical_slots(slots), True


def read_slurp_jsonl(path: str | Path) -> tuple[list[SlurpExample], int]:
    """Read an official SLURP jsonl(.gz) file.

    Returns
    -------
    (examples, n_malformed) : rows whose annotation does not parse (or whose sentence is empty) are skipped
    and counted, so a few damaged annotations degrade the data set instead of stopping the run.

    Raises
    ------
    ConfigError : naming the file, when it is missing, damaged (truncated or non-gzip ``.gz``, not UTF-8),
        has a line that is not a JSON object with ``slurp_id``, ``sentence`` and ``sentence_annotation`` (not
        a SLURP file), or has no usable row at all.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"SLURP file not found: {path}")
    examples, n_malformed = [], 0
    for number, line in enumerate(read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise ConfigError(f"{path}: line {number} is not valid JSON; expected SLURP's jsonl rows") from None
        missing = [k for k in SLURP_FIELDS if not isinstance(row, dict) or k not in row]
        if missing:
            raise ConfigError(f"{path}: line {number} lacks {missing}; expected SLURP rows with fields "
                              f"{list(SLURP_FIELDS)}")
        try:
            slurp_id = int(row["slurp_id"])
        except (TypeError, ValueError):
            raise ConfigError(f"{path}: line {number}: slurp_id must be an integer, got "
                              f"{row['slurp_id']!r}") from None
        try:
            slots = parse_annotation(row["sentence_annotation"])
            sentence = " ".join(str(row["sentence"]).split())
            if not sentence:
                raise ValueError("empty sentence")
        except ValueError:
            n_malformed += 1
            continue
        examples.append(SlurpExample(slurp_id, sentence, canonical_slots(slots), str(row.get("intent", ""))))
    if not examples:
        raise ConfigError(f"{path}: no usable SLURP rows ({n_malformed} malformed annotations)")
    return examples, n_malformed


def _find(data_dir: Path, stem: str) -> Path:
    for name in (f"{stem}.jsonl.gz", f"{stem}.jsonl"):
        if (data_dir / name).exists():
            return data_dir / name
    raise ConfigError(f"data_dir {data_dir} has no {stem}.jsonl(.gz); expected SLURP's official files")


def load_slurp(data_dir: str | Path, seed: int = 0, n_weak_train: int = 2000, n_w2s_train: int = 2000,
               official: dict[str, str | Path] | None = None) -> tuple[SlurpSplits, int]:
    """Load SLURP and split it for weak-to-strong.

    Parameters
    ----------
    data_dir : folder with ``devel.jsonl(.gz)`` and ``test.jsonl(.gz)`` (the offline default), or a data root
        holding them under ``slurp/``.
    seed : seed of the permutation of devel + test (ignored with ``official``).
    n_weak_train, n_w2s_train : split sizes; the rest of the 5,007 utterances is the test set.
    official : optional ``{"weak_train": path, "w2s_train": path, "test": path}`` of official split files.

    Returns
    -------
    (splits, n_malformed)
    """
    if official is not None:
        missing = {"weak_train", "w2s_train", "test"} - set(official)
        if missing:
            raise ConfigError(f"official must name files for weak_train, w2s_train and test; missing {missing}")
        parts, bad = {}, 0
        for key in ("weak_train", "w2s_train", "test"):
            parts[key], n = read_slurp_jsonl(official[key])
            bad += n
        return SlurpSplits(parts["weak_train"], parts["w2s_train"], parts["test"], "official"), bad
    data_dir = Path(data_dir)
    if not any((data_dir / f"devel.jsonl{ext}").exists() for ext in (".gz", "")) and (data_dir / "slurp").is_dir():
        data_dir = data_dir / "slurp"  # the shared data root was given
    devel, bad_d = read_slurp_jsonl(_find(data_dir, "devel"))
    test, bad_t = read_slurp_jsonl(_find(data_dir, "test"))
    pool = devel + test
    if n_weak_train < 1 or n_w2s_train < 1 or n_weak_train + n_w2s_train >= len(pool):
        raise ConfigError(f"n_weak_train + n_w2s_train must be positive and below the {len(pool)} utterances, "
                          f"got {n_weak_train} + {n_w2s_train}")
    order = list(range(len(pool)))
    random.Random(seed).shuffle(order)
    pick = [pool[i] for i in order]
    a, b = n_weak_train, n_weak_train + n_w2s_train
    return SlurpSplits(pick[:a], pick[a:b], pick[b:], "seeded", seed), bad_d + bad_t


def subsample(examples: Sequence[SlurpExample], n: int | None) -> list[SlurpExample]:
    """The first ``n`` examples (splits are already shuffled), or all of them when ``n`` is None."""
    return list(examples) if n is None else list(examples[:n])


def read_lm_text(data_dir: str | Path) -> list[str]:
    """SLURP's language-model text (``lm.txt(.gz)``, unlabelled utterances), one line per utterance.

    ``ConfigError`` naming the file when it is missing, damaged or empty.
    """
    data_dir = Path(data_dir)
    for name in ("lm.txt.gz", "lm.txt"):
        if (data_dir / name).exists():
            return read_lines(data_dir / name)
    raise ConfigError(f"data_dir {data_dir} has no lm.txt(.gz)")
