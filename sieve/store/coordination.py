"""Leases and the LLM answer cache, kept in the database.

Leases serve every deployment (one retraining at a time). When Sieve runs without Redis
they also carry the enqueue markers and the per-message label locks, and ``llm_answers``
holds the answer cache. Both are one statement per operation, so two processes racing
for the same name or key cannot both win.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import Engine, or_, select

from sieve.store.repository import dialect_insert, upsert
from sieve.store.tables import LOCK_NAME_LENGTH, llm_answers, locks


class LeaseKind(StrEnum):
    """What a lease guards. Its name (``locks.name``, or the Redis key after the prefix)
    starts with the kind: see ``lease_name``."""

    RETRAIN = "retrain"  # one retraining at a time
    LABEL_LOCK = "label-lock"  # one LLM call per (message, prompt version) at a time
    ENQUEUED = "enqueued"  # a label task was published: the escalation sink's marker


def lease_name(kind: LeaseKind, *parts: str) -> str:
    """``kind:part:part...``, e.g. ``label-lock:<message id>:<prompt version>``."""
    return ":".join([kind.value, *parts])


def _row_name(name: str) -> str:
    """``name`` as stored: one longer than the column becomes its sha256 hex digest."""
    if len(name) <= LOCK_NAME_LENGTH:
        return name
    return hashlib.sha256(name.encode("utf-8")).hexdigest()


def acquire_lease(engine: Engine, name: str, owner: str, ttl_s: int) -> bool:
    """Take ``name`` unless another owner holds an unexpired lease."""
    now = datetime.now(UTC)
    name = _row_name(name)
    with engine.begin() as conn:
        stmt = dialect_insert(conn, locks).values(
            name=name, owner=owner, expires_at=now + timedelta(seconds=ttl_s)
        )
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
        conn.execute(locks.delete().where(locks.c.name == _row_name(name), locks.c.owner == owner))


def purge_expired_leases(engine: Engine) -> int:
    """Delete leases that expired: without Redis, every enqueue marker leaves a row."""
    with engine.begin() as conn:
        deleted = conn.execute(locks.delete().where(locks.c.expires_at < datetime.now(UTC)))
    return int(deleted.rowcount)


def get_answer(engine: Engine, key: str) -> str | None:
    """The cached answer JSON under ``key``, unless it has expired."""
    query = select(llm_answers.c.answer).where(
        llm_answers.c.key == key,
        or_(llm_answers.c.expires_at.is_(None), llm_answers.c.expires_at > datetime.now(UTC)),
    )
    with engine.connect() as conn:
        return conn.execute(query).scalar_one_or_none()


def put_answer(engine: Engine, key: str, answer: str, ttl_s: int | None = None) -> None:
    expires_at = None if ttl_s is None else datetime.now(UTC) + timedelta(seconds=ttl_s)
    with engine.begin() as conn:
        row = {"key": key, "answer": answer, "expires_at": expires_at}
        upsert(conn, llm_answers, [row], update=["answer", "expires_at"])
