import pytest

from sieve.core.settings import RetrainSettings
from sieve.models.evaluation import Metrics
from sieve.store.labels import TrainingLabel
from sieve.workers.retraining import promotion_gate, stratified_split

# Dyadic F1 values: "exactly at the margin" is exact in floating point.
CONFIG = RetrainSettings(max_label_f1_drop=0.0625, gate_min_label_support=20)


def metrics(macro: float, f1: dict[str, float], support: int = 50) -> Metrics:
    return Metrics(0.0, macro, f1, {label: support for label in f1})


@pytest.mark.parametrize(
    ("candidate", "active", "passed", "reason_start"),
    [
        (metrics(0.8, {"a": 0.8}), None, True, "no active model"),
        (
            metrics(0.80, {"a": 0.8, "b": 0.8}),
            metrics(0.80, {"a": 0.8, "b": 0.8}),
            True,
            "macro-F1",
        ),
        (metrics(0.79, {"a": 0.8}), metrics(0.80, {"a": 0.8}), False, "macro-F1 0.7900 < active"),
        # macro-F1 up, but one label falls by more than the margin
        (
            metrics(0.85, {"a": 0.625, "b": 0.96}),
            metrics(0.80, {"a": 0.75, "b": 0.8}),
            False,
            "F1 of a falls",
        ),
        # exactly at the margin is allowed
        (
            metrics(0.85, {"a": 0.6875, "b": 0.95}),
            metrics(0.80, {"a": 0.75, "b": 0.8}),
            True,
            "macro-F1",
        ),
        # a label with too few evaluation examples cannot veto
        (
            metrics(0.85, {"a": 0.5, "b": 0.9}, support=5),
            metrics(0.8, {"a": 0.8, "b": 0.8}),
            True,
            "macro-F1",
        ),
    ],
)
def test_promotion_gate(candidate, active, passed, reason_start):
    result = promotion_gate(candidate, active, CONFIG)
    assert result.passed is passed
    assert result.reason.startswith(reason_start)


def _rows(n: int, label: str = "x") -> list[TrainingLabel]:
    return [TrainingLabel(f"{label}{i}", "t", label, "llm", "p@1") for i in range(n)]


def test_held_out_messages_stay_held_out_as_data_grows():
    _, first_eval = stratified_split(_rows(500), 0.2, seed=0)
    train, second_eval = stratified_split(_rows(2000), 0.2, seed=0)
    assert {r.message_id for r in first_eval} <= {r.message_id for r in second_eval}
    assert 0.15 < len(second_eval) / 2000 < 0.25
    assert not {r.message_id for r in train} & {r.message_id for r in second_eval}


def test_every_label_is_represented_and_singletons_train():
    rows = _rows(100, "a") + _rows(100, "b") + _rows(1, "c")
    train, held_out = stratified_split(rows, 0.2, seed=0)
    assert {r.label for r in held_out} == {"a", "b"}
    assert any(r.label == "c" for r in train)
