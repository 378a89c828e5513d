"""One micro-batch, from polled records to what must be written: rows, events, dead letters.

No I/O but the classifier call, so every branch is testable with a fake classifier.

Routing rules (sieve.routing.rules) are checked first, on the whole text; a message a rule
decides is not sent to the model at all: the rule's decision does not depend on the
model's scores, inference is the batch's cost (and ``max_chars`` rules pick out the
longest, dearest texts), and the share and drift windows then hold only what the model
decided. Its forced escalation therefore carries no provisional label, as without a model.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from sieve.core.errors import BadMessage
from sieve.core.events import LabelEvent, LabelSource
from sieve.core.settings import RoutingSettings, StreamSettings
from sieve.models.classifier import FastClassifier
from sieve.routing.policy import (
    Decision,
    Prediction,
    Route,
    decide,
    decide_by_rule,
    exploration_draw,
    predictions_of,
    student_text,
)
from sieve.routing.rules import NO_RULES, RuleSet
from sieve.routing.thresholds import RoutingThresholds
from sieve.store.columns import NO_MODEL_VERSION
from sieve.store.repository import EscalationRecord, MessageRecord, PredictionRecord
from sieve.workers.records import Record
from sieve.workers.stream.messages import DeadLetterReason, FeedbackMessage, decode_message

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeadLetter:
    record: Record
    reason: DeadLetterReason
    detail: str


@dataclass
class BatchOutcome:
    """What a batch must write. ``records``, ``messages``, ``predictions`` and ``events``
    are aligned: index i of each is the same good record."""

    records: list[Record] = field(default_factory=list)
    messages: list[MessageRecord] = field(default_factory=list)
    predictions: list[PredictionRecord] = field(default_factory=list)
    escalations: list[EscalationRecord] = field(default_factory=list)
    events: list[LabelEvent] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)

    def drop(self, refused: dict[int, str], reason: DeadLetterReason) -> None:
        """Turn the good records at the ``refused`` indices into dead letters (with the
        detail given per index): no rows, no event, no escalation for them."""
        if not refused:
            return
        self.dead_letters += [
            DeadLetter(self.records[i], reason, detail) for i, detail in refused.items()
        ]
        kept = [i for i in range(len(self.records)) if i not in refused]
        self.records = [self.records[i] for i in kept]
        self.messages = [self.messages[i] for i in kept]
        self.predictions = [self.predictions[i] for i in kept]
        self.events = [self.events[i] for i in kept]
        ids = {message.id for message in self.messages}
        self.escalations = [row for row in self.escalations if row.message_id in ids]


@dataclass(frozen=True)
class Calibration:
    """What calibrated routing adds to the settings for one batch: the active version's
    per-label thresholds and, with a target LLM share, the threshold that meets it."""

    thresholds: RoutingThresholds | None = None
    share_threshold: float | None = None


def process_batch(
    records: Sequence[Record],
    classifier: FastClassifier | None,
    routing: RoutingSettings,
    limits: StreamSettings,
    calibration: Calibration = Calibration(),
    rules: RuleSet = NO_RULES,
) -> BatchOutcome:
    outcome = BatchOutcome()
    good: list[tuple[Record, FeedbackMessage]] = []
    for record in records:
        try:
            good.append((record, decode_message(record.value, limits)))
        except BadMessage as exc:
            logger.warning(
                "dead letter %s[%d]@%d: %s", record.topic, record.partition, record.offset, exc
            )
            outcome.dead_letters.append(
                DeadLetter(record, DeadLetterReason(exc.reason), exc.detail)
            )
    if not good:
        return outcome
    by_rule = [decide_by_rule(rules, message.text) for _, message in good]
    scored = [message for (_, message), ruled in zip(good, by_rule, strict=True) if ruled is None]
    predictions = iter(_predict(classifier, [student_text(m.text, routing) for m in scored]))
    version = classifier.version if classifier is not None else NO_MODEL_VERSION
    for (record, message), ruled in zip(good, by_rule, strict=True):
        decision = ruled or decide(
            next(predictions),
            message.text,
            routing,
            thresholds=calibration.thresholds,
            share_threshold=calibration.share_threshold,
            explore_draw=exploration_draw(message.id, routing.exploration_seed),
        )
        _append(outcome, record, message, decision, version)
    return outcome


def _predict(classifier: FastClassifier | None, texts: list[str]) -> list[Prediction | None]:
    if classifier is None or not texts:
        return [None] * len(texts)
    scores = classifier.predict_scores(texts)
    return list(predictions_of(classifier.labels, scores.probs, scores.similarity))


def _append(
    outcome: BatchOutcome,
    record: Record,
    message: FeedbackMessage,
    decision: Decision,
    version: str,
) -> None:
    outcome.records.append(record)
    outcome.messages.append(
        MessageRecord(
            id=message.id,
            text=message.text,
            source=message.source,
            meta=message.meta,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )
    )
    outcome.predictions.append(
        PredictionRecord(
            message_id=message.id,
            model_version=version,
            label=decision.label,
            confidence=decision.confidence,
            margin=decision.margin,
            route=decision.route.value,
            reason=decision.stored_reason,
        )
    )
    escalated = decision.route is Route.ESCALATE
    if escalated:
        outcome.escalations.append(EscalationRecord(message.id, version, decision.stored_reason))
    by_model = decision.rule is None
    outcome.events.append(
        LabelEvent(
            id=message.id,
            label=decision.label,
            confidence=decision.confidence,
            source=LabelSource.MODEL if by_model else LabelSource.RULE,
            final=not escalated,
            model_version=None if version == NO_MODEL_VERSION or not by_model else version,
            rule=decision.rule,
        )
    )
    logger.debug(
        "%s %s[%d]@%d model=%s route=%s reason=%s",
        message.id,
        record.topic,
        record.partition,
        record.offset,
        version,
        decision.route.value,
        decision.stored_reason,
    )
