"""Label one escalated message with the LLM, store the label once, announce it once.

Called by the Celery task `label_with_llm` (and by the CLI's re-queue). Every step is
idempotent, because Celery redelivers (acks_late) and retries:

    0. the prompt version: the one configured, or with several (prompt A/B) the version
       assigned to the message, drawn once by the bandit (prompt_choice.py); a retrieval
       prompt is shown the labeled examples nearest to the text (examples.py);
    1. a label row already OK for (message, prompt version, LLM model)? announce if not yet
       announced, and stop: no call.
    2. take a short lease on the message (Redis or the database), so two copies of the task
       (a redelivery racing the original) cannot both pay for a call;
    3. the labeler: cache hit, or one paid call (parsed, validated against the label set),
       single flight on the cache key: another message with the same text being paid for
       right now → ``AnswerInFlight``, retried shortly and then served from the cache.
       Every HTTP request made is written to the ledger (store/ledger.py) as it ends;
    4. upsert the label row (or a `failed` row with the reason, for permanent errors) and
       move the escalation to `labeled` (`failed`), in one transaction;
    5. produce the final label event, flush, mark the row announced.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from sieve.core import metrics
from sieve.core.errors import KafkaUnavailable, PermanentError, RecordTooLarge, TransientError
from sieve.core.events import LabelEvent, LabelSource
from sieve.labeler.cache import AnswerCache, CacheUnavailable
from sieve.labeler.client import LLMClient, PermanentLLMError, TransientLLMError
from sieve.labeler.parsing import LabelOutsideSet
from sieve.labeler.prompts import FewShotExample, PromptTemplate
from sieve.labeler.service import AnswerInFlight, LabelResult, label_message
from sieve.store.columns import NO_MODEL_VERSION
from sieve.store.coordination import LeaseKind, lease_name
from sieve.store.escalations import EscalatedMessage, EscalationStatus, set_escalation_status
from sieve.store.label_task import settle, task_state
from sieve.store.labels import LabelRecord, LabelStatus, StoredLabel, mark_announced
from sieve.store.ledger import LedgerRecorder
from sieve.workers.llm.budget import OverLimit
from sieve.workers.llm.examples import StoreExamples
from sieve.workers.llm.leases import Leases
from sieve.workers.llm.prompt_choice import PromptChooser
from sieve.workers.records import RecordProducer

logger = logging.getLogger(__name__)


class Outcome(StrEnum):
    LABELED = "labeled"
    CACHED = "cached"
    ALREADY_LABELED = "already_labeled"
    FAILED = "failed"
    UNKNOWN_MESSAGE = "unknown_message"
    DEFERRED = "deferred"  # the LLM budget is spent: waits for the drain after renewal


class FailureKind(StrEnum):
    """Why a labeling attempt failed, besides the LLM call's own LLMFailure kinds."""

    OUTSIDE_LABEL_SET = "outside_label_set"
    LOCK_BUSY = "lock_busy"
    ANSWER_IN_FLIGHT = "answer_in_flight"
    CACHE = "cache"
    DATABASE = "database"
    KAFKA = "kafka"
    TIME_LIMIT = "time_limit"
    TRANSIENT = "transient"  # another TransientError
    OTHER = "other"


def failure_kind(exc: BaseException) -> str:
    """The metrics label of a failed attempt, by exception type (never by message text)."""
    if isinstance(exc, TransientLLMError | PermanentLLMError):
        return exc.failure.value
    for kinds, kind in _FAILURE_KINDS:
        if isinstance(exc, kinds):
            return kind.value
    # A translated error (`raise TransientError(...) from KafkaUnavailable`): its cause tells more.
    if exc.__cause__ is not None:
        cause = failure_kind(exc.__cause__)
        if cause != FailureKind.OTHER:
            return cause
    return (FailureKind.TRANSIENT if isinstance(exc, TransientError) else FailureKind.OTHER).value


class LockBusy(TransientError):
    """Another task is labeling the same text right now: retry shortly."""


_FAILURE_KINDS: tuple[tuple[type[BaseException], FailureKind], ...] = (
    (LabelOutsideSet, FailureKind.OUTSIDE_LABEL_SET),
    (LockBusy, FailureKind.LOCK_BUSY),
    (AnswerInFlight, FailureKind.ANSWER_IN_FLIGHT),
    (CacheUnavailable, FailureKind.CACHE),
    (OperationalError, FailureKind.DATABASE),
    (KafkaUnavailable, FailureKind.KAFKA),
    (RecordTooLarge, FailureKind.KAFKA),
    (SoftTimeLimitExceeded, FailureKind.TIME_LIMIT),
)


@dataclass
class LabelingContext:
    engine: Engine
    producer: RecordProducer
    labels_topic: str
    client: LLMClient
    cache: AnswerCache
    leases: Leases
    prompt: PromptTemplate
    labels: Sequence[str]
    ledger: LedgerRecorder
    # Message locks and answer leases: past it, a crashed holder's lease is free again.
    lock_ttl_s: int = 180
    # Prompt A/B between several versions; None: ``prompt`` labels every message.
    chooser: PromptChooser | None = None
    # The labeled examples for prompts with retrieval_k; None: such prompts get none.
    examples: StoreExamples | None = None

    @property
    def key(self) -> tuple[str, str]:
        """(prompt version, LLM model) of the configured prompt; with an A/B, the first."""
        return self.prompt.version_id, self.client.model

    def prompt_for(self, message_id: str) -> PromptTemplate:
        return self.prompt if self.chooser is None else self.chooser.for_message(message_id)

    def retrieved(self, prompt: PromptTemplate, message_id: str, text: str) -> list[FewShotExample]:
        if not prompt.retrieval_k or self.examples is None:
            return []
        return self.examples.nearest(text, prompt.retrieval_k, message_id=message_id)


