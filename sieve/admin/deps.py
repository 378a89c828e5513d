"""What every admin route receives: the settings, the store, the retrainer and the
backlog sink.

``create_app`` puts them on ``app.state``; routes ask for them through these
dependencies, so a test can hand the app a SQLite file, a ``FakeRetrainer`` and a
``FakeBacklogSink``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request
from sqlalchemy import Engine

from sieve.core.settings import Settings
from sieve.store.training import RunTrigger
from sieve.workers.llm.backlog import BacklogSink


class Retrainer(Protocol):
    """The retraining service (``sieve.workers.distill.retrain`` implements it as a module)."""

    def request_retrain(self, settings: Settings, engine: Engine, *, trigger: RunTrigger) -> str:
        """Queue a training run, or return the id of the one already queued or running."""
        ...

    def get_run(self, engine: Engine, run_id: str) -> dict[str, Any] | None: ...

    def promote(self, engine: Engine, version: str, reason: str) -> None:
        """Make ``version`` active; ModelNotFound when it is not registered."""
        ...

    def rollback(self, engine: Engine) -> str:
        """Reactivate the previously active version and return it; PermanentError if none."""
        ...


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_retrainer(request: Request) -> Retrainer:
    retrainer: Retrainer | None = request.app.state.retrainer
    if retrainer is not None:
        return retrainer
    # Imported on first use: it pulls in Celery and the trainer, which the read-only
    # endpoints (and the tests that hand in a fake) never need.
    import sieve.workers.distill.retrain as retraining

    return retraining


def get_backlog_sink(request: Request) -> BacklogSink:
    sink: BacklogSink | None = request.app.state.backlog_sink
    if sink is not None:
        return sink
    # Imported on first use, like the retrainer: it pulls in Celery, Redis and Kafka.
    # Built per request (POST /label-jobs is rare): its Redis client closes when dropped.
    from sieve.wiring import celery_sink

    return celery_sink(get_settings(request), get_engine(request))


class LimitsReader(Protocol):
    """The LLM limits' state (``sieve.workers.llm.budget.Budget`` implements it)."""

    def state(self) -> Sequence[Any]:
        """One item per configured limit: name, capacity, spent, remaining, resets_at."""
        ...


def get_limits(request: Request) -> LimitsReader:
    limits: LimitsReader | None = request.app.state.limits
    if limits is not None:
        return limits
    # Built on first use, like the backlog sink (Redis client or the store).
    from sieve.wiring import budget

    request.app.state.limits = budget(get_settings(request), get_engine(request))
    return request.app.state.limits


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
RetrainerDep = Annotated[Retrainer, Depends(get_retrainer)]
BacklogSinkDep = Annotated[BacklogSink, Depends(get_backlog_sink)]
LimitsDep = Annotated[LimitsReader, Depends(get_limits)]
