"""What `sieve demo` measures and prints: per block of messages, the share sent to the LLM,
accuracy of the final labels against gold, precision on kept messages, the model version;
totals; and the same figures for "LLM only"."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine

from sieve.store.columns import NO_MODEL_VERSION
from sieve.store.outcomes import message_outcomes


@dataclass(frozen=True)
class Outcome:
    """One message's fate: the fast model's label, whether it escalated, the LLM's label."""

    message_id: str
    model_label: str | None
    escalated: bool
    llm_label: str | None
    model_version: str
    confidence: float = 0.0
    reason: str = ""

    @property
    def final_label(self) -> str | None:
        return self.llm_label if self.escalated and self.llm_label else self.model_label


def outcomes(engine: Engine, message_ids: Sequence[str]) -> list[Outcome]:
    return [
        Outcome(
            row.message_id,
            row.model_label,
            row.escalated,
            row.llm_label,
            row.model_version,
            row.confidence,
            row.reason,
        )
        for row in message_outcomes(engine, message_ids)
    ]


@dataclass(frozen=True)
class Block:
    start: int
    count: int
    llm_share: float
    accuracy: float
    kept_precision: float | None
    model_versions: str


def block(start: int, items: Sequence[Outcome], gold: Mapping[str, str]) -> Block:
    kept = [item for item in items if not item.escalated]
    right = sum(item.final_label == gold[item.message_id] for item in items)
    kept_right = sum(item.model_label == gold[item.message_id] for item in kept)
    versions = sorted({_short(item.model_version) for item in items})
    return Block(
        start=start,
        count=len(items),
        llm_share=sum(item.escalated for item in items) / max(len(items), 1),
        accuracy=right / max(len(items), 1),
        kept_precision=kept_right / len(kept) if kept else None,
        model_versions=",".join(versions),
    )


def _short(version: str) -> str:
    return version if version == NO_MODEL_VERSION else version.rsplit("-", 1)[-1]


def print_table(blocks: Sequence[Block]) -> None:
    print(f"{'messages':>13}  {'to LLM':>7}  {'accuracy':>8}  {'kept prec.':>10}  model")
    for item in blocks:
        precision = "-" if item.kept_precision is None else f"{item.kept_precision:.1%}"
        span = f"{item.start + 1}-{item.start + item.count}"
        print(
            f"{span:>13}  {item.llm_share:>7.1%}  {item.accuracy:>8.1%}  {precision:>10}  "
            f"{item.model_versions}"
        )
