"""`sieve bootstrap`: before any traffic, the LLM writes examples per label
(``sieve.workers.llm.bootstrap``), they are stored as synthetic examples
(``sieve.store.synthetic``, never as messages or LLM labels), and a first student is
trained on them by the ordinary retraining run (trigger ``bootstrap``), which registers
it and, with no model active yet, activates it. How later retrainings use the examples is
``synthetic.py``'s rule.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from sieve.core.settings import Settings
from sieve.labeler.client import LLMClient
from sieve.labeler.generation import load_generation_prompt
from sieve.labeler.prompts import load_prompt
from sieve.models.registry import ModelRegistry
from sieve.store.ledger import LedgerRecorder
from sieve.store.synthetic import SyntheticExample, save_synthetic_examples, synthetic_counts
from sieve.store.training import RunTrigger, create_run
from sieve.workers.distill.retrain import run_retrain
from sieve.workers.label_set import deployment_label_set
from sieve.workers.llm.bootstrap import GenerationReport, Progress, Verifier, generate_examples

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BootstrapResult:
    generation: GenerationReport
    stored: int  # examples new to the store
    run: dict[str, Any] | None  # the training run; None when there was nothing to train on


def bootstrap_student(
    settings: Settings,
    engine: Engine,
    registry: ModelRegistry,
    client: LLMClient,
    *,
    per_label: int | None = None,
    seed: int | None = None,
    verify: bool | None = None,
    generation_progress: Progress | None = None,
    training_progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> BootstrapResult:
    """Generate, store, train, register (and activate when the gate lets it)."""
    config = settings.bootstrap
    seed = config.seed if seed is None else seed
    prompt = load_generation_prompt(config.prompt)
    labels = deployment_label_set(settings.labels_file)
    ledger = LedgerRecorder(engine).for_message(None)
    verifier: Verifier | None = None
    if config.verify if verify is None else verify:
        classify = load_prompt(settings.llm.prompt)

        def verifier(text: str) -> str:
            return client.label(text, classify, labels, recorder=ledger).label

    examples, report = generate_examples(
        client,
        prompt,
        labels,
        per_label=per_label or config.per_label,
        seed=seed,
        extra_rounds=config.extra_rounds,
        min_chars=config.min_chars,
        max_chars=config.max_chars,
        recorder=ledger,
        verify=verifier,
        progress=generation_progress,
        sleep=sleep,
    )
    stored = save_synthetic_examples(
        engine,
        [
            SyntheticExample(e.label, e.text, e.normalised, prompt.version_id, client.model, seed)
            for e in examples
        ],
    )
    logger.info(
        "bootstrap: %d examples generated, %d kept, %d new in the store, %d calls",
        report.generated,
        report.kept,
        stored,
        report.calls,
    )
    if not synthetic_counts(engine):
        return BootstrapResult(report, stored, None)
    run_id = create_run(engine, RunTrigger.BOOTSTRAP)
    run = run_retrain(settings, engine, registry, run_id, training_progress)
    return BootstrapResult(report, stored, run)
