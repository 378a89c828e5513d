"""Background labeling jobs: a backlog file, and re-queueing what failed or got stuck."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sqlalchemy import select
from tqdm import tqdm

from sieve.core.errors import PermanentError
from sieve.core.settings import Settings
from sieve.labeler.prompts import load_prompt
from sieve.store.labels import OK, failed_labels
from sieve.store.repository import MessageRecord, save_messages
from sieve.store.tables import labels
from sieve.workers.runtime import celery_sink, open_store


def read_backlog(path: Path) -> list[MessageRecord]:
    """``{"id", "text"}`` per line (other fields ignored); a bad line names file:line."""
    records = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                document = json.loads(line)
            except json.JSONDecodeError as exc:
                raise PermanentError(f"{path}:{number}: not JSON ({exc.msg})") from exc
            if not (
                isinstance(document, dict)
                and isinstance(document.get("id"), str)
                and isinstance(document.get("text"), str)
                and document["text"].strip()
            ):
                raise PermanentError(f"{path}:{number}: expected string 'id' and 'text'")
            records.append(
                MessageRecord(id=document["id"], text=document["text"], source="backlog")
            )
    return records


def label_file(settings: Settings, path: Path, *, chunk_size: int) -> int:
    """Enqueue LLM labeling of every text in ``path`` that has no label for this prompt
    version yet. Resumable: run it again after an interruption and it enqueues only what is
    missing (enqueue markers and existing labels are both skipped)."""
    records = read_backlog(path)
    engine = open_store(settings)
    sink = celery_sink(settings, engine)
    version = load_prompt(settings.llm.prompt).version_id
    with engine.connect() as conn:
        done = set(
            conn.execute(
                select(labels.c.message_id).where(
                    labels.c.status == OK,
                    labels.c.prompt_version == version,
                    labels.c.llm_model == settings.llm.model,
                )
            ).scalars()
        )
    todo = [record for record in records if record.id not in done]
    print(f"{len(records) - len(todo)} of {len(records)} already labeled with {version}")
    with tqdm(total=len(todo), unit="msg", desc="enqueue", disable=not sys.stderr.isatty()) as bar:
        for start in range(0, len(todo), chunk_size):
            chunk = todo[start : start + chunk_size]
            save_messages(engine, chunk)
            sink.enqueue([record.id for record in chunk])
            bar.update(len(chunk))
    print(f"enqueued {len(todo)} labeling tasks; `sieve worker` processes them")
    return 0


def requeue(settings: Settings, *, failed: bool) -> int:
    engine = open_store(settings)
    sink = celery_sink(settings, engine)
    count = sink.drain(older_than_s=0)
    if failed:
        version = load_prompt(settings.llm.prompt).version_id
        failures = failed_labels(engine, version, settings.llm.model)
        count += sink.enqueue(failures, force=True)
    print(f"re-enqueued {count} messages")
    return 0


def register_gold_set(settings: Settings, path: Path) -> int:
    """Human labels from a labeled JSON Lines file, registered as the gold set: every
    retraining evaluates on them (beside its held-out slice) and never trains on them."""
    from sieve.models.dataset import read_label_set, read_labeled_jsonl
    from sieve.store.labels import GOLD, LabelRecord, save_label

    records = read_labeled_jsonl(path)
    known = set(read_label_set(settings.labels_file))
    unknown = sorted({record.label for record in records} - known)
    if unknown:
        raise PermanentError(f"{path}: labels outside the label set: {', '.join(unknown[:5])}")
    engine = open_store(settings)
    save_messages(engine, [MessageRecord(id=r.id, text=r.text, source="gold") for r in records])
    for record in records:
        save_label(engine, LabelRecord(record.id, "human", GOLD, "", record.label, OK))
    print(f"registered {len(records)} gold labels from {path}")
    return 0
