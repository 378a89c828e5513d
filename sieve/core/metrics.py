"""Prometheus metrics at fixed points of the pipeline (exposed by entry points that serve HTTP)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_CONSUMED = Counter("sieve_messages_consumed_total", "Records polled from the input topic")
MESSAGES_DEAD_LETTERED = Counter(
    "sieve_messages_dead_lettered_total", "Records sent to the DLQ", ["reason"]
)
MESSAGES_ROUTED = Counter("sieve_messages_routed_total", "Routing decisions", ["route", "reason"])
BATCH_SECONDS = Histogram("sieve_batch_seconds", "Time to process and commit one batch")
BATCH_RETRIES = Counter("sieve_batch_retries_total", "Batches retried after a transient error")
ACTIVE_MODEL = Gauge("sieve_active_model_info", "The active model version", ["version"])
