"""POST /label-jobs: enqueue LLM labeling of a JSON Lines backlog, as `sieve label-file`
does (both call ``sieve.workers.llm.backlog``)."""

from __future__ import annotations

import io
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status

from sieve.admin.auth import RequireToken
from sieve.admin.deps import BacklogSinkDep, EngineDep, SettingsDep
from sieve.admin.schemas import LabelJobAccepted
from sieve.core.errors import PermanentError
from sieve.labeler.prompts import load_prompt
from sieve.store.repository import MessageRecord
from sieve.workers.llm.backlog import enqueue_backlog, parse_backlog

logger = logging.getLogger(__name__)

router = APIRouter(tags=["labeling"])

NDJSON = "application/x-ndjson"
DEFAULT_CHUNK_SIZE = 500  # as `sieve label-file --chunk-size`
MAX_CHUNK_SIZE = 10_000
# Starlette renamed its constant (..._ENTITY, deprecated, then ..._CONTENT); the code stays.
UNPROCESSABLE = 422

_BODY_DOC = {
    "requestBody": {
        "required": True,
        "description": 'JSON Lines: one {"id", "text"} object per line (other fields ignored)',
        "content": {
            NDJSON: {
                "schema": {"type": "string"},
                "example": '{"id": "m1", "text": "my card has not arrived"}\n'
                '{"id": "m2", "text": "how do I top up?"}\n',
            }
        },
    }
}


async def backlog_body(request: Request) -> list[MessageRecord]:
    """The body's records, parsed by the rules of `sieve label-file`; a bad line is a 422
    whose detail names it (``line 3: not JSON (...)``)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != NDJSON:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, f"send JSON Lines as Content-Type: {NDJSON}"
        )
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise HTTPException(UNPROCESSABLE, f"line {line}: not UTF-8") from exc
    try:
        # newline=None splits lines as reading the file does (\n, \r\n or \r).
        records = parse_backlog(io.StringIO(text, newline=None))
    except PermanentError as exc:
        raise HTTPException(UNPROCESSABLE, str(exc)) from exc
    if not records:
        raise HTTPException(UNPROCESSABLE, 'empty body: expected {"id", "text"} lines')
    return records


@router.post(
    "/label-jobs",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=LabelJobAccepted,
    dependencies=[RequireToken],
    openapi_extra=_BODY_DOC,
)
def label_jobs(
    records: Annotated[list[MessageRecord], Depends(backlog_body)],
    settings: SettingsDep,
    engine: EngineDep,
    sink: BacklogSinkDep,
    chunk_size: Annotated[int, Query(ge=1, le=MAX_CHUNK_SIZE)] = DEFAULT_CHUNK_SIZE,
) -> LabelJobAccepted:
    """Enqueue LLM labeling of every text without an OK label from the current prompt
    version and model. Resumable: after an interruption (a 503 midway) send the same body
    again; what got labeled meanwhile is skipped and nothing is queued twice."""
    version = load_prompt(settings.llm.prompt).version_id
    result = enqueue_backlog(
        engine,
        sink,
        records,
        prompt_version=version,
        llm_model=settings.llm.model,
        chunk_size=chunk_size,
    )
    logger.info(
        "label job from the admin API: %d received, %d already labeled with %s, %d enqueued",
        result.received,
        result.already_labeled,
        version,
        result.enqueued,
    )
    return LabelJobAccepted(
        received=result.received,
        already_labeled=result.already_labeled,
        enqueued=result.enqueued,
    )
