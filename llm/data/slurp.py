"""SLURP slot filling as text generation: loader, annotation parser, seeded splits, canonical serialisation.

SLURP (Bastianelli et al. 2020, EMNLP) annotates each utterance inline, e.g.
``"wake me up at [time : five am] [date : this week]"``. The task here is generation: from the utterance, produce
the list of slot: value pairs, serialised canonically (sorted, so that exact match is well defined) as one line
that follows the prompt ``"utterance: <sentence>\nslots:"``::

    " date: this week; time: five am"        (no slot: " none")

Every value keeps its leading space, as every word of the utterance has one: a byte-level BPE then spells the
value with the same pieces in the target as in the utterance (``Ġlady``, not ``l``, ``ad``, ``y`` as after a
quote in JSON), so copying a span is copying tokens, and the word bridge sees the same words on both sides.

Offline only the official devel and test files exist (2,033 + 2,974 utterances). The default splits follow
Bayesian WeakS-to-Strong (Cui et al. 2024, §5: weak-train and w2s-train disjoint, the official test split for
evaluation) within what is available: devel is permuted with the seed and cut into disjoint weak-train and
w2s-train halves (1,000 each by default); the test split is the official one, in a fixed shuffled order (the
same for every seed, so runs of different seeds are scored on the same utterances), of which the experiment
evaluates the first ``n_test``. Official split files are used instead when the user supplies them.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from weakstrong.config import ConfigError
from weakstrong.llm.data.files import read_lines, read_text

# The fixed prompt template. The target follows it directly and starts with a space (see the module docstring).
PROMPT_TEMPLATE = "utterance: {sentence}\nslots:"
# Target syntax: pairs joined by PAIR_SEP, each "slot" KEY_SEP " value"; NONE when there is no slot.
PAIR_SEP, KEY_SEP, NONE = ";", ":", "none"
# The order of the official test split: one fixed permutation, whatever the run's seed.
TEST_ORDER_SEED = 0

_SPAN = re.compile(r"\[([^\[\]]*)\]")
_SLOT_NAME = re.compile(r"^[\w.-]+$")  # slot types are identifiers (SLURP: date, place_name, ...)

Slot = tuple[str, str]
# The fields every row of an official SLURP file has; a file without them is not a SLURP file.
SLURP_FIELDS = ("slurp_id", "sentence", "sentence_annotation")
MAX_MALFORMED_FRACTION = 0.05  # past this share of malformed rows a file is refused, not silently thinned


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
        if not _SLOT_NAME.match(slot) or PAIR_SEP in value:
            raise ValueError(f"annotation span [{body}] needs an identifier as slot name and a value without "
                             f"'{PAIR_SEP}' (the target syntax reserves it), in {annotation!r}")
        slots.append((slot, value))
    return tuple(slots)


def canonical_slots(slots: Iterable[Slot]) -> tuple[Slot, ...]:
    """Sorted (slot, value) pairs: the canonical order, so two equal slot multisets serialise identically."""
    return tuple(sorted((str(s), str(v)) for s, v in slots))


def serialise_slots(slots: Iterable[Slot]) -> str:
    """The canonical target: ``" date: today; time: five am"`` (sorted pairs, each value after a space),
    ``" none"`` if there is no slot."""
    pairs = [f" {s}{KEY_SEP} {v}" for s, v in canonical_slots(slots)]
    return PAIR_SEP.join(pairs) if pairs else f" {NONE}"


def parse_slots(text: str) -> tuple[tuple[Slot, ...], bool]:
    """Parse a generated slot list; never raises.

    Only the first line counts (generation may run on past the end of the list). ``none`` is the empty list.

    Returns
    -------
    (slots, ok) : the canonical slots of every well-formed ``slot: value`` pair, and whether the whole line was
    well formed. A malformed line (empty, a pair without ``:``, a slot name that is not an identifier, an empty
    value) keeps its well-formed pairs and has ``ok`` False: it costs what it lacks in recall and precision,
    and it is never an exact match.
    """
    if not isinstance(text, str):
        return (), False
    line = text.strip().split("\n", 1)[0].strip()
    if line == NONE:
        return (), True
    slots, ok = [], bool(line)
    for part in line.split(PAIR_SEP):
        slot, sep, value = part.partition(KEY_SEP)
        slot, value = slot.strip(), " ".join(value.split())
        if not sep or not _SLOT_NAME.match(slot) or not value:
            ok = False
            continue
        slots.append((slot, value))
    return canonical_slots(slots), ok


def as_target(generation: str) -> str:
    """A model's generation as a training target: the canonical form of its slots when it is well formed (so
    candidates that differ only in order or spacing are one), else its first line with a single leading space
    (``" none"`` for an empty generation, so a student is never trained to stop before saying anything).
    """
    slots, ok = parse_slots(generation)
    if ok:
        return serialise_slots(slots)
    line = " ".join(str(generation).strip().split("\n", 1)[0].split())
    return f" {line}" if line else f" {NONE}"


def read_slurp_jsonl(path: str | Path) -> tuple[list[SlurpExample], int]:
    """Read an official SLURP jsonl(.gz) file.

    Returns
    -------
    (examples, n_malformed) : rows whose annotation does not parse (or whose sentence is null or empty) are
    skipped and counted, so a few damaged annotations degrade the data set instead of stopping the run; more
    than :data:`MAX_MALFORMED_FRACTION` of them is an error naming the file and the first bad lines.

    Raises
    ------
    ConfigError : naming the file, when it is missing, damaged (truncated or non-gzip ``.gz``, not UTF-8),
        has a line that is not a JSON object with ``slurp_id``, ``sentence`` and ``sentence_annotation`` (not
        a SLURP file), or has no usable row at all.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"SLURP file not found: {path}")
    examples, n_malformed, bad_lines = [], 0, []
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
            if not isinstance(row["sentence"], str) or not isinstance(row["sentence_annotation"], str):
                raise ValueError("sentence and sentence_annotation must be strings")  # null would become "None"
            slots = parse_annotation(row["sentence_annotation"])
            sentence = " ".join(row["sentence"].split())
            if not sentence:
                raise ValueError("empty sentence")
        except ValueError:
            n_malformed += 1
            bad_lines.append(number)
            continue
        examples.append(SlurpExample(slurp_id, sentence, canonical_slots(slots), str(row.get("intent", ""))))
    total = len(examples) + n_malformed
    if not examples:
        raise ConfigError(f"{path}: no usable SLURP rows ({n_malformed} malformed annotations)")
    if n_malformed > MAX_MALFORMED_FRACTION * total:
        raise ConfigError(f"{path}: {n_malformed} of {total} rows are malformed (null or empty sentence, or an "
                          f"annotation that does not parse; first at lines {bad_lines[:5]}), more than "
                          f"{MAX_MALFORMED_FRACTION:.0%}: is this SLURP's file?")
    return examples, n_malformed


