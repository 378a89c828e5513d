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


class DriftFigure(BaseModel):
    score: float | None = Field(description="None: too few decisions in a window for a verdict")
    bound: float = Field(description="the signal alerts above it (SIEVE_DRIFT__*_BOUND)")
    alert: bool
    window: int = Field(description="decisions per window (SIEVE_DRIFT__WINDOW)")
    noise: float | None = Field(description="about the score two windows give without drift")
    reference_messages: int
    current_messages: int


class PromptVersionStats(BaseModel):
    prompt_version: str
    labels: int = Field(description="OK LLM labels from this version")
    rewards: int = Field(description="of those, messages with a human label to compare with")
    accuracy: float | None = Field(description="agreement with the human labels; None: no reward")
    requests: int = Field(description="requests sent (ledger)")
    cost_usd: float
    cost_per_label_usd: float | None
    mean_latency_ms: float | None = Field(description="answered requests")


class PromptArm(BaseModel):
    pool: str = Field(description="the prompt versions tested together (SIEVE_LLM__PROMPTS)")
    prompt_version: str
    status: Literal["active", "promoted", "retired"]
    assigned: int = Field(description="messages this version was chosen for: its traffic")
    reason: str | None = Field(description="why it was promoted or retired")
    updated_at: datetime | None


class PromptStats(BaseModel):
    versions: list[PromptVersionStats]
    arms: list[PromptArm] = Field(description="prompt A/B pools and where each arm stands")


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
    rules_24h: dict[str, int] = Field(
        default_factory=dict, description="decisions per routing rule, the last 24 hours"
    )
    drift: dict[str, DriftFigure] = Field(
        default_factory=dict,
        description="escalation_rate, label_mix, confidence: the active model's latest "
        "decisions against its first (or previous) window",
    )
    prompts: PromptStats = Field(description="per prompt version: accuracy, cost, latency; A/B")


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    detail: str | None = None


class ReviewItem(BaseModel):
    message_id: str
    text: str
    reasons: list[str] = Field(description="disagreement, exploration")
    student_label: str | None = Field(description="the fast model's label when it escalated")
    student_confidence: float | None
    llm_label: str | None = Field(description="the LLM's newest label; None: not answered yet")
    escalation_reason: str
    escalated_at: datetime


class ReviewQueue(BaseModel):
    total: int = Field(description="items in the whole queue")
    items: list[ReviewItem] = Field(description="disagreements first, then newest first")
    labels: list[str] = Field(description="the deployment's label set: what a human may answer")


class HumanLabelIn(BaseModel):
    label: str = Field(max_length=128)


class HumanLabelSaved(BaseModel):
    message_id: str
    label: str


class AuditPoint(BaseModel):
    hour: datetime
    audited: int
    final_accuracy: float | None = Field(description="final labels that match the human's")
    student_accuracy: float | None = Field(description="fast-model labels that match")


class CostPoint(BaseModel):
    hour: datetime
    requests: int
    cost_usd: float


class RunMark(BaseModel):
    at: datetime
    status: str
    promoted: bool | None
    model_version: str | None


class ActivationMark(BaseModel):
    at: datetime
    version: str
    reason: str


class Series(BaseModel):
    since: datetime = Field(description="start of the first hour, UTC")
    hours: int
    share: list[HourShare] = Field(description="share of decisions sent to the LLM per hour")
    audit: list[AuditPoint]
    cost: list[CostPoint]
    runs: list[RunMark]
    activations: list[ActivationMark]
    active_at_start: str | None = Field(description="the version active when the window opens")
