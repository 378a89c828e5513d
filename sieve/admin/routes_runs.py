"""Training runs: trigger one (POST /retrain) and follow it (GET /runs/{id})."""

from __future__ import annotations

import logging
import re

from fastapi import APIRouter, HTTPException, Response, status

from sieve.admin.auth import RequireToken
from sieve.admin.deps import EngineDep, RetrainerDep, SettingsDep
from sieve.admin.schemas import RetrainAccepted, Run
from sieve.store.training import RunTrigger

logger = logging.getLogger(__name__)

router = APIRouter(tags=["training"])

# Run ids are uuid4 hex (sieve.store.training.create_run); anything outside this cannot be one.
_RUN_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


@router.post(
    "/retrain",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RetrainAccepted,
    dependencies=[RequireToken],
)
def retrain(
    response: Response, settings: SettingsDep, engine: EngineDep, retrainer: RetrainerDep
) -> RetrainAccepted:
    """Queue a retraining; while one is queued or running, its id is returned instead."""
    run_id = retrainer.request_retrain(settings, engine, trigger=RunTrigger.ADMIN)
    status_url = f"/runs/{run_id}"
    response.headers["Location"] = status_url
    logger.info("retraining requested from the admin API: run %s", run_id)
    return RetrainAccepted(run_id=run_id, status_url=status_url)


@router.get("/runs/{run_id}", response_model=Run)
def get_run(run_id: str, engine: EngineDep, retrainer: RetrainerDep) -> Run:
    if _RUN_ID.fullmatch(run_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"not a training run id: {run_id[:40]!r}")
    run = retrainer.get_run(engine, run_id)
    if run is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no training run {run_id!r}")
    return Run.model_validate(run)
