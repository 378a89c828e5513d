from pathlib import Path

import pytest

from sieve.bench.cascade import HELD_OUT_LABELS, make_variant, names
from sieve.core.dataset import label_set_for_data_dir, read_labeled_jsonl
from sieve.core.errors import PermanentError

BANKING77 = Path(__file__).resolve().parents[3] / "data" / "banking77"
LABELS = label_set_for_data_dir(BANKING77)
TRAIN, TEST = (read_labeled_jsonl(BANKING77 / f) for f in ("train.jsonl", "test.jsonl"))


def test_the_stream_is_the_shuffled_train_file_then_the_test_file():
    variant = make_variant("stream", BANKING77, LABELS)
    assert len(variant.items) == len(TRAIN) + len(TEST)
    assert variant.items[len(TRAIN) :] == TEST
    assert {i.id for i in variant.items[: len(TRAIN)]} == {i.id for i in TRAIN}
    assert variant.items[: len(TRAIN)] != TRAIN  # shuffled, seeded
    assert variant.items == make_variant("stream", BANKING77, LABELS).items
    assert variant.test_ids == {i.id for i in TEST}


def test_defaults_measure_the_thousand_after_two_thousand_cold_start_labels():
    variant = make_variant("defaults", BANKING77, LABELS)
    assert len(variant.items) == 3_000
    assert variant.test_ids == {i.id for i in variant.items[2_000:]}
    assert variant.overrides["SIEVE_RETRAIN__MIN_LABELS"] == "2000"


def test_the_gold_set_is_taken_out_of_the_stream():
    variant = make_variant("gold", BANKING77, LABELS)
    assert len(variant.gold) == 500
    assert not {i.id for i in variant.gold} & {i.id for i in variant.items}
    assert variant.overrides == {"SIEVE_ROUTING__TARGET_PRECISION": "0.95"}


def test_held_out_labels_appear_only_in_the_test_phase():
    variant = make_variant("unseen", BANKING77, LABELS)
    assert len(variant.held_out) == HELD_OUT_LABELS
    train_phase = [i for i in variant.items if i.id not in variant.test_ids]
    assert not {i.label for i in train_phase} & variant.held_out
    assert {i.label for i in TEST} >= variant.held_out


def test_an_unknown_variant_is_a_one_line_error_and_lists_are_split():
    with pytest.raises(PermanentError, match="unknown variant 'x'"):
        make_variant("x", BANKING77, LABELS)
    assert names(" ngram, minilm,") == ["ngram", "minilm"]
