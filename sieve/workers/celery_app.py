"""The Celery app: Redis broker, late acks, one task at a time per process.

Start a worker with `sieve worker` (or `celery -A sieve.workers.celery_app worker`).
"""

from __future__ import annotations

from celery import Celery

from sieve.core.settings import CelerySettings, Settings


def make_app(settings: Settings) -> Celery:
    redis_url = settings.redis.url.get_secret_value()
    app = Celery("sieve", broker=redis_url, include=["sieve.workers.tasks"])
    app.conf.update(
        configure(settings.celery, retrain_interval_s=settings.retrain.interval_min * 60)
    )
    return app


def configure(celery: CelerySettings, *, retrain_interval_s: float) -> dict[str, object]:
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
        "broker_transport_options": {"visibility_timeout": celery.visibility_timeout_s},
        "broker_connection_retry_on_startup": True,
        "worker_hijack_root_logger": False,
        "beat_schedule": {
            "drain-escalations": {
                "task": "sieve.drain_escalations",
                "schedule": max(celery.drain_after_s, 10.0),
            },
            "maybe-retrain": {"task": "sieve.maybe_retrain", "schedule": retrain_interval_s},
        },
    }


app = make_app(Settings())
