"""GET /stats: what the stream did in the last 24 hours and what the LLM cost."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from sieve.admin.deps import EngineDep, LimitsDep, SettingsDep
from sieve.admin.schemas import (
    DriftFigure,
    HourShare,
    LimitUse,
    LLMTotals,
    PromptArm,
    PromptStats,
    PromptVersionStats,
    Stats,
)
from sieve.store import prompt_arms
from sieve.store.escalations import EscalationStatus, count_escalations
from sieve.store.routing_stats import rule_decisions, stored_drift
from sieve.store.stats import store_stats

router = APIRouter(tags=["stats"])


@router.get("/stats", response_model=Stats)
def stats(engine: EngineDep, limits: LimitsDep, settings: SettingsDep) -> Stats:
    figures = store_stats(engine)
    drift = stored_drift(engine, settings.drift) if settings.drift.enabled else []
    return Stats(
        messages_total=figures.messages_total,
        active_version=figures.active_version,
        decisions_24h=figures.decisions,
        escalated_24h=figures.escalated,
        escalated_share_24h=figures.escalated_share,
        escalated_by_hour=[
            HourShare(
                hour=bucket.hour,
                decisions=bucket.decisions,
                escalated=bucket.escalated,
                escalated_share=bucket.escalated_share,
            )
            for bucket in figures.by_hour
        ],
        llm=LLMTotals(
            calls=figures.llm.calls,
            tokens_in=figures.llm.tokens_in,
            tokens_out=figures.llm.tokens_out,
            cost_usd=figures.llm.cost_usd,
            failed_labels=figures.llm.failed_labels,
            calls_by_outcome=figures.llm.calls_by_outcome,
        ),
        limits=[
            LimitUse(
                name=state.name,
                capacity=state.capacity,
                spent=state.spent,
                remaining=state.remaining,
                resets_at=datetime.fromtimestamp(state.resets_at, UTC),
            )
            for state in limits.state()
        ],
        escalations_deferred=count_escalations(engine, EscalationStatus.DEFERRED),
        rules_24h=rule_decisions(engine),
        drift={
            signal.signal.value: DriftFigure(
                score=signal.score,
                bound=signal.bound,
                alert=signal.alert,
                window=settings.drift.window,
                noise=signal.noise,
                reference_messages=signal.reference_messages,
                current_messages=signal.current_messages,
            )
            for signal in drift
        },
        prompts=prompt_stats(engine),
    )


def prompt_stats(engine: EngineDep) -> PromptStats:
    versions = [
        PromptVersionStats(
            prompt_version=row.prompt_version,
            labels=row.labels,
            rewards=row.correct + row.wrong,
            accuracy=row.accuracy,
            requests=row.requests,
            cost_usd=row.cost_usd,
            cost_per_label_usd=row.cost_usd / row.labels if row.labels else None,
            mean_latency_ms=row.mean_latency_ms,
        )
        for row in prompt_arms.version_figures(engine)
    ]
    arms = prompt_arms.arms(engine)
    traffic = {pool: prompt_arms.assignment_counts(engine, pool) for pool in {a.pool for a in arms}}
    return PromptStats(
        versions=versions,
        arms=[
            PromptArm(
                pool=arm.pool,
                prompt_version=arm.prompt_version,
                status=arm.status.value,
                assigned=traffic[arm.pool].get(arm.prompt_version, 0),
                reason=arm.reason,
                updated_at=arm.updated_at,
            )
            for arm in arms
        ],
    )
