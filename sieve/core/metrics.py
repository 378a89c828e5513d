"""Prometheus metrics at fixed points of the pipeline; every process serves its own.

Where each family is recorded (one helper per place, nothing scattered):

- stream worker (workers/stream.py): messages consumed, dead-lettered and routed (by route
  and reason, ``rule:<name>`` for routing rules), batch time and retries; drift scores,
  bounds and alerts per signal (workers/stream/drift_watch.py); the active model version
  (workers/model_watch.py); the escalation backlog and the ledger's spend, sampled from the
  store at scrape time (workers/metrics_http.py).
- Celery worker: every HTTP call to the LLM (``record_llm_call`` and ``record_llm_cost`` in
  labeler/client.py: outcome, latency, tokens, cost), cache lookups (labeler/service.py), and each
  ``label_with_llm`` attempt (``record_labeling`` in workers/tasks.py: outcome, or the
  kind of failure).

Serving is the entry points' job (workers/metrics_http.py): the values here are plain
in-process metrics, or per-process files when PROMETHEUS_MULTIPROC_DIR is set before this
module is first imported (Celery's prefork children; see ``sieve worker``).
"""

from __future__ import annotations

from enum import StrEnum

from prometheus_client import Counter, Gauge, Histogram

# --- stream worker -----------------------------------------------------------------------
MESSAGES_CONSUMED = Counter("sieve_messages_consumed_total", "Records polled from the input topic")
MESSAGES_DEAD_LETTERED = Counter(
    "sieve_messages_dead_lettered_total", "Records sent to the DLQ", ["reason"]
)
MESSAGES_ROUTED = Counter("sieve_messages_routed_total", "Routing decisions", ["route", "reason"])
BATCH_SECONDS = Histogram("sieve_batch_seconds", "Time to process and commit one batch")
BATCH_RETRIES = Counter("sieve_batch_retries_total", "Batches retried after a transient error")
ACTIVE_MODEL = Gauge("sieve_active_model_info", "The active model version", ["version"])
# Drift of the model's decisions, set each time a window completes (workers/stream/drift_watch.py).
DRIFT_SCORE = Gauge(
    "sieve_drift_score", "Drift of the latest window against the reference, by signal", ["signal"]
)
DRIFT_BOUND = Gauge("sieve_drift_bound", "The bound above which a drift signal alerts", ["signal"])
DRIFT_ALERT = Gauge("sieve_drift_alert", "1 when the signal's score is above its bound", ["signal"])

# --- LLM path (Celery worker processes) ----------------------------------------------------
LLM_CALLS = Counter(
    "sieve_llm_calls_total", "HTTP calls to the LLM endpoint, by outcome", ["outcome"]
)
# An LLM answers in a fraction of a second to tens of seconds: the default buckets stop at 10 s.
LLM_CALL_SECONDS = Histogram(
    "sieve_llm_call_seconds",
    "Latency of one HTTP call to the LLM endpoint, failures included",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0),
)
LLM_TOKENS = Counter("sieve_llm_tokens_total", "Tokens the LLM endpoint reported", ["direction"])
LLM_COST_USD = Counter(
    "sieve_llm_cost_usd_total", "What LLM requests cost, unusable answers included, USD"
)
LLM_CACHE_LOOKUPS = Counter(
    "sieve_llm_cache_lookups_total", "Answer cache lookups before an LLM call", ["result"]
)
LABELINGS = Counter(
    "sieve_labelings_total", "label_with_llm tasks finished, by outcome", ["outcome"]
)
LABELING_FAILURES = Counter(
    "sieve_labeling_failures_total",
    "label_with_llm attempts that failed (retried or final), by kind",
    ["kind"],
)
ESCALATIONS_DEFERRED = Counter(
    "sieve_escalations_deferred_total",
    "Escalations left waiting (provisional label kept): backlog bound or LLM budget",
    ["why"],
)

# The escalation backlog is a gauge sampled at scrape time (workers/metrics_http.py).
ESCALATION_BACKLOG_NAME = "sieve_escalation_backlog"
ESCALATION_BACKLOG_HELP = (
    "Escalations not labeled yet (pending, enqueued or deferred), from the store"
)

# The spend of every process together, read from the ledger at scrape time (the stream
# worker serves it, workers/metrics_http.py): what `sieve costs` and /stats show.
LEDGER_REQUESTS_NAME = "sieve_llm_ledger_requests"
LEDGER_REQUESTS_HELP = "HTTP requests to the LLM in the ledger, by outcome"
LEDGER_TOKENS_NAME = "sieve_llm_ledger_tokens"
LEDGER_TOKENS_HELP = "Tokens of the LLM requests in the ledger, by direction"
LEDGER_COST_NAME = "sieve_llm_ledger_cost_usd"
LEDGER_COST_HELP = "Cost of the LLM requests in the ledger, USD"
# The global LLM limits, sampled at scrape time from their shared counters.
LIMIT_SPENT_NAME = "sieve_llm_limit_spent"
LIMIT_SPENT_HELP = "What the current window of each LLM limit has used (requests, tokens, USD)"
LIMIT_CAPACITY_NAME = "sieve_llm_limit_capacity"
LIMIT_CAPACITY_HELP = "Each LLM limit's capacity per window (requests, tokens, USD)"
DEFERRED_NAME = "sieve_deferred_escalations"
DEFERRED_HELP = "Escalations waiting as deferred (backlog bound or budget), from the store"

LLM_CALL_OK = "ok"


class TokenDirection(StrEnum):
    INPUT = "input"
    OUTPUT = "output"


class CacheResult(StrEnum):
    HIT = "hit"
    MISS = "miss"


def record_llm_call(
    outcome: str, latency_s: float, *, tokens_in: int = 0, tokens_out: int = 0
) -> None:
    """One HTTP call to the LLM: ``outcome`` is a labeler ``RequestOutcome`` value."""
    LLM_CALLS.labels(outcome).inc()
    LLM_CALL_SECONDS.observe(latency_s)
    if tokens_in:
        LLM_TOKENS.labels(TokenDirection.INPUT.value).inc(tokens_in)
    if tokens_out:
        LLM_TOKENS.labels(TokenDirection.OUTPUT.value).inc(tokens_out)


def record_cache_lookup(*, hit: bool) -> None:
    LLM_CACHE_LOOKUPS.labels((CacheResult.HIT if hit else CacheResult.MISS).value).inc()


def record_llm_cost(cost_usd: float) -> None:
    if cost_usd > 0:
        LLM_COST_USD.inc(cost_usd)


def record_labeling(*, outcome: str | None = None, failure: str | None = None) -> None:
    """One label_with_llm attempt: its final ``outcome``, a ``failure`` kind, or both (a
    failure that ends the task, e.g. retries exhausted)."""
    if failure is not None:
        LABELING_FAILURES.labels(failure).inc()
    if outcome is not None:
        LABELINGS.labels(outcome).inc()


def record_deferred(count: int, *, why: str) -> None:
    """``count`` escalations deferred; ``why``: "backlog" (bound reached) or "budget"."""
    ESCALATIONS_DEFERRED.labels(why).inc(count)
