"""Escalations: messages the fast model sent to the LLM, and where each one stands.

A status only moves forward (FORWARD); the guard is in the UPDATE itself, so a
redelivered batch or a late duplicate task never takes a labeled escalation back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Connection, Engine, func, select

from sieve.store.columns import NO_MODEL_VERSION
from sieve.store.tables import escalations, messages, predictions


@dataclass(frozen=True)
class EscalatedMessage:
    id: str
    text: str
    provisional_label: str | None
    model_version: str


def escalated_message(engine: Engine, message_id: str) -> EscalatedMessage | None:
    """The message's text and the fast model's provisional label (newest prediction)."""
    with engine.connect() as conn:
        return read_escalated_message(conn, message_id)


def read_escalated_message(conn: Connection, message_id: str) -> EscalatedMessage | None:
    """escalated_message on the caller's connection."""
    query = (
        select(messages.c.id, messages.c.text, predictions.c.label, predictions.c.model_version)
        .join(predictions, predictions.c.message_id == messages.c.id, isouter=True)
        .where(messages.c.id == message_id)
        .order_by(predictions.c.created_at.desc())
        .limit(1)
    )
    row = conn.execute(query).first()
    if row is None:
        return None
    return EscalatedMessage(row.id, row.text, row.label, row.model_version or NO_MODEL_VERSION)


class EscalationStatus(StrEnum):
    """Where an escalation stands. It only moves forward (see FORWARD): a redelivered batch
    or a late duplicate task must never take a labeled escalation back to `enqueued`."""

    PENDING = "pending"  # recorded; no task published yet (the drain publishes it)
    ENQUEUED = "enqueued"  # a label_with_llm task was published
    # Waiting for room: the backlog of enqueued escalations was at its bound, or the LLM
    # budget was spent. The provisional label stands; the drain enqueues it later.
    DEFERRED = "deferred"
    FAILED = "failed"  # the task gave up; `sieve requeue` enqueues it again
    LABELED = "labeled"  # the LLM label is stored: final


# Each status and the statuses an escalation may be in to move to it. `failed` and
# `enqueued` are one step: a re-queue takes a failed escalation back to `enqueued`.
FORWARD: dict[EscalationStatus, tuple[EscalationStatus, ...]] = {
    EscalationStatus.PENDING: (EscalationStatus.PENDING,),
    EscalationStatus.DEFERRED: (
        EscalationStatus.PENDING,
        EscalationStatus.ENQUEUED,
        EscalationStatus.DEFERRED,
    ),
    EscalationStatus.ENQUEUED: (
        EscalationStatus.PENDING,
        EscalationStatus.ENQUEUED,
        EscalationStatus.FAILED,
        EscalationStatus.DEFERRED,
    ),
    EscalationStatus.FAILED: (
        EscalationStatus.PENDING,
        EscalationStatus.ENQUEUED,
        EscalationStatus.FAILED,
        EscalationStatus.DEFERRED,
    ),
    EscalationStatus.LABELED: tuple(EscalationStatus),
}


def set_escalation_status(
    engine: Engine, message_ids: Sequence[str], status: EscalationStatus
) -> None:
    """Move the escalations to ``status`` where that is forward; the others keep theirs.
    The guard is in the UPDATE itself, so two processes racing cannot regress a row."""
    if not message_ids:
        return
    with engine.begin() as conn:
        move_escalations(conn, message_ids, status)


def move_escalations(
    conn: Connection, message_ids: Sequence[str], status: EscalationStatus
) -> None:
    """set_escalation_status inside the caller's transaction."""
    conn.execute(
        escalations.update()
        .where(
            escalations.c.message_id.in_(list(message_ids)),
            escalations.c.status.in_([str(before) for before in FORWARD[status]]),
        )
        .values(status=str(status), updated_at=datetime.now(UTC))
    )


def count_escalations(engine: Engine, status: EscalationStatus) -> int:
    query = select(func.count()).select_from(escalations).where(escalations.c.status == str(status))
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def stale_escalations(
    engine: Engine,
    older_than_s: float,
    limit: int = 1000,
    *,
    status: EscalationStatus = EscalationStatus.PENDING,
) -> list[str]:
    """Escalations in ``status`` since more than ``older_than_s``: `pending` ones the sink
    never confirmed as enqueued (a crash in between); `enqueued` ones whose task was lost."""
    cutoff = datetime.now(UTC).timestamp() - older_than_s
    query = (
        select(escalations.c.message_id, escalations.c.updated_at, escalations.c.created_at)
        .where(escalations.c.status == str(status))
        .order_by(escalations.c.updated_at)
        .limit(limit)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        row.message_id for row in rows if _timestamp(row.updated_at or row.created_at) <= cutoff
    ]


def _timestamp(value: datetime) -> float:
    # SQLite returns naive datetimes for CURRENT_TIMESTAMP, which is UTC.
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
