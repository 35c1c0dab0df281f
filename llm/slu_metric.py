"""SLU-F1 (Bastianelli et al. 2020), span F1, slot precision/recall and exact match for slot filling.

SLU-F1, as defined with the SLURP release: a predicted (slot, value) pair whose slot type appears among the
still-unmatched gold pairs of the utterance is matched to the gold pair of that type with the lowest distance
d in [0, 1] (first one on ties) and contributes

    TP += 1,   FP += d,   FN += d,

a predicted pair of an unseen type contributes FP += 1 and every gold pair left unmatched FN += 1. Two
distances are used: the word-level one (word error rate: word edit distance / number of gold words) and the
char-level one (Levenshtein distance / length of the longer string). SLU-F1 is the micro F1 of the *summed*
counts of the two, i.e. it mediates between word-F1 and char-F1. An exact match gives d = 0 (a full TP);
a predicted value sharing nothing with the gold value still earns TP 1 against FP 1 and FN 1.

Unparseable generations arrive here as empty predictions: they cost recall (and exact match), never a crash.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Sequence

from .slurp import Slot, canonical_slots, parse_slots


def edit_distance(a: Sequence, b: Sequence) -> int:
    """Levenshtein distance between two sequences (unit-cost insert, delete, substitute)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def word_distance(gold: str, pred: str) -> float:
    """Word error rate of ``pred`` against ``gold``: word edits / gold words (1.0 for an empty gold vs words).

    As in the SLURP tool this is not clipped, so a prediction much longer than the gold can exceed 1.
    """
    g, p = gold.split(), pred.split()
    if not g:
        return 0.0 if not p else 1.0
    return edit_distance(g, p) / len(g)


def char_distance(gold: str, pred: str) -> float:
    """Normalised Levenshtein distance: char edits / length of the longer string (0 for two empty strings)."""
    longest = max(len(gold), len(pred))
    return edit_distance(gold, pred) / longest if longest else 0.0


def _soft_counts(gold: Sequence[Slot], pred: Sequence[Slot], distance) -> tuple[float, float, float]:
    """(TP, FP, FN) of one utterance under the distance-softened span matching described above."""
    remaining = list(gold)
    tp = fp = fn = 0.0
    for slot, value in pred:
        candidates = [(distance(gv, value), i) for i, (gs, gv) in enumerate(remaining) if gs == slot]
        if not candidates:
            fp += 1.0
            continue
        d, i = min(candidates)  # lowest distance, first index on ties
        tp, fp, fn = tp + 1.0, fp + d, fn + d
        remaining.pop(i)
    return tp, fp, fn + len(remaining)


def _exact_counts(gold: Sequence[Slot], pred: Sequence[Slot]) -> tuple[float, float, float]:
    """(TP, FP, FN) of exact (slot, value) matches, as multisets."""
    g, p = Counter(gold), Counter(pred)
    tp = sum((g & p).values())
    return float(tp), float(sum(p.values()) - tp), float(sum(g.values()) - tp)


def prf(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    """Precision, recall, F1 from counts; 0 where a denominator is 0 (as the SLURP tool does)."""
    precision = tp / (tp + fp) if tp + fp > 0 else 0.0
    recall = tp / (tp + fn) if tp + fn > 0 else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return precision, recall, f1


@dataclass
class SluScores:
    """Corpus-level scores (micro averages over all slots of all utterances)."""

    slu_f1: float
    word_f1: float
    char_f1: float
    span_f1: float
    slot_precision: float
    slot_recall: float
    exact_match: float
    n_examples: int
    n_parse_errors: int

    def to_dict(self) -> dict:
        return asdict(self)


def slu_scores(gold: Sequence[Sequence[Slot]], pred: Sequence[Sequence[Slot]],
               parse_ok: Sequence[bool] | None = None) -> SluScores:
    """Score predicted slot lists against gold slot lists.

    Parameters
    ----------
    gold, pred : one sequence of (slot, value) pairs per utterance, aligned.
    parse_ok : optional flags, False where the generation could not be parsed (its ``pred`` is then empty);
        such an utterance is never an exact match, and is counted in ``n_parse_errors``.

    Returns
    -------
    SluScores : SLU-F1, word-F1, char-F1 (distance-softened, see module docstring), span F1 with slot
    precision/recall (exact (slot, value) matches) and exact match of the canonical slot lists.
    """
    if len(gold) != len(pred):
        raise ValueError(f"gold and pred must be aligned, got {len(gold)} and {len(pred)} utterances")
    if parse_ok is not None and len(parse_ok) != len(gold):
        raise ValueError(f"parse_ok must have one flag per utterance ({len(gold)}), got {len(parse_ok)}")
    word = [0.0, 0.0, 0.0]
    char = [0.0, 0.0, 0.0]
    span = [0.0, 0.0, 0.0]
    exact = 0
    oks = [True] * len(gold) if parse_ok is None else list(parse_ok)
    for g, p, ok in zip(gold, pred, oks):
        g, p = canonical_slots(g), canonical_slots(p)
        for acc, counts in ((word, _soft_counts(g, p, word_distance)), (char, _soft_counts(g, p, char_distance)),
                            (span, _exact_counts(g, p))):
            for k in range(3):
                acc[k] += counts[k]
        exact += ok and g == p  # an unparseable generation never matches, even an empty gold list
    slu = [w + c for w, c in zip(word, char)]
    span_p, span_r, span_f = prf(*span)
    n = len(gold)
    return SluScores(
        slu_f1=prf(*slu)[2], word_f1=prf(*word)[2], char_f1=prf(*char)[2], span_f1=span_f,
        slot_precision=span_p, slot_recall=span_r, exact_match=exact / n if n else 0.0, n_examples=n,
        n_parse_errors=sum(not ok for ok in oks),
    )


def score_generations(gold: Sequence[Sequence[Slot]], generations: Sequence[str]) -> SluScores:
    """Parse raw generations (see :func:`weakstrong.llm.slurp.parse_slots`) and score them."""
    parsed = [parse_slots(text) for text in generations]
    return slu_scores(gold, [p for p, _ in parsed], [ok for _, ok in parsed])
