"""The human review queue, and the human labels it produces.

Which messages a person should look at, most useful first:

1. **Disagreements**: the fast model's label at escalation time (its prediction under the
   escalation's model version) differs from the LLM's newest OK label. One of the two is
   wrong, and the human label settles it.
2. **The exploration sample**: confident messages escalated anyway (``Reason.EXPLORATION``),
   a random sample of what the fast model keeps; a human label on them measures the kept
   precision without the LLM's errors.

Low-confidence LLM answers are not a source: the labeler asks for a label and a rationale,
not a confidence, so no stored LLM answer carries one.

A message with any human label leaves the queue. Order: disagreements first, then newest
escalation first.

A human label given in review is a ``labels`` row (source ``human``, prompt version
``REVIEW``); a later review of the same message replaces it. It joins the gold set
(``gold_labels(with_reviews=True)``) and wins over every LLM label in training
(``training_labels``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, and_, case, exists, func, or_, select

from sieve.core.events import LabelSource
from sieve.routing.policy import Reason
from sieve.store.labels import REVIEW, LabelStatus
from sieve.store.repository import dialect_insert, reading, transaction
from sieve.store.tables import escalations, labels, messages, predictions

# Ids per ``IN (...)`` query: well below SQLite's bound-parameter limit.
_LOOKUP_BATCH = 500


class ReviewReason(StrEnum):
    DISAGREEMENT = "disagreement"  # the fast model's label differs from the LLM's
    EXPLORATION = "exploration"  # the exploration sample of confident messages


@dataclass(frozen=True)
class ReviewItem:
    message_id: str
    text: str
    reasons: tuple[ReviewReason, ...]
    student_label: str | None
    student_confidence: float | None
    llm_label: str | None
    escalation_reason: str
    escalated_at: datetime


@dataclass(frozen=True)
class ReviewPage:
    total: int
    items: list[ReviewItem]


def _newest_llm_labels() -> Any:
    """Each message's newest OK LLM label (a window function: one pass over the labels,
    where a correlated subquery per escalation took seconds on 20,000 of them)."""
    ranked = (
        select(
            labels.c.message_id,
            labels.c.label,
            func.row_number()
            .over(
                partition_by=labels.c.message_id,
                order_by=(labels.c.created_at.desc(), labels.c.id.desc()),
            )
            .label("rank"),
        )
        .where(labels.c.source == LabelSource.LLM, labels.c.status == LabelStatus.OK)
        .subquery()
    )
    return select(ranked.c.message_id, ranked.c.label).where(ranked.c.rank == 1).subquery()


def _queue() -> tuple[Any, Any, Any]:
    """(columns, the FROM with its joins, the WHERE) of the queue."""
    llm = _newest_llm_labels()
    disagrees = and_(
        predictions.c.label.is_not(None),
        llm.c.label.is_not(None),
        predictions.c.label != llm.c.label,
    )
    human = exists().where(
        labels.c.message_id == escalations.c.message_id,
        labels.c.source == LabelSource.HUMAN,
        labels.c.status == LabelStatus.OK,
    )
    source = (
        escalations.join(messages, messages.c.id == escalations.c.message_id)
        .join(
            predictions,
            and_(
                predictions.c.message_id == escalations.c.message_id,
                predictions.c.model_version == escalations.c.model_version,
            ),
            isouter=True,
        )
        .join(llm, llm.c.message_id == escalations.c.message_id, isouter=True)
    )
    where = and_(~human, or_(disagrees, escalations.c.reason == Reason.EXPLORATION))
    disagreement = case((disagrees, 1), else_=0).label("disagreement")
    columns = (
        escalations.c.message_id,
        messages.c.text,
        predictions.c.label.label("student_label"),
        predictions.c.confidence,
        llm.c.label.label("llm_label"),
        escalations.c.reason,
        escalations.c.created_at,
        disagreement,
    )
    return columns, source, where


def review_queue(engine: Engine, *, limit: int = 50, offset: int = 0) -> ReviewPage:
    """One page of the queue, and how many items the whole queue holds (counted in the
    same pass, a window count; a second query only for a page past the end)."""
    columns, source, where = _queue()
    page = (
        select(*columns, func.count().over().label("total"))
        .select_from(source)
        .where(where)
        .order_by(columns[-1].desc(), escalations.c.created_at.desc(), escalations.c.message_id)
        .limit(limit)
        .offset(offset)
    )
    with reading(engine) as conn:
        rows = conn.execute(page).all()
        if rows:
            total = int(rows[0].total)
        else:
            count = select(func.count()).select_from(source).where(where)
            total = int(conn.execute(count).scalar_one())
    return ReviewPage(total, [_item(row) for row in rows])


def _item(row: Any) -> ReviewItem:
    reasons = []
    if row.disagreement:
        reasons.append(ReviewReason.DISAGREEMENT)
    if row.reason == Reason.EXPLORATION:
        reasons.append(ReviewReason.EXPLORATION)
    return ReviewItem(
        message_id=row.message_id,
        text=row.text,
        reasons=tuple(reasons),
        student_label=row.student_label,
        student_confidence=row.confidence,
        llm_label=row.llm_label,
        escalation_reason=row.reason,
        escalated_at=row.created_at,
    )


def known_messages(engine: Engine, message_ids: Sequence[str]) -> set[str]:
    """Those of ``message_ids`` the store holds (a label needs the message's text)."""
    wanted = sorted(set(message_ids))
    found: set[str] = set()
    with reading(engine) as conn:
        for start in range(0, len(wanted), _LOOKUP_BATCH):
            chunk = wanted[start : start + _LOOKUP_BATCH]
            found.update(
                conn.execute(select(messages.c.id).where(messages.c.id.in_(chunk))).scalars()
            )
    return found


@dataclass(frozen=True)
class HumanLabel:
    message_id: str
    label: str


def save_human_labels(engine: Engine, rows: Sequence[HumanLabel]) -> None:
    """Upsert review labels in one transaction; a message labeled again takes the new
    label (the last one given wins). The caller checks the messages exist."""
    if not rows:
        return
    # The last label given for a message wins, within one call too.
    latest = {row.message_id: row.label for row in rows}
    values = [
        {
            "message_id": message_id,
            "source": LabelSource.HUMAN,
            "prompt_version": REVIEW,
            "llm_model": "",
            "label": label,
            "status": LabelStatus.OK,
        }
        for message_id, label in latest.items()
    ]
    with transaction(engine) as conn:
        insert = dialect_insert(conn, labels)
        conn.execute(
            insert.on_conflict_do_update(
                index_elements=["message_id", "source", "prompt_version", "llm_model"],
                set_={"label": insert.excluded.label, "created_at": func.now()},
            ),
            values,
        )
