"""Prompt A/B state: the arms of a pool, each message's assigned version, the rewards.

- **Arms** (``prompt_arms``): one row per (pool, version), ``active`` until a version is
  promoted; the promotion is one conditional UPDATE, so of two workers deciding at once
  only the first names a winner.
- **Assignments** (``prompt_assignments``): the version chosen for a message, written
  once (insert, or keep what is there): a retried task reads it back instead of drawing.
- **Rewards** are not counted anywhere: they are read from the labels, an OK LLM label of
  a version for a message that also has a human label (a gold item, a human review), right
  when the two agree. So a redelivered task never counts twice, and a human label that
  arrives later rewards the answer given before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Engine, and_, case, func, select

from sieve.core.events import LabelSource
from sieve.labeler.usage import RequestOutcome
from sieve.store.labels import LabelStatus
from sieve.store.repository import dialect_insert
from sieve.store.tables import labels, llm_requests, prompt_arms, prompt_assignments


class ArmStatus(StrEnum):
    ACTIVE = "active"
    PROMOTED = "promoted"
    RETIRED = "retired"


@dataclass(frozen=True)
class Arm:
    pool: str
    prompt_version: str
    status: ArmStatus
    reason: str | None
    updated_at: datetime | None


@dataclass(frozen=True)
class Rewards:
    correct: int
    wrong: int


@dataclass(frozen=True)
class VersionFigures:
    """What /stats shows per prompt version."""

    prompt_version: str
    labels: int  # OK LLM labels
    correct: int  # rewards: agreement with a human label of the same message
    wrong: int
    requests: int  # ledger rows
    cost_usd: float
    mean_latency_ms: float | None  # answered requests

    @property
    def accuracy(self) -> float | None:
        rewards = self.correct + self.wrong
        return self.correct / rewards if rewards else None


def pool_of(versions: Sequence[str]) -> str:
    """The pool id of a set of prompt versions: sorted, comma-joined."""
    return ",".join(sorted(set(versions)))


def ensure_arms(engine: Engine, pool: str, versions: Sequence[str]) -> None:
    """Insert the pool's arms as ``active`` unless they exist."""
    with engine.begin() as conn:
        insert = dialect_insert(conn, prompt_arms)
        rows = [{"pool": pool, "prompt_version": v, "status": ArmStatus.ACTIVE} for v in versions]
        conn.execute(insert.values(rows).on_conflict_do_nothing())


def arms(engine: Engine, pool: str | None = None) -> list[Arm]:
    query = select(prompt_arms).order_by(prompt_arms.c.pool, prompt_arms.c.prompt_version)
    if pool is not None:
        query = query.where(prompt_arms.c.pool == pool)
    with engine.connect() as conn:
        return [
            Arm(r.pool, r.prompt_version, ArmStatus(r.status), r.reason, r.updated_at)
            for r in conn.execute(query)
        ]


def promoted_version(engine: Engine, pool: str) -> str | None:
    query = select(prompt_arms.c.prompt_version).where(
        prompt_arms.c.pool == pool, prompt_arms.c.status == ArmStatus.PROMOTED
    )
    with engine.connect() as conn:
        return conn.execute(query.limit(1)).scalar_one_or_none()


def promote(engine: Engine, pool: str, winner: str, reason: str) -> bool:
    """Make ``winner`` the pool's only version; False when a version was promoted already."""
    now = datetime.now(UTC)
    others_promoted = (
        select(prompt_arms.c.prompt_version)
        .where(prompt_arms.c.pool == pool, prompt_arms.c.status == ArmStatus.PROMOTED)
        .exists()
    )
    with engine.begin() as conn:
        promoted = conn.execute(
            prompt_arms.update()
            .where(
                prompt_arms.c.pool == pool,
                prompt_arms.c.prompt_version == winner,
                prompt_arms.c.status == ArmStatus.ACTIVE,
                ~others_promoted,
            )
            .values(status=ArmStatus.PROMOTED, reason=reason, updated_at=now)
        ).rowcount
        if not promoted:
            return False
        conn.execute(
            prompt_arms.update()
            .where(
                prompt_arms.c.pool == pool,
                prompt_arms.c.prompt_version != winner,
                prompt_arms.c.status == ArmStatus.ACTIVE,
            )
            .values(status=ArmStatus.RETIRED, reason=f"{winner} promoted", updated_at=now)
        )
    return True


