"""Label one message: cache first, else one LLM labeling, then cache the validated answer.

Pure of Celery, Kafka and the database so a task body, a CLI job or a test can call it.
Errors pass through unchanged (TransientLLMError, PermanentLLMError, LabelOutsideSet,
CacheUnavailable): retrying and recording failures is the caller's job, and a failure
is never cached.

Single flight: with ``leases`` (the workers' Redis or store leases), one labeling at a time
pays for a cache key, whatever message ids carry the text and whichever workers run them:

    1. cache hit → the answer, no call;
    2. take the lease ``answer:<key>``; taken by another → ``AnswerInFlight`` (transient:
       retry shortly, and find the answer in the cache);
    3. look in the cache again (the holder may have finished between 1 and 2);
    4. call, fill the cache, release the lease (a crashed holder's lease expires).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sieve.core import metrics
from sieve.core.errors import TransientError
from sieve.labeler.answer import LLMAnswer
from sieve.labeler.cache import AnswerCache, cache_key
from sieve.labeler.client import LLMClient, LLMParams
from sieve.labeler.prompts import FewShotExample, PromptTemplate
from sieve.labeler.usage import RequestRecorder

logger = logging.getLogger(__name__)

ANSWER_LEASE_TTL_S = 180


class KeyLeases(Protocol):
    """The Leases role of the workers (sieve.workers.llm.leases), as single flight needs it."""

    def acquire(self, name: str, ttl_s: int) -> str | None: ...

    def release(self, name: str, token: str) -> None: ...


class AnswerInFlight(TransientError):
    """Another labeling is paying for the same cache key right now: retry shortly."""


@dataclass(frozen=True)
class LabelResult:
    answer: LLMAnswer
    # True: served from the cache, no call was made and nothing was paid now.
    cached: bool
    # What this labeling cost now: 0 for a cache hit (the answer's tokens were paid once).
    cost_usd: float
    cache_key: str

    @property
    def label(self) -> str:
        return self.answer.label


def label_message(
    text: str,
    *,
    client: LLMClient,
    cache: AnswerCache,
    prompt: PromptTemplate,
    labels: Sequence[str],
    params: LLMParams | None = None,
    recorder: RequestRecorder | None = None,
    leases: KeyLeases | None = None,
    lease_ttl_s: int = ANSWER_LEASE_TTL_S,
    retrieved: Sequence[FewShotExample] = (),
) -> LabelResult:
    """The label of ``text`` under ``prompt``; ``params`` default to the client's. Every
    request is reported to ``recorder``; ``leases`` make the call single flight.
    ``retrieved``: the examples a retrieval prompt shows. They are not part of the cache
    key: a text is paid for once per prompt version, whatever examples it was shown."""
    params = params or client.params
    key = cache_key(text, prompt.version_id, client.model, params.canonical_json(), labels)
    hit = _cached(cache, key, labels)
    if hit is not None:
        return hit
    call = _Call(client, cache, prompt, labels, params, recorder, retrieved)
    if leases is None:
        return call(text, key)
    lease = f"answer:{key}"
    token = leases.acquire(lease, lease_ttl_s)
    if token is None:
        raise AnswerInFlight(f"answer {key[:12]} is being paid for by another labeling")
    try:
        hit = _cached(cache, key, labels)
        if hit is not None:
            return hit
        return call(text, key)
    finally:
        leases.release(lease, token)


def _cached(cache: AnswerCache, key: str, labels: Sequence[str]) -> LabelResult | None:
    hit = cache.get(key)
    metrics.record_cache_lookup(hit=hit is not None and hit.label in labels)
    if hit is not None and hit.label in labels:
        logger.debug("cache hit %s (%s)", key[:12], hit.prompt_version)
        return LabelResult(answer=hit, cached=True, cost_usd=0.0, cache_key=key)
    if hit is not None:  # only a tampered or colliding entry can get here
        logger.warning("cached label %r is not in the label set: asking again", hit.label)
    return None


@dataclass(frozen=True)
class _Call:
    """One paid labeling, its answer cached."""

    client: LLMClient
    cache: AnswerCache
    prompt: PromptTemplate
    labels: Sequence[str]
    params: LLMParams
    recorder: RequestRecorder | None
    retrieved: Sequence[FewShotExample]

    def __call__(self, text: str, key: str) -> LabelResult:
        answer = self.client.label(
            text, self.prompt, self.labels, self.params, self.recorder, self.retrieved
        )
        self.cache.put(key, answer)
        cost = self.client.cost_usd(answer.tokens_in, answer.tokens_out)
        return LabelResult(answer=answer, cached=False, cost_usd=cost, cache_key=key)
