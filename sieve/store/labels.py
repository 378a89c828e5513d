"""LLM and human labels: one row per (message, source, prompt version, LLM model).

A successful label is written once and never overwritten by a later failure; a failed
row is replaced when a retry (or a re-queue from the CLI) succeeds.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, Select, and_, func, select

from sieve.core.events import LabelSource
from sieve.store.repository import dialect_insert, transaction
from sieve.store.tables import labels, messages

# The prompt version of the operator's human gold set (evaluation only, never training).
# Prompt versions are open text; this one value marks the set.
GOLD = "gold"
# The prompt version of human labels given in review (`sieve review import`, the
# dashboard): they join the gold set and override LLM labels in training (store/review.py).
REVIEW = "review"
# Ids per ``IN (...)`` query: well below SQLite's bound-parameter limit.
_LOOKUP_BATCH = 500


class LabelStatus(StrEnum):
    """How a label row's LLM call ended (``labels.status``)."""

    OK = "ok"
    FAILED = "failed"  # no label; a retry or `sieve requeue` may replace the row


@dataclass(frozen=True)
class LabelRecord:
    message_id: str
    source: LabelSource  # LLM or HUMAN
    prompt_version: str
    llm_model: str
    label: str | None
    status: LabelStatus
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
    status: LabelStatus
    label: str | None
    announced: bool


def save_label(engine: Engine, record: LabelRecord) -> StoredLabel:
    """Upsert ``record`` unless an OK row exists; returns the row as it now stands."""
    with engine.begin() as conn:
        return upsert_label(conn, record)


def upsert_label(conn: Connection, record: LabelRecord) -> StoredLabel:
    """save_label inside the caller's transaction. The statement is built once per dialect
    and RETURNING answers the usual case (a new row) without a second query: the labeling
    task runs this once a message, and building the statement cost more CPU than running it."""
    row = asdict(record)
    stored = conn.execute(_label_upsert(conn.dialect.name), row).first()
    if stored is None:  # an OK row was there already and is kept: read it
        stored = conn.execute(
            select(*_STORED_COLUMNS).where(and_(*(labels.c[name] == row[name] for name in _KEY)))
        ).one()
    return StoredLabel(LabelStatus(stored.status), stored.label, stored.announced_at is not None)


def insert_labels(engine: Engine, records: Sequence[LabelRecord]) -> None:
    """Many labels in one transaction (a bulk load: an import, a benchmark); a row whose
    key (message, source, prompt version, LLM model) exists is left as it is."""
    if not records:
        return
    with transaction(engine) as conn:
        stmt = dialect_insert(conn, labels).on_conflict_do_nothing(
            index_elements=["message_id", "source", "prompt_version", "llm_model"]
        )
        conn.execute(stmt, [asdict(record) for record in records])


def find_label(
    engine: Engine, message_id: str, prompt_version: str, llm_model: str
) -> StoredLabel | None:
    with engine.connect() as conn:
        return read_llm_label(conn, message_id, prompt_version, llm_model)


def read_llm_label(
    conn: Connection, message_id: str, prompt_version: str, llm_model: str
) -> StoredLabel | None:
    """find_label on the caller's connection."""
    query = select(*_STORED_COLUMNS).where(
        labels.c.message_id == message_id,
        labels.c.source == LabelSource.LLM,
        labels.c.prompt_version == prompt_version,
        labels.c.llm_model == llm_model,
    )
    row = conn.execute(query).first()
    if row is None:
        return None
    return StoredLabel(LabelStatus(row.status), row.label, row.announced_at is not None)


_KEY = ("message_id", "source", "prompt_version", "llm_model")
_STORED_COLUMNS = (labels.c.status, labels.c.label, labels.c.announced_at)


@functools.cache
def _label_upsert(dialect: str) -> Any:
    """INSERT ... ON CONFLICT (key) DO UPDATE the other columns WHERE the row failed,
    RETURNING the row: nothing is returned when an OK row is kept."""
    insert = dialect_insert(dialect, labels)
    values = [field.name for field in fields(LabelRecord) if field.name not in _KEY]
    return insert.on_conflict_do_update(
        index_elements=list(_KEY),
        set_={name: insert.excluded[name] for name in values},
        where=labels.c.status == LabelStatus.FAILED,
    ).returning(*_STORED_COLUMNS)


def mark_announced(engine: Engine, message_id: str, prompt_version: str, llm_model: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            labels.update()
            .where(
                labels.c.message_id == message_id,
                labels.c.source == LabelSource.LLM,
                labels.c.prompt_version == prompt_version,
                labels.c.llm_model == llm_model,
            )
            .values(announced_at=datetime.now(UTC))
        )


def failed_labels(engine: Engine, prompt_version: str, llm_model: str) -> list[str]:
    query = select(labels.c.message_id).where(
        labels.c.status == LabelStatus.FAILED,
        labels.c.prompt_version == prompt_version,
        labels.c.llm_model == llm_model,
    )
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


def labeled_ids(
    engine: Engine, message_ids: Sequence[str], prompt_version: str, llm_model: str
) -> set[str]:
    """Those of ``message_ids`` with an OK label from this prompt version and model."""
    wanted = sorted(set(message_ids))
    found: set[str] = set()
    with transaction(engine) as conn:
        for start in range(0, len(wanted), _LOOKUP_BATCH):
            query = select(labels.c.message_id).where(
                labels.c.message_id.in_(wanted[start : start + _LOOKUP_BATCH]),
                labels.c.status == LabelStatus.OK,
                labels.c.prompt_version == prompt_version,
                labels.c.llm_model == llm_model,
            )
            found.update(conn.execute(query).scalars())
    return found


def ok_label_count(engine: Engine, message_ids: Sequence[str] | None = None) -> int:
    """OK label rows, of every message or of ``message_ids`` only."""
    query = select(func.count()).select_from(labels).where(labels.c.status == LabelStatus.OK)
    if message_ids is not None:
        query = query.where(labels.c.message_id.in_(list(message_ids)))
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


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
        .where(labels.c.status == LabelStatus.OK)
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
            if (
                current is not None
                and current.source == LabelSource.HUMAN
                and row.source != LabelSource.HUMAN
            ):
                continue
            chosen[row.message_id] = TrainingLabel(*row)
    return list(chosen.values())


def gold_labels(engine: Engine, *, with_reviews: bool = False) -> list[TrainingLabel]:
    """The operator's human gold set. By default the registered set (`sieve gold-set`):
    always part of the evaluation, never of training, and what routing thresholds are
    fitted on. ``with_reviews`` adds the labels people gave in review: those train (they
    override the LLM's label, and the stable hash holds some out like any label), and
    they are no sample of the traffic (mostly disagreements), so they fit no threshold;
    they count for the accuracy on audited items."""
    versions = [GOLD, REVIEW] if with_reviews else [GOLD]
    query = (
        _ok_labels()
        .where(labels.c.source == LabelSource.HUMAN, labels.c.prompt_version.in_(versions))
        .order_by(labels.c.message_id, labels.c.prompt_version)
    )
    chosen: dict[str, TrainingLabel] = {}
    with engine.connect() as conn:
        for row in conn.execute(query):
            # One per message: "gold" sorts before "review", so the registered label wins.
            chosen.setdefault(row.message_id, TrainingLabel(*row))
    return list(chosen.values())