def _find(data_dir: Path, stem: str) -> Path:
    for name in (f"{stem}.jsonl.gz", f"{stem}.jsonl"):
        if (data_dir / name).exists():
            return data_dir / name
    raise ConfigError(f"data_dir {data_dir} has no {stem}.jsonl(.gz); expected SLURP's official files")


def load_slurp(data_dir: str | Path, seed: int = 0, n_weak_train: int = 1000, n_w2s_train: int = 1000,
               official: dict[str, str | Path] | None = None) -> tuple[SlurpSplits, int]:
    """Load SLURP and split it for weak-to-strong (the protocol is in the module docstring).

    Parameters
    ----------
    data_dir : folder with ``devel.jsonl(.gz)`` and ``test.jsonl(.gz)`` (the offline default), or a data root
        holding them under ``slurp/``.
    seed : seed of the permutation of devel that cuts weak-train and w2s-train (ignored with ``official``).
    n_weak_train, n_w2s_train : sizes of the two disjoint devel parts; together at most the devel utterances.
    official : optional ``{"weak_train": path, "w2s_train": path, "test": path}`` of official split files.

    Returns
    -------
    (splits, n_malformed) : the test split is the whole official test file in its fixed shuffled order.
    """
    if official is not None:
        missing = {"weak_train", "w2s_train", "test"} - set(official)
        if missing:
            raise ConfigError(f"official must name files for weak_train, w2s_train and test; missing {missing}")
        parts, bad = {}, 0
        for key in ("weak_train", "w2s_train", "test"):
            parts[key], n = read_slurp_jsonl(official[key])
            bad += n
        _check_disjoint(parts, official)
        return SlurpSplits(parts["weak_train"], parts["w2s_train"], parts["test"], "official"), bad
    data_dir = Path(data_dir)
    if not any((data_dir / f"devel.jsonl{ext}").exists() for ext in (".gz", "")) and (data_dir / "slurp").is_dir():
        data_dir = data_dir / "slurp"  # the shared data root was given
    devel, bad_d = read_slurp_jsonl(_find(data_dir, "devel"))
    test, bad_t = read_slurp_jsonl(_find(data_dir, "test"))
    if n_weak_train < 1 or n_w2s_train < 1 or n_weak_train + n_w2s_train > len(devel):
        raise ConfigError(f"n_weak_train + n_w2s_train (--n-weak-train, --n-w2s-train) must be positive and at "
                          f"most the {len(devel)} devel utterances they are cut from, got "
                          f"{n_weak_train} + {n_w2s_train}")
    order = list(range(len(devel)))
    random.Random(seed).shuffle(order)
    a, b = n_weak_train, n_weak_train + n_w2s_train
    test_order = list(range(len(test)))
    random.Random(TEST_ORDER_SEED).shuffle(test_order)
    parts = {"weak_train": [devel[i] for i in order[:a]], "w2s_train": [devel[i] for i in order[a:b]],
             "test": [test[i] for i in test_order]}
    _check_disjoint(parts, {"weak_train": _find(data_dir, "devel"), "w2s_train": _find(data_dir, "devel"),
                            "test": _find(data_dir, "test")})
    return SlurpSplits(parts["weak_train"], parts["w2s_train"], parts["test"], "seeded-devel", seed), bad_d + bad_t


def _check_disjoint(parts: dict[str, list[SlurpExample]], files: dict) -> None:
    """No utterance (slurp_id) of the test split is in a training split: a test that saw its answers in training
    would measure memory, not generalisation."""
    test_ids = {e.slurp_id for e in parts["test"]}
    for key in ("weak_train", "w2s_train"):
        shared = sorted(test_ids & {e.slurp_id for e in parts[key]})
        if shared:
            raise ConfigError(f"the test split ({files['test']}) and {key} ({files[key]}) share {len(shared)} "
                              f"utterances (slurp_id {shared[:5]}...); the splits must be disjoint")


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
