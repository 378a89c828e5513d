"""`sieve stream`: the composition root that owns the poll loop.

poll a batch → process it (decode, classify, route) → checkpoint (rows, escalations,
events, offsets; see checkpoint.py) → between batches, swap in a newly activated model.
"""

from __future__ import annotations

import logging
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

from sieve.core import metrics
from sieve.core.errors import TransientError
from sieve.core.settings import DriftSettings, KafkaSettings, RoutingSettings, StreamSettings
from sieve.routing.policy import Route
from sieve.routing.rules import NO_RULES, RuleSet, rule_name_of
from sieve.routing.share import (
    RecentConfidences,
    gate_share,
    share_budget_applies,
    swap_window,
)
from sieve.workers.error_policy import Backoff, classify
from sieve.workers.records import Record, RecordConsumer, first_offsets, next_offsets
from sieve.workers.stream.batch import BatchOutcome, Calibration, process_batch
from sieve.workers.stream.checkpoint import Checkpoint
from sieve.workers.stream.drift_watch import DriftWatch
from sieve.workers.stream.model_watch import ActiveModel

logger = logging.getLogger(__name__)

# How many of the latest texts a newly swapped-in model rescores for the share window: one
# inference call (~1 s for MiniLM), more than the 200 a share threshold needs.
RESCORED_TEXTS = 1_000


@dataclass
class RunStats:
    consumed: int = 0
    dead_lettered: int = 0
    accepted: int = 0
    escalated: int = 0
    batches: int = 0
    retries: int = 0
    elapsed_s: float = 0.0
    # From the first polled record to the last commit: throughput without the group join.
    busy_s: float = 0.0


