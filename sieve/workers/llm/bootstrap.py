"""The synthetic bootstrap's generation job: ask the LLM for example messages per label,
validate them (``sieve.labeler.synthetic``), optionally verify each with the
classification prompt, and return what was kept with an account of the rest.

- **Seeded and ordered**: labels are asked in sorted order, each with the seed in the
  request (the API's ``seed``); round ``r`` of a label asks for the shortfall left by
  validation, as batch ``r`` of the prompt. The same endpoint and seed, the same examples.
- **Within the budget**: every request goes through the client's gate (BudgetGate); a
  spent budget stops the job cleanly (``stopped`` says why) with what was kept so far. A
  rate limit waits for its window; a transient error is retried with back-off, then stops
  the job.
- Every request is reported to ``recorder`` (the ledger, with no message id), so
  `sieve costs --by prompt_version` shows the generation apart from real labeling.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sieve.core.errors import PermanentError, TransientError
from sieve.labeler.client import LLMClient, LLMParams, backoff_s
from sieve.labeler.generation import GenerationPrompt, UnusableGeneration, parse_examples
from sieve.labeler.synthetic import DropReason, ExampleFilter, KeptExample
from sieve.labeler.usage import LLMRequest, NoRecorder, RequestRecorder
from sieve.workers.llm.budget import OverLimit

logger = logging.getLogger(__name__)

# Generation wants variety: at least this temperature, whatever labeling uses.
GENERATION_TEMPERATURE = 0.7
# Completion tokens allowed per asked message (short messages run 15-30 tokens).
TOKENS_PER_EXAMPLE = 48
MAX_TRANSIENT_ATTEMPTS = 4

# text → the label the classification prompt gives it
Verifier = Callable[[str], str]
Progress = Callable[[int, int], None]


@dataclass
class GenerationReport:
    labels: int
    per_label: int
    generated: int = 0
    kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    calls: int = 0
    unusable_answers: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    # Labels that ended with fewer than per_label examples.
    short_labels: list[str] = field(default_factory=list)
    # Why the job stopped before the last label (a spent budget), or None.
    stopped: str | None = None


class _Tally:
    """Counts the requests and cost passing to the real recorder."""

    def __init__(self, inner: RequestRecorder) -> None:
        self.inner = inner
        self.calls = 0
        self.tokens = 0
        self.cost_usd = 0.0

    def record(self, request: LLMRequest) -> None:
        self.calls += 1
        self.tokens += request.tokens_in + request.tokens_out
        self.cost_usd += request.cost_usd
        self.inner.record(request)


class _Stop(Exception):
    """Ends the job: the reason is the message."""


def generate_examples(
    client: LLMClient,
    prompt: GenerationPrompt,
    labels: Sequence[str],
    *,
    per_label: int,
    seed: int,
    extra_rounds: int = 1,
    min_chars: int = 8,
    max_chars: int = 300,
    recorder: RequestRecorder | None = None,
    verify: Verifier | None = None,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[list[KeptExample], GenerationReport]:
    """Up to ``per_label`` validated examples of every label, and the account."""
    tally = _Tally(recorder or NoRecorder())
    checks = ExampleFilter(min_chars=min_chars, max_chars=max_chars)
    report = GenerationReport(labels=len(labels), per_label=per_label)
    params = dataclasses.replace(
        client.params,
        seed=seed,
        temperature=max(client.params.temperature, GENERATION_TEMPERATURE),
        max_tokens=per_label * TOKENS_PER_EXAMPLE + 64,
    )
    ordered = sorted(labels)
    try:
        for done, label in enumerate(ordered):
            for batch in range(1, extra_rounds + 2):
                missing = per_label - checks.kept_count(label)
                if missing <= 0:
                    break
                texts = _ask(client, prompt, label, missing, batch, params, tally, report, sleep)
                # An LLM may write more than asked: the first ``missing`` count.
                fresh = checks.add(label, texts[:missing])
                if verify is not None:
                    _verify(fresh, verify, checks, sleep)
            if progress is not None:
                progress(done + 1, len(ordered))
    except _Stop as stop:
        report.stopped = str(stop)
        logger.warning("bootstrap generation stopped: %s", stop)
    kept = checks.examples()
    counts = {label: 0 for label in ordered}
    for example in kept:
        counts[example.label] += 1
    report.generated = checks.generated
    report.kept = len(kept)
    report.dropped = {reason.value: checks.dropped[reason] for reason in DropReason}
    report.short_labels = [label for label, count in counts.items() if count < per_label]
    report.calls, report.tokens, report.cost_usd = tally.calls, tally.tokens, tally.cost_usd
    return kept, report


def _ask(
    client: LLMClient,
    prompt: GenerationPrompt,
    label: str,
    count: int,
    batch: int,
    params: LLMParams,
    recorder: RequestRecorder,
    report: GenerationReport,
    sleep: Callable[[float], None],
) -> list[str]:
    """One generation request, retried on transient errors; [] for an unusable answer."""
    messages = prompt.render(label, count, batch=batch)
    return _with_retries(
        lambda: (
            client.complete(
                messages,
                prompt_version=prompt.version_id,
                parse=parse_examples,
                params=params,
                recorder=recorder,
            ).value
        ),
        report,
        sleep,
    )


def _with_retries(
    call: Callable[[], list[str]], report: GenerationReport, sleep: Callable[[float], None]
) -> list[str]:
    attempt = 0
    while True:
        try:
            return call()
        except OverLimit as exc:
            if exc.limit.is_budget:
                raise _Stop(str(exc)) from exc
            sleep(exc.retry_after_s)  # a rate limit: its minute renews
        except TransientError as exc:
            attempt += 1
            if attempt >= MAX_TRANSIENT_ATTEMPTS:
                raise _Stop(f"LLM unavailable after {attempt} attempts: {exc}") from exc
            sleep(backoff_s(attempt - 1, retry_after_s=getattr(exc, "retry_after_s", None)))
        except UnusableGeneration as exc:
            report.unusable_answers += 1
            logger.warning("unusable generation answer: %s", exc)
            return []
        except PermanentError as exc:
            raise _Stop(f"the LLM endpoint refused the request: {exc}") from exc


def _verify(
    fresh: list[KeptExample],
    verify: Verifier,
    checks: ExampleFilter,
    sleep: Callable[[float], None],
) -> None:
    """Keep only the examples the classification prompt labels as asked."""
    for example in fresh:
        try:
            answer = verify(example.text)
        except OverLimit as exc:
            if exc.limit.is_budget:
                raise _Stop(str(exc)) from exc
            sleep(exc.retry_after_s)
            answer = ""
        except (TransientError, PermanentError) as exc:
            logger.warning("could not verify a generated example: %s", exc)
            answer = ""
        if answer != example.label:
            checks.reject(example, DropReason.OFF_LABEL)
