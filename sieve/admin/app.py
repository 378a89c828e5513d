"""The admin API: trigger and follow retraining, manage model versions, read statistics,
enqueue LLM labeling of a backlog, review items by hand, and the operator's page
(/dashboard).

``create_app`` is the composition root; nothing is built at import time. State-changing
endpoints need ``Authorization: Bearer <SIEVE_ADMIN__TOKEN>`` (see ``auth``), checked before
any body is read; bodies are bounded per route (see ``guard``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from sieve.admin import (
    routes_dashboard,
    routes_jobs,
    routes_models,
    routes_ops,
    routes_pregenerate,
    routes_review,
    routes_runs,
    routes_stats,
)
from sieve.admin.deps import LimitsReader, Retrainer
from sieve.admin.guard import AdminGuard, BodyLimit, BodyLimits
from sieve.core.errors import TransientError
from sieve.core.settings import Settings
from sieve.store.engine import make_engine
from sieve.workers.llm.backlog import BacklogSink

__all__ = ["BacklogSink", "Retrainer", "create_app"]


def create_app(
    settings: Settings,
    engine: Engine | None = None,
    retrainer: Retrainer | None = None,
    backlog_sink: BacklogSink | None = None,
    limits: LimitsReader | None = None,
) -> FastAPI:
    """The app over ``engine`` (default: one on settings.database_url, disposed at
    shutdown), ``retrainer`` (default: sieve.workers.distill.retrain, imported on first use) and
    ``backlog_sink`` (default: sieve.wiring.celery_sink, built on first use) and ``limits``
    (default: sieve.wiring.budget, built on first use)."""
    owns_engine = engine is None
    store = engine or make_engine(settings.database_url, echo=settings.database.echo)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if owns_engine:
            store.dispose()

    app = FastAPI(title="Sieve admin", version="1", lifespan=lifespan)
    app.state.settings = settings
    app.state.engine = store
    app.state.retrainer = retrainer
    app.state.backlog_sink = backlog_sink
    app.state.limits = limits
    app.add_exception_handler(TransientError, _unavailable)
    routers = (routes_runs, routes_models, routes_jobs, routes_pregenerate, routes_stats)
    for module in (*routers, routes_ops, routes_review, routes_dashboard):
        app.include_router(module.router)
    app.add_middleware(AdminGuard, token=settings.admin.token, limits=body_limits(settings))
    return app


def body_limits(settings: Settings) -> BodyLimits:
    admin = settings.admin
    return BodyLimits(
        default=BodyLimit(admin.max_json_body_bytes, "SIEVE_ADMIN__MAX_JSON_BODY_BYTES"),
        by_path={
            routes_jobs.PATH: BodyLimit(
                admin.max_ndjson_body_bytes, "SIEVE_ADMIN__MAX_NDJSON_BODY_BYTES"
            )
        },
    )


async def _unavailable(_request: Request, exc: Exception) -> JSONResponse:
    # The database or the task broker is down: the caller may retry later.
    return JSONResponse(
        {"detail": f"temporarily unavailable: {exc}"},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": "5"},
    )
