from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from sieve.core.errors import PermanentError
from sieve.models.evaluation import evaluate
from sieve.models.families.ngram.training import TrainedModel, train_from_file, train_ngram
from sieve.models.registry import ModelRegistry
from tests.unit.models.conftest import LABELS, SMALL_CONFIG, synthetic, write_jsonl


def test_learns_a_separable_dataset(small_model: TrainedModel) -> None:
    texts, labels = synthetic(150, seed=99)  # unseen combinations
    metrics = evaluate(labels, small_model.predict(texts), LABELS)
    assert metrics.accuracy >= 0.95


def test_probabilities_are_rows_that_sum_to_one(small_model: TrainedModel) -> None:
    probs = small_model.predict_proba(["refund please", "", "iban"])
    assert probs.shape == (3, len(LABELS))
    assert probs.sum(axis=1) == pytest.approx([1.0, 1.0, 1.0], abs=1e-5)


def test_same_seed_same_weights() -> None:
    texts, labels = synthetic(60, seed=5)
    config = replace(SMALL_CONFIG, epochs=2)
    one = train_ngram(texts, labels, LABELS, config)
    two = train_ngram(texts, labels, LABELS, config)
    other = train_ngram(texts, labels, LABELS, replace(config, seed=config.seed + 1))
    for a, b in zip(one.network.parameters(), two.network.parameters(), strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(one.network.output.weight, other.network.output.weight)


def test_leaves_torch_thread_count_as_it_was() -> None:
    texts, labels = synthetic(30, seed=5)
    before = torch.get_num_threads()
    train_ngram(texts, labels, LABELS, replace(SMALL_CONFIG, epochs=1, num_threads=1))
    assert torch.get_num_threads() == before


def test_reports_progress_per_epoch() -> None:
    texts, labels = synthetic(30, seed=5)
    seen: list[tuple[int, int]] = []
    train_ngram(
        texts,
        labels,
        LABELS,
        replace(SMALL_CONFIG, epochs=3),
        progress=lambda d, t: seen.append((d, t)),
    )
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_rejects_labels_outside_the_set() -> None:
    with pytest.raises(PermanentError, match="outside"):
        train_ngram(["a", "b"], ["card", "other"], LABELS, SMALL_CONFIG)


def test_train_from_file_saves_and_evaluates(tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", *synthetic(120, seed=1))
    held_out = write_jsonl(tmp_path / "eval.jsonl", *synthetic(60, seed=2))
    registry = ModelRegistry(tmp_path / "models")
    info, metrics = train_from_file(train, registry, eval_path=held_out, config=SMALL_CONFIG)
    assert metrics is not None and metrics.accuracy >= 0.9
    assert registry.versions() == [info.version]
    meta = registry.read_meta(info.version)
    assert meta["metrics"]["accuracy"] == pytest.approx(metrics.accuracy)
    assert meta["label_count"] == len(LABELS)
    assert registry.load(info.version).labels == tuple(LABELS)  # sorted labels of the file


def test_train_from_file_rejects_eval_labels_outside_the_set(tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", *synthetic(30, seed=1))
    held_out = write_jsonl(tmp_path / "eval.jsonl", ["x"], ["unknown"])
    registry = ModelRegistry(tmp_path / "models")
    with pytest.raises(PermanentError, match="unknown"):
        train_from_file(train, registry, eval_path=held_out, config=SMALL_CONFIG)
    assert registry.versions() == []
