"""The LLM ledger: one row per HTTP request sent to the LLM, and the spend read from it.

The labeler's client reports each request as it ends (``sieve.labeler.usage``);
``LedgerRecorder`` writes it here with the message it was made for. Answered or not,
usable or not, corrective turn or first: every request is a row, so the totals agree
with what the endpoint counted. ``sieve costs``, the admin API's ``/stats`` and the
metrics' spend gauges all read ``spend_by`` / ``spend_totals``.

A row that cannot be written (the database is away) is kept in memory and written with
the next one: the request is made and paid, losing its row would under-report. Rows are
keyed by the client's request id, so writing one twice leaves one.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from sieve.labeler.usage import LLMRequest, RequestOutcome, RequestRecorder
from sieve.store.repository import upsert
from sieve.store.tables import llm_requests

logger = logging.getLogger(__name__)

# Rows kept while the database is away; beyond it the oldest are dropped (and logged).
MAX_PENDING_ROWS = 10_000


class SpendGroup(StrEnum):
    PROMPT_VERSION = "prompt_version"
    MODEL = "model"
    OUTCOME = "outcome"
    DAY = "day"


@dataclass(frozen=True)
class SpendRow:
    group: str
    requests: int
    tokens_in: int
    tokens_out: int
    cost_usd: float


@dataclass(frozen=True)
class SpendTotals:
    requests: int
    tokens_in: int
    tokens_out: int
    cost_usd: float
    requests_by_outcome: dict[str, int]


class LedgerRecorder:
    """Writes the requests of every labeling in this process; ``for_message`` binds one."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def for_message(self, message_id: str | None) -> RequestRecorder:
        return _MessageRecorder(self, message_id)

    def write(self, message_id: str | None, request: LLMRequest) -> None:
        with self._lock:
            self._pending.append(_row(message_id, request))
            if len(self._pending) > MAX_PENDING_ROWS:
                lost = self._pending.pop(0)
                logger.error("ledger row dropped after the database stayed away: %s", lost)
            try:
                with self._engine.begin() as conn:
                    upsert(conn, llm_requests, self._pending)
            except SQLAlchemyError as exc:
                logger.warning(
                    "ledger: %d request rows not written yet: %s",
                    len(self._pending),
                    type(exc).__name__,
                )
                return
            self._pending.clear()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)


class _MessageRecorder:
    def __init__(self, ledger: LedgerRecorder, message_id: str | None) -> None:
        self._ledger = ledger
        self._message_id = message_id

    def record(self, request: LLMRequest) -> None:
        self._ledger.write(self._message_id, request)


def _row(message_id: str | None, request: LLMRequest) -> dict[str, Any]:
    return {
        "request_id": request.request_id,
        "started_at": request.started_at,
        "message_id": message_id,
        "prompt_version": request.prompt_version,
        "model": request.model,
        "turn": request.turn,
        "outcome": request.outcome.value,
        "status_code": request.status_code,
        "tokens_in": request.tokens_in,
        "tokens_out": request.tokens_out,
        "cost_usd": request.cost_usd,
        "latency_ms": request.latency_ms,
    }


def spend_by(engine: Engine, by: SpendGroup) -> list[SpendRow]:
    """Requests, tokens and cost per prompt version, model, outcome or day."""
    group = (
        func.date(llm_requests.c.started_at) if by is SpendGroup.DAY else llm_requests.c[by.value]
    )
    query = (
        select(
            group,
            func.count(),
            func.coalesce(func.sum(llm_requests.c.tokens_in), 0),
            func.coalesce(func.sum(llm_requests.c.tokens_out), 0),
            func.coalesce(func.sum(llm_requests.c.cost_usd), 0.0),
        )
        .group_by(group)
        .order_by(group)
    )
    with engine.connect() as conn:
        return [
            SpendRow(str(g), int(n), int(i), int(o), float(c))
            for g, n, i, o, c in conn.execute(query)
        ]


def spend_totals(engine: Engine) -> SpendTotals:
    rows = spend_by(engine, SpendGroup.OUTCOME)
    return SpendTotals(
        requests=sum(row.requests for row in rows),
        tokens_in=sum(row.tokens_in for row in rows),
        tokens_out=sum(row.tokens_out for row in rows),
        cost_usd=sum(row.cost_usd for row in rows),
        requests_by_outcome={RequestOutcome(row.group).value: row.requests for row in rows},
    )
