"""Request and response bodies of the admin API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from sieve.store.training import RunStatus, RunTrigger
from sieve.store.versions import ModelStatus


class RetrainAccepted(BaseModel):
    run_id: str
    status_url: str


class Run(BaseModel):
    id: str
    status: RunStatus
    trigger: RunTrigger
    model_version: str | None = None
    metrics: dict[str, Any] | None = None
    promoted: bool | None = None
    error: str | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None


class ModelVersion(BaseModel):
    version: str
    family: str
    status: ModelStatus
    status_reason: str | None
    data_hash: str
    metrics: dict[str, Any]
    active: bool


class ModelList(BaseModel):
    active_version: str | None
    models: list[ModelVersion] = Field(description="newest first")


class ChangeReason(BaseModel):
    reason: str | None = Field(None, max_length=500, description="recorded with the activation")


class Activation(BaseModel):
    active_version: str
    previous_version: str | None


class LabelJobAccepted(BaseModel):
    received: int = Field(description="records in the body")
    already_labeled: int = Field(description="skipped: labeled with this prompt version and model")
    enqueued: int = Field(description="handed to the labeling queue")


class LabelJobRefused(BaseModel):
    detail: str = Field(description="the bad line: 'line N: ...'")
    enqueued_before_error: int = Field(
        description="handed to the labeling queue from the full chunks before the bad line"
    )


class PregenerateDone(BaseModel):
    candidates: int = Field(description="distinct texts of at least min_count messages")
    already_cached: int
    asked: int
    cached: int
    failed: int
    in_flight: int
    cost_usd: float
    stopped: str | None = Field(description="why it stopped early (limit, budget), or null")


class HourShare(BaseModel):
    hour: datetime = Field(description="start of the hour, UTC")
    decisions: int
    escalated: int
    escalated_share: float | None = Field(description="None when the hour saw no message")


class LLMTotals(BaseModel):
    calls: int = Field(
        description="HTTP requests sent to the LLM, failed and corrective ones included"
    )
    tokens_in: int
    tokens_out: int
    cost_usd: float
    failed_labels: int
    calls_by_outcome: dict[str, int] = Field(description="requests per outcome (ledger)")


class LimitUse(BaseModel):
    name: str = Field(description="requests_per_minute, tokens_per_minute, usd_per_hour, ...")
    capacity: float
    spent: float = Field(description="used in the current window")
    remaining: float
    resets_at: datetime = Field(description="when the current window ends (UTC)")


class Stats(BaseModel):
    messages_total: int
    active_version: str | None
    decisions_24h: int
    escalated_24h: int
    escalated_share_24h: float | None
    escalated_by_hour: list[HourShare] = Field(description="the last 24 hours, oldest first")
    llm: LLMTotals
    limits: list[LimitUse] = Field(description="the configured LLM limits and budgets")
    escalations_deferred: int = Field(
        description="escalations waiting for room (backlog bound or budget), provisional label kept"
    )


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    detail: str | None = None
