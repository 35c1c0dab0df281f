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

Malformed generations arrive here with only their well-formed pairs: they cost recall (and exact match), never a
crash. Every corpus metric is a function of per-utterance counts (:func:`utterance_counts`), so confidence
intervals come from resampling test utterances (:func:`bootstrap_ci`, :func:`bootstrap_pgr`,
:func:`paired_bootstrap_delta`); :func:`non_degeneracy` says whether a run's PGR means anything.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from weakstrong.theory.resampling import bootstrap_indices, percentile_interval

from weakstrong.llm.data.slurp import Slot, canonical_slots, parse_slots


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


# Columns of the per-utterance count matrix: soft word / char counts, exact span counts, and the exact-match flag.
COUNT_COLUMNS = ("word_tp", "word_fp", "word_fn", "char_tp", "char_fp", "char_fn", "span_tp", "span_fp", "span_fn",
                 "exact", "parse_error")
# The corpus metrics computed from summed counts, in the order scores_from_counts returns them.
METRICS = ("slu_f1", "word_f1", "char_f1", "span_f1", "slot_precision", "slot_recall", "exact_match")


def utterance_counts(gold: Sequence[Sequence[Slot]], pred: Sequence[Sequence[Slot]],
                     parse_ok: Sequence[bool] | None = None) -> np.ndarray:
    """Per-utterance counts (columns :data:`COUNT_COLUMNS`), whose sums over any set of utterances give that
    set's corpus metrics (:func:`scores_from_counts`): what a bootstrap over test utterances resamples.

    Parameters are those of :func:`slu_scores`. Returns an (n, 11) float array.
    """
    if len(gold) != len(pred):
        raise ValueError(f"gold and pred must be aligned, got {len(gold)} and {len(pred)} utterances")
    if parse_ok is not None and len(parse_ok) != len(gold):
        raise ValueError(f"parse_ok must have one flag per utterance ({len(gold)}), got {len(parse_ok)}")
    oks = [True] * len(gold) if parse_ok is None else list(parse_ok)
    rows = np.zeros((len(gold), len(COUNT_COLUMNS)))
    for i, (g, p, ok) in enumerate(zip(gold, pred, oks)):
        g, p = canonical_slots(g), canonical_slots(p)
        rows[i, :9] = (*_soft_counts(g, p, word_distance), *_soft_counts(g, p, char_distance), *_exact_counts(g, p))
        rows[i, 9] = bool(ok and g == p)  # an unparseable generation never matches, even an empty gold list
        rows[i, 10] = not ok
    return rows


def _f1(tp, fp, fn):
    """F1 = 2TP / (2TP + FP + FN), elementwise, 0 where the denominator is 0 (the P/R convention of :func:`prf`)."""
    den = 2 * tp + fp + fn
    return np.where(den > 0, 2 * tp / np.where(den > 0, den, 1), 0.0)


def scores_from_counts(sums: np.ndarray, n: np.ndarray | int) -> np.ndarray:
    """The :data:`METRICS` from summed counts: ``sums`` (..., 11), ``n`` utterances; returns (..., 7).

    Vectorised over leading axes, so one call scores every bootstrap resample.
    """
    s = np.asarray(sums, dtype=float)
    col = {name: s[..., k] for k, name in enumerate(COUNT_COLUMNS)}
    tp, fp, fn = col["span_tp"], col["span_fp"], col["span_fn"]
    precision = np.where(tp + fp > 0, tp / np.where(tp + fp > 0, tp + fp, 1), 0.0)
    recall = np.where(tp + fn > 0, tp / np.where(tp + fn > 0, tp + fn, 1), 0.0)
    return np.stack([
        _f1(col["word_tp"] + col["char_tp"], col["word_fp"] + col["char_fp"], col["word_fn"] + col["char_fn"]),
        _f1(col["word_tp"], col["word_fp"], col["word_fn"]), _f1(col["char_tp"], col["char_fp"], col["char_fn"]),
        _f1(tp, fp, fn), precision, recall, col["exact"] / np.maximum(n, 1)], axis=-1)


