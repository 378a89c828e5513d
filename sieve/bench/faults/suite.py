"""What every scenario of one fault run shares: the embedded Kafka-protocol broker, the
PostgreSQL server fresh databases are made on, an n-gram student trained once on every
TRAIN_STRIDE-th line of the Banking77 test file (seconds), the teacher simulator's answers,
and the stream texts (the train file's and the rest of the test file's, none trained on).

Routing is fixed so that a known share escalates: the confidence threshold is the
ESCALATED_SHARE quantile of the student's top probabilities over the stream texts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from sieve.core.dataset import read_labeled_jsonl
from sieve.demo.broker import EmbeddedBroker
from sieve.labeler.sim.noise import Teacher
from sieve.labeler.sim.simulator import load_teacher
from sieve.models.families import load_classifier
from sieve.models.families.ngram.training import TrainConfig, train_from_file
from sieve.models.registry import ArtefactInfo, ModelRegistry

ESCALATED_SHARE = 0.25
# Every other line of the test file (sorted by label): all 77 labels, ~1,540 texts.
TRAIN_STRIDE = 2


@dataclass
class Suite:
    broker: EmbeddedBroker
    postgres_dsn: str  # libpq DSN of a server where fresh databases can be created
    data_dir: Path  # Banking77: train.jsonl, test.jsonl, labels.txt
    work_dir: Path
    _thresholds: dict[int, float] = field(default_factory=dict)

    @cached_property
    def model(self) -> ArtefactInfo:
        train = self.work_dir / "student-train.jsonl"
        train.write_text("".join(f"{line}\n" for line in self._test_lines[::TRAIN_STRIDE]))
        registry = ModelRegistry(self.work_dir / "models")
        info, _ = train_from_file(train, registry, eval_path=None, config=TrainConfig(seed=0))
        return info

    @cached_property
    def _test_lines(self) -> list[str]:
        return (self.data_dir / "test.jsonl").read_text(encoding="utf-8").splitlines()

    @cached_property
    def teacher(self) -> Teacher:
        return load_teacher(
            [self.data_dir / "train.jsonl", self.data_dir / "test.jsonl"],
            accuracy=0.9,
            noise="confusable",
            seed=0,
            labels_path=self.data_dir / "labels.txt",
        )

    @cached_property
    def texts(self) -> list[str]:
        """Distinct stream texts, in file order: ~11,000, none trained on."""
        trained = {json.loads(line)["text"] for line in self._test_lines[::TRAIN_STRIDE]}
        records = read_labeled_jsonl(self.data_dir / "train.jsonl") + read_labeled_jsonl(
            self.data_dir / "test.jsonl"
        )
        return [text for text in dict.fromkeys(r.text for r in records) if text not in trained]

    def threshold(self, count: int) -> float:
        """The confidence below which ESCALATED_SHARE of the first ``count`` texts fall."""
        if count not in self._thresholds:
            top = load_classifier(self.model.path).predict_proba(self.texts[:count]).max(axis=1)
            self._thresholds[count] = float(np.quantile(top, ESCALATED_SHARE))
        return self._thresholds[count]
