"""Retraining benchmark: one n-gram retraining on 10,000 stored labels, end to end.

A fresh store (a SQLite file in a temporary folder, or an empty database at the given URL)
is filled with the data file's first ``labels`` records as LLM labels. A first retraining
makes the active model (no gate: nothing to compare with); the measured one is the second,
which does everything a scheduled run does: read the labels, split, train, calibrate,
export, evaluate both models on the held-out slice, gate, record. Both go through
``run_retrain``, the body of the Celery task, with the family set to ``ngram`` and every
other setting from the environment (``SIEVE_MODELS__TRAIN_THREADS`` included).

The code before a change is not at hand at run time, so there is no baseline in the same
run: the phase split is the context of the end-to-end figure.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import Engine

from sieve.bench.figures import Figure
from sieve.core.dataset import label_set_for_data_dir, read_labeled_jsonl
from sieve.core.errors import PermanentError
from sieve.core.events import LabelSource
from sieve.core.settings import Settings
from sieve.models.registry import ModelRegistry
from sieve.store.engine import make_engine
from sieve.store.labels import LabelRecord, LabelStatus, insert_labels, ok_label_count
from sieve.store.migrate import upgrade
from sieve.store.repository import MessageRecord, save_messages
from sieve.store.training import RunStatus, RunTrigger, create_run
from sieve.workers.distill.phases import Phase, PhaseClock
from sieve.workers.distill.retrain import run_retrain
from sieve.workers.label_set import write_label_set

logger = logging.getLogger(__name__)

COMMAND = "sieve bench retrain"
TARGET = "≤ 10 s"
PROMPT_VERSION = "bench@1"
TEACHER = "bench-teacher"


def figures(
    data: Path,
    *,
    labels: int = 10_000,
    store_url: str | None = None,
    settings: Settings | None = None,
) -> list[Figure]:
    """The end-to-end seconds of one n-gram retraining on ``labels`` stored labels, and
    the seconds of each of its phases (sieve.workers.distill.phases)."""
    records = read_labeled_jsonl(data)[:labels]
    if len(records) < labels:
        raise PermanentError(f"{data}: {len(records)} labeled records, {labels} needed")
    base = settings or Settings()
    with tempfile.TemporaryDirectory(prefix="sieve-bench-retrain-") as tmp:
        folder = Path(tmp)
        url = store_url or f"sqlite:///{folder / 'sieve.db'}"
        run_settings = base.model_copy(
            update={
                "data_dir": folder,
                "labels_file": write_label_set(
                    folder / "labels.txt", label_set_for_data_dir(data.parent)
                ),
                "database": base.database.model_copy(update={"url": SecretStr(url)}),
                "models": base.models.model_copy(
                    update={"family": "ngram", "dir": folder / "models"}
                ),
            }
        )
        upgrade(url)
        engine = make_engine(url)
        try:
            if ok_label_count(engine):
                raise PermanentError("the store for the retraining benchmark must be empty")
            save_messages(engine, [MessageRecord(id=r.id, text=r.text) for r in records])
            insert_labels(
                engine,
                [
                    LabelRecord(
                        r.id, LabelSource.LLM, PROMPT_VERSION, TEACHER, r.label, LabelStatus.OK
                    )
                    for r in records
                ],
            )
            registry = ModelRegistry(folder / "models")
            first_s, _ = _timed_run(run_settings, engine, registry)
            total_s, clock = _timed_run(run_settings, engine, registry)
        finally:
            engine.dispose()
    threads = run_settings.models.train_threads
    context = f"{labels} labels, ngram, {threads} train thread(s)"
    count = f"{labels // 1000}k" if labels % 1000 == 0 else str(labels)
    prefix = f"retrain.ngram.{count}"
    out = [
        Figure(
            f"{prefix}.s",
            total_s,
            "s",
            target=TARGET,
            command=COMMAND,
            note=f"{context}; a run with an active model to gate against",
        ),
        Figure(
            f"{prefix}.first_s",
            first_s,
            "s",
            command=COMMAND,
            note=f"{context}; the first run: no active model, no gate comparison",
        ),
    ]
    out.append(
        Figure(
            f"{prefix}.cpu_s",
            sum(clock.cpu_seconds.values()),
            "s",
            command=COMMAND,
            note=f"CPU seconds of {prefix}.s (this process, all threads)",
        )
    )
    for phase in Phase:
        out.append(
            Figure(
                f"{prefix}.{phase.value}_s",
                clock.seconds.get(phase, 0.0),
                "s",
                command=COMMAND,
                note=f"phase of {prefix}.s; CPU {clock.cpu_seconds.get(phase, 0.0):.2f} s",
            )
        )
    return out


def _timed_run(
    settings: Settings, engine: Engine, registry: ModelRegistry
) -> tuple[float, PhaseClock]:
    """One retraining through the task's body; its seconds and its phase clock."""
    clock = PhaseClock()
    run_id = create_run(engine, trigger=RunTrigger.CLI)
    started = time.perf_counter()
    run = run_retrain(settings, engine, registry, run_id, clock=clock)
    elapsed_s = time.perf_counter() - started
    if run["status"] != RunStatus.SUCCEEDED:
        raise PermanentError(f"benchmark retraining run {run['status']}: {run['error']}")
    logger.info(
        "retraining: %.2f s, CPU %.2f s (%s), %s",
        elapsed_s,
        sum(clock.cpu_seconds.values()),
        ", ".join(f"{name} {seconds:.2f}" for name, seconds in clock.seconds.items()),
        "promoted" if run["promoted"] else "not promoted",
    )
    return elapsed_s, clock


def format_table(figures: list[Figure]) -> str:
    lines = [f"{'figure':<34} {'value':>8} {'unit':<4} {'target':<8} note"]
    for figure in figures:
        lines.append(
            f"{figure.name:<34} {figure.value:>8.2f} {figure.unit:<4} {figure.target:<8} "
            f"{figure.note}"
        )
    return "\n".join(lines)
