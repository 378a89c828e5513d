"""Counters of the LLM rate limits and spend budgets, kept in the database (Sieve without
Redis). A conditional UPDATE adds to a counter only while it is below its capacity, so
workers racing for the last room cannot both win: the row lock (PostgreSQL) or the write
lock (SQLite) orders them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select

from sieve.store.repository import dialect_insert
from sieve.store.tables import spend_counters


@dataclass(frozen=True)
class CounterAdd:
    key: str
    amount: float
    ttl_s: int
    # None: add unconditionally; else add only while the counter is below it.
    below: float | None = None


class _Refused(Exception):
    def __init__(self, index: int) -> None:
        self.index = index


def add_to_counters(engine: Engine, adds: Sequence[CounterAdd]) -> int | None:
    """Apply every add in one transaction, or none: the index of the first add refused
    (its counter already at or above ``below``), None when all were applied."""
    try:
        _add(engine, adds)
    except _Refused as refused:  # raised inside the transaction: it rolled back
        return refused.index
    return None


def _add(engine: Engine, adds: Sequence[CounterAdd]) -> None:
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for add in adds:
            stmt = dialect_insert(conn, spend_counters).values(
                key=add.key, amount=0.0, expires_at=now + timedelta(seconds=add.ttl_s)
            )
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["key"]))
        for index, add in enumerate(adds):
            update = (
                spend_counters.update()
                .where(spend_counters.c.key == add.key)
                .values(amount=spend_counters.c.amount + add.amount)
            )
            if add.below is not None:
                update = update.where(spend_counters.c.amount < add.below)
            if conn.execute(update).rowcount == 0:
                raise _Refused(index)


def read_counters(engine: Engine, keys: Sequence[str]) -> dict[str, float]:
    """The counters' amounts (0 for a key never added to, or expired)."""
    query = select(spend_counters.c.key, spend_counters.c.amount).where(
        spend_counters.c.key.in_(list(keys)), spend_counters.c.expires_at > datetime.now(UTC)
    )
    with engine.connect() as conn:
        found = {row.key: float(row.amount) for row in conn.execute(query)}
    return {key: found.get(key, 0.0) for key in keys}


def purge_expired_counters(engine: Engine) -> int:
    with engine.begin() as conn:
        deleted = conn.execute(
            spend_counters.delete().where(spend_counters.c.expires_at < datetime.now(UTC))
        )
    return int(deleted.rowcount)
