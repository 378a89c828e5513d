"""The human review queue over HTTP: GET /review (a page of the queue, with the label set)
and POST /review/{message_id} (a human label; needs the admin token like every change).

A human label joins the gold set and overrides the LLM's label in training
(sieve/store/review.py).
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from sieve.admin.auth import RequireToken
from sieve.admin.deps import EngineDep, SettingsDep
from sieve.admin.schemas import HumanLabelIn, HumanLabelSaved, ReviewItem, ReviewQueue
from sieve.core.errors import ConfigError
from sieve.core.settings import Settings
from sieve.store.columns import MESSAGE_ID_CHARS
from sieve.store.repository import storable_key
from sieve.store.review import HumanLabel, known_messages, review_queue, save_human_labels
from sieve.workers.label_set import deployment_label_set

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/review", tags=["review"])
# Starlette renamed the constant (..._ENTITY, deprecated, then ..._CONTENT).
UNPROCESSABLE = 422


def _label_set(settings: Settings) -> list[str]:
    try:
        return deployment_label_set(settings.labels_file)
    except ConfigError as exc:
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, str(exc)) from exc


@router.get("", response_model=ReviewQueue)
def queue(
    engine: EngineDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ReviewQueue:
    page = review_queue(engine, limit=limit, offset=offset)
    items = [
        ReviewItem(
            message_id=item.message_id,
            text=item.text,
            reasons=[str(reason) for reason in item.reasons],
            student_label=item.student_label,
            student_confidence=item.student_confidence,
            llm_label=item.llm_label,
            escalation_reason=item.escalation_reason,
            escalated_at=item.escalated_at,
        )
        for item in page.items
    ]
    return ReviewQueue(total=page.total, items=items, labels=_label_set(settings))


@router.post("/{message_id:path}", response_model=HumanLabelSaved, dependencies=[RequireToken])
def label(
    message_id: str, body: HumanLabelIn, engine: EngineDep, settings: SettingsDep
) -> HumanLabelSaved:
    """Give ``message_id`` a human label (a second one replaces the first)."""
    if body.label not in set(_label_set(settings)):
        raise HTTPException(UNPROCESSABLE, f"label {body.label!r} is not in the label set")
    fits = len(message_id) <= MESSAGE_ID_CHARS and storable_key(message_id)
    if not fits or not known_messages(engine, [message_id]):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no message {message_id[:80]!r}")
    save_human_labels(engine, [HumanLabel(message_id, body.label)])
    logger.info("human label %s for message %s", body.label, message_id)
    return HumanLabelSaved(message_id=message_id, label=body.label)
