"""What one LLM labeling task reads and writes, in as few round trips as the protocol
allows (``sieve.workers.llm.labeling``): the task's overhead is counted in transactions.

1. ``task_state``: the message (text, provisional label) and its label row, if any, read
   on one connection;
2. ``settle``: the label row (OK or failed) and the escalation's forward move, in one
   transaction, so no crash can leave a stored label beside an `enqueued` escalation;
3. the final label event is produced and then ``mark_announced`` (``labels.py``): after
   the broker's ack, never in the same transaction as 2.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from sieve.store.escalations import (
    EscalatedMessage,
    EscalationStatus,
    move_escalations,
    read_escalated_message,
)
from sieve.store.labels import LabelRecord, StoredLabel, read_llm_label, upsert_label


@dataclass(frozen=True)
class TaskState:
    message: EscalatedMessage | None  # None: the message is not in the store
    label: StoredLabel | None  # the row for this prompt version and model, if any


def task_state(engine: Engine, message_id: str, prompt_version: str, llm_model: str) -> TaskState:
    with engine.connect() as conn:
        label = read_llm_label(conn, message_id, prompt_version, llm_model)
        message = read_escalated_message(conn, message_id)
    return TaskState(message, label)


def settle(engine: Engine, record: LabelRecord, status: EscalationStatus) -> StoredLabel:
    """Upsert the label row (an OK row is never replaced) and move the message's escalation
    forward to ``status``; returns the label row as it now stands."""
    with engine.begin() as conn:
        stored = upsert_label(conn, record)
        move_escalations(conn, [record.message_id], status)
    return stored
