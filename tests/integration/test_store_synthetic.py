"""Synthetic examples in the store, on SQLite and a real PostgreSQL: the migration builds
the table the code declares, one row per normalised text, read back as training rows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from sieve.labeler.cache import normalise_text
from sieve.store.engine import make_engine
from sieve.store.synthetic import (
    SYNTHETIC,
    SyntheticExample,
    save_synthetic_examples,
    synthetic_counts,
    synthetic_training_rows,
)
from sieve.store.tables import metadata

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    engine = make_engine(store_url)
    yield engine
    engine.dispose()


def _example(label: str, text: str) -> SyntheticExample:
    return SyntheticExample(label, text, normalise_text(text), "generate-examples@1", "m", 0)


def test_the_migration_builds_the_declared_table(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert not [change for change in diff if "synthetic_examples" in repr(change)]


def test_one_row_per_normalised_text_first_label_wins(engine: Engine) -> None:
    first = [_example("a", "Where is my card?"), _example("a", "Card not here")]
    assert save_synthetic_examples(engine, first) == 2
    again = [_example("b", "WHERE is my  card?"), _example("b", "Rate please")]
    assert save_synthetic_examples(engine, again) == 1
    assert synthetic_counts(engine) == {"a": 2, "b": 1}
    rows = synthetic_training_rows(engine)
    assert {(row.label, row.text) for row in rows} == {
        ("a", "Where is my card?"),
        ("a", "Card not here"),
        ("b", "Rate please"),
    }
    assert all(row.source == SYNTHETIC and row.message_id.startswith("synthetic:") for row in rows)
    assert all(row.prompt_version == "generate-examples@1" for row in rows)
