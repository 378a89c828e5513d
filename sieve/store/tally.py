"""What a fault run (sieve/bench/faults) left in the store, counted the same way for every
scenario.

Every scenario runs on a database of its own, so the whole tables are the run. A message is
*lost* when it has no prediction row, and an escalation when it has no LLM label row at all
(``ok`` or ``failed``: a failure that is recorded is not lost). A *duplicate* is a row
beyond the first for the same message: predictions, or LLM label rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, Table, distinct, func, select

from sieve.core.events import LabelSource
from sieve.routing.policy import Route
from sieve.store.labels import LabelStatus
from sieve.store.tables import labels, llm_requests, messages, predictions


@dataclass(frozen=True)
class Tally:
    predicted: int  # messages with at least one prediction row
    escalated: int
    labeled: int  # escalations with an `ok` LLM label
    answered: int  # escalations with any LLM label row (ok or failed)
    duplicates: int
    distinct_texts: int  # distinct texts among the escalated messages

    def lost(self, produced: int) -> int:
        return (produced - self.predicted) + (self.escalated - self.answered)

    def settled(self, produced: int) -> bool:
        return self.lost(produced) == 0


def _scalar(engine: Engine, query: Select[int]) -> int:
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one() or 0)


def _extra_rows(engine: Engine, table: Table, column: ColumnElement[str], *where: Any) -> int:
    """Rows of ``table`` beyond one per value of ``column``."""
    rows = select(func.count()).select_from(table).where(*where)
    values = select(func.count(distinct(column))).select_from(table).where(*where)
    return _scalar(engine, rows) - _scalar(engine, values)


_LLM = labels.c.source == LabelSource.LLM.value
_ESCALATED = select(predictions.c.message_id).where(predictions.c.route == Route.ESCALATE.value)


def predicted(engine: Engine) -> int:
    return _scalar(engine, select(func.count(distinct(predictions.c.message_id))))


def answered(engine: Engine) -> int:
    """Escalated messages with an LLM label row (ok or failed)."""
    query = select(func.count(distinct(labels.c.message_id))).where(
        _LLM, labels.c.message_id.in_(_ESCALATED)
    )
    return _scalar(engine, query)


def take(engine: Engine) -> Tally:
    escalated = select(func.count(distinct(predictions.c.message_id))).where(
        predictions.c.route == Route.ESCALATE.value
    )
    ok = select(func.count(distinct(labels.c.message_id))).where(
        _LLM, labels.c.status == LabelStatus.OK, labels.c.message_id.in_(_ESCALATED)
    )
    texts = select(func.count(distinct(messages.c.text))).where(messages.c.id.in_(_ESCALATED))
    return Tally(
        predicted=predicted(engine),
        escalated=_scalar(engine, escalated),
        labeled=_scalar(engine, ok),
        answered=answered(engine),
        duplicates=_extra_rows(engine, predictions, predictions.c.message_id)
        + _extra_rows(engine, labels, labels.c.message_id, _LLM),
        distinct_texts=_scalar(engine, texts),
    )


def dearest_request_usd(engine: Engine) -> float:
    """The cost of the most expensive request in the ledger (0 when it is empty)."""
    with engine.connect() as conn:
        dearest = conn.execute(select(func.max(llm_requests.c.cost_usd))).scalar_one()
    return float(dearest or 0.0)
