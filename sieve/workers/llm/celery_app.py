"""The Celery app: Redis (or any Kombu) broker, late acks, one task at a time per process.

Start a worker with `sieve worker` (or `celery -A sieve.workers.llm.celery_app worker`, which
serves no metrics: `sieve worker` prepares prometheus-client's multiprocess mode first).
"""

from __future__ import annotations

from celery import Celery

from sieve.core.settings import CelerySettings, Settings
from sieve.workers.llm.sql_broker import TRANSPORT, is_sql_url

# Tasks are sent by name: the side that enqueues (the stream's escalation sink, the admin
# API, the CLI) never imports the modules that declare them.
LABEL_WITH_LLM = "sieve.label_with_llm"
DRAIN_ESCALATIONS = "sieve.drain_escalations"
RETRAIN = "sieve.retrain"
MAYBE_RETRAIN = "sieve.maybe_retrain"
TASK_MODULES = ["sieve.workers.llm.tasks", "sieve.workers.distill.tasks"]


def make_app(settings: Settings) -> Celery:
    app = Celery("sieve", broker=settings.broker_url, include=TASK_MODULES)
    if is_sql_url(settings.broker_url):
        app.conf.broker_transport = TRANSPORT
    app.conf.update(
        configure(
            settings.celery,
            retrain_interval_s=settings.retrain.interval_min * 60,
            redis_broker=settings.uses_redis,
        )
    )
    return app


def configure(
    celery: CelerySettings, *, retrain_interval_s: float, redis_broker: bool
) -> dict[str, object]:
    # Transport options belong to the transport: the SQLAlchemy one hands them to
    # create_engine. It has no visibility timeout: a worker hands its unacked tasks back when
    # it stops, and a worker killed with SIGKILL loses them (`sieve requeue --stuck-after-s`).
    transport = {"visibility_timeout": celery.visibility_timeout_s} if redis_broker else {}
    return {
        "task_default_queue": celery.queue,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        # A task is acknowledged after it ran: a worker killed mid-task loses nothing.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": celery.prefetch_multiplier,
        "worker_concurrency": celery.concurrency,
        "task_soft_time_limit": celery.soft_time_limit_s,
        "task_time_limit": celery.time_limit_s,
        # Above the worst task time plus retry countdowns: a still-running task must never
        # be handed to a second worker (celery #5935, #5306 — a second paid LLM call).
        "broker_transport_options": transport,
        "broker_connection_retry_on_startup": True,
        "worker_hijack_root_logger": False,
        "beat_schedule": {
            "drain-escalations": {
                "task": DRAIN_ESCALATIONS,
                "schedule": max(celery.drain_after_s, 10.0),
            },
            "maybe-retrain": {"task": MAYBE_RETRAIN, "schedule": retrain_interval_s},
        },
    }


app = make_app(Settings())
