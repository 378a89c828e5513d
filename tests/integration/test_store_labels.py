"""Label rows on SQLite and PostgreSQL: written once, failures replaceable, precedence."""

from __future__ import annotations

import pytest

from sieve.store.engine import make_engine
from sieve.store.labels import (
    LabelRecord,
    LabelStatus,
    cost_totals,
    find_label,
    save_label,
    training_labels,
)
from sieve.store.repository import MessageRecord, save_messages


@pytest.fixture
def engine(store_url):
    engine = make_engine(store_url)
    save_messages(engine, [MessageRecord(id=f"m{i}", text=f"text {i}") for i in range(3)])
    yield engine
    engine.dispose()


def llm(
    message_id: str, label: str | None, status: str = LabelStatus.OK, prompt: str = "p@1", **kw
):
    return LabelRecord(message_id, "llm", prompt, "model", label, status, **kw)


def test_an_ok_label_is_never_overwritten(engine):
    first = save_label(engine, llm("m0", "card", tokens_in=10, cost_usd=0.5))
    again = save_label(engine, llm("m0", "refund"))
    failure = save_label(engine, llm("m0", None, LabelStatus.FAILED, error="timeout"))
    assert first == again == failure
    assert (failure.status, failure.label) == (LabelStatus.OK, "card")


def test_a_failed_row_is_replaced_by_a_later_success(engine):
    save_label(engine, llm("m1", None, LabelStatus.FAILED, error="429 x 8"))
    assert find_label(engine, "m1", "p@1", "model").status == LabelStatus.FAILED
    stored = save_label(engine, llm("m1", "card"))
    assert (stored.status, stored.label, stored.announced) == (LabelStatus.OK, "card", False)


def test_training_labels_prefer_human_then_newest_llm(engine):
    save_label(engine, llm("m0", "old", prompt="p@1"))
    save_label(engine, llm("m0", "new", prompt="p@2"))
    save_label(engine, LabelRecord("m1", "human", "", "", "gold", LabelStatus.OK))
    save_label(engine, llm("m1", "llm-says", prompt="p@2"))
    save_label(engine, llm("m2", None, LabelStatus.FAILED, error="outside the set"))
    chosen = {row.message_id: (row.label, row.source) for row in training_labels(engine)}
    assert chosen == {"m0": ("new", "llm"), "m1": ("gold", "human")}


def test_cost_totals_per_prompt_version_exclude_cache_hits(engine):
    save_label(engine, llm("m0", "a", prompt="p@1", tokens_in=100, tokens_out=10, cost_usd=0.25))
    save_label(engine, llm("m1", "a", prompt="p@1", tokens_in=50, tokens_out=5, cost_usd=0.5))
    save_label(engine, llm("m2", "a", prompt="p@1", tokens_in=0, tokens_out=0, cached=True))
    save_label(engine, llm("m0", "b", prompt="p@2", tokens_in=7, tokens_out=1, cost_usd=0.125))
    assert cost_totals(engine, by="prompt_version") == [
        ("p@1", 2, 150, 15, 0.75),
        ("p@2", 1, 7, 1, 0.125),
    ]
    ((day, calls, *_),) = cost_totals(engine, by="day")
    assert calls == 3 and len(day) == 10  # YYYY-MM-DD
