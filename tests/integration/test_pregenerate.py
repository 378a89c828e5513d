"""Pre-generation on the real Redis answer cache and the teacher simulator over HTTP: the
most frequent unanswered texts get cached in frequency order, answered ones and rare ones
are skipped, the limit and a spent budget stop it cleanly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import Engine

from sieve.core.dataset import LabeledText
from sieve.labeler.cache import RedisAnswerCache, cache_key
from sieve.labeler.client import LLMClient
from sieve.labeler.cost import ModelPrice
from sieve.labeler.prompts import load_prompt
from sieve.labeler.service import label_message
from sieve.labeler.sim.noise import Teacher
from sieve.labeler.sim.simulator import SimulatorServer
from sieve.store.ledger import LedgerRecorder, spend_totals
from sieve.store.repository import MessageRecord, save_messages
from sieve.workers.llm.budget import Budget, BudgetGate, Limit, LimitName, RedisCounters
from sieve.workers.llm.leases import RedisLeases
from sieve.workers.llm.pregenerate import pregenerate

pytestmark = pytest.mark.integration

LABELS = ["card_arrival", "top_up_failed", "exchange_rate"]
# text → how many stored messages carry it (spellings that normalise alike count together)
TEXTS = {
    "Where is my card?": 3,
    "WHERE is my  card?": 2,  # + the line above: 5, the most frequent
    "My top up failed": 4,
    "What is the exchange rate?": 2,
    "Is my card on its way?": 2,
    "Asked only once": 1,
}
PROMPT = load_prompt("classify-zero-shot")


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    known = [
        LabeledText("1", "Where is my card?", "card_arrival"),
        LabeledText("2", "My top up failed", "top_up_failed"),
        LabeledText("3", "What is the exchange rate?", "exchange_rate"),
        LabeledText("4", "Is my card on its way?", "card_arrival"),
    ]
    with SimulatorServer(Teacher(known, accuracy=1.0, labels=LABELS)) as server:
        yield server


@pytest.fixture
def engine(sqlite_engine: Engine) -> Engine:
    rows = [
        MessageRecord(id=f"m{i}-{n}", text=text)
        for i, (text, count) in enumerate(TEXTS.items())
        for n in range(count)
    ]
    save_messages(sqlite_engine, rows)
    return sqlite_engine


@pytest.fixture
def client_redis() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    yield client
    client.close()


def _client(simulator: SimulatorServer, gate: BudgetGate | None = None) -> LLMClient:
    return LLMClient(
        base_url=simulator.base_url,
        api_key="",
        model="teacher-sim",
        timeout_s=10,
        prices={"teacher-sim": ModelPrice(1.0, 4.0)},
        gate=gate,
    )


def _key(client: LLMClient, text: str) -> str:
    return cache_key(text, PROMPT.version_id, client.model, client.params.canonical_json(), LABELS)


def test_frequent_unanswered_texts_are_cached_in_frequency_order(
    engine: Engine, simulator: SimulatorServer, client_redis: redis.Redis, redis_prefix: str
) -> None:
    cache = RedisAnswerCache(client_redis, f"{redis_prefix}llm-cache:")
    client = _client(simulator)
    # Already answered before the job: skipped, not paid again.
    label_message(
        "What is the exchange rate?", client=client, cache=cache, prompt=PROMPT, labels=LABELS
    )
    simulator.reset_stats()
    report = pregenerate(
        engine,
        client=client,
        cache=cache,
        prompt=PROMPT,
        labels=LABELS,
        limit=10,
        recorder=LedgerRecorder(engine).for_message(None),
        leases=RedisLeases(client_redis, redis_prefix),
    )
    assert report.stopped is None
    assert (report.candidates, report.already_cached, report.asked, report.cached) == (4, 1, 3, 3)
    assert simulator.stats()["paid_calls"] == 3
    assert spend_totals(engine).requests == 3  # in the ledger
    for text in ("where is my card?", "My top up failed", "Is my card on its way?"):
        assert cache.get(_key(client, text)) is not None
    assert cache.get(_key(client, "Asked only once")) is None  # seen once: not frequent
    # Run again: everything frequent is answered, nothing is paid.
    again = pregenerate(engine, client=client, cache=cache, prompt=PROMPT, labels=LABELS, limit=10)
    assert (again.asked, again.already_cached) == (0, 4)
    assert simulator.stats()["paid_calls"] == 3


def test_the_limit_takes_the_most_frequent_first(
    engine: Engine, simulator: SimulatorServer, client_redis: redis.Redis, redis_prefix: str
) -> None:
    cache = RedisAnswerCache(client_redis, f"{redis_prefix}llm-cache:")
    client = _client(simulator)
    report = pregenerate(engine, client=client, cache=cache, prompt=PROMPT, labels=LABELS, limit=2)
    assert report.asked == 2 and report.stopped == "limit of 2 texts asked reached"
    assert cache.get(_key(client, "Where is my card?")) is not None  # 5 messages
    assert cache.get(_key(client, "My top up failed")) is not None  # 4
    assert cache.get(_key(client, "Is my card on its way?")) is None  # 2: past the limit


def test_a_spent_budget_stops_it_cleanly(
    engine: Engine, simulator: SimulatorServer, client_redis: redis.Redis, redis_prefix: str
) -> None:
    cache = RedisAnswerCache(client_redis, f"{redis_prefix}llm-cache:")
    limit = Limit(LimitName.USD_PER_HOUR, 0.0001)  # below one request's cost
    gate = BudgetGate(Budget([limit], RedisCounters(client_redis, redis_prefix)))
    client = _client(simulator, gate)
    report = pregenerate(engine, client=client, cache=cache, prompt=PROMPT, labels=LABELS, limit=10)
    assert report.stopped is not None and "budget usd_per_hour" in report.stopped
    assert report.cached == 1 and simulator.stats()["paid_calls"] == 1
    assert cache.get(_key(client, "Where is my card?")) is not None


def test_the_cli_prints_what_it_did(
    engine: Engine,
    simulator: SimulatorServer,
    redis_prefix: str,
    sqlite_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from sieve.cli.main import main as sieve_main

    labels_file = tmp_path / "labels.txt"
    labels_file.write_text("\n".join(LABELS) + "\n")
    for name, value in {
        "SIEVE_DATA_DIR": str(tmp_path),
        "SIEVE_LABELS_FILE": str(labels_file),
        "SIEVE_DATABASE__URL": sqlite_url,
        "SIEVE_REDIS__KEY_PREFIX": redis_prefix,
        "SIEVE_LLM__BASE_URL": simulator.base_url,
    }.items():
        monkeypatch.setenv(name, value)
    assert sieve_main(["pregenerate", "--limit", "3"]) == 0
    out = capsys.readouterr().out
    assert "4 texts seen at least 2 times" in out and "3 asked, 3 cached" in out
    assert "stopped: limit of 3 texts asked reached" in out


def test_the_admin_endpoint_runs_the_job_behind_the_token(
    engine: Engine,
    simulator: SimulatorServer,
    redis_prefix: str,
    sqlite_url: str,
    tmp_path: Path,
) -> None:
    from fastapi.testclient import TestClient

    from sieve.admin.app import create_app
    from sieve.core.settings import Settings

    labels_file = tmp_path / "labels.txt"
    labels_file.write_text("\n".join(LABELS) + "\n")
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        labels_file=labels_file,
        database={"url": sqlite_url},
        redis={"key_prefix": redis_prefix},
        llm={"base_url": simulator.base_url},
        admin={"token": "t0ken"},
    )
    with TestClient(create_app(settings, engine=engine)) as http:
        assert http.post("/jobs/pregenerate").status_code == 401
        assert simulator.stats()["requests"] == 0
        auth = {"Authorization": "Bearer t0ken"}
        assert http.post("/jobs/pregenerate?limit=0", headers=auth).status_code == 422
        answer = http.post("/jobs/pregenerate?limit=2", headers=auth)
        assert answer.status_code == 200
        body = answer.json()
        assert (body["candidates"], body["asked"], body["cached"]) == (4, 2, 2)
        assert body["stopped"] == "limit of 2 texts asked reached"
        again = http.post("/jobs/pregenerate?limit=5", headers=auth).json()
        assert (again["already_cached"], again["asked"], again["stopped"]) == (2, 2, None)
    assert simulator.stats()["paid_calls"] == 4
