"""`sieve demo`: the whole loop on embedded defaults.

The embedded Kafka-protocol broker, a SQLite store, the teacher simulator on Banking77
(accuracy 0.8, confusable noise) or the configured LLM, a Celery worker and the stream
worker as subprocesses, and retraining in this process. The Banking77 train file streams
in a seeded order, then the test file, in chunks: each chunk is classified, its
escalations labeled by the LLM, and the model retrained whenever enough new labels exist,
so the share sent to the LLM falls as the student learns. Prints a live progress line and
a final table per 1,000 messages, with "LLM only" figures beside.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import astuple, dataclass
from pathlib import Path

import redis
from sqlalchemy import Engine

from sieve.core.dataset import LabeledText, read_labeled_jsonl
from sieve.core.errors import PermanentError
from sieve.core.settings import LLMSettings, Settings
from sieve.demo.broker import EmbeddedBroker
from sieve.demo.processes import CliProcess, terminate_as_interrupt
from sieve.demo.report import Block, block, outcomes, print_table
from sieve.jobs import register_gold_set
from sieve.labeler.sim.simulator import SimulatorServer, Teacher, load_teacher
from sieve.store.labels import ok_label_count
from sieve.store.ledger import SpendGroup, spend_by
from sieve.store.outcomes import settling
from sieve.store.training import RunTrigger, create_run
from sieve.store.versions import active_model_version
from sieve.wiring import open_registry, open_store
from sieve.workers.distill.retrain import run_retrain
from sieve.workers.kafka_adapter import ensure_topics, make_producer
from sieve.workers.label_set import label_set_for_run, write_label_set
from sieve.workers.stream.produce import produce_lines

BLOCK = 1_000


@dataclass(frozen=True)
class LoopResult:
    blocks: list[Block]
    totals: list[tuple[str, int, int, int, float]]


def run_demo(settings: Settings, *, data_dir: Path, limit: int | None, chunk_size: int) -> int:
    items = _stream_order(data_dir, limit)
    demo_dir = (settings.data_dir / "demo").resolve()
    shutil.rmtree(demo_dir, ignore_errors=True)
    demo_dir.mkdir(parents=True)
    result = run_loop(settings, items, data_dir=data_dir, work_dir=demo_dir, chunk_size=chunk_size)
    _final_report(result.blocks, result.totals, items, data_dir, demo_dir / "labels.txt")
    return 0


def run_loop(
    settings: Settings,
    items: Sequence[LabeledText],
    *,
    data_dir: Path,
    work_dir: Path,
    chunk_size: int,
    overrides: dict[str, str] | None = None,
    gold_file: Path | None = None,
) -> LoopResult:
    """Stream ``items`` through the whole loop; ``overrides``: more SIEVE_* variables;
    ``gold_file``: human gold labels registered before the first message."""
    labels_file = _run_label_set(settings, data_dir, items, work_dir)
    with ExitStack() as stack:
        stack.enter_context(terminate_as_interrupt())
        broker = stack.enter_context(EmbeddedBroker())
        llm = stack.enter_context(_llm(settings.llm, data_dir, labels_file))
        variables = {
            **_overrides(settings, work_dir, broker.bootstrap_servers, llm),
            # One label set for the simulator, the Celery worker and retraining.
            "SIEVE_LABELS_FILE": str(labels_file),
            **_task_broker(settings, work_dir),
            **(overrides or {}),
        }
        env = stack.enter_context(_environment(variables))
        run_settings = Settings()
        ensure_topics(run_settings.kafka)
        engine = open_store(run_settings)
        if gold_file is not None:
            register_gold_set(run_settings, gold_file)
        for args in (["worker", "--concurrency", "2"], ["stream"]):
            stack.enter_context(_process(env, args))
        blocks = _drive(run_settings, engine, items, chunk_size)
        totals = [astuple(row) for row in spend_by(engine, SpendGroup.PROMPT_VERSION)]
        engine.dispose()
    return LoopResult(blocks, totals)


def _run_label_set(
    settings: Settings, data_dir: Path, items: Sequence[LabeledText], work_dir: Path
) -> Path:
    """The run's label set as a file in ``work_dir``: SIEVE_LABELS_FILE when the operator
    set it, else the data's own (its labels.txt, or the labels of its train.jsonl)."""
    explicit = settings.labels_file if "labels_file" in settings.model_fields_set else None
    labels = label_set_for_run(explicit, data_dir, {item.label for item in items})
    return write_label_set(work_dir / "labels.txt", labels)


