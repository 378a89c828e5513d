"""Rows behind the review queue and the dashboard: messages the stream worker classified
and escalated, and the LLM's answers to them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from sieve.core.events import LabelSource
from sieve.store.labels import LabelRecord, LabelStatus, save_label
from sieve.store.repository import (
    EscalationRecord,
    MessageRecord,
    PredictionRecord,
    save_escalations,
    save_predictions,
)

PROMPT = "zero-shot@1"


def classified(
    engine: Engine,
    message_id: str,
    student: str,
    *,
    confidence: float = 0.4,
    escalated: str | None = "low_confidence",
    llm: str | None = None,
    text: str | None = None,
) -> None:
    """One message as the stream worker leaves it (escalated with reason ``escalated``,
    or accepted when None), and the LLM's label ``llm`` when it answered."""
    route = "accept" if escalated is None else "escalate"
    save_predictions(
        engine,
        [MessageRecord(message_id, text or f"text of {message_id}")],
        [
            PredictionRecord(
                message_id, "v1", student, confidence, 0.1, route, escalated or "confident"
            )
        ],
    )
    if escalated is not None:
        save_escalations(engine, [EscalationRecord(message_id, "v1", escalated)])
    if llm is not None:
        save_label(
            engine,
            LabelRecord(message_id, LabelSource.LLM, PROMPT, "sim", llm, LabelStatus.OK),
        )


def seed_queue(engine: Engine) -> None:
    """d1, d2: disagreements; x1: exploration where both agree; a1: agreement (not in the
    queue); k1: kept by the fast model (not escalated); x2: exploration, LLM not answered."""
    classified(engine, "d1", "card_arrival", llm="card_linking")
    classified(engine, "a1", "card_arrival", llm="card_arrival")
    classified(
        engine, "x1", "top_up_failed", confidence=0.97, escalated="exploration", llm="top_up_failed"
    )
    classified(engine, "k1", "age_limit", confidence=0.99, escalated=None)
    classified(engine, "x2", "atm_support", confidence=0.95, escalated="exploration")
    classified(engine, "d2", "lost_or_stolen_card", llm="card_arrival")


def hours_ago(hours: float) -> datetime:
    return datetime.now(UTC) - timedelta(hours=hours)
