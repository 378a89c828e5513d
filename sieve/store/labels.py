"""LLM and human labels: one row per (message, source, prompt version, LLM model).

A successful label is written once and never overwritten by a later failure; a failed
row is replaced when a retry (or a re-queue from the CLI) succeeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, Select, and_, func, select

from sieve.store.repository import dialect_insert
from sieve.store.tables import escalations, labels, messages, predictions

OK = "ok"
FAILED = "failed"
# Human labels registered as the operator's gold set: evaluation only, never training.
GOLD = "gold"


@dataclass(frozen=True)
class LabelRecord:
    message_id: str
    source: str  # "llm" | "human"
    prompt_version: str
    llm_model: str
    label: str | None
    status: str  # OK | FAILED
    error: str | None = None
    rationale: str | None = None
    raw_answer: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None
    latency_ms: float | None = None
    cached: bool = False


@dataclass(frozen=True)
class StoredLabel:
    status: str
    label: str | None
    announced: bool


def save_label(engine: Engine, record: LabelRecord) -> StoredLabel:
    """Upsert ``record`` unless an OK row exists; returns the row as it now stands."""
    key = ("message_id", "source", "prompt_version", "llm_model")
    row = asdict(record)
    with engine.begin() as conn:
        insert = dialect_insert(conn, labels)
        stmt = insert.values(**row).on_conflict_do_update(
            index_elements=list(key),
            set_={name: insert.excluded[name] for name in row if name not in key},
            where=labels.c.status == FAILED,
        )
        conn.execute(stmt)
        stored = conn.execute(
            select(labels.c.status, labels.c.label, labels.c.announced_at).where(
                and_(*(labels.c[name] == row[name] for name in key))
            )
        ).one()
    return StoredLabel(stored.status, stored.label, stored.announced_at is not None)


def find_label(
    engine: Engine, message_id: str, prompt_version: str, llm_model: str
) -> StoredLabel | None:
    query = select(labels.c.status, labels.c.label, labels.c.announced_at).where(
        labels.c.message_id == message_id,
        labels.c.source == "llm",
        labels.c.prompt_version == prompt_version,
        labels.c.llm_model == llm_model,
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else StoredLabel(row.status, row.label, row.announced_at is not None)


def mark_announced(engine: Engine, message_id: str, prompt_version: str, llm_model: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            labels.update()
            .where(
                labels.c.message_id == message_id,
                labels.c.source == "llm",
                labels.c.prompt_version == prompt_version,
                labels.c.llm_model == llm_model,
            )
            .values(announced_at=datetime.now(UTC))
        )


@dataclass(frozen=True)
class EscalatedMessage:
    id: str
    text: str
    provisional_label: str | None
    model_version: str


def escalated_message(engine: Engine, message_id: str) -> EscalatedMessage | None:
    """The message's text and the fast model's provisional label (newest prediction)."""
    query = (
        select(messages.c.id, messages.c.text, predictions.c.label, predictions.c.model_version)
        .join(predictions, predictions.c.message_id == messages.c.id, isouter=True)
        .where(messages.c.id == message_id)
        .order_by(predictions.c.created_at.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    return EscalatedMessage(row.id, row.text, row.label, row.model_version or "none")


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


def failed_labels(engine: Engine, prompt_version: str, llm_model: str) -> list[str]:
    query = select(labels.c.message_id).where(
        labels.c.status == FAILED,
        labels.c.prompt_version == prompt_version,
        labels.c.llm_model == llm_model,
    )
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


def cost_totals(engine: Engine, by: str) -> list[tuple[str, int, int, int, float]]:
    """(group, calls, tokens in, tokens out, cost USD) per prompt version or per day."""
    group = labels.c.prompt_version if by == "prompt_version" else func.date(labels.c.created_at)
    query = (
        select(
            group,
            func.count(),
            func.coalesce(func.sum(labels.c.tokens_in), 0),
            func.coalesce(func.sum(labels.c.tokens_out), 0),
            func.coalesce(func.sum(labels.c.cost_usd), 0.0),
        )
        .where(labels.c.source == "llm", labels.c.cached.is_(False))
        .group_by(group)
        .order_by(group)
    )
    with engine.connect() as conn:
        return [(str(g), int(c), int(i), int(o), float(u)) for g, c, i, o, u in conn.execute(query)]


def _timestamp(value: datetime) -> float:
    # SQLite returns naive datetimes for CURRENT_TIMESTAMP, which is UTC.
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


@dataclass(frozen=True)
class TrainingLabel:
    message_id: str
    text: str
    label: str
    source: str
    prompt_version: str


def _ok_labels() -> Select[Any]:
    """Every OK label row with its message text, as TrainingLabel columns."""
    return (
        select(
            labels.c.message_id,
            messages.c.text,
            labels.c.label,
            labels.c.source,
            labels.c.prompt_version,
        )
        .join(messages, messages.c.id == labels.c.message_id)
        .where(labels.c.status == OK)
    )


def training_labels(engine: Engine) -> list[TrainingLabel]:
    """One label per message for training: a human label wins over any LLM label; among
    LLM labels the newest wins. Failed rows are never training data, and messages of the
    gold set (see gold_labels) are held out entirely."""
    query = _ok_labels().order_by(labels.c.message_id, labels.c.created_at, labels.c.id)
    chosen: dict[str, TrainingLabel] = {}
    gold = {row.message_id for row in gold_labels(engine)}
    with engine.connect() as conn:
        for row in conn.execute(query):
            if row.message_id in gold:
                continue
            current = chosen.get(row.message_id)
            if current is not None and current.source == "human" and row.source != "human":
                continue
            chosen[row.message_id] = TrainingLabel(*row)
    return list(chosen.values())


def gold_labels(engine: Engine) -> list[TrainingLabel]:
    """The operator's human gold set: always part of the evaluation, never of training."""
    query = (
        _ok_labels()
        .where(labels.c.source == "human", labels.c.prompt_version == GOLD)
        .order_by(labels.c.message_id)
    )
    with engine.connect() as conn:
        return [TrainingLabel(*row) for row in conn.execute(query)]
