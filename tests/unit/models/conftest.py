"""A tiny synthetic, separable dataset and a small model trained on it once per session."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from sieve.models.features import FeatureConfig
from sieve.models.training import TrainConfig, TrainedModel, train_ngram

LABELS = ["card", "refund", "transfer"]
TOPIC_WORDS = {
    "card": ["card", "pin", "atm", "contactless"],
    "refund": ["refund", "return", "money back", "reimburse"],
    "transfer": ["transfer", "iban", "wire", "payee"],
}
FILLER = ["please", "help", "my", "the", "why", "is", "not", "working", "today", "again"]

SMALL_CONFIG = TrainConfig(
    epochs=8,
    dim=16,
    lr=0.05,
    batch_size=16,
    seed=3,
    features=FeatureConfig(
        num_buckets=1 << 12, word_ngrams=(1, 2), char_ngrams=(3,), max_features=128
    ),
)


def synthetic(count: int, seed: int) -> tuple[list[str], list[str]]:
    """Texts of filler words around one topic word; the topic word decides the label."""
    rng = random.Random(seed)
    texts, labels = [], []
    for index in range(count):
        label = LABELS[index % len(LABELS)]
        words = rng.sample(FILLER, 4)
        words.insert(rng.randrange(5), rng.choice(TOPIC_WORDS[label]))
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


def write_jsonl(path: Path, texts: list[str], labels: list[str]) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for index, (text, label) in enumerate(zip(texts, labels, strict=True)):
            handle.write(json.dumps({"id": f"t{index}", "text": text, "label": label}) + "\n")
    return path


@pytest.fixture(scope="session")
def small_model() -> TrainedModel:
    texts, labels = synthetic(300, seed=1)
    return train_ngram(texts, labels, LABELS, SMALL_CONFIG)
