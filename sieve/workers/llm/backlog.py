"""Backlog labeling, shared by `sieve label-file` and ``POST /label-jobs``: parse JSON Lines
of ``{"id", "text"}``, skip what already has a label, save and enqueue the rest in chunks.

Resumable: submitting the same backlog again skips every text labeled meanwhile, and the
sink's enqueue markers keep the rest from being queued twice. Nothing here imports Celery
or Redis; the caller hands in the sink (``celery_sink`` in production).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Engine

from sieve.core.errors import PermanentError
from sieve.store.labels import labeled_ids
from sieve.store.repository import MessageRecord, save_messages

BACKLOG_SOURCE = "backlog"


class BacklogSink(Protocol):
    """Where the texts to label go (``CeleryEscalationSink`` implements it)."""

    def enqueue(self, message_ids: Sequence[str]) -> int:
        """Queue a labeling task per message not queued before; returns how many it took."""
        ...


class BacklogProgress(Protocol):
    """Follows ``enqueue_backlog``: once after the skip query, then after every chunk."""

    def planned(self, received: int, already_labeled: int) -> None: ...

    def advanced(self, enqueued: int) -> None: ...


@dataclass(frozen=True)
class BacklogResult:
    received: int
    already_labeled: int
    enqueued: int


def parse_backlog_line(line: str, location: str) -> MessageRecord | None:
    """One line: a record, or None when blank. Other fields are ignored; a bad line
    raises PermanentError starting with ``location`` (``file:3`` or ``line 3``)."""
    if not line.strip():
        return None
    try:
        document = json.loads(line)
    except json.JSONDecodeError as exc:
        raise PermanentError(f"{location}: not JSON ({exc.msg})") from exc
    if not (
        isinstance(document, dict)
        and isinstance(document.get("id"), str)
        and isinstance(document.get("text"), str)
        and document["text"].strip()
    ):
        raise PermanentError(f"{location}: expected string 'id' and 'text'")
    return MessageRecord(id=document["id"], text=document["text"], source=BACKLOG_SOURCE)


def parse_backlog(lines: Iterable[str], *, name: str | None = None) -> list[MessageRecord]:
    """Every non-blank line; errors name ``name:N`` (a file) or ``line N`` without a name."""
    records = []
    for number, line in enumerate(lines, start=1):
        location = f"{name}:{number}" if name else f"line {number}"
        record = parse_backlog_line(line, location)
        if record is not None:
            records.append(record)
    return records


def enqueue_backlog(
    engine: Engine,
    sink: BacklogSink,
    records: Sequence[MessageRecord],
    *,
    prompt_version: str,
    llm_model: str,
    chunk_size: int,
    progress: BacklogProgress | None = None,
) -> BacklogResult:
    """Save and enqueue, ``chunk_size`` at a time, every record without an OK label from
    (``prompt_version``, ``llm_model``). Each chunk is saved before it is enqueued, so an
    interruption leaves nothing queued whose text is not stored."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    done = labeled_ids(engine, [record.id for record in records], prompt_version, llm_model)
    todo = [record for record in records if record.id not in done]
    if progress is not None:
        progress.planned(len(records), len(records) - len(todo))
    enqueued = 0
    for start in range(0, len(todo), chunk_size):
        chunk = todo[start : start + chunk_size]
        save_messages(engine, chunk)
        enqueued += sink.enqueue([record.id for record in chunk])
        if progress is not None:
            progress.advanced(len(chunk))
    return BacklogResult(len(records), len(records) - len(todo), enqueued)
