"""POST /label-jobs: enqueue LLM labeling of a JSON Lines backlog, as `sieve label-file`
does (both follow ``sieve.workers.llm.backlog``), streamed: lines are parsed as the body
arrives and enqueued a chunk at a time, so the body is never held whole.

A bad line answers 422 naming it. What came before it is not undone: every full chunk
was saved and enqueued as it filled (the answer's ``enqueued_before_error`` counts it);
the partial chunk and the rest of the body are dropped. Sending the corrected body again
is safe, as after a 503: what got labeled is skipped and the sink's enqueue markers keep
what is queued from being queued twice. A bad line within the first ``chunk_size``
records therefore leaves nothing behind.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from sieve.admin.auth import RequireToken
from sieve.admin.deps import BacklogSinkDep, EngineDep, SettingsDep
from sieve.admin.ndjson import BadLine, numbered_lines
from sieve.admin.schemas import LabelJobAccepted, LabelJobRefused
from sieve.core.errors import PermanentError
from sieve.labeler.prompts import load_prompt
from sieve.store.labels import labeled_ids
from sieve.store.repository import MessageRecord, save_messages
from sieve.workers.llm.backlog import BacklogSink, parse_backlog_line

logger = logging.getLogger(__name__)

router = APIRouter(tags=["labeling"])

PATH = "/label-jobs"
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


class ChunkedEnqueue:
    """Records in as they are parsed; out to the sink ``chunk_size`` at a time. As in
    ``enqueue_backlog``, the labeled ones are skipped before chunking (a batch of
    ``chunk_size`` parsed records per skip query) and each chunk is saved before it is
    enqueued. Holds at most two chunks' worth of records."""

    def __init__(
        self, engine: Engine, sink: BacklogSink, prompt_version: str, llm_model: str, size: int
    ) -> None:
        self.engine, self.sink, self.size = engine, sink, size
        self.prompt_version, self.llm_model = prompt_version, llm_model
        self.parsed: list[MessageRecord] = []
        self.todo: list[MessageRecord] = []
        self.received = self.already_labeled = self.enqueued = 0

    def add(self, record: MessageRecord) -> bool:
        """True when a batch is full: call ``flush`` (blocking: in a worker thread)."""
        self.parsed.append(record)
        return len(self.parsed) >= self.size

    def flush(self, *, final: bool = False) -> None:
        batch, self.parsed = self.parsed, []
        ids = [record.id for record in batch]
        done = labeled_ids(self.engine, ids, self.prompt_version, self.llm_model) if ids else set()
        fresh = [record for record in batch if record.id not in done]
        self.received += len(batch)
        self.already_labeled += len(batch) - len(fresh)
        self.todo.extend(fresh)
        while len(self.todo) >= self.size or (final and self.todo):
            chunk, self.todo = self.todo[: self.size], self.todo[self.size :]
            save_messages(self.engine, chunk)
            self.enqueued += self.sink.enqueue([record.id for record in chunk])


@router.post(
    PATH,
    status_code=status.HTTP_202_ACCEPTED,
    response_model=LabelJobAccepted,
    responses={UNPROCESSABLE: {"model": LabelJobRefused}},
    dependencies=[RequireToken],
    openapi_extra=_BODY_DOC,
)
async def label_jobs(
    request: Request,
    settings: SettingsDep,
    engine: EngineDep,
    sink: BacklogSinkDep,
    chunk_size: Annotated[int, Query(ge=1, le=MAX_CHUNK_SIZE)] = DEFAULT_CHUNK_SIZE,
) -> LabelJobAccepted | JSONResponse:
    """Enqueue LLM labeling of every text without an OK label from the current prompt
    version and model. Resumable: after an interruption (a 503 midway, or a 422 for a bad
    line) send the same body again; what got labeled meanwhile is skipped and nothing is
    queued twice."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != NDJSON:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, f"send JSON Lines as Content-Type: {NDJSON}"
        )
    version = load_prompt(settings.llm.prompt).version_id
    job = ChunkedEnqueue(engine, sink, version, settings.llm.model, chunk_size)
    lines = numbered_lines(request.stream(), max_line_bytes=settings.admin.max_ndjson_line_bytes)
    try:
        async for number, line in lines:
            record = _parsed(number, line)
            if record is not None and job.add(record):
                await run_in_threadpool(job.flush)
    except BadLine as exc:
        logger.info("label job refused at %s; %d enqueued before it", exc, job.enqueued)
        body = LabelJobRefused(detail=str(exc), enqueued_before_error=job.enqueued)
        return JSONResponse(body.model_dump(), status_code=UNPROCESSABLE)
    await run_in_threadpool(job.flush, final=True)
    if job.received == 0:
        raise HTTPException(UNPROCESSABLE, 'empty body: expected {"id", "text"} lines')
    logger.info(
        "label job from the admin API: %d received, %d already labeled with %s, %d enqueued",
        job.received,
        job.already_labeled,
        version,
        job.enqueued,
    )
    return LabelJobAccepted(
        received=job.received, already_labeled=job.already_labeled, enqueued=job.enqueued
    )


def _parsed(number: int, line: str) -> MessageRecord | None:
    try:
        return parse_backlog_line(line, f"line {number}")
    except PermanentError as exc:
        raise BadLine(str(exc)) from exc
