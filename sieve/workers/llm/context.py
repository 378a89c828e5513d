"""How a process builds its LLM-side objects from Settings: the Redis client, leases,
the answer cache, the Celery escalation sink and a labeling worker's context. The Celery
tasks build their context here (a worker process has no other entry point); ``sieve.wiring``
uses the same functions for everything else."""

from __future__ import annotations

import redis
from sqlalchemy import Engine

from sieve.core.settings import Settings
from sieve.labeler.cache import AnswerCache, RedisAnswerCache
from sieve.labeler.client import LLMClient, LLMParams
from sieve.labeler.cost import DEFAULT_PRICES, parse_prices
from sieve.models.registry import open_registry
from sieve.store.engine import make_engine
from sieve.store.ledger import LedgerRecorder
from sieve.store.prompt_arms import pool_of
from sieve.workers.kafka_adapter import make_producer
from sieve.workers.label_set import deployment_label_set
from sieve.workers.llm.budget import (
    Budget,
    BudgetGate,
    Counters,
    RedisCounters,
    StoreCounters,
    limits_from,
)
from sieve.workers.llm.escalation import CeleryEscalationSink
from sieve.workers.llm.examples import ActiveModelEmbedder, StoreExamples
from sieve.workers.llm.labeling import LabelingContext
from sieve.workers.llm.leases import Leases, RedisLeases, StoreAnswerCache, StoreLeases
from sieve.workers.llm.prompt_choice import PromptChooser, load_prompts


def redis_client(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis.url.get_secret_value())


def leases(settings: Settings, engine: Engine) -> Leases:
    """Enqueue markers and label locks: in Redis, or in the database without it."""
    if settings.uses_redis:
        return RedisLeases(redis_client(settings), settings.redis.key_prefix)
    return StoreLeases(engine)


def answer_cache(settings: Settings, engine: Engine) -> AnswerCache:
    ttl_s = settings.llm.cache_ttl_s
    if settings.uses_redis:
        prefix = f"{settings.redis.key_prefix}llm-cache:"
        return RedisAnswerCache(redis_client(settings), prefix, ttl_s=ttl_s)
    return StoreAnswerCache(engine, ttl_s=ttl_s)


def celery_sink(settings: Settings, engine: Engine) -> CeleryEscalationSink:
    return CeleryEscalationSink(
        engine,
        leases(settings, engine),
        prompt_version=prompt_pool(settings),
        queue=settings.celery.queue,
        max_waiting=settings.celery.max_waiting,
    )


def prompt_pool(settings: Settings) -> str:
    """The prompt version in use, or with a prompt A/B the pool of versions (``a@1,b@1``)."""
    return pool_of([prompt.version_id for prompt in load_prompts(settings.llm.prompt_names())])


def budget(settings: Settings, engine: Engine) -> Budget:
    """The LLM limits and budgets, counted in Redis or in the store without it."""
    counters: Counters
    if settings.uses_redis:
        counters = RedisCounters(redis_client(settings), settings.redis.key_prefix)
    else:
        counters = StoreCounters(engine)
    return Budget(limits_from(settings), counters)


def llm_client(settings: Settings, engine: Engine) -> LLMClient:
    """The configured LLM client, its requests admitted by the shared limits and budgets."""
    llm = settings.llm
    return LLMClient(
        base_url=llm.base_url,
        api_key=llm.api_key.get_secret_value(),
        model=llm.model,
        timeout_s=llm.timeout_s,
        params=LLMParams(
            temperature=llm.temperature,
            max_tokens=llm.max_tokens,
            json_mode=llm.json_mode,
            seed=llm.seed,
        ),
        corrective_retries=llm.corrective_retries,
        prices={**DEFAULT_PRICES, **parse_prices(llm.prices_usd_per_1m)},
        gate=BudgetGate(budget(settings, engine)) if limits_from(settings) else None,
    )


def labeling_context(settings: Settings) -> LabelingContext:
    """Everything a Celery worker process needs to label escalations."""
    llm = settings.llm
    engine = make_engine(settings.database_url, echo=settings.database.echo)
    prompts = load_prompts(llm.prompt_names())
    chooser = PromptChooser(engine, prompts, llm_model=llm.model, bandit=settings.bandit)
    examples = None
    if any(prompt.retrieval_k for prompt in prompts):
        examples = StoreExamples(
            engine,
            ActiveModelEmbedder(engine, open_registry(settings)),
            refresh_s=llm.retrieval_refresh_s,
            max_examples=llm.retrieval_max_examples,
        )
    return LabelingContext(
        engine=engine,
        producer=make_producer(settings.kafka),
        labels_topic=settings.kafka.labels_topic,
        client=llm_client(settings, engine),
        cache=answer_cache(settings, engine),
        leases=leases(settings, engine),
        prompt=prompts[0],
        labels=deployment_label_set(settings.labels_file),
        ledger=LedgerRecorder(engine),
        lock_ttl_s=int(settings.celery.time_limit_s) + 30,
        chooser=None if chooser.single else chooser,
        examples=examples,
    )
