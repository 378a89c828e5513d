"""Where escalated messages go. The stream worker only sees the EscalationSink role."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import Engine

from sieve.store.repository import EscalationRecord, save_escalations


class EscalationSink(Protocol):
    def submit(self, escalations: Sequence[EscalationRecord]) -> None:
        """Durably accept the batch's escalations before its offsets are committed."""


class StoreEscalationSink:
    """Records escalations as `pending` rows; the LLM path drains them into tasks."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def submit(self, escalations: Sequence[EscalationRecord]) -> None:
        save_escalations(self._engine, escalations)
