"""A tiny synthetic, separable dataset and a small model trained on it once per session."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from sieve.core.dataset import LabeledText, read_label_set, read_labeled_jsonl
from sieve.models.families import get_family
from sieve.models.families.minilm import MiniLMStudent
from sieve.models.families.ngram.features import FeatureConfig
from sieve.models.families.ngram.training import TrainConfig, TrainedModel, train_ngram
from sieve.models.registry import ArtefactInfo, ModelRegistry
from tests.conftest import BANKING77

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


@dataclass(frozen=True)
class MiniLMFixture:
    registry: ModelRegistry
    student: MiniLMStudent
    info: ArtefactInfo
    train: list[LabeledText]
    test: list[LabeledText]
    label_set: list[str]


@pytest.fixture(scope="session")
def minilm_model(
    encoder_cache_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> MiniLMFixture:
    """A minilm student trained on 1,500 Banking77 texts, saved once per session; tested on
    300 texts of the test file."""
    train_rows = read_labeled_jsonl(BANKING77 / "train.jsonl")
    rows = [train_rows[i] for i in np.random.default_rng(0).permutation(len(train_rows))[:1500]]
    test_rows = read_labeled_jsonl(BANKING77 / "test.jsonl")[::10][:300]
    label_set = read_label_set(BANKING77 / "labels.txt")
    registry = ModelRegistry(tmp_path_factory.mktemp("minilm"), cache_dir=encoder_cache_dir)
    options = registry.train_options(seed=0, epochs=None, num_threads=2)
    student = get_family("minilm").train(
        [r.text for r in rows], [r.label for r in rows], label_set, options
    )
    assert isinstance(student, MiniLMStudent)
    info = registry.save(student, data_hash="h", metrics={})
    return MiniLMFixture(registry, student, info, rows, test_rows, label_set)
