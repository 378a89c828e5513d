"""The cold-start loop of `sieve bench bootstrap`, in one process: the stream worker's own
batch code (``process_batch``: the active model, calibrated routing, exploration), its
model watcher (``ActiveModel``), the LLM client and answer cache over HTTP to the teacher
simulator, label rows and the ledger in a SQLite store, and the ordinary retraining run
with its gate — everything `sieve bench cascade` runs but Kafka and Celery, which move
messages and do not change where they are routed. Retraining follows the demo's rule: the
first as soon as ``min_labels`` LLM labels exist (at a chunk's end), then every
``min_new_labels``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from sieve.core.dataset import LabeledText
from sieve.core.events import LabelSource
from sieve.core.settings import BudgetSettings, DatabaseSettings, Settings
from sieve.labeler.cache import InMemoryAnswerCache
from sieve.labeler.prompts import load_prompt
from sieve.labeler.service import label_message
from sieve.store.labels import LabelRecord, LabelStatus, ok_label_count, save_label
from sieve.store.ledger import LedgerRecorder, spend_totals
from sieve.store.repository import save_messages
from sieve.store.training import RunTrigger, create_run
from sieve.wiring import llm_client, open_registry, open_store
from sieve.workers.distill.bootstrap import bootstrap_student
from sieve.workers.distill.retrain import run_retrain
from sieve.workers.llm.bootstrap import GenerationReport
from sieve.workers.records import Record
from sieve.workers.stream.batch import Calibration, process_batch
from sieve.workers.stream.model_watch import ActiveModel

SIM_MODEL = "teacher-sim"
# The simulator is free; priced like a small hosted model so costs compare (as the demo).
SIM_PRICES_USD_PER_1M = (0.15, 0.6)


@dataclass(frozen=True)
class Chunk:
    messages: int
    escalated: int
    correct: int  # final labels equal to gold
    model_version: str | None


@dataclass
class LoopRun:
    chunks: list[Chunk] = field(default_factory=list)
    generation: GenerationReport | None = None
    calls: int = 0  # every LLM request: generation (and verification) included
    cost_usd: float = 0.0
    retrainings: int = 0

    def share(self, first: int) -> float:
        escalated, messages = self._sum(first)
        return escalated / max(messages, 1)

    def accuracy(self, first: int) -> float:
        messages = correct = 0
        for chunk in self.chunks:
            if messages >= first:
                break
            messages, correct = messages + chunk.messages, correct + chunk.correct
        return correct / max(messages, 1)

    def _sum(self, first: int) -> tuple[int, int]:
        messages = escalated = 0
        for chunk in self.chunks:
            if messages >= first:
                break
            messages, escalated = messages + chunk.messages, escalated + chunk.escalated
        return escalated, messages


def run_settings(
    settings: Settings, work_dir: Path, labels_file: Path, base_url: str, family: str
) -> Settings:
    """The run's settings: a fresh store and registry in ``work_dir``, the simulator as
    the LLM, no budget, the demo's cold-start threshold; routing as configured."""
    encoders = settings.models.encoder_cache_dir or (settings.data_dir / "encoders").resolve()
    return settings.model_copy(
        update={
            "data_dir": work_dir,
            "labels_file": labels_file,
            "database": DatabaseSettings(url=SecretStr(f"sqlite:///{work_dir / 'sieve.db'}")),
            "models": settings.models.model_copy(
                update={"dir": work_dir / "models", "family": family, "encoder_cache_dir": encoders}
            ),
            "llm": settings.llm.model_copy(
                update={
                    "base_url": base_url,
                    "model": SIM_MODEL,
                    "prices_usd_per_1m": {SIM_MODEL: SIM_PRICES_USD_PER_1M},
                }
            ),
            "budget": BudgetSettings(),
            "retrain": settings.retrain.model_copy(
                update={"min_labels": min(settings.retrain.min_labels, 500)}
            ),
        }
    )


def run_loop(
    settings: Settings,
    stream: Sequence[LabeledText],
    labels: Sequence[str],
    *,
    bootstrap: bool,
    per_label: int,
    chunk_size: int,
) -> LoopRun:
    """Stream ``stream`` in chunks from a cold start, with or without a bootstrap first."""
    engine = open_store(settings)
    registry = open_registry(settings)
    client = llm_client(settings, engine)
    run = LoopRun()
    try:
        if bootstrap:
            result = bootstrap_student(settings, engine, registry, client, per_label=per_label)
            run.generation = result.generation
        active = ActiveModel(engine, check_interval_s=0.0, labels=labels)
        prompt = load_prompt(settings.llm.prompt)
        cache = InMemoryAnswerCache()
        ledger = LedgerRecorder(engine)
        labels_at_last_retrain = 0
        for start in range(0, len(stream), chunk_size):
            items = stream[start : start + chunk_size]
            active.refresh(force=True)
            outcome = process_batch(
                [_record(item, start + i) for i, item in enumerate(items)],
                active.classifier,
                settings.routing,
                settings.stream,
                Calibration(thresholds=active.thresholds),
            )
            save_messages(engine, outcome.messages)
            final = {row.message_id: row.label for row in outcome.predictions}
            texts = {item.id: item.text for item in items}
            for escalation in outcome.escalations:
                answer = label_message(
                    texts[escalation.message_id],
                    client=client,
                    cache=cache,
                    prompt=prompt,
                    labels=labels,
                    recorder=ledger.for_message(escalation.message_id),
                ).answer
                save_label(
                    engine,
                    LabelRecord(
                        escalation.message_id,
                        LabelSource.LLM,
                        prompt.version_id,
                        client.model,
                        answer.label,
                        LabelStatus.OK,
                    ),
                )
                final[escalation.message_id] = answer.label
            correct = sum(final.get(item.id) == item.label for item in items)
            run.chunks.append(Chunk(len(items), len(outcome.escalations), correct, active.version))
            labeled = ok_label_count(engine)
            cold = active.version is None
            due = settings.retrain.min_labels if cold else settings.retrain.min_new_labels
            if labeled - labels_at_last_retrain >= due and start + chunk_size < len(stream):
                run_retrain(settings, engine, registry, create_run(engine, RunTrigger.DEMO))
                run.retrainings += 1
                labels_at_last_retrain = labeled
        totals = spend_totals(engine)
        run.calls, run.cost_usd = totals.requests, totals.cost_usd
    finally:
        client.close()
        engine.dispose()
    return run


def _record(item: LabeledText, offset: int) -> Record:
    value = json.dumps({"id": item.id, "text": item.text}).encode()
    return Record("feedback", 0, offset, item.id.encode(), value)
