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


def seed_history(engine: Engine) -> None:
    """Six hours of traffic for the dashboard's plots: per hour, 10 decisions of which a
    falling number escalated, LLM requests with their cost, audited messages (a registered
    gold label on some, a review label on others), two retraining runs and activations."""
    from sieve.store.labels import GOLD, REVIEW
    from sieve.store.tables import llm_requests, model_activations, predictions, training_runs

    for age in range(6):
        at = hours_ago(age + 0.5)
        escalated = 2 + age  # the share falls as the model learns
        for n in range(10):
            message_id = f"h{age}-{n}"
            route = "escalate" if n < escalated else None
            classified(
                engine,
                message_id,
                "card_arrival",
                confidence=0.3 if route else 0.95,
                escalated="low_confidence" if route else None,
                llm="card_arrival" if n % 3 else ("card_linking" if route else None),
            )
            with engine.begin() as conn:
                conn.execute(
                    predictions.update()
                    .where(predictions.c.message_id == message_id)
                    .values(created_at=at)
                )
                if route:
                    conn.execute(
                        llm_requests.insert().values(
                            request_id=f"r-{message_id}",
                            started_at=at,
                            message_id=message_id,
                            prompt_version=PROMPT,
                            model="sim",
                            turn=1,
                            outcome="ok",
                            tokens_in=100,
                            tokens_out=10,
                            cost_usd=0.01 * (age + 1),
                            latency_ms=50.0,
                        )
                    )
            if n in (0, 5):  # audited: the human says card_arrival
                version = GOLD if n == 0 else REVIEW
                save_label(
                    engine,
                    LabelRecord(
                        message_id, LabelSource.HUMAN, version, "", "card_arrival", LabelStatus.OK
                    ),
                )
    with engine.begin() as conn:
        conn.execute(
            model_activations.insert().values(
                version="v1", reason="first", created_at=hours_ago(30)
            )
        )
        for number, (age, promoted) in enumerate([(4.2, True), (1.7, False)], start=1):
            version = f"v{number + 1}"
            conn.execute(
                training_runs.insert().values(
                    id=f"run-{number}",
                    status="succeeded",
                    trigger="schedule",
                    model_version=version,
                    promoted=promoted,
                    created_at=hours_ago(age),
                    finished_at=hours_ago(age - 0.1),
                )
            )
            if promoted:
                conn.execute(
                    model_activations.insert().values(
                        version=version, reason=f"run-{number}", created_at=hours_ago(age - 0.1)
                    )
                )