@contextmanager
def _environment(variables: dict[str, str]) -> Iterator[dict[str, str]]:
    """The run's configuration as environment variables, for this process's Settings and
    inherited by the worker subprocesses; the previous environment comes back after."""
    saved = dict(os.environ)
    os.environ.update(variables)
    try:
        yield dict(os.environ)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _stream_order(data_dir: Path, limit: int | None) -> list[LabeledText]:
    train, test = data_dir / "train.jsonl", data_dir / "test.jsonl"
    for path in (train, test):
        if not path.is_file():
            raise PermanentError(f"demo data missing: {path} (run from the project folder)")
    order = read_labeled_jsonl(train)
    random.Random(77).shuffle(order)
    return (order + read_labeled_jsonl(test))[:limit]


def _task_broker(settings: Settings, work_dir: Path) -> dict[str, str]:
    """Redis when it answers; otherwise a SQLite file as the Celery broker (and the answer
    cache, markers and locks in the store), so the demo needs no server at all."""
    if not settings.uses_redis:
        return {}
    url = settings.redis.url.get_secret_value()
    try:
        redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2).ping()
        return {}
    except redis.RedisError as exc:
        print(
            f"Redis is not reachable ({type(exc).__name__}): the task queue runs on a SQLite "
            "file instead (set SIEVE_REDIS__URL to use Redis)",
            file=sys.stderr,
        )
    return {"SIEVE_CELERY__BROKER_URL": f"sqlite:///{(work_dir / 'broker.db').resolve()}"}


@contextmanager
def _llm(llm: LLMSettings, data_dir: Path, labels_file: Path) -> Iterator[str]:
    """The configured LLM's base URL, or the teacher simulator's when none is configured."""
    if llm.base_url != LLMSettings().base_url:
        yield llm.base_url
        return
    teacher = simulated_teacher(data_dir, labels_file)
    with SimulatorServer(teacher) as simulator:
        yield simulator.base_url


def simulated_teacher(data_dir: Path, labels_file: Path) -> Teacher:
    """The simulated LLM of demo and benchmark runs: 80% accurate, confusable noise."""
    return load_teacher(
        [data_dir / "train.jsonl", data_dir / "test.jsonl"],
        accuracy=0.8,
        noise="confusable",
        seed=0,
        labels_path=labels_file if labels_file.is_file() else None,
    )


def _overrides(settings: Settings, demo_dir: Path, bootstrap: str, llm_url: str) -> dict[str, str]:
    prefix = f"sieve-demo-{uuid.uuid4().hex[:8]}:"
    return {
        "SIEVE_DATA_DIR": str(demo_dir),
        "SIEVE_DATABASE__URL": f"sqlite:///{demo_dir / 'sieve.db'}",
        "SIEVE_MODELS__DIR": str(demo_dir / "models"),
        "SIEVE_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "SIEVE_KAFKA__SESSION_TIMEOUT_MS": "6000",
        "SIEVE_KAFKA__HEARTBEAT_INTERVAL_MS": "1000",
        "SIEVE_KAFKA__POLL_TIMEOUT_MS": "5000",
        "SIEVE_MODELS__RELOAD_CHECK_INTERVAL_S": "0.5",
        "SIEVE_REDIS__KEY_PREFIX": prefix,
        "SIEVE_CELERY__QUEUE": f"{prefix}tasks",
        "SIEVE_LLM__BASE_URL": llm_url,
        "SIEVE_RETRAIN__MIN_LABELS": str(min(settings.retrain.min_labels, 500)),
        # The simulator is free; price it like a small hosted model so costs compare.
        "SIEVE_LLM__PRICES_USD_PER_1M": json.dumps({settings.llm.model: [0.15, 0.6]}),
    }


