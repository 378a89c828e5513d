"""The simulator's generator mode: a seeded, noisy pool that never returns excluded texts."""

from __future__ import annotations

from sieve.core.dataset import LabeledText
from sieve.labeler.cache import normalise_text
from sieve.labeler.sim.generator import ExampleGenerator

RECORDS = [
    LabeledText(f"{label}-{i}", f"{label} message number {i}", label)
    for label in ("alpha", "beta", "gamma")
    for i in range(40)
]


def test_the_same_request_gets_the_same_answer_and_another_batch_another() -> None:
    generator = ExampleGenerator(RECORDS, off_label_rate=0.0, duplicate_rate=0.0)
    first = generator.examples("alpha", 10, seed=3)
    assert first == generator.examples("alpha", 10, seed=3)
    assert first != generator.examples("alpha", 10, seed=4)
    assert first != generator.examples("alpha", 10, seed=3, batch=2)
    assert len(first) == 10 and all(text.startswith("alpha ") for text in first)


def test_excluded_texts_are_never_returned() -> None:
    excluded = [f"ALPHA message number {i}" for i in range(30)]  # equal once normalised
    generator = ExampleGenerator(RECORDS, off_label_rate=0.0, duplicate_rate=0.0, exclude=excluded)
    answer = generator.examples("alpha", 40, seed=0)
    assert len(answer) == 10  # the pool has only 10 texts left
    assert not {normalise_text(t) for t in answer} & {normalise_text(t) for t in excluded}


def test_noise_gives_off_label_texts_and_normalised_duplicates() -> None:
    generator = ExampleGenerator(RECORDS, off_label_rate=0.2, duplicate_rate=0.2)
    answers = [generator.examples("alpha", 20, seed=seed) for seed in range(10)]
    texts = [text for answer in answers for text in answer]
    off_label = sum(not normalise_text(text).startswith("alpha") for text in texts)
    assert 0.1 < off_label / len(texts) < 0.3
    repeated = sum(len(a) - len({normalise_text(t) for t in a}) for a in answers)
    assert repeated > 0
    assert any(text.isupper() for text in texts)  # a repeat is spelled differently


def test_an_unknown_label_gets_an_empty_answer() -> None:
    assert ExampleGenerator(RECORDS).examples("delta", 5, seed=0) == []