def assign(engine: Engine, pool: str, message_id: str, version: str) -> str:
    """The message's version in the pool: ``version`` unless one was assigned before."""
    existing = assigned(engine, pool, message_id)
    if existing is not None:
        return existing
    with engine.begin() as conn:
        insert = dialect_insert(conn, prompt_assignments)
        row = {"pool": pool, "message_id": message_id, "prompt_version": version}
        conn.execute(insert.values(**row).on_conflict_do_nothing())
    stored = assigned(engine, pool, message_id)
    return stored if stored is not None else version


def assigned(engine: Engine, pool: str, message_id: str) -> str | None:
    query = select(prompt_assignments.c.prompt_version).where(
        prompt_assignments.c.pool == pool, prompt_assignments.c.message_id == message_id
    )
    with engine.connect() as conn:
        return conn.execute(query).scalar_one_or_none()


def assignment_counts(engine: Engine, pool: str) -> dict[str, int]:
    """Messages assigned to each version of the pool: its share of the traffic."""
    query = (
        select(prompt_assignments.c.prompt_version, func.count())
        .where(prompt_assignments.c.pool == pool)
        .group_by(prompt_assignments.c.prompt_version)
    )
    with engine.connect() as conn:
        return {version: int(count) for version, count in conn.execute(query)}


def rewards(
    engine: Engine, versions: Sequence[str], llm_model: str | None = None
) -> dict[str, Rewards]:
    """Per version: its OK LLM labels that a human label of the same message agrees with
    (correct) or not (wrong). Versions without any are absent."""
    human = labels.alias("human")
    llm = labels.alias("llm")
    agree = case((llm.c.label == human.c.label, 1), else_=0)
    query = (
        select(llm.c.prompt_version, func.sum(agree), func.count())
        .select_from(human)
        .join(llm, llm.c.message_id == human.c.message_id)
        .where(
            human.c.source == LabelSource.HUMAN,
            human.c.status == LabelStatus.OK,
            llm.c.source == LabelSource.LLM,
            llm.c.status == LabelStatus.OK,
            llm.c.prompt_version.in_(list(versions)),
        )
        .group_by(llm.c.prompt_version)
    )
    if llm_model is not None:
        query = query.where(llm.c.llm_model == llm_model)
    with engine.connect() as conn:
        return {
            version: Rewards(int(right or 0), int(total) - int(right or 0))
            for version, right, total in conn.execute(query)
        }


def version_figures(engine: Engine) -> list[VersionFigures]:
    """Per prompt version seen in the labels or the ledger: labels, rewards, cost, latency."""
    answered = llm_requests.c.outcome == RequestOutcome.OK
    ledger = select(
        llm_requests.c.prompt_version,
        func.count(),
        func.coalesce(func.sum(llm_requests.c.cost_usd), 0.0),
        func.avg(case((answered, llm_requests.c.latency_ms), else_=None)),
    ).group_by(llm_requests.c.prompt_version)
    label_counts = (
        select(labels.c.prompt_version, func.count())
        .where(and_(labels.c.source == LabelSource.LLM, labels.c.status == LabelStatus.OK))
        .group_by(labels.c.prompt_version)
    )
    with engine.connect() as conn:
        spend = {row[0]: row[1:] for row in conn.execute(ledger)}
        counts = {version: int(n) for version, n in conn.execute(label_counts)}
    versions = sorted(set(spend) | set(counts))
    scored = rewards(engine, versions)
    figures = []
    for version in versions:
        requests, cost, latency = spend.get(version, (0, 0.0, None))
        reward = scored.get(version, Rewards(0, 0))
        figures.append(
            VersionFigures(
                prompt_version=version,
                labels=counts.get(version, 0),
                correct=reward.correct,
                wrong=reward.wrong,
                requests=int(requests),
                cost_usd=float(cost),
                mean_latency_ms=None if latency is None else round(float(latency), 1),
            )
        )
    return figures