@contextmanager
def _process(env: dict[str, str], args: list[str]) -> Iterator[None]:
    with CliProcess(env, *args, log=Path(env["SIEVE_DATA_DIR"]) / f"{args[0]}.log"):
        yield


def _drive(
    settings: Settings, engine: Engine, items: Sequence[LabeledText], chunk_size: int
) -> list[Block]:
    producer = make_producer(settings.kafka, linger_ms=20)
    registry = open_registry(settings)
    labels_at_last_retrain, started = 0, time.monotonic()
    try:
        for start in range(0, len(items), chunk_size):
            chunk = items[start : start + chunk_size]
            lines = [json.dumps({"id": i.id, "text": i.text}).encode() for i in chunk]
            produce_lines(producer, settings.kafka.input_topic, lines)
            _wait_settled(engine, [item.id for item in chunk])
            labeled = ok_label_count(engine)
            if labeled - labels_at_last_retrain >= _retrain_due(settings, engine):
                run_retrain(settings, engine, registry, create_run(engine, trigger=RunTrigger.DEMO))
                labels_at_last_retrain = labeled
            _progress(engine, start + len(chunk), len(items), labeled, started)
    finally:
        producer.close()
        print(file=sys.stderr)
    gold = {item.id: item.label for item in items}
    return [
        block(first, outcomes(engine, [item.id for item in items[first : first + BLOCK]]), gold)
        for first in range(0, len(items), BLOCK)
    ]


def _retrain_due(settings: Settings, engine: Engine) -> int:
    cold = active_model_version(engine) is None
    return settings.retrain.min_labels if cold else settings.retrain.min_new_labels


def _wait_settled(engine: Engine, ids: list[str], timeout_s: float = 600) -> None:
    """Until every message has a prediction and every escalated one an LLM label row."""
    deadline = time.monotonic() + timeout_s
    while not settling(engine, ids).settled(len(ids)):
        if time.monotonic() > deadline:
            raise PermanentError(
                "the demo's workers stopped making progress; see .sieve/demo/*.log"
            )
        time.sleep(0.2)


def _progress(engine: Engine, done: int, total: int, labeled: int, started: float) -> None:
    version = active_model_version(engine) or "none (cold start)"
    rate = done / max(time.monotonic() - started, 1e-9)
    print(
        f"\r[{done:>6}/{total}] LLM labels {labeled:>6} | model {version} | {rate:,.0f} msg/s",
        end="",
        file=sys.stderr,
        flush=True,
    )


def _final_report(
    blocks: Sequence[Block],
    totals: Sequence[tuple[str, int, int, int, float]],
    items: Sequence[LabeledText],
    data_dir: Path,
    labels_file: Path,
) -> None:
    print_table(blocks)
    calls = sum(row[1] for row in totals)
    tokens_in, tokens_out = sum(row[2] for row in totals), sum(row[3] for row in totals)
    cost = sum(row[4] for row in totals)
    teacher = simulated_teacher(data_dir, labels_file)
    llm_only = sum(teacher.choose(item.text).label == item.label for item in items) / len(items)
    per_call = (tokens_in + tokens_out) / max(calls, 1)
    shown = sum(b.llm_share * b.count for b in blocks) / max(sum(b.count for b in blocks), 1)
    print()
    header = ("", "messages", "LLM calls", "share", "tokens", "cost USD", "accuracy")
    print("{:<10} {:>9} {:>10} {:>6} {:>11} {:>9} {:>9}".format(*header))
    sieve_accuracy = sum(b.accuracy * b.count for b in blocks) / max(len(items), 1)
    print(
        f"{'sieve':<10} {len(items):>9} {calls:>10} {shown:>6.1%} {tokens_in + tokens_out:>11,} "
        f"{cost:>9.4f} {sieve_accuracy:>9.1%}"
    )
    print(
        f"{'LLM only':<10} {len(items):>9} {len(items):>10} {1:>6.0%} "
        f"{int(per_call * len(items)):>11,} {cost / max(calls, 1) * len(items):>9.4f} "
        f"{llm_only:>9.1%}"
    )
