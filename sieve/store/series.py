"""The time series of the operator's dashboard (GET /dashboard/series), per UTC hour over
the last ``hours`` hours:

- the share of routing decisions sent to the LLM (``stats.escalation_by_hour``);
- the accuracy on audited items: messages with a human label (the gold set, reviews
  included) whose final label — the LLM's when the message was escalated and answered,
  else the fast model's — matches it; and the fast model's own label, for comparison.
  Bucketed by the hour the message was classified;
- LLM spend per hour from the ledger (requests and USD);
- retraining runs and model activations (a timeline), with the version active when the
  window starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select

from sieve.core.events import LabelSource
from sieve.routing.policy import Route
from sieve.store.labels import GOLD, REVIEW, LabelStatus
from sieve.store.repository import reading
from sieve.store.stats import (
    HourBucket,
    _as_utc,
    _hour_start,
    _truncate_to_hour,
    escalation_by_hour,
)
from sieve.store.tables import labels, llm_requests, model_activations, predictions, training_runs


@dataclass(frozen=True)
class AuditBucket:
    hour: datetime
    audited: int  # messages with a human label classified in this hour
    final_correct: int  # ... whose final label is the human's
    student_correct: int  # ... whose fast-model label is the human's


@dataclass(frozen=True)
class CostBucket:
    hour: datetime
    requests: int
    cost_usd: float


@dataclass(frozen=True)
class RunPoint:
    at: datetime
    status: str  # RunStatus
    promoted: bool | None
    model_version: str | None


@dataclass(frozen=True)
class ActivationPoint:
    at: datetime
    version: str
    reason: str


@dataclass(frozen=True)
class DashboardSeries:
    since: datetime
    share: list[HourBucket]
    audit: list[AuditBucket]
    cost: list[CostBucket]
    runs: list[RunPoint]
    activations: list[ActivationPoint]
    active_at_start: str | None


def dashboard_series(
    engine: Engine, *, hours: int = 24, now: datetime | None = None
) -> DashboardSeries:
    current = _hour_start(now or datetime.now(UTC))
    since = current - timedelta(hours=hours - 1)
    with reading(engine) as conn:
        audit = _audit(conn, since, hours)
        cost = _cost(conn, engine.dialect.name, since, hours)
        runs = [
            RunPoint(_as_utc(row.created_at), row.status, row.promoted, row.model_version)
            for row in conn.execute(
                select(training_runs)
                .where(training_runs.c.created_at >= since)
                .order_by(training_runs.c.created_at)
            )
        ]
        activations = [
            ActivationPoint(_as_utc(row.created_at), row.version, row.reason)
            for row in conn.execute(
                select(model_activations)
                .where(model_activations.c.created_at >= since)
                .order_by(model_activations.c.created_at, model_activations.c.id)
            )
        ]
        before = conn.execute(
            select(model_activations.c.version)
            .where(model_activations.c.created_at < since)
            .order_by(model_activations.c.created_at.desc(), model_activations.c.id.desc())
            .limit(1)
        ).scalar()
    return DashboardSeries(
        since=since,
        share=escalation_by_hour(engine, now=current, hours=hours),
        audit=audit,
        cost=cost,
        runs=runs,
        activations=activations,
        active_at_start=before,
    )


def _hours(since: datetime, hours: int) -> list[datetime]:
    return [since + timedelta(hours=step) for step in range(hours)]


def _audit(conn: Any, since: datetime, hours: int) -> list[AuditBucket]:
    human = (
        select(labels.c.message_id, labels.c.label, labels.c.prompt_version)
        .where(
            labels.c.source == LabelSource.HUMAN,
            labels.c.status == LabelStatus.OK,
            labels.c.prompt_version.in_([GOLD, REVIEW]),
        )
        .subquery()
    )
    llm = (
        select(labels.c.label)
        .where(
            labels.c.message_id == predictions.c.message_id,
            labels.c.source == LabelSource.LLM,
            labels.c.status == LabelStatus.OK,
        )
        .order_by(labels.c.created_at.desc(), labels.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    query = (
        select(
            predictions.c.message_id,
            predictions.c.created_at,
            predictions.c.label,
            predictions.c.route,
            llm.label("llm_label"),
            human.c.label.label("human_label"),
        )
        .join(human, human.c.message_id == predictions.c.message_id)
        .where(predictions.c.created_at >= since)
        # Per message: its newest prediction; the registered gold label before a review.
        .order_by(predictions.c.message_id, predictions.c.created_at, human.c.prompt_version)
    )
    newest: dict[str, Any] = {}
    for row in conn.execute(query):
        kept = newest.get(row.message_id)
        if kept is None or _as_utc(row.created_at) > _as_utc(kept.created_at):
            newest[row.message_id] = row
    counts = {hour: [0, 0, 0] for hour in _hours(since, hours)}
    for row in newest.values():
        bucket = counts.get(_hour_start(_as_utc(row.created_at)))
        if bucket is None:
            continue
        escalated = row.route == Route.ESCALATE and row.llm_label is not None
        final = row.llm_label if escalated else row.label
        bucket[0] += 1
        bucket[1] += final == row.human_label
        bucket[2] += row.label == row.human_label
    return [AuditBucket(hour, *figures) for hour, figures in counts.items()]


def _cost(conn: Any, dialect: str, since: datetime, hours: int) -> list[CostBucket]:
    hour = _truncate_to_hour(dialect, llm_requests.c.started_at).label("hour")
    query = (
        select(hour, func.count(), func.sum(llm_requests.c.cost_usd))
        .where(llm_requests.c.started_at >= since)
        .group_by(hour)
    )
    found = {_as_utc(h): (int(n), float(c or 0.0)) for h, n, c in conn.execute(query)}
    return [CostBucket(h, *found.get(h, (0, 0.0))) for h in _hours(since, hours)]
