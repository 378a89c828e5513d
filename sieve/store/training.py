"""Training runs and the retraining lease."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.dialects import postgresql, sqlite

from sieve.store.tables import labels, locks, training_runs

ACTIVE_STATUSES = ("queued", "running")


def create_run(engine: Engine, trigger: str) -> str:
    run_id = uuid.uuid4().hex
    with engine.begin() as conn:
        conn.execute(training_runs.insert().values(id=run_id, status="queued", trigger=trigger))
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


def update_run(engine: Engine, run_id: str, **values: Any) -> None:
    if values.get("status") in ("succeeded", "failed", "skipped"):
        values.setdefault("finished_at", datetime.now(UTC))
    with engine.begin() as conn:
        conn.execute(training_runs.update().where(training_runs.c.id == run_id).values(**values))


def get_run(engine: Engine, run_id: str) -> dict[str, Any] | None:
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
        training_runs.c.status == "succeeded"
    )
    with engine.connect() as conn:
        return conn.execute(query).scalar_one_or_none()


def labels_since(engine: Engine, since: datetime | None) -> int:
    query = select(func.count()).select_from(labels).where(labels.c.status == "ok")
    if since is not None:
        query = query.where(labels.c.created_at > since)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def acquire_lease(engine: Engine, name: str, owner: str, ttl_s: int) -> bool:
    """Take ``name`` unless another owner holds an unexpired lease. One statement, so two
    processes racing for it cannot both win."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        insert: Any = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(locks)
        stmt = insert.values(name=name, owner=owner, expires_at=now + timedelta(seconds=ttl_s))
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["name"],
                set_={"owner": stmt.excluded.owner, "expires_at": stmt.excluded.expires_at},
                where=locks.c.expires_at < now,
            )
        )
        holder = conn.execute(select(locks.c.owner).where(locks.c.name == name)).scalar_one()
    return bool(holder == owner)


def release_lease(engine: Engine, name: str, owner: str) -> None:
    with engine.begin() as conn:
        conn.execute(locks.delete().where(locks.c.name == name, locks.c.owner == owner))
