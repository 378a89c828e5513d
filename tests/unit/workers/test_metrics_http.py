"""Serving metrics: the failure kinds of a labeling attempt, the backlog gauge, the server."""

from __future__ import annotations

import math
import socket
import subprocess
import sys
import urllib.request

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_shutdown
from prometheus_client import CollectorRegistry
from sqlalchemy.exc import OperationalError

from sieve.core.errors import KafkaUnavailable, RecordTooLarge, TransientError
from sieve.labeler.cache import CacheUnavailable
from sieve.labeler.client import LLMFailure, PermanentLLMError, TransientLLMError
from sieve.labeler.parsing import LabelOutsideSet
from sieve.labeler.service import AnswerInFlight
from sieve.labeler.usage import LLMRequest, RequestOutcome
from sieve.store.escalations import EscalationStatus, set_escalation_status
from sieve.store.ledger import LedgerRecorder, SpendTotals
from sieve.store.repository import EscalationRecord, save_escalations
from sieve.store.stats import escalation_backlog
from sieve.workers.llm.labeling import LockBusy, failure_kind
from sieve.workers.metrics_http import (
    BacklogCollector,
    LedgerCollector,
    LimitsCollector,
    serve_stream_metrics,
    serve_worker_metrics,
)


def _translated() -> TransientError:
    try:
        raise KafkaUnavailable("flush")
    except KafkaUnavailable as exc:
        try:
            raise TransientError("producing the final label event failed") from exc
        except TransientError as translated:
            return translated


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (TransientLLMError("429", failure=LLMFailure.RATE_LIMITED), "rate_limited"),
        (TransientLLMError("t", failure=LLMFailure.TIMEOUT), "timeout"),
        (PermanentLLMError("401", failure=LLMFailure.REJECTED), "rejected"),
        (LabelOutsideSet("not in set", "{}"), "outside_label_set"),
        (LockBusy("busy"), "lock_busy"),
        (AnswerInFlight("paying"), "answer_in_flight"),
        (CacheUnavailable("down"), "cache"),
        (OperationalError("SELECT 1", {}, Exception("gone")), "database"),
        (KafkaUnavailable("flush"), "kafka"),
        (RecordTooLarge("refused"), "kafka"),
        (_translated(), "kafka"),
        (SoftTimeLimitExceeded(), "time_limit"),
        (TransientError("something else"), "transient"),
        (ValueError("a bug"), "other"),
    ],
)
def test_a_failed_attempt_is_named_by_its_exception_type(error: BaseException, kind: str) -> None:
    assert failure_kind(error) == kind


def test_the_backlog_is_sampled_at_each_scrape() -> None:
    backlog = [3]
    registry = CollectorRegistry()
    registry.register(BacklogCollector(lambda: backlog[0]))
    assert registry.get_sample_value("sieve_escalation_backlog") == 3
    backlog[0] = 0
    assert registry.get_sample_value("sieve_escalation_backlog") == 0


def test_a_store_that_does_not_answer_gives_nan_not_a_failed_scrape() -> None:
    def unreachable() -> int:
        raise OperationalError("SELECT count(*)", {}, Exception("connection refused"))

    def ledger_unreachable() -> SpendTotals:
        raise OperationalError("SELECT sum(cost_usd)", {}, Exception("connection refused"))

    registry = CollectorRegistry()
    registry.register(BacklogCollector(unreachable))
    registry.register(LedgerCollector(ledger_unreachable))
    value = registry.get_sample_value("sieve_escalation_backlog")
    assert value is not None and math.isnan(value)
    cost = registry.get_sample_value("sieve_llm_ledger_cost_usd")
    assert cost is not None and math.isnan(cost)


def test_the_backlog_counts_pending_and_enqueued_not_labeled_or_failed(sqlite_engine) -> None:
    save_escalations(sqlite_engine, [EscalationRecord(f"m{i}", "v1", "low") for i in range(4)])
    set_escalation_status(sqlite_engine, ["m1"], "enqueued")
    set_escalation_status(sqlite_engine, ["m2"], "labeled")
    set_escalation_status(sqlite_engine, ["m3"], "failed")
    assert escalation_backlog(sqlite_engine) == 2  # m0 pending, m1 enqueued


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _scrape_stream_metrics(engine, **options) -> str:
    """One scrape of the stream worker's metrics server on a free port."""
    port = _free_port()
    server = serve_stream_metrics(port, engine, registry=CollectorRegistry(), **options)
    assert server is not None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            return str(reply.read().decode())
    finally:
        server.shutdown()
        server.server_close()


