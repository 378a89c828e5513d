"""Operations endpoints: liveness of the store (GET /healthz) and Prometheus (GET /metrics)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Response, status
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError

from sieve.admin.deps import EngineDep
from sieve.admin.schemas import Health
from sieve.store.engine import ping

logger = logging.getLogger(__name__)

router = APIRouter(tags=["operations"])


@router.get(
    "/healthz",
    response_model=Health,
    response_model_exclude_none=True,
    responses={status.HTTP_503_SERVICE_UNAVAILABLE: {"model": Health}},
)
def healthz(engine: EngineDep) -> Health | JSONResponse:
    try:
        ping(engine)
    except SQLAlchemyError as exc:
        logger.warning("health check: database unavailable: %s", type(exc).__name__)
        body = Health(status="unavailable", detail=f"database: {type(exc).__name__}")
        return JSONResponse(body.model_dump(), status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
    return Health(status="ok")


@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
