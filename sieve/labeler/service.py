"""Label one message: cache first, else one LLM labeling, then cache the validated answer.

Pure of Celery, Kafka and the database so a task body, a CLI job or a test can call it.
Errors pass through unchanged (TransientLLMError, PermanentLLMError, LabelOutsideSet,
CacheUnavailable): retrying and recording failures is the caller's job, and a failure
is never cached.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sieve.core import metrics
from sieve.labeler.answer import LLMAnswer
from sieve.labeler.cache import AnswerCache, cache_key
from sieve.labeler.client import LLMClient, LLMParams
from sieve.labeler.cost import DEFAULT_PRICES, PriceTable, cost_usd
from sieve.labeler.prompts import PromptTemplate

logger = logging.getLogger(__name__)


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
    prices: PriceTable = DEFAULT_PRICES,
) -> LabelResult:
    """The label of ``text`` under ``prompt``; ``params`` default to the client's."""
    params = params or client.params
    key = cache_key(text, prompt.version_id, client.model, params.canonical_json(), labels)
    hit = cache.get(key)
    metrics.record_cache_lookup(hit=hit is not None and hit.label in labels)
    if hit is not None and hit.label in labels:
        logger.debug("cache hit %s (%s)", key[:12], prompt.version_id)
        return LabelResult(answer=hit, cached=True, cost_usd=0.0, cache_key=key)
    if hit is not None:  # only a tampered or colliding entry can get here
        logger.warning("cached label %r is not in the label set: asking again", hit.label)
    answer = client.label(text, prompt, labels, params)
    cache.put(key, answer)
    cost = cost_usd(answer.model, answer.tokens_in, answer.tokens_out, prices)
    metrics.record_llm_cost(cost)
    return LabelResult(answer=answer, cached=False, cost_usd=cost, cache_key=key)
