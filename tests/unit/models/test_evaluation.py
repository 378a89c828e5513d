from __future__ import annotations

import pytest

from sieve.models.evaluation import evaluate


def test_hand_computed_example() -> None:
    labels = ["a", "b", "c"]
    y_true = ["a", "a", "a", "b", "b", "c"]
    y_pred = ["a", "a", "b", "b", "c", "c"]
    metrics = evaluate(y_true, y_pred, labels)
    # a: P 2/2, R 2/3 -> F1 0.8; b: P 1/2, R 1/2 -> 0.5; c: P 1/2, R 1/1 -> 2/3
    assert metrics.accuracy == pytest.approx(4 / 6)
    assert metrics.per_label_f1 == pytest.approx({"a": 0.8, "b": 0.5, "c": 2 / 3})
    assert metrics.macro_f1 == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert metrics.support == {"a": 3, "b": 2, "c": 1}
    assert metrics.to_dict()["accuracy"] == pytest.approx(4 / 6)


def test_labels_that_never_occur_are_left_out_of_macro_f1() -> None:
    metrics = evaluate(["a", "b"], ["a", "b"], ["a", "b", "never"])
    assert metrics.macro_f1 == 1.0
    assert metrics.per_label_f1["never"] == 0.0 and metrics.support["never"] == 0


def test_a_label_that_is_only_predicted_counts_as_zero() -> None:
    metrics = evaluate(["a", "a"], ["a", "b"], ["a", "b"])
    assert metrics.per_label_f1["b"] == 0.0
    assert metrics.macro_f1 == pytest.approx((2 / 3 + 0.0) / 2)


def test_rejects_unknown_labels_and_length_mismatch() -> None:
    with pytest.raises(ValueError, match="outside"):
        evaluate(["a"], ["z"], ["a"])
    with pytest.raises(ValueError):
        evaluate(["a", "a"], ["a"], ["a"])
