"""Test doubles that implement Sieve's own Protocols."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from sieve.models.classifier import ModelScores


class FakeClassifier:
    """A FastClassifier whose answer per text is scripted; unknown texts get ``default``."""

    def __init__(
        self,
        labels: Sequence[str],
        answers: Mapping[str, Sequence[float]] | None = None,
        *,
        version: str = "fake-1",
        default: Sequence[float] | None = None,
        similarity: Mapping[str, float] | None = None,
    ) -> None:
        self.labels = tuple(labels)
        # Scripted nearest-training-example similarity per text (1.0 for others); None: the
        # classifier has no embedding, like a model without reference embeddings.
        self._similarity = None if similarity is None else dict(similarity)
        self.version = version
        self._answers = dict(answers or {})
        uniform = [1.0 / len(self.labels)] * len(self.labels)
        self._default = list(default) if default is not None else uniform
        self.calls: list[list[str]] = []

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        rows = [self._answers.get(text, self._default) for text in texts]
        return np.asarray(rows, dtype=np.float32)

    def predict_scores(self, texts: Sequence[str]) -> ModelScores:
        if self._similarity is None:
            return ModelScores(self.predict_proba(texts), similarity=None)
        similar = [self._similarity.get(text, 1.0) for text in texts]
        return ModelScores(self.predict_proba(texts), np.asarray(similar, dtype=np.float32))


class FakeEscalationSink:
    def __init__(self) -> None:
        self.submitted: list = []

    def submit(self, escalations: Sequence) -> None:
        self.submitted.extend(escalations)


class FlakyEscalationSink(FakeEscalationSink):
    """Fails the first ``failures`` submissions with a TransientError, then accepts."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.attempts = 0

    def submit(self, escalations: Sequence) -> None:
        from sieve.core.errors import TransientError

        self.attempts += 1
        if self.attempts <= self.failures:
            raise TransientError("escalation sink unavailable")
        super().submit(escalations)


class FakeBacklogSink:
    """Implements sieve.workers.backlog.BacklogSink: every enqueue call is kept, in order;
    ``fail_with`` makes enqueue raise (after the first ``fail_after`` calls)."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.fail_with: Exception | None = None
        self.fail_after = 0

    @property
    def enqueued(self) -> list[str]:
        return [message_id for call in self.calls for message_id in call]

    def enqueue(self, message_ids: Sequence[str]) -> int:
        if self.fail_with is not None and len(self.calls) >= self.fail_after:
            raise self.fail_with
        self.calls.append(list(message_ids))
        return len(message_ids)
