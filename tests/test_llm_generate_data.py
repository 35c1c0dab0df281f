"""SLURP parsing, canonical serialisation, splits, and the SLU-F1 metric against hand-worked examples."""

from __future__ import annotations

import gzip
import json
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from weakstrong.config import ConfigError
from weakstrong.llm.generation.slu_metric import char_distance, score_generations, slu_scores, word_distance
from weakstrong.llm.data.slurp import (as_target, format_prompt, load_slurp, parse_annotation, parse_slots,
                                  read_slurp_jsonl, serialise_slots, subsample)

DATA = Path(__file__).parents[1].parent / "shared" / "data"


# ---------------------------------------------------------------------------------------------- parsing
def test_parse_annotation_spans_in_order():
    text = "siri what is one [currency_name : american dollar] in [currency_name : japanese  yen]"
    assert parse_annotation(text) == (("currency_name", "american dollar"), ("currency_name", "japanese yen"))
    assert parse_annotation("how many unread emails do i have") == ()


@pytest.mark.parametrize("bad", ["wake me [time : five am", "wake me time : five am]", "[date today]",
                                 "[ : today]", "[date : ]", "[date : [time : x]]", "[date : a; b]",
                                 "[two words : x]"])
def test_parse_annotation_rejects_malformed(bad):
    with pytest.raises(ValueError, match="annotation"):
        parse_annotation(bad)


def test_loader_skips_and_counts_malformed_annotations(tmp_path):
    rows = [{"slurp_id": 1, "sentence": "wake me at five am", "sentence_annotation": "wake me at [time : five am]"},
            {"slurp_id": 2, "sentence": "broken", "sentence_annotation": "[time : five am"},
            {"slurp_id": 3, "sentence": " ", "sentence_annotation": "no sentence"},
            {"slurp_id": 4, "sentence": None, "sentence_annotation": "[time : five am]"}]  # null: not "None"
    rows += [{"slurp_id": 100 + i, "sentence": f"play song {i}", "sentence_annotation": f"play song {i}"}
             for i in range(60)]
    path = tmp_path / "devel.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(json.dumps(r) for r in rows) + "\n\n")
    examples, n_bad = read_slurp_jsonl(path)
    assert [e.slurp_id for e in examples][:2] == [1, 100] and n_bad == 3 and len(examples) == 61
    # Past 5 % malformed rows the file is refused, naming it and its first bad lines.
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(json.dumps(r) for r in rows[:24]) + "\n")
    with pytest.raises(ConfigError, match=r"devel.jsonl.gz: 3 of 24 rows are malformed .*lines \[2, 3, 4\]"):
        read_slurp_jsonl(path)
    assert examples[0].target == " time: five am"
    assert examples[0].prompt.endswith("wake me at five am\nslots:")


@pytest.mark.parametrize("content, message", [
    ('{"slurp_id": 1, "sentence": "hi", "sentence_annotation": "hi"}\nnot json\n', "line 2 is not valid JSON"),
    ('{"slurp_id": 1, "sentence": "hi"}\n', r"line 1 lacks \['sentence_annotation'\]"),
    ('["slurp_id", "sentence"]\n', "line 1 lacks"),
    ('{"slurp_id": "x1", "sentence": "hi", "sentence_annotation": "hi"}\n', "slurp_id must be an integer"),
    ('{"slurp_id": 1, "sentence": "hi", "sentence_annotation": "[a : b"}\n', "no usable SLURP rows"),
    ("", "no usable SLURP rows"),
])
def test_a_file_that_is_not_slurp_is_an_error_naming_it(tmp_path, content, message):
    path = tmp_path / "test.jsonl"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message) as exc:
        read_slurp_jsonl(path)
    assert str(path) in str(exc.value)


@pytest.mark.parametrize("name, payload", [
    ("devel.jsonl.gz", b"plain text, not gzip"),
    ("devel.jsonl.gz", gzip.compress(b'{"slurp_id": 1}\n' * 200)[:40]),  # truncated
    ("devel.jsonl", bytes(range(128, 256)) * 4),  # not UTF-8
])
def test_damaged_files_are_errors_naming_them(tmp_path, name, payload):
    (tmp_path / name).write_bytes(payload)
    with pytest.raises(ConfigError, match="is damaged") as exc:
        read_slurp_jsonl(tmp_path / name)
    assert str(tmp_path / name) in str(exc.value)


