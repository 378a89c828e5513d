"""Label rows on SQLite and PostgreSQL: written once, failures replaceable, precedence."""

from __future__ import annotations

import pytest

from sieve.store.engine import make_engine
from sieve.store.labels import (
    LabelRecord,
    LabelStatus,
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
