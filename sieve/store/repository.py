"""Repository functions: every write is an idempotent upsert, every batch one transaction."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    OperationalError,
    StatementError,
)
from sqlalchemy.exc import InterfaceError as DBInterfaceError

from sieve.core.errors import StoreRejected, TransientError
from sieve.store.escalations import EscalationStatus
from sieve.store.tables import escalations, messages, predictions


@dataclass(frozen=True)
class MessageRecord:
    id: str
    text: str
    source: str | None = None
    meta: dict[str, Any] | None = None
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None


@dataclass(frozen=True)
class PredictionRecord:
    message_id: str
    model_version: str
    label: str | None
    confidence: float
    margin: float
    route: str
    reason: str


@dataclass(frozen=True)
class EscalationRecord:
    message_id: str
    model_version: str
    reason: str


def storable_key(value: str) -> bool:
    """Whether ``value`` could be a stored key: no store holds a NUL (PostgreSQL refuses it
    with DataError), so a lookup by such a name finds nothing instead of failing."""
    return "\x00" not in value


def dialect_insert(conn: Connection | str, table: Table) -> Any:
    """The INSERT of the connection's dialect (or of the dialect named), which has
    ``on_conflict_do_*``."""
    dialect = conn if isinstance(conn, str) else conn.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"upsert is not implemented for {dialect}")  # pragma: no cover


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    update: Iterable[str] | None = None,
) -> None:
    """INSERT ... ON CONFLICT on the primary key: update ``update`` columns, or do nothing."""
    if not rows:
        return
    stmt = dialect_insert(conn, table)
    keys = [column.name for column in table.primary_key.columns]
    columns = list(update or [])
    if columns:
        stmt = stmt.on_conflict_do_update(
            index_elements=keys, set_={name: stmt.excluded[name] for name in columns}
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=keys)
    conn.execute(stmt, [dict(row) for row in rows])


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction, with the driver's errors translated at this boundary:

    - the database cannot be reached (OperationalError, InterfaceError): TransientError;
    - it refuses the values (DataError: NUL, NaN, too long on PostgreSQL; IntegrityError),
      or the driver cannot even send them (UnicodeEncodeError for a lone surrogate, a
      ValueError from the JSON serialiser, wrapped or not in StatementError):
      StoreRejected, a permanent error. Anything else (a ProgrammingError: the schema is
      not what the code expects) is a bug or a deployment error and propagates.
    """
    try:
        with engine.begin() as conn:
            yield conn
    except (OperationalError, DBInterfaceError) as exc:
        raise TransientError(f"database unavailable: {type(exc).__name__}") from exc
    except (DataError, IntegrityError) as exc:
        raise StoreRejected(f"{type(exc).__name__}: {exc.orig}") from exc
    except DBAPIError:
        raise
    except StatementError as exc:  # a Python error while the parameters were prepared
        raise StoreRejected(f"{type(exc.orig).__name__}: {exc.orig}") from exc
    except ValueError as exc:  # UnicodeEncodeError included
        raise StoreRejected(f"{type(exc).__name__}: {exc}") from exc


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection for reads; a database that cannot be reached becomes a TransientError."""
    try:
        with engine.connect() as conn:
            yield conn
    except (OperationalError, DBInterfaceError) as exc:
        raise TransientError(f"database unavailable: {type(exc).__name__}") from exc


def save_predictions(
    engine: Engine, batch: Sequence[MessageRecord], rows: Sequence[PredictionRecord]
) -> None:
    """Messages and their predictions of one batch, in one transaction."""
    with transaction(engine) as conn:
        # A redelivered message keeps its first row: its text cannot have changed.
        upsert(conn, messages, [vars(record) for record in batch])
        upsert(
            conn,
            predictions,
            [vars(row) for row in rows],
            update=("label", "confidence", "margin", "route", "reason"),
        )


def save_messages(engine: Engine, batch: Sequence[MessageRecord]) -> None:
    with transaction(engine) as conn:
        upsert(conn, messages, [vars(record) for record in batch])


def save_escalations(engine: Engine, rows: Sequence[EscalationRecord]) -> None:
    """New escalations are `pending`; an existing row is left as it is (its status only
    moves forward, see sieve.store.escalations.EscalationStatus)."""
    with transaction(engine) as conn:
        upsert(conn, escalations, [vars(row) for row in rows])


def pending_escalations(engine: Engine, limit: int = 1000) -> list[EscalationRecord]:
    query = (
        select(escalations.c.message_id, escalations.c.model_version, escalations.c.reason)
        .where(escalations.c.status == EscalationStatus.PENDING)
        .order_by(escalations.c.created_at)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [EscalationRecord(*row) for row in conn.execute(query)]


def count_rows(engine: Engine, table: Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())
