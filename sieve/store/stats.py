"""The figures behind the admin API's /stats: volume, escalation share, LLM spend (from the
ledger of LLM requests, store/ledger.py).

The per-hour buckets are computed in SQL (one row per hour, not per message) with the
dialect's own hour truncation, always in UTC: ``date_trunc`` on PostgreSQL, ``strftime``
on SQLite, which stores UTC text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, case, func, select
from sqlalchemy.sql.elements import ColumnElement

from sieve.core.events import LabelSource
from sieve.routing.policy import Route
from sieve.store.escalations import EscalationStatus
from sieve.store.labels import LabelStatus
from sieve.store.ledger import spend_totals
from sieve.store.tables import escalations, labels, messages, predictions
from sieve.store.versions import active_model_version

WINDOW_HOURS = 24


@dataclass(frozen=True)
class HourBucket:
    hour: datetime  # start of the hour, UTC
    decisions: int
    escalated: int

    @property
    def escalated_share(self) -> float | None:
        return self.escalated / self.decisions if self.decisions else None


@dataclass(frozen=True)
class LLMUsage:
    # HTTP requests sent to the LLM, whatever their outcome (corrective turns included).
    calls: int
    tokens_in: int
    tokens_out: int
    cost_usd: float
    failed_labels: int
    calls_by_outcome: dict[str, int]


@dataclass(frozen=True)
class StoreStats:
    messages_total: int
    active_version: str | None
    by_hour: list[HourBucket]
    llm: LLMUsage

    @property
    def decisions(self) -> int:
        return sum(bucket.decisions for bucket in self.by_hour)

    @property
    def escalated(self) -> int:
        return sum(bucket.escalated for bucket in self.by_hour)

    @property
    def escalated_share(self) -> float | None:
        return self.escalated / self.decisions if self.decisions else None


def store_stats(engine: Engine, *, now: datetime | None = None) -> StoreStats:
    return StoreStats(
        messages_total=messages_total(engine),
        active_version=active_model_version(engine),
        by_hour=escalation_by_hour(engine, now=now),
        llm=llm_usage(engine),
    )


def messages_total(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(messages)).scalar_one())


# Escalations still waiting for their LLM label: recorded, or handed to the task queue.
BACKLOG_STATUSES = (EscalationStatus.PENDING, EscalationStatus.ENQUEUED, EscalationStatus.DEFERRED)


def escalation_backlog(engine: Engine) -> int:
    """Escalations not labeled yet (failed ones are not waiting: `sieve requeue` them)."""
    query = select(func.count()).where(escalations.c.status.in_(BACKLOG_STATUSES))
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def escalation_by_hour(
    engine: Engine, *, now: datetime | None = None, hours: int = WINDOW_HOURS
) -> list[HourBucket]:
    """Routing decisions and escalations per UTC hour, the last ``hours`` hours (the
    current one included), oldest first; hours without a decision are zero rows."""
    current = _hour_start(now or datetime.now(UTC))
    since = current - timedelta(hours=hours - 1)
    hour = _truncate_to_hour(engine.dialect.name, predictions.c.created_at).label("hour")
    escalated = func.sum(case((predictions.c.route == Route.ESCALATE, 1), else_=0))
    query = (
        select(hour, func.count(), escalated)
        .where(predictions.c.created_at >= since)
        .group_by(hour)
    )
    with engine.connect() as conn:
        counted = {_as_utc(h): (int(n), int(e or 0)) for h, n, e in conn.execute(query)}
    buckets = []
    for step in range(hours):
        start = since + timedelta(hours=step)
        decisions, escalations = counted.get(start, (0, 0))
        buckets.append(HourBucket(start, decisions, escalations))
    return buckets


def llm_usage(engine: Engine) -> LLMUsage:
    """Totals over every LLM request in the ledger (the same figures as `sieve costs`)."""
    spend = spend_totals(engine)
    failed = select(func.count()).where(
        labels.c.source == LabelSource.LLM, labels.c.status == LabelStatus.FAILED
    )
    with engine.connect() as conn:
        failed_labels = int(conn.execute(failed).scalar_one())
    return LLMUsage(
        calls=spend.requests,
        tokens_in=spend.tokens_in,
        tokens_out=spend.tokens_out,
        cost_usd=spend.cost_usd,
        failed_labels=failed_labels,
        calls_by_outcome=spend.requests_by_outcome,
    )


def _truncate_to_hour(dialect: str, column: Any) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.date_trunc("hour", func.timezone("UTC", column))
    if dialect == "sqlite":
        return func.strftime("%Y-%m-%d %H:00:00", column)
    raise NotImplementedError(f"hourly buckets are not implemented for {dialect}")


def _hour_start(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.replace(minute=0, second=0, microsecond=0)


def _as_utc(value: datetime | str) -> datetime:
    # PostgreSQL returns a naive UTC timestamp, SQLite the text strftime made.
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