def slu_scores(gold: Sequence[Sequence[Slot]], pred: Sequence[Sequence[Slot]],
               parse_ok: Sequence[bool] | None = None) -> SluScores:
    """Score predicted slot lists against gold slot lists.

    Parameters
    ----------
    gold, pred : one sequence of (slot, value) pairs per utterance, aligned.
    parse_ok : optional flags, False where the generation was not well formed (its ``pred`` holds only its
        well-formed pairs); such an utterance is never an exact match, and is counted in ``n_parse_errors``.

    Returns
    -------
    SluScores : SLU-F1, word-F1, char-F1 (distance-softened, see module docstring), span F1 with slot
    precision/recall (exact (slot, value) matches) and exact match of the canonical slot lists.
    """
    counts = utterance_counts(gold, pred, parse_ok)
    values = scores_from_counts(counts.sum(0), len(gold))
    return SluScores(**{m: float(v) for m, v in zip(METRICS, values)}, n_examples=len(gold),
                     n_parse_errors=int(counts[:, 10].sum()))


def parse_generations(generations: Sequence[str]) -> tuple[list[tuple[Slot, ...]], list[bool]]:
    """Parse raw generations (see :func:`weakstrong.llm.data.slurp.parse_slots`): (slots, well-formed flags)."""
    parsed = [parse_slots(text) for text in generations]
    return [p for p, _ in parsed], [ok for _, ok in parsed]


def score_generations(gold: Sequence[Sequence[Slot]], generations: Sequence[str]) -> SluScores:
    """Parse raw generations and score them."""
    return slu_scores(gold, *parse_generations(generations))


def generation_counts(gold: Sequence[Sequence[Slot]], generations: Sequence[str]) -> np.ndarray:
    """:func:`utterance_counts` of raw generations."""
    return utterance_counts(gold, *parse_generations(generations))


