"""The teacher's answers: deterministic, accurate to target, wrong in the chosen way."""

from __future__ import annotations

from collections import defaultdict

import pytest

from sieve.core.dataset import LabeledText
from sieve.core.errors import ConfigError
from sieve.labeler.sim.noise import NoiseKind, Teacher
from tests.unit.labeler.conftest import SMALL_RECORDS


@pytest.fixture(scope="module")
def confusable(banking77_test: list[LabeledText]) -> Teacher:
    return Teacher(banking77_test, accuracy=0.8, noise="confusable", seed=0)


def _wrong_by_gold(teacher: Teacher, records: list[LabeledText]) -> dict[str, set[str]]:
    wrong: dict[str, set[str]] = defaultdict(set)
    for record in records:
        choice = teacher.choose(record.text)
        assert choice.gold == record.label
        if not choice.correct:
            wrong[record.label].add(choice.label)
    return wrong


def test_answers_are_deterministic_per_text_and_seed(banking77_test: list[LabeledText]) -> None:
    texts = [record.text for record in banking77_test[:600]]
    first = Teacher(banking77_test, accuracy=0.5, noise="uniform", seed=3)
    again = Teacher(list(reversed(banking77_test)), accuracy=0.5, noise="uniform", seed=3)
    other_seed = Teacher(banking77_test, accuracy=0.5, noise="uniform", seed=4)
    labels = [first.choose(text).label for text in texts]
    assert labels == [first.choose(text).label for text in texts]
    assert labels == [again.choose(text).label for text in texts]
    others = [other_seed.choose(text).label for text in texts]
    differing = sum(a != b for a, b in zip(labels, others, strict=True))
    assert differing > 100


@pytest.mark.parametrize("accuracy", [0.8, 0.55, 1.0, 0.0])
def test_accuracy_is_close_to_the_target(
    banking77_test: list[LabeledText], confusable: Teacher, accuracy: float
) -> None:
    teacher = Teacher(banking77_test, accuracy=accuracy, noise="uniform", seed=1)
    correct = sum(teacher.choose(r.text).label == r.label for r in banking77_test)
    assert abs(correct / len(banking77_test) - accuracy) <= 0.02


def test_confusable_errors_come_from_the_neighbour_set(
    banking77_test: list[LabeledText], confusable: Teacher
) -> None:
    wrong = _wrong_by_gold(confusable, banking77_test)
    assert sum(len(labels) for labels in wrong.values()) > 77  # errors do happen, and vary
    for gold, labels in wrong.items():
        assert gold not in labels
        assert labels <= set(confusable.neighbours[gold])


def test_confusable_neighbours_are_plausible(confusable: Teacher) -> None:
    assert all(len(n) == 3 and gold not in n for gold, n in confusable.neighbours.items())
    assert "pending_transfer" in confusable.neighbours["pending_card_payment"]
    assert "declined_card_payment" in confusable.neighbours["declined_transfer"]
    assert "card_delivery_estimate" in confusable.neighbours["card_arrival"]


def test_systematic_errors_of_a_label_all_go_to_one_label(
    banking77_test: list[LabeledText],
) -> None:
    teacher = Teacher(banking77_test, accuracy=0.5, noise="systematic", seed=0)
    wrong = _wrong_by_gold(teacher, banking77_test)
    assert len(wrong) == 77
    for gold, labels in wrong.items():
        assert labels == {teacher.neighbours[gold][0]}


def test_uniform_errors_spread_over_all_other_labels(banking77_test: list[LabeledText]) -> None:
    teacher = Teacher(banking77_test, accuracy=0.0, noise=NoiseKind.UNIFORM, seed=0)
    wrong = _wrong_by_gold(teacher, banking77_test)
    assert all(gold not in labels for gold, labels in wrong.items())
    assert min(len(labels) for labels in wrong.values()) > 10


def test_unknown_text_gets_a_seeded_random_label_from_the_set() -> None:
    teacher = Teacher(SMALL_RECORDS, accuracy=1.0, seed=0, neighbours_k=2)
    picks = {teacher.choose(f"never seen {i}").label for i in range(200)}
    assert picks == set(teacher.labels)
    choice = teacher.choose("never seen 1")
    assert choice.gold is None and choice.correct is None
    assert teacher.choose("never seen 1") == choice


def test_known_texts_are_found_by_normalised_spelling_and_inside_a_prompt() -> None:
    teacher = Teacher(SMALL_RECORDS, accuracy=1.0, seed=0, neighbours_k=2)
    assert teacher.known_text("  WHERE is my   new card? ") == "Where is my new card?"
    assert teacher.find_known_text("Classify: Where is my refund? Thanks") == "Where is my refund?"
    assert teacher.find_known_text("nothing known") is None


def test_invalid_teachers_are_refused() -> None:
    with pytest.raises(ConfigError):
        Teacher(SMALL_RECORDS, accuracy=1.2)
    with pytest.raises(ConfigError):
        Teacher(SMALL_RECORDS, accuracy=0.9, labels=["card_arrival"])
    with pytest.raises(ValueError):
        Teacher(SMALL_RECORDS, accuracy=0.9, noise="gaussian")
