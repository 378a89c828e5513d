"""Every process serves its own /metrics: the stream worker and the Celery worker.

- ``sieve stream`` is one process: prometheus-client's default registry, plus the
  escalation backlog and the LLM spend in the ledger (every worker's requests), gauges
  sampled from the store when scraped (always current, and no work in the poll loop).
- ``sieve worker`` records its metrics in Celery's prefork children and serves them from
  the main process, the way prometheus-client documents multiprocess mode: the entry point
  points PROMETHEUS_MULTIPROC_DIR at a fresh directory *before* prometheus_client is first
  imported (it picks its value class at import), so each child writes its values to files
  of its own (a fork resets them); the main process serves a MultiProcessCollector over the
  directory, which sums the children; a child that exits has its live gauges removed
  (Celery's worker_process_shutdown → mark_process_dead). Counters of exited children keep
  counting, as they should.

Metrics never stop the pipeline: a port already in use is logged, and the process runs
without serving them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from wsgiref.simple_server import WSGIServer

from celery.signals import worker_process_shutdown
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from sieve.core import metrics
from sieve.core.metrics import ESCALATION_BACKLOG_HELP, ESCALATION_BACKLOG_NAME
from sieve.store.escalations import EscalationStatus, count_escalations
from sieve.store.ledger import SpendTotals, spend_totals
from sieve.store.stats import escalation_backlog

logger = logging.getLogger(__name__)

# Every interface, like prometheus-client's default: a scraper in another container
# (docker-compose) must reach it. The admin API, which changes state, binds to localhost.
METRICS_ADDR = "0.0.0.0"


class BacklogCollector(Collector):
    """The escalation backlog gauge, sampled when scraped. A store that does not answer
    gives NaN (the scrape still shows every other metric), not a stale number."""

    def __init__(self, sample: Callable[[], int]) -> None:
        self._sample = sample

    def describe(self) -> Iterable[GaugeMetricFamily]:
        # Registering must not query the store.
        return [GaugeMetricFamily(ESCALATION_BACKLOG_NAME, ESCALATION_BACKLOG_HELP)]

    def collect(self) -> Iterable[GaugeMetricFamily]:
        try:
            value = float(self._sample())
        except SQLAlchemyError as exc:
            logger.warning("escalation backlog not sampled: %s", type(exc).__name__)
            value = math.nan
        return [GaugeMetricFamily(ESCALATION_BACKLOG_NAME, ESCALATION_BACKLOG_HELP, value=value)]


class LedgerCollector(Collector):
    """The ledger's requests (by outcome), tokens and cost, sampled when scraped; NaN
    totals when the store does not answer."""

    def __init__(self, sample: Callable[[], SpendTotals]) -> None:
        self._sample = sample

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return self._families(None)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        try:
            totals = self._sample()
        except SQLAlchemyError as exc:
            logger.warning("ledger spend not sampled: %s", type(exc).__name__)
            return self._families(None)
        return self._families(totals)

    @staticmethod
    def _families(totals: SpendTotals | None) -> list[GaugeMetricFamily]:
        requests = GaugeMetricFamily(
            metrics.LEDGER_REQUESTS_NAME, metrics.LEDGER_REQUESTS_HELP, labels=["outcome"]
        )
        tokens = GaugeMetricFamily(
            metrics.LEDGER_TOKENS_NAME, metrics.LEDGER_TOKENS_HELP, labels=["direction"]
        )
        cost = GaugeMetricFamily(metrics.LEDGER_COST_NAME, metrics.LEDGER_COST_HELP)
        if totals is None:
            cost.add_metric([], math.nan)
            return [requests, tokens, cost]
        for outcome, count in sorted(totals.requests_by_outcome.items()):
            requests.add_metric([outcome], float(count))
        tokens.add_metric([metrics.TokenDirection.INPUT.value], float(totals.tokens_in))
        tokens.add_metric([metrics.TokenDirection.OUTPUT.value], float(totals.tokens_out))
        cost.add_metric([], totals.cost_usd)
        return [requests, tokens, cost]


# (limit name, spent in its current window, capacity) for every configured limit.
LimitSample = Callable[[], Sequence[tuple[str, float, float]]]


class LimitsCollector(Collector):
    """The LLM limits' use in their current windows and the deferred escalations, sampled
    when scraped; NaN for what could not be read."""

    def __init__(self, limits: LimitSample, deferred: Callable[[], int]) -> None:
        self._limits = limits
        self._deferred = deferred

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return self._families([], math.nan)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        try:
            limits = list(self._limits())
        except Exception as exc:  # Redis or the store away: the rest of the scrape stands
            logger.warning("LLM limits not sampled: %s", type(exc).__name__)
            limits = []
        try:
            deferred = float(self._deferred())
        except SQLAlchemyError as exc:
            logger.warning("deferred escalations not sampled: %s", type(exc).__name__)
            deferred = math.nan
        return self._families(limits, deferred)

    @staticmethod
    def _families(
        limits: Sequence[tuple[str, float, float]], deferred: float
    ) -> list[GaugeMetricFamily]:
        spent = GaugeMetricFamily(
            metrics.LIMIT_SPENT_NAME, metrics.LIMIT_SPENT_HELP, labels=["limit"]
        )
        capacity = GaugeMetricFamily(
            metrics.LIMIT_CAPACITY_NAME, metrics.LIMIT_CAPACITY_HELP, labels=["limit"]
        )
        for name, used, cap in limits:
            spent.add_metric([name], used)
            capacity.add_metric([name], cap)
        waiting = GaugeMetricFamily(metrics.DEFERRED_NAME, metrics.DEFERRED_HELP, value=deferred)
        return [spent, capacity, waiting]


def serve_stream_metrics(
    port: int | None,
    engine: Engine,
    registry: CollectorRegistry = REGISTRY,
    limits: LimitSample = lambda: [],
) -> WSGIServer | None:
    """Serve ``registry``, the backlog, the ledger, the LLM limits' use (``limits``) and
    the deferred escalations on ``port``; None when off or the port is taken."""
    if not port:
        return None
    registry.register(BacklogCollector(lambda: escalation_backlog(engine)))
    registry.register(LedgerCollector(lambda: spend_totals(engine)))
    registry.register(
        LimitsCollector(limits, lambda: count_escalations(engine, EscalationStatus.DEFERRED))
    )
    return _serve(port, registry, "stream worker")


def serve_worker_metrics(port: int | None, directory: str) -> WSGIServer | None:
    """In the Celery worker's main process, before the pool forks: serve the sum of the
    per-process files in ``directory`` (PROMETHEUS_MULTIPROC_DIR)."""
    if not port:
        return None
    worker_process_shutdown.connect(forget_exited_child(directory), weak=False)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)
    return _serve(port, registry, "Celery worker")


def forget_exited_child(directory: str) -> Callable[..., None]:
    """A worker_process_shutdown receiver: drop the exited child's live gauges."""

    def forget(pid: int | None = None, **_: object) -> None:
        if pid is not None:
            multiprocess.mark_process_dead(pid, directory)

    return forget


def _serve(port: int, registry: CollectorRegistry, role: str) -> WSGIServer | None:
    try:
        server, _thread = start_http_server(port, addr=METRICS_ADDR, registry=registry)
    except OSError as exc:
        logger.error("%s metrics not served: port %d: %s", role, port, exc.strerror or exc)
        return None
    logger.info("%s metrics on http://%s:%d/metrics", role, METRICS_ADDR, port)
    return server