def test_serialisation_is_canonical_and_keeps_the_leading_space_of_every_value():
    a = serialise_slots([("time", "five am"), ("date", "this week")])
    b = serialise_slots([("date", "this week"), ("time", "five am")])
    assert a == b == " date: this week; time: five am"
    assert serialise_slots([]) == " none"
    # the value follows a space exactly as a word of the utterance does
    assert format_prompt("wake me at five am") + serialise_slots([("time", "five am")]) \
        == "utterance: wake me at five am\nslots: time: five am"


_slot = st.tuples(st.text("abcdefghij_", min_size=1, max_size=8),
                  st.text("abc xyz'\"é,.", min_size=1, max_size=12).map(lambda s: " ".join(s.split()))
                  ).filter(lambda sv: sv[1] != "")


@given(st.lists(_slot, max_size=5))
@settings(max_examples=60, deadline=None)
def test_serialise_parse_roundtrip(slots):
    parsed, ok = parse_slots(serialise_slots(slots))
    assert ok and parsed == tuple(sorted(slots))
    assert as_target(serialise_slots(slots)) == serialise_slots(slots)


@given(st.text(max_size=40))
@settings(max_examples=100, deadline=None)
def test_parse_slots_never_raises(text):
    slots, ok = parse_slots(text)
    assert isinstance(ok, bool) and isinstance(slots, tuple)
    assert as_target(text).startswith(" ")


@pytest.mark.parametrize("text", ["", "   ", "date", "date today", ": today", "date:", "two words: x",
                                  '[{"date":"today"}]'])
def test_bad_generations_are_errors_not_crashes(text):
    assert parse_slots(text) == ((), False)


def test_malformed_lines_keep_their_well_formed_pairs():
    assert parse_slots(" date: today; nonsense; time:") == ((("date", "today"),), False)
    assert parse_slots(" date: today;") == ((("date", "today"),), False)


def test_only_the_first_line_counts_and_none_is_the_empty_list():
    assert parse_slots(" date: today\nutterance: more text") == ((("date", "today"),), True)
    assert parse_slots(" none") == ((), True) and parse_slots("none\n date: x") == ((), True)
    assert parse_slots(" time:  five   am ") == ((("time", "five am"),), True)


def test_as_target_canonicalises_candidates():
    assert as_target("time: five am;date:  today") == " date: today; time: five am"
    assert as_target("  half  a line\nnext") == " half a line" and as_target("") == " none"


# ---------------------------------------------------------------------------------------------- metric
def test_distances_hand_worked():
    assert word_distance("five am", "five pm") == 0.5  # one substitution / two gold words
    assert word_distance("am", "five thirty am") == 2.0  # two insertions / one gold word: WER is not clipped
    assert char_distance("five am", "five pm") == pytest.approx(1 / 7)  # one edit / 7 chars
    assert char_distance("", "") == 0.0 and char_distance("ab", "") == 1.0


def _f1(tp, fp, fn):  # F1 = 2TP / (2TP + FP + FN), exact
    return float(Fraction(2) * tp / (2 * tp + fp + fn))


def test_slu_f1_hand_worked_single_utterance():
    # gold: date=this week, time=five am; predicted: date=this week (exact), time=five pm.
    # word level: date d=0 -> TP 1; time d=1/2 -> TP 1, FP 1/2, FN 1/2.   totals TP 2, FP 1/2, FN 1/2 -> F1 0.8
    # char level: time d=1/7 -> TP 2, FP 1/7, FN 1/7 -> F1 = 4 / (4 + 2/7) = 14/15
    # SLU-F1 sums both: TP 4, FP 9/14, FN 9/14 -> F1 = 8 / (8 + 9/7) = 56/65
    # exact spans: TP 1, FP 1, FN 1 -> P = R = F1 = 1/2; exact match 0
    s = slu_scores([[("date", "this week"), ("time", "five am")]], [[("date", "this week"), ("time", "five pm")]])
    assert s.word_f1 == pytest.approx(0.8)
    assert s.char_f1 == pytest.approx(14 / 15)
    assert s.slu_f1 == pytest.approx(56 / 65)
    assert (s.span_f1, s.slot_precision, s.slot_recall, s.exact_match) == (0.5, 0.5, 0.5, 0.0)


def test_slu_f1_type_mismatch_earns_nothing():
    # predicted type absent from gold: FP 1; the gold pair stays unmatched: FN 1 -> all F1 = 0
    s = slu_scores([[("place_name", "paris")]], [[("date", "paris")]])
    assert s.slu_f1 == s.word_f1 == s.char_f1 == s.span_f1 == 0.0


