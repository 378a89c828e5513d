"""POST /jobs/pregenerate: `sieve pregenerate` over HTTP. Asks the LLM for the most
frequent stored texts that have no cached answer for the current prompt version and
model, in frequency order, until ``limit`` texts were asked or the budget stops it
(``sieve.workers.llm.pregenerate``). Runs in the request (bounded by ``limit``) and
answers with the job's account; sending it again resumes (answered texts are skipped)."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from sieve.admin.auth import RequireToken
from sieve.admin.deps import EngineDep, SettingsDep
from sieve.admin.schemas import PregenerateDone

logger = logging.getLogger(__name__)

router = APIRouter(tags=["labeling"])

PATH = "/jobs/pregenerate"
MAX_LIMIT = 10_000


@router.post(PATH, response_model=PregenerateDone, dependencies=[RequireToken])
async def pregenerate_job(
    settings: SettingsDep,
    engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 1_000,
    min_count: Annotated[int, Query(ge=1)] = 2,
) -> PregenerateDone:
    """Warm the answer cache for up to ``limit`` frequent unanswered texts."""
    # Imported on first use: it pulls in the LLM client, Redis and the ledger.
    from sieve.jobs import pregenerate_answers

    report = await run_in_threadpool(
        lambda: pregenerate_answers(settings, engine, limit=limit, min_count=min_count)
    )
    logger.info("pre-generation from the admin API: %s", report)
    return PregenerateDone(**asdict(report))
