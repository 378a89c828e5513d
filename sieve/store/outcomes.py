"""What became of each message: the fast model's prediction and, when it escalated, the
LLM's label. The demo and the benchmarks read these to score a run against gold."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, func, select

from sieve.routing.policy import Route
from sieve.store.labels import LabelStatus
from sieve.store.tables import labels, predictions


@dataclass(frozen=True)
class MessageOutcome:
    message_id: str
    model_label: str | None
    route: Route
    model_version: str
    confidence: float
    reason: str
    llm_label: str | None  # an OK label's; None without one

    @property
    def escalated(self) -> bool:
        return self.route == Route.ESCALATE


def message_outcomes(engine: Engine, message_ids: Sequence[str]) -> list[MessageOutcome]:
    """One outcome per message with a prediction, in the order of ``message_ids``."""
    ids = list(message_ids)
    predicted = select(
        predictions.c.message_id,
        predictions.c.label,
        predictions.c.route,
        predictions.c.model_version,
        predictions.c.confidence,
        predictions.c.reason,
    ).where(predictions.c.message_id.in_(ids))
    labeled = select(labels.c.message_id, labels.c.label).where(
        labels.c.message_id.in_(ids), labels.c.status == LabelStatus.OK
    )
    with engine.connect() as conn:
        found = {row.message_id: row for row in conn.execute(predicted)}
        llm = {row.message_id: row.label for row in conn.execute(labeled)}
    return [
        MessageOutcome(
            message_id=mid,
            model_label=found[mid].label,
            route=Route(found[mid].route),
            model_version=found[mid].model_version,
            confidence=found[mid].confidence or 0.0,
            reason=found[mid].reason or "",
            llm_label=llm.get(mid),
        )
        for mid in ids
        if mid in found
    ]


@dataclass(frozen=True)
class Settling:
    """How far a set of messages got: predicted, escalated, with an LLM label row."""

    predicted: int
    escalated: int
    answered: int  # label rows, OK or failed

    def settled(self, total: int) -> bool:
        return self.predicted >= total and self.answered >= self.escalated


def settling(engine: Engine, message_ids: Sequence[str]) -> Settling:
    ids = list(message_ids)
    queries = (
        select(func.count()).where(predictions.c.message_id.in_(ids)),
        select(func.count()).where(
            predictions.c.message_id.in_(ids), predictions.c.route == Route.ESCALATE
        ),
        select(func.count()).where(labels.c.message_id.in_(ids)),
    )
    with engine.connect() as conn:
        predicted, escalated, answered = (int(conn.execute(q).scalar_one()) for q in queries)
    return Settling(predicted, escalated, answered)