def test_slu_f1_matches_lowest_distance_gold_of_the_type_and_micro_averages():
    gold = [[("currency_name", "american dollar"), ("currency_name", "japanese yen")],
            [("date", "this week"), ("time", "five am")]]
    pred = [[("currency_name", "japanese yen")],  # matched to "japanese yen" (d = 0); "american dollar" is FN 1
            [("date", "this week"), ("time", "five pm")]]
    # word: utterance 1 TP 1, FN 1; utterance 2 TP 2, FP 1/2, FN 1/2 -> TP 3, FP 1/2, FN 3/2 -> F1 6/8
    # char: TP 3, FP 1/7, FN 1 + 1/7; SLU: TP 6, FP 1/2 + 1/7, FN 5/2 + 1/7 -> F1 = 12 / (15 + 2/7) = 84/107
    s = slu_scores(gold, pred)
    assert s.word_f1 == pytest.approx(_f1(3, Fraction(1, 2), Fraction(3, 2)))
    assert s.slu_f1 == pytest.approx(84 / 107)
    # exact spans: TP 2 (japanese yen, this week), FP 1 (five pm), FN 2 (american dollar, five am)
    assert s.slot_precision == pytest.approx(2 / 3) and s.slot_recall == pytest.approx(2 / 4)


def test_long_prediction_is_penalised_beyond_one_error():
    # gold "am", predicted "five thirty am": word d = 2 -> TP 1, FP 2, FN 2 -> word F1 = 2 / 6
    assert slu_scores([[("time", "am")]], [[("time", "five thirty am")]]).word_f1 == pytest.approx(1 / 3)


def test_unparseable_generation_counts_as_empty_prediction():
    s = score_generations([[("date", "today")], []], [" date today", " none"])
    assert s.n_parse_errors == 1 and s.slu_f1 == 0.0 and s.exact_match == 0.5  # the empty/empty pair matches
    # an unparseable generation is not an exact match of an empty gold list
    assert score_generations([[]], [" nothing here"]).exact_match == 0.0


@given(st.lists(st.lists(_slot, min_size=1, max_size=3), min_size=1, max_size=4))
@settings(max_examples=40, deadline=None)
def test_perfect_prediction_scores_one(gold):
    s = slu_scores(gold, gold)
    assert s.slu_f1 == s.span_f1 == s.exact_match == 1.0


# ---------------------------------------------------------------------------------------------- real data
@pytest.mark.realdata
def test_real_slurp_splits_are_devel_halves_and_the_official_test_split():
    if not (DATA / "slurp").is_dir():
        pytest.skip(f"shared data not found at {DATA}")
    splits, n_bad = load_slurp(DATA / "slurp", seed=0)
    assert n_bad == 0 and splits.sizes() == {"n_weak_train": 1000, "n_w2s_train": 1000, "n_test": 2974}
    devel, _ = read_slurp_jsonl(DATA / "slurp" / "devel.jsonl.gz")
    test, _ = read_slurp_jsonl(DATA / "slurp" / "test.jsonl.gz")
    ids = [{e.slurp_id for e in part} for part in (splits.weak_train, splits.w2s_train, splits.test)]
    assert len(ids[0]) == len(ids[1]) == 1000 and not (ids[0] & ids[1])  # disjoint halves
    assert ids[0] | ids[1] <= {e.slurp_id for e in devel} and ids[2] == {e.slurp_id for e in test}
    assert all(parse_slots(e.target) == (e.slots, True) for e in splits.test)
    again, _ = load_slurp(DATA, seed=0)  # the data root works too
    other, _ = load_slurp(DATA / "slurp", seed=1)
    assert [e.slurp_id for e in again.w2s_train] == [e.slurp_id for e in splits.w2s_train]
    assert [e.slurp_id for e in other.w2s_train] != [e.slurp_id for e in splits.w2s_train]
    # one fixed, shuffled test order for every seed: runs of different seeds score the same utterances
    assert [e.slurp_id for e in other.test] == [e.slurp_id for e in splits.test] != [e.slurp_id for e in test]
    assert len(subsample(splits.test, 500)) == 500
    sizes, _ = load_slurp(DATA, seed=3, n_weak_train=1016, n_w2s_train=1017)  # all of devel is usable
    assert sizes.sizes()["n_w2s_train"] == 1017
    with pytest.raises(ConfigError, match="devel utterances"):
        load_slurp(DATA, seed=0, n_weak_train=1500, n_w2s_train=1000)
