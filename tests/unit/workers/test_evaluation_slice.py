"""The evaluation slice the promotion gate compares on (the gate itself: test_gate.py)."""

from sieve.store.labels import TrainingLabel
from sieve.workers.distill.retrain import stratified_split


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
