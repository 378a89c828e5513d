"""Pre-generation: warm the answer cache for the most frequent texts not yet answered.

1. Stored messages are counted by normalised text (the cache's own ``normalise_text``),
   texts of at least ``min_count`` messages kept, most frequent first (ties: by text).
2. Each is looked up in the answer cache under the active prompt version, model,
   parameters and label set; a hit is skipped (already answered) and costs nothing.
3. A miss is labeled through ``label_message`` (single flight with ``leases``: a text
   another worker is paying for right now is skipped), the answer cached and every
   request written to the ledger (no message id).
4. It stops cleanly at ``limit`` texts asked, at a spent budget (the gate refuses the
   request; nothing is sent), or when the endpoint keeps failing; ``stopped`` says which.
   A rate limit waits for its window. An answer outside the label set is counted as failed
   and never cached.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine

from sieve.core.errors import PermanentError, TransientError
from sieve.labeler.cache import AnswerCache, normalise_text
from sieve.labeler.client import LLMClient, backoff_s
from sieve.labeler.parsing import LabelOutsideSet
from sieve.labeler.prompts import PromptTemplate
from sieve.labeler.service import AnswerInFlight, KeyLeases, LabelResult, label_message
from sieve.labeler.usage import NoRecorder, RequestRecorder
from sieve.store.texts import text_counts
from sieve.workers.llm.budget import OverLimit

logger = logging.getLogger(__name__)

MAX_TRANSIENT_ATTEMPTS = 4


@dataclass
class PregenerateReport:
    candidates: int = 0  # distinct normalised texts of at least min_count messages
    already_cached: int = 0
    asked: int = 0  # texts sent to the LLM
    cached: int = 0  # answers written to the cache now
    failed: int = 0  # answers outside the label set
    in_flight: int = 0  # skipped: another worker was paying for the text
    cost_usd: float = 0.0
    stopped: str | None = None  # None: every candidate was answered or skipped


def frequent_texts(counts: Iterable[tuple[str, int]], min_count: int) -> list[tuple[str, int]]:
    """(text, messages) per normalised text, most frequent first; the text is the most
    frequent spelling (ties: the first in sort order)."""
    totals: Counter[str] = Counter()
    spellings: dict[str, Counter[str]] = {}
    for text, count in counts:
        key = normalise_text(text)
        if not key:
            continue
        totals[key] += count
        spellings.setdefault(key, Counter())[text] += count
    ranked = sorted(
        (key for key, total in totals.items() if total >= min_count),
        key=lambda key: (-totals[key], key),
    )
    return [
        (min(spellings[key].items(), key=lambda item: (-item[1], item[0]))[0], totals[key])
        for key in ranked
    ]


class _Stop(Exception):
    """Ends the job: the reason is the message."""


def pregenerate(
    engine: Engine,
    *,
    client: LLMClient,
    cache: AnswerCache,
    prompt: PromptTemplate,
    labels: Sequence[str],
    limit: int,
    min_count: int = 2,
    recorder: RequestRecorder | None = None,
    leases: KeyLeases | None = None,
    progress: Callable[[int, int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> PregenerateReport:
    """Cache answers for up to ``limit`` of the most frequent unanswered texts."""
    candidates = frequent_texts(text_counts(engine), min_count)
    report = PregenerateReport(candidates=len(candidates))
    recorder = recorder or NoRecorder()
    try:
        for done, (text, _count) in enumerate(candidates):
            if report.asked >= limit:
                raise _Stop(f"limit of {limit} texts asked reached")
            result = _label(text, client, cache, prompt, labels, recorder, leases, report, sleep)
            if result is not None and result.cached:
                report.already_cached += 1
            elif result is not None:
                report.cached += 1
                report.cost_usd += result.cost_usd
            if progress is not None:
                progress(done + 1, len(candidates))
    except _Stop as stop:
        report.stopped = str(stop)
    logger.info("pre-generation: %s", report)
    return report


def _label(
    text: str,
    client: LLMClient,
    cache: AnswerCache,
    prompt: PromptTemplate,
    labels: Sequence[str],
    recorder: RequestRecorder,
    leases: KeyLeases | None,
    report: PregenerateReport,
    sleep: Callable[[float], None],
) -> LabelResult | None:
    attempt = 0
    while True:
        try:
            result = label_message(
                text,
                client=client,
                cache=cache,
                prompt=prompt,
                labels=labels,
                recorder=recorder,
                leases=leases,
            )
        except OverLimit as exc:
            if exc.limit.is_budget:
                raise _Stop(str(exc)) from exc
            sleep(exc.retry_after_s)
            continue
        except AnswerInFlight:
            report.in_flight += 1
            return None
        except LabelOutsideSet as exc:
            report.asked += 1
            report.failed += 1
            logger.warning("pre-generation: no usable label for a text: %s", exc)
            return None
        except TransientError as exc:
            attempt += 1
            if attempt >= MAX_TRANSIENT_ATTEMPTS:
                raise _Stop(f"LLM unavailable after {attempt} attempts: {exc}") from exc
            sleep(backoff_s(attempt - 1, retry_after_s=getattr(exc, "retry_after_s", None)))
            continue
        except PermanentError as exc:
            raise _Stop(f"the LLM endpoint refused the request: {exc}") from exc
        if not result.cached:
            report.asked += 1
        return result
