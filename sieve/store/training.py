"""Training runs: one row per retraining, from `queued` to a finished status."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, func, select

from sieve.store.labels import LabelStatus
from sieve.store.repository import storable_key
from sieve.store.tables import labels, training_runs


class RunStatus(StrEnum):
    """Where a retraining run stands (``training_runs.status``)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"  # a candidate was trained and gated (promoted or not)
    FAILED = "failed"  # an error; the run's `error` says which
    SKIPPED = "skipped"  # another retraining held the lease


ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)
FINISHED_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.SKIPPED)


class RunTrigger(StrEnum):
    """Who asked for a run (``training_runs.trigger``)."""

    ADMIN = "admin"  # POST /retrain
    CLI = "cli"  # `sieve retrain`
    SCHEDULE = "schedule"  # the beat schedule
    DEMO = "demo"  # `sieve demo`
    BOOTSTRAP = "bootstrap"  # `sieve bootstrap`: the first student, from synthetic examples


def create_run(engine: Engine, trigger: RunTrigger) -> str:
    run_id = uuid.uuid4().hex
    with engine.begin() as conn:
        conn.execute(
            training_runs.insert().values(id=run_id, status=RunStatus.QUEUED, trigger=trigger)
        )
    return run_id


def pending_run(engine: Engine) -> str | None:
    """A run that is queued or running, if any (newest first)."""
    query = (
        select(training_runs.c.id)
        .where(training_runs.c.status.in_(ACTIVE_STATUSES))
        .order_by(training_runs.c.created_at.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        return conn.execute(query).scalar_one_or_none()


def update_run(engine: Engine, run_id: str, status: RunStatus, **values: Any) -> None:
    values["status"] = status
    if status in FINISHED_STATUSES:
        values.setdefault("finished_at", datetime.now(UTC))
    with engine.begin() as conn:
        conn.execute(training_runs.update().where(training_runs.c.id == run_id).values(**values))


def get_run(engine: Engine, run_id: str) -> dict[str, Any] | None:
    if not storable_key(run_id):
        return None
    with engine.connect() as conn:
        row = conn.execute(select(training_runs).where(training_runs.c.id == run_id)).first()
    if row is None:
        return None
    run = dict(row._mapping)
    for key in ("created_at", "finished_at"):
        run[key] = run[key].isoformat() if run[key] is not None else None
    return run


def last_run_started(engine: Engine) -> datetime | None:
    query = select(func.max(training_runs.c.created_at)).where(
        training_runs.c.status == RunStatus.SUCCEEDED
    )
    with engine.connect() as conn:
        return conn.execute(query).scalar_one_or_none()


def labels_since(engine: Engine, since: datetime | None) -> int:
    query = select(func.count()).select_from(labels).where(labels.c.status == LabelStatus.OK)
    if since is not None:
        query = query.where(labels.c.created_at > since)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())