class StreamWorker:
    def __init__(
        self,
        *,
        consumer: RecordConsumer,
        checkpoint: Checkpoint,
        model: ActiveModel,
        kafka: KafkaSettings,
        routing: RoutingSettings,
        limits: StreamSettings,
        rules: RuleSet = NO_RULES,
        drift: DriftSettings | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._consumer = consumer
        self._checkpoint = checkpoint
        self._model = model
        self._kafka = kafka
        self._routing = routing
        self._limits = limits
        self._rules = rules
        self._sleep = sleep
        self._stopping = False
        self._backoff = Backoff()
        # Top confidences of recent traffic: the target LLM share's threshold comes from them.
        self._recent = RecentConfidences(routing.recent_window)
        # The latest texts, rescored by a newly swapped-in model when a share is targeted.
        self._recent_texts: deque[tuple[str, bool]] = deque(maxlen=RESCORED_TEXTS)
        self.drift = DriftWatch(drift or DriftSettings())
        self.stats = RunStats()

    @property
    def stopping(self) -> bool:
        return self._stopping

    def stop(self) -> None:
        """Finish the batch in hand, commit, and return from run()."""
        self._stopping = True

    def run(
        self, *, max_messages: int | None = None, idle_timeout_s: float | None = None
    ) -> RunStats:
        started = last_record = time.monotonic()
        first_record: float | None = None
        while not self._stopping:
            remaining = None if max_messages is None else max_messages - self.stats.consumed
            if remaining is not None and remaining <= 0:
                break
            try:
                batch = self._poll(remaining)
            except TransientError as exc:
                self._wait("the broker", exc)
                continue
            if not batch:
                if not self._consumer.assignment():
                    # Still joining the group (or no partition for us): not idle yet.
                    last_record = time.monotonic()
                elif (
                    idle_timeout_s is not None and time.monotonic() - last_record >= idle_timeout_s
                ):
                    logger.info("no message for %.1fs: stopping", idle_timeout_s)
                    break
                continue
            last_record = time.monotonic()
            first_record = first_record or last_record
            self._handle(batch)
            self.stats.busy_s = time.monotonic() - first_record
        self.stats.elapsed_s = time.monotonic() - started
        return self.stats

    def _poll(self, remaining: int | None) -> list[Record]:
        limit = (
            self._kafka.max_batch_size
            if remaining is None
            else min(remaining, self._kafka.max_batch_size)
        )
        return self._consumer.poll(self._kafka.poll_timeout_ms, limit)

    def _handle(self, batch: list[Record]) -> None:
        """Process and commit one batch (error_policy.py says what happens on errors). On
        a transient error, rewind to the batch's first offsets and back off: the next poll
        fetches it again, and polling keeps the consumer in its group while the database
        or broker recovers."""
        try:
            # Between batches, right before this one: a version activated while we were
            # polling classifies the batch that poll returned.
            if self._model.refresh(force=self.stats.batches == 0):
                self._restart_window()  # another model: other confidences
                self.drift.restart()
            with metrics.BATCH_SECONDS.time():
                outcome = process_batch(
                    batch,
                    self._model.classifier,
                    self._routing,
                    self._limits,
                    self._calibration(),
                    self._rules,
                )
                self._checkpoint.complete(outcome, next_offsets(batch))
        except Exception as exc:
            error = classify(exc)
            if not isinstance(error, TransientError):
                raise
            self.stats.retries += 1
            metrics.BATCH_RETRIES.inc()
            self._rewind(batch)
            if self._stopping:
                logger.error("batch not committed; it will be redelivered: %s", error)
                return
            self._wait("the store and the brokers", error)
            return
        self._backoff.reset()
        # Not the messages a routing rule decided: they say nothing of the model.
        unruled = [
            (message, row)
            for message, row in zip(outcome.messages, outcome.predictions, strict=True)
            if rule_name_of(row.reason) is None
        ]
        self._recent.add([row.confidence for _, row in unruled])
        self.drift.observe(outcome.predictions)
        if self._routing.target_llm_share is not None:  # only a share window rescores them
            self._recent_texts.extend(
                (message.text, row.route == Route.ESCALATE) for message, row in unruled
            )
        self._count(batch, outcome)

    def _wait(self, what: str, exc: Exception) -> None:
        delay_s = self._backoff.next_delay_s()
        logger.warning("waiting for %s (%s): retrying in %.1fs", what, exc, delay_s)
        self._sleep(delay_s)

    def _restart_window(self) -> None:
        """Another model: other confidences. With a target share, the window starts from
        the new model's out-of-sample view of the latest traffic (routing.share.
        swap_window), so the share holds from its first batch. Without recent traffic
        (start-up), from the confidences on its held-out slice."""
        classifier, thresholds = self._model.classifier, self._model.thresholds
        quantiles = thresholds.confidence_quantiles if thresholds is not None else ()
        kept = [text for text, escalated in self._recent_texts if not escalated]
        if self._routing.target_llm_share is not None and classifier is not None and kept:
            confidences = classifier.predict_proba(kept).max(axis=1)
            escalated = len(self._recent_texts) - len(kept)
            self._recent.clear()
            self._recent.add(swap_window(confidences, escalated, quantiles))
            return
        self._recent.warm_start(quantiles, self._routing.min_share_samples)

    def _calibration(self) -> Calibration:
        routing, thresholds = self._routing, self._model.thresholds
        share = None
        if share_budget_applies(routing.target_llm_share, thresholds, routing.share_after_labels):
            assert routing.target_llm_share is not None
            gated = gate_share(routing.target_llm_share, routing.exploration_rate)
            share = self._recent.threshold_for_share(gated, routing.min_share_samples)
        return Calibration(thresholds, share)

    def _rewind(self, batch: list[Record]) -> None:
        assigned = self._consumer.assignment()
        for partition, offset in first_offsets(batch).items():
            if partition in assigned:
                self._consumer.seek(partition, offset)

    def _count(self, batch: list[Record], outcome: BatchOutcome) -> None:
        self.stats.batches += 1
        self.stats.consumed += len(batch)
        self.stats.dead_lettered += len(outcome.dead_letters)
        self.stats.escalated += len(outcome.escalations)
        self.stats.accepted += len(outcome.predictions) - len(outcome.escalations)
        metrics.MESSAGES_CONSUMED.inc(len(batch))
        for letter in outcome.dead_letters:
            metrics.MESSAGES_DEAD_LETTERED.labels(letter.reason).inc()
        for row in outcome.predictions:
            metrics.MESSAGES_ROUTED.labels(row.route, row.reason).inc()


def install_signal_handlers(worker: StreamWorker) -> None:
    """First SIGTERM/SIGINT: finish the batch, commit, close. A second one: exit at once."""

    def handle(signum: int, _frame: FrameType | None) -> None:
        if worker.stopping:
            logger.warning("second %s: exiting now", signal.Signals(signum).name)
            raise SystemExit(128 + signum)
        logger.info("%s: finishing the batch in hand, then stopping", signal.Signals(signum).name)
        worker.stop()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
