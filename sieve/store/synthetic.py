"""Synthetic examples: what the LLM wrote per label for the bootstrap (`sieve bootstrap`).

They live apart from ``messages`` and ``labels`` so nothing that counts real traffic or
real LLM answers (stats, the ledger's per-message rows, retraining triggers, gold) ever
sees them. Retraining reads them as training rows of source ``synthetic``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, func, select

from sieve.store.labels import TrainingLabel
from sieve.store.repository import reading, transaction, upsert
from sieve.store.tables import synthetic_examples

SYNTHETIC = "synthetic"  # TrainingLabel.source of these rows
_ID_PREFIX = "synthetic:"


@dataclass(frozen=True)
class SyntheticExample:
    label: str
    text: str
    # The normalised text (dedup key); stored only through the id's hash.
    normalised: str
    prompt_version: str
    llm_model: str
    seed: int

    @property
    def id(self) -> str:
        """One row per normalised text, whatever the label: a text is an example of one label."""
        return hashlib.sha256(self.normalised.encode()).hexdigest()[:40]


def save_synthetic_examples(engine: Engine, examples: Sequence[SyntheticExample]) -> int:
    """Insert the examples whose normalised text is not stored yet (a stored one keeps its
    row and label: the first bootstrap to write a text wins); returns how many were new."""
    rows = [
        {
            "id": example.id,
            "label": example.label,
            "text": example.text,
            "prompt_version": example.prompt_version,
            "llm_model": example.llm_model,
            "seed": example.seed,
        }
        for example in examples
    ]
    with transaction(engine) as conn:
        before = int(
            conn.execute(select(func.count()).select_from(synthetic_examples)).scalar_one()
        )
        upsert(conn, synthetic_examples, rows)
        after = int(conn.execute(select(func.count()).select_from(synthetic_examples)).scalar_one())
    return after - before


def synthetic_training_rows(engine: Engine) -> list[TrainingLabel]:
    """Every synthetic example as a training row (source ``synthetic``), in id order."""
    query = select(
        synthetic_examples.c.id,
        synthetic_examples.c.text,
        synthetic_examples.c.label,
        synthetic_examples.c.prompt_version,
    ).order_by(synthetic_examples.c.id)
    with reading(engine) as conn:
        return [
            TrainingLabel(_ID_PREFIX + row.id, row.text, row.label, SYNTHETIC, row.prompt_version)
            for row in conn.execute(query)
        ]


def synthetic_counts(engine: Engine) -> dict[str, int]:
    """Stored synthetic examples per label."""
    query = select(synthetic_examples.c.label, func.count()).group_by(synthetic_examples.c.label)
    with reading(engine) as conn:
        return {label: int(count) for label, count in conn.execute(query)}
