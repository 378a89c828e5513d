"""Background labeling jobs: a backlog file, re-queueing what failed or got stuck, the gold
set, the human review files (export the queue, import the labels), and pre-generating
answers for frequent texts."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from tqdm import tqdm

from sieve.core.errors import PermanentError
from sieve.core.events import LabelSource
from sieve.core.review_files import ReviewFormat, read_review_file, write_review_file
from sieve.core.settings import Settings
from sieve.labeler.prompts import load_prompt
from sieve.store.labels import LabelStatus, failed_labels
from sieve.store.repository import MessageRecord, save_messages
from sieve.store.review import ReviewItem
from sieve.wiring import answer_cache, celery_sink, leases, llm_client, open_store
from sieve.workers.llm.backlog import enqueue_backlog, parse_backlog

if TYPE_CHECKING:
    from sieve.workers.llm.pregenerate import PregenerateReport


def read_backlog(path: Path) -> list[MessageRecord]:
    """``{"id", "text"}`` per line (other fields ignored); a bad line names file:line."""
    with path.open(encoding="utf-8") as lines:
        return parse_backlog(lines, name=str(path))


def label_file(settings: Settings, path: Path, *, chunk_size: int) -> int:
    """Enqueue LLM labeling of every text in ``path`` that has no label for this prompt
    version yet. Resumable: run it again after an interruption and it enqueues only what is
    missing (enqueue markers and existing labels are both skipped). ``POST /label-jobs``
    does the same through the admin API (``sieve.workers.llm.backlog``)."""
    records = read_backlog(path)
    engine = open_store(settings)
    sink = celery_sink(settings, engine)
    version = load_prompt(settings.llm.prompt).version_id
    progress = _ProgressBar(version)
    try:
        result = enqueue_backlog(
            engine,
            sink,
            records,
            prompt_version=version,
            llm_model=settings.llm.model,
            chunk_size=chunk_size,
            progress=progress,
        )
    finally:
        progress.close()
    print(f"enqueued {result.enqueued} labeling tasks; `sieve worker` processes them")
    return 0


class _ProgressBar:
    """BacklogProgress on the terminal: the skip count on stdout, a bar on stderr."""

    def __init__(self, prompt_version: str) -> None:
        self._prompt_version = prompt_version
        self._bar: tqdm[None] | None = None

    def planned(self, received: int, already_labeled: int) -> None:
        print(f"{already_labeled} of {received} already labeled with {self._prompt_version}")
        self._bar = tqdm(
            total=received - already_labeled,
            unit="msg",
            desc="enqueue",
            disable=not sys.stderr.isatty(),
        )

    def advanced(self, enqueued: int) -> None:
        if self._bar is not None:
            self._bar.update(enqueued)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def requeue(settings: Settings, *, failed: bool, stuck_after_s: float | None = None) -> int:
    """Re-enqueue escalations never enqueued, failed labels (``failed``) and, with
    ``stuck_after_s``, escalations enqueued that long ago and still unlabeled: their task was
    lost (a worker killed on a broker that does not redeliver). Tasks are idempotent, so a
    task that was merely slow costs no second call."""
    engine = open_store(settings)
    sink = celery_sink(settings, engine)
    count = sink.drain(older_than_s=0, enqueued_after_s=stuck_after_s)
    if failed:
        # Every version in use: with a prompt A/B, each keeps its own failed rows.
        from sieve.workers.llm.prompt_choice import load_prompts

        for prompt in load_prompts(settings.llm.prompt_names()):
            failures = failed_labels(engine, prompt.version_id, settings.llm.model)
            count += sink.enqueue(failures, force=True)
    print(f"re-enqueued {count} messages")
    return 0


def register_gold_set(settings: Settings, path: Path) -> int:
    """Human labels from a labeled JSON Lines file, registered as the gold set: every
    retraining evaluates on them (beside its held-out slice) and never trains on them."""
    from sieve.core.dataset import read_labeled_jsonl
    from sieve.store.labels import GOLD, LabelRecord, save_label
    from sieve.workers.label_set import deployment_label_set

    records = read_labeled_jsonl(path)
    known = set(deployment_label_set(settings.labels_file))
    unknown = sorted({record.label for record in records} - known)
    if unknown:
        raise PermanentError(f"{path}: labels outside the label set: {', '.join(unknown[:5])}")
    engine = open_store(settings)
    save_messages(engine, [MessageRecord(id=r.id, text=r.text, source="gold") for r in records])
    for record in records:
        save_label(
            engine,
            LabelRecord(record.id, LabelSource.HUMAN, GOLD, "", record.label, LabelStatus.OK),
        )
    print(f"registered {len(records)} gold labels from {path}")
    return 0


def export_review(settings: Settings, out: Path, fmt: ReviewFormat, limit: int | None) -> int:
    """Write the review queue (most useful first, at most ``limit`` items) to ``out``."""
    from sieve.store.review import review_queue

    engine = open_store(settings)
    page_size = 500
    rows: list[dict[str, object]] = []
    while limit is None or len(rows) < limit:
        size = page_size if limit is None else min(page_size, limit - len(rows))
        page = review_queue(engine, limit=size, offset=len(rows))
        rows.extend(_export_row(item) for item in page.items)
        if len(page.items) < size:
            break
    try:
        with out.open("w", encoding="utf-8", newline="") as handle:
            count = write_review_file(rows, fmt, handle)
    except OSError as exc:
        raise PermanentError(f"{out}: cannot write the review file: {exc}") from exc
    print(f"wrote {count} review items to {out}; fill in `label` and run `sieve review import`")
    return 0


def _export_row(item: ReviewItem) -> dict[str, object]:
    return {
        "id": item.message_id,
        "text": item.text,
        "reasons": [str(reason) for reason in item.reasons],
        "student_label": item.student_label,
        "student_confidence": item.student_confidence,
        "llm_label": item.llm_label,
        "escalation_reason": item.escalation_reason,
        "escalated_at": item.escalated_at.isoformat(),
        "label": "",
    }


def import_review(settings: Settings, path: Path) -> int:
    """Human labels from a review file: good rows are saved (they join the gold set and
    override LLM labels in training), bad rows are reported by line on stderr. Exit 1
    when any row was bad, 0 otherwise."""
    from sieve.store.review import HumanLabel, known_messages, save_human_labels
    from sieve.workers.label_set import deployment_label_set

    imported = read_review_file(path, deployment_label_set(settings.labels_file))
    engine = open_store(settings)
    known = known_messages(engine, [row.message_id for row in imported.good])
    good = []
    for row in imported.good:
        if row.message_id in known:
            good.append(HumanLabel(row.message_id, row.label))
        else:
            imported.bad.append((row.line, f"no message {row.message_id!r} in the store"))
    save_human_labels(engine, good)
    bad = sorted(imported.bad)
    for line, problem in bad:
        print(f"{path}:{line}: {problem}", file=sys.stderr)
    print(
        f"imported {len(good)} human labels from {path}; "
        f"{imported.blank} rows without a label skipped; {len(bad)} bad rows"
    )
    return 1 if bad else 0


def pregenerate_answers(
    settings: Settings,
    engine: Engine,
    *,
    limit: int,
    min_count: int,
    prompt_name: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PregenerateReport:
    """Warm the answer cache for the most frequent unanswered texts
    (``sieve.workers.llm.pregenerate``) with the configured LLM, cache, leases, budget and
    ledger: `sieve pregenerate` and ``POST /jobs/pregenerate``."""
    from sieve.store.ledger import LedgerRecorder
    from sieve.workers.label_set import deployment_label_set
    from sieve.workers.llm.pregenerate import pregenerate

    client = llm_client(settings, engine)
    try:
        return pregenerate(
            engine,
            client=client,
            cache=answer_cache(settings, engine),
            prompt=load_prompt(prompt_name or settings.llm.prompt),
            labels=deployment_label_set(settings.labels_file),
            limit=limit,
            min_count=min_count,
            recorder=LedgerRecorder(engine).for_message(None),
            leases=leases(settings, engine),
            progress=progress,
        )
    finally:
        client.close()