# ------------------------------------------------------------------------------------------------ bootstrap
def bootstrap_weights(n: int, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """(n_boot, n) multiplicities of the test utterances in each resample (drawn with replacement, so each row
    sums to n); shared by every model of a run so that comparisons between models are paired."""
    idx = bootstrap_indices(n, n_boot, seed)
    return np.stack([np.bincount(row, minlength=n) for row in idx]).astype(float)


def _resampled(counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(n_boot, 7) metrics of each resample."""
    if weights.shape[1] != len(counts):
        raise ValueError(f"the resamples are of {weights.shape[1]} utterances, the counts of {len(counts)}")
    return scores_from_counts(weights @ counts, len(counts))


def bootstrap_ci(counts: np.ndarray, weights: np.ndarray, level: float = 0.95) -> dict[str, list]:
    """Percentile bootstrap interval over test utterances of every metric in :data:`METRICS`."""
    values = _resampled(counts, weights)
    return {m: percentile_interval(values[:, k], level) for k, m in enumerate(METRICS)}


def bootstrap_pgr(weak: np.ndarray, student: np.ndarray, ceiling: np.ndarray, weights: np.ndarray,
                  metric: str = "slu_f1", level: float = 0.95) -> dict:
    """PGR = (student - weak) / (ceiling - weak) of ``metric`` with a paired percentile bootstrap interval.

    The three count matrices are resampled with the same utterances. Resamples where the ceiling does not beat
    the weak model (PGR undefined) are dropped; ``n_valid`` says how many remain.
    """
    k = METRICS.index(metric)
    w, s, c = (_resampled(x, weights)[:, k] for x in (weak, student, ceiling))
    point_w, point_s, point_c = (scores_from_counts(x.sum(0), len(x))[k] for x in (weak, student, ceiling))
    gap = c - w
    valid = gap > 0
    values = (s[valid] - w[valid]) / gap[valid]
    point = float((point_s - point_w) / (point_c - point_w)) if point_c > point_w else None
    return {"pgr": point, "ci": percentile_interval(values, level), "n_valid": int(valid.sum()), "metric": metric}


def paired_bootstrap_delta(before: np.ndarray, after: np.ndarray, weights: np.ndarray, level: float = 0.95) -> dict:
    """after - before of every metric on the same utterances, with a paired percentile bootstrap interval and
    the share of resamples where the difference is <= 0 (a one-sided bootstrap p-value for an improvement)."""
    if before.shape != after.shape:
        raise ValueError(f"before and after must score the same utterances, got {before.shape} and {after.shape}")
    diff = _resampled(after, weights) - _resampled(before, weights)
    point = scores_from_counts(after.sum(0), len(after)) - scores_from_counts(before.sum(0), len(before))
    return {m: {"delta": float(point[k]), "ci": percentile_interval(diff[:, k], level),
                "p_not_better": float(np.mean(diff[:, k] <= 0))} for k, m in enumerate(METRICS)}


def pooled_paired_delta(pairs: Sequence[tuple[np.ndarray, np.ndarray]], weights: np.ndarray,
                        level: float = 0.95) -> dict:
    """after - before of every metric averaged over several seeds' runs on the same utterances, with a paired
    percentile bootstrap interval: every resample draws the same utterances for every seed and model, and the
    seeds' differences are averaged within it. ``pairs``: one (before, after) count matrix pair per seed."""
    if not pairs:
        raise ValueError("pairs must hold at least one (before, after) pair")
    diffs, points = [], []
    for before, after in pairs:
        if before.shape != after.shape:
            raise ValueError(f"before and after must score the same utterances, got {before.shape} and {after.shape}")
        diffs.append(_resampled(after, weights) - _resampled(before, weights))
        points.append(scores_from_counts(after.sum(0), len(after)) - scores_from_counts(before.sum(0), len(before)))
    diff, point = np.mean(diffs, 0), np.mean(points, 0)
    return {m: {"delta": float(point[k]), "ci": percentile_interval(diff[:, k], level),
                "p_not_better": float(np.mean(diff[:, k] <= 0)), "n_seeds": len(pairs)}
            for k, m in enumerate(METRICS)}


# -------------------------------------------------------------------------------------------- guard
def non_degeneracy(ceiling_f1: float, weak_f1: Sequence[float], min_ceiling: float = 0.5,
                   min_gap: float = 0.1) -> dict:
    """Whether a SLURP run can say anything about weak-to-strong: the strong ceiling must reach
    ``min_ceiling`` SLU-F1 and every weak model must trail it by at least ``min_gap``, so that PGR has a
    denominator worth dividing by. A run of students that all answer "none" fails here.

    Returns
    -------
    dict : ``ok``, ``ceiling_ok``, ``weak_ok`` (one flag per weak model), ``gaps``, the thresholds, and
    ``problems`` (one sentence per failed condition; empty when ``ok``).
    """
    gaps = [float(ceiling_f1 - w) for w in weak_f1]
    ceiling_ok = bool(ceiling_f1 >= min_ceiling)
    weak_ok = [bool(g >= min_gap) for g in gaps]
    problems = []
    if not ceiling_ok:
        problems.append(f"ceiling SLU-F1 {ceiling_f1:.3f} < {min_ceiling}")
    problems += [f"weak model {j} is only {g:+.3f} below the ceiling (needs >= {min_gap})"
                 for j, (g, ok) in enumerate(zip(gaps, weak_ok)) if not ok]
    return {"ok": ceiling_ok and all(weak_ok), "ceiling_ok": ceiling_ok, "weak_ok": weak_ok, "gaps": gaps,
            "ceiling_slu_f1": float(ceiling_f1), "min_ceiling_slu_f1": min_ceiling, "min_weak_gap": min_gap,
            "problems": problems}