def label_escalated(ctx: LabelingContext, message_id: str) -> Outcome:
    # The prompt first: with an A/B its choice is stored per message (a retry reuses it).
    prompt = ctx.prompt_for(message_id)
    prompt_version, model = prompt.version_id, ctx.client.model
    state = task_state(ctx.engine, message_id, prompt_version, model)
    message, existing = state.message, state.label
    if message is None:
        logger.error("escalated message %s is not in the store: nothing to label", message_id)
        return Outcome.UNKNOWN_MESSAGE
    if existing is not None and existing.status == LabelStatus.OK:
        # A task killed between the label row and the status update left it `enqueued`.
        set_escalation_status(ctx.engine, [message_id], EscalationStatus.LABELED)
        _announce(ctx, message, existing, prompt_version)
        return Outcome.ALREADY_LABELED
    lock = lease_name(LeaseKind.LABEL_LOCK, message_id, prompt_version)
    token = ctx.leases.acquire(lock, ctx.lock_ttl_s)
    if token is None:
        raise LockBusy(f"{message_id} is being labeled by another task")
    try:
        result = label_message(
            message.text,
            client=ctx.client,
            cache=ctx.cache,
            prompt=prompt,
            labels=ctx.labels,
            recorder=ctx.ledger.for_message(message_id),
            leases=ctx.leases,
            lease_ttl_s=ctx.lock_ttl_s,
            retrieved=ctx.retrieved(prompt, message_id, message.text),
        )
    except PermanentError as exc:
        metrics.record_labeling(failure=failure_kind(exc))
        record_failure(ctx, message_id, f"{type(exc).__name__}: {exc}", prompt_version)
        return Outcome.FAILED
    except OverLimit as exc:
        if not exc.limit.is_budget:
            raise  # a rate limit: the task retries when the minute renews
        # The budget renews in an hour or a day: too long to hold a task. The message keeps
        # its provisional label; the drain enqueues it again when the budget has room.
        set_escalation_status(ctx.engine, [message_id], EscalationStatus.DEFERRED)
        metrics.record_deferred(1, why="budget")
        logger.info("%s deferred: %s", message_id, exc)
        return Outcome.DEFERRED
    finally:
        # Expired while we waited on the LLM? Harmless: the row upsert is idempotent.
        ctx.leases.release(lock, token)
    stored = settle(ctx.engine, _record(message_id, result), EscalationStatus.LABELED)
    _announce(ctx, message, stored, prompt_version)
    logger.info(
        "%s labeled %s by %s (%s)%s",
        message_id,
        stored.label,
        model,
        prompt_version,
        " from cache" if result.cached else "",
    )
    return Outcome.CACHED if result.cached else Outcome.LABELED


def record_failure(
    ctx: LabelingContext, message_id: str, reason: str, prompt_version: str | None = None
) -> None:
    """A `failed` row: the message keeps its provisional label and can be re-queued."""
    prompt_version = prompt_version or ctx.prompt_for(message_id).version_id
    model = ctx.client.model
    settle(
        ctx.engine,
        LabelRecord(
            message_id,
            LabelSource.LLM,
            prompt_version,
            model,
            None,
            LabelStatus.FAILED,
            error=reason,
        ),
        EscalationStatus.FAILED,
    )
    logger.warning("%s: LLM labeling failed: %s", message_id, reason)


def _record(message_id: str, result: LabelResult) -> LabelRecord:
    answer = result.answer
    return LabelRecord(
        message_id=message_id,
        source=LabelSource.LLM,
        prompt_version=answer.prompt_version,
        llm_model=answer.model,
        label=answer.label,
        status=LabelStatus.OK,
        rationale=answer.rationale,
        raw_answer=answer.raw_answer,
        tokens_in=0 if result.cached else answer.tokens_in,
        tokens_out=0 if result.cached else answer.tokens_out,
        cost_usd=result.cost_usd,
        latency_ms=answer.latency_ms,
        cached=result.cached,
    )


def _announce(
    ctx: LabelingContext, message: EscalatedMessage, stored: StoredLabel, prompt_version: str
) -> None:
    if stored.announced:
        return
    model = ctx.client.model
    event = LabelEvent(
        id=message.id,
        label=stored.label,
        confidence=1.0,
        source=LabelSource.LLM,
        final=True,
        model_version=None if message.model_version == NO_MODEL_VERSION else message.model_version,
        prompt_version=prompt_version,
        correction=message.provisional_label is not None
        and stored.label != message.provisional_label,
        provisional_label=message.provisional_label,
    )
    try:
        future = ctx.producer.send(ctx.labels_topic, key=message.id.encode(), value=event.encode())
        ctx.producer.flush(timeout_s=30)
        future.get(timeout_s=0)
    except (KafkaUnavailable, RecordTooLarge) as exc:
        raise TransientError(f"producing the final label event failed: {exc}") from exc
    mark_announced(ctx.engine, message.id, prompt_version, model)