def test_the_stream_worker_serves_its_registry_and_the_backlog(sqlite_engine) -> None:
    save_escalations(sqlite_engine, [EscalationRecord("m0", "v1", "low")])
    body = _scrape_stream_metrics(sqlite_engine)
    assert "sieve_escalation_backlog 1.0" in body
    assert "sieve_llm_ledger_cost_usd 0.0" in body
    assert "sieve_deferred_escalations 0.0" in body


def test_the_stream_worker_serves_the_llm_limits_in_their_window(sqlite_engine) -> None:
    save_escalations(sqlite_engine, [EscalationRecord("m0", "v1", "low")])
    set_escalation_status(sqlite_engine, ["m0"], EscalationStatus.DEFERRED)
    body = _scrape_stream_metrics(
        sqlite_engine,
        limits=lambda: [("usd_per_hour", 0.75, 2.0), ("requests_per_minute", 12, 600)],
    )
    assert 'sieve_llm_limit_spent{limit="usd_per_hour"} 0.75' in body
    assert 'sieve_llm_limit_capacity{limit="requests_per_minute"} 600.0' in body
    assert "sieve_deferred_escalations 1.0" in body


def test_the_stream_worker_serves_the_spend_in_the_ledger(sqlite_engine) -> None:
    ledger = LedgerRecorder(sqlite_engine).for_message("m0")
    for outcome, tokens_in, cost in [
        (RequestOutcome.OUTSIDE_SET, 40, 0.25),
        (RequestOutcome.OK, 90, 0.5),
        (RequestOutcome.RATE_LIMITED, 0, 0.0),
    ]:
        ledger.record(
            LLMRequest("teacher-sim", "p@1", 1, outcome, tokens_in, 3, cost, latency_ms=5.0)
        )
    body = _scrape_stream_metrics(sqlite_engine)
    assert 'sieve_llm_ledger_requests{outcome="outside_set"} 1.0' in body
    assert 'sieve_llm_ledger_requests{outcome="ok"} 1.0' in body
    assert 'sieve_llm_ledger_requests{outcome="rate_limited"} 1.0' in body
    assert 'sieve_llm_ledger_tokens{direction="input"} 130.0' in body
    assert 'sieve_llm_ledger_tokens{direction="output"} 9.0' in body
    assert "sieve_llm_ledger_cost_usd 0.75" in body


def test_off_or_a_taken_port_serves_nothing_and_raises_nothing(sqlite_engine) -> None:
    assert serve_stream_metrics(0, sqlite_engine, registry=CollectorRegistry()) is None
    assert serve_stream_metrics(None, sqlite_engine, registry=CollectorRegistry()) is None
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        assert serve_stream_metrics(port, sqlite_engine, registry=CollectorRegistry()) is None


def test_an_exited_pool_process_loses_its_live_gauges_and_keeps_its_counts(tmp_path) -> None:
    for name in ("gauge_livesum_4242.db", "counter_4242.db", "gauge_livesum_4343.db"):
        (tmp_path / name).write_bytes(b"")
    port = _free_port()
    server = serve_worker_metrics(port, str(tmp_path))
    assert server is not None
    try:
        # What Celery's prefork pool sends as a child exits.
        worker_process_shutdown.send(sender=None, pid=4242, exitcode=0)
    finally:
        server.shutdown()
        server.server_close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "counter_4242.db",
        "gauge_livesum_4343.db",
    ]


def test_sieve_imports_no_prometheus_client_before_the_worker_command_runs() -> None:
    """prometheus-client picks per-process files or memory when first imported: everything
    `sieve worker` does before it sets PROMETHEUS_MULTIPROC_DIR must leave it unimported."""
    code = (
        "import logging, sys\n"
        "from sieve.cli import build_parser\n"
        "from sieve.core.logging import log_effective_config, setup_logging\n"
        "from sieve.core.settings import Settings\n"
        "build_parser().parse_args(['worker'])\n"
        "setup_logging('INFO')\n"
        "log_effective_config(Settings(_env_file=None), logging.getLogger('sieve'))\n"
        "print('prometheus_client' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "False"


def test_the_sampled_gauges_do_not_collide_with_the_process_metrics() -> None:
    """The stream worker registers its sampled collectors beside sieve.core.metrics in the
    default registry: a name taken twice stops the worker at start-up."""
    from prometheus_client import REGISTRY

    import sieve.core.metrics  # noqa: F401 (registers the process metrics)

    taken = set(REGISTRY._names_to_collectors)  # what register() checks against
    collectors = [
        BacklogCollector(lambda: 0),
        LedgerCollector(lambda: None),  # type: ignore[arg-type,return-value]
        LimitsCollector(lambda: [], lambda: 0),
    ]
    names = {
        name
        for collector in collectors
        for family in collector.describe()
        for name in (family.name, f"{family.name}_total", f"{family.name}_created")
    }
    assert not names & taken
