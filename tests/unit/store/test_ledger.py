"""The LLM ledger on SQLite: one row per request, written once, kept while the database is
away, and the spend read back per group."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select, text

from sieve.labeler.usage import LLMRequest, RequestOutcome
from sieve.store.ledger import LedgerRecorder, SpendGroup, SpendRow, spend_by, spend_totals
from sieve.store.tables import llm_requests


def _request(
    outcome: RequestOutcome, tokens: tuple[int, int] = (0, 0), **fields: object
) -> LLMRequest:
    values: dict = {
        "model": "teacher-sim",
        "prompt_version": "zero-shot@1",
        "turn": 1,
        "outcome": outcome,
        "tokens_in": tokens[0],
        "tokens_out": tokens[1],
        "cost_usd": (tokens[0] + 2 * tokens[1]) / 1e6,
        "latency_ms": 10.0,
        **fields,
    }
    return LLMRequest(**values)


def _rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(llm_requests)).scalar_one())


def test_each_request_is_a_row_with_its_message(sqlite_engine: Engine) -> None:
    ledger = LedgerRecorder(sqlite_engine)
    ledger.for_message("m1").record(_request(RequestOutcome.OUTSIDE_SET, (40, 4)))
    ledger.for_message("m1").record(_request(RequestOutcome.OK, (90, 9), turn=2, status_code=200))
    ledger.for_message(None).record(_request(RequestOutcome.TIMEOUT))
    with sqlite_engine.connect() as conn:
        rows = conn.execute(
            select(
                llm_requests.c.message_id,
                llm_requests.c.turn,
                llm_requests.c.outcome,
                llm_requests.c.tokens_in,
                llm_requests.c.status_code,
            ).order_by(llm_requests.c.turn, llm_requests.c.outcome)
        ).all()
    assert [tuple(row) for row in rows] == [
        ("m1", 1, "outside_set", 40, None),
        (None, 1, "timeout", 0, None),
        ("m1", 2, "ok", 90, 200),
    ]


def test_a_request_written_twice_is_one_row(sqlite_engine: Engine) -> None:
    ledger = LedgerRecorder(sqlite_engine)
    request = _request(RequestOutcome.OK, (10, 1))
    ledger.for_message("m1").record(request)
    ledger.for_message("m1").record(request)
    assert _rows(sqlite_engine) == 1


def test_rows_are_kept_while_the_table_is_away_and_written_with_the_next(
    sqlite_engine: Engine,
) -> None:
    ledger = LedgerRecorder(sqlite_engine)
    with sqlite_engine.begin() as conn:
        conn.execute(text("ALTER TABLE llm_requests RENAME TO llm_requests_away"))
    ledger.for_message("m1").record(_request(RequestOutcome.OK, (10, 1)))  # must not raise
    assert ledger.pending == 1
    with sqlite_engine.begin() as conn:
        conn.execute(text("ALTER TABLE llm_requests_away RENAME TO llm_requests"))
    ledger.for_message("m2").record(_request(RequestOutcome.RATE_LIMITED))
    assert ledger.pending == 0
    assert _rows(sqlite_engine) == 2


def test_spend_per_group_and_in_total(sqlite_engine: Engine) -> None:
    ledger = LedgerRecorder(sqlite_engine).for_message("m")
    day = datetime(2026, 3, 10, 12, tzinfo=UTC)
    ledger.record(_request(RequestOutcome.OK, (100, 10), started_at=day))
    ledger.record(_request(RequestOutcome.MALFORMED, (50, 5), started_at=day))
    ledger.record(_request(RequestOutcome.SERVER_ERROR, started_at=day))
    ledger.record(
        _request(RequestOutcome.OK, (200, 20), prompt_version="few-shot@1", started_at=day)
    )

    assert spend_by(sqlite_engine, SpendGroup.PROMPT_VERSION) == [
        SpendRow("few-shot@1", 1, 200, 20, pytest.approx(240 / 1e6)),
        SpendRow("zero-shot@1", 3, 150, 15, pytest.approx(180 / 1e6)),
    ]
    assert [(r.group, r.requests) for r in spend_by(sqlite_engine, SpendGroup.OUTCOME)] == [
        ("malformed", 1),
        ("ok", 2),
        ("server_error", 1),
    ]
    assert [(r.group, r.requests) for r in spend_by(sqlite_engine, SpendGroup.DAY)] == [
        ("2026-03-10", 4)
    ]
    totals = spend_totals(sqlite_engine)
    assert (totals.requests, totals.tokens_in, totals.tokens_out) == (4, 350, 35)
    assert totals.cost_usd == pytest.approx(420 / 1e6)
    assert totals.requests_by_outcome == {"malformed": 1, "ok": 2, "server_error": 1}


def test_an_empty_ledger_spent_nothing(sqlite_engine: Engine) -> None:
    totals = spend_totals(sqlite_engine)
    assert (totals.requests, totals.cost_usd, totals.requests_by_outcome) == (0, 0.0, {})
