"""The synthetic bootstrap end to end: the teacher simulator writes examples over HTTP,
they are validated and stored apart from real traffic, a first student is trained,
registered and activated; later retrainings use them by the rule; a budget stops it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from sieve.cli.main import main as sieve_main
from sieve.core.dataset import LabeledText, read_labeled_jsonl
from sieve.core.settings import Settings
from sieve.labeler.cache import normalise_text
from sieve.labeler.client import LLMClient
from sieve.labeler.cost import ModelPrice
from sieve.labeler.generation import load_generation_prompt
from sieve.labeler.sim.generator import ExampleGenerator
from sieve.labeler.sim.noise import Teacher
from sieve.labeler.sim.simulator import SimulatorServer
from sieve.models.registry import open_registry
from sieve.store.engine import make_engine
from sieve.store.labels import LabelRecord, ok_label_count, save_label, training_labels
from sieve.store.ledger import SpendGroup, spend_by
from sieve.store.repository import MessageRecord, count_rows, save_messages
from sieve.store.synthetic import synthetic_counts, synthetic_training_rows
from sieve.store.training import RunTrigger, create_run
from sieve.store.versions import active_model_version
from sieve.workers.distill.bootstrap import bootstrap_student
from sieve.workers.distill.retrain import run_retrain, stratified_split
from sieve.workers.label_set import write_label_set
from sieve.workers.llm.bootstrap import generate_examples
from sieve.workers.llm.budget import Budget, BudgetGate, Limit, LimitName, RedisCounters
from tests.conftest import BANKING77

pytestmark = pytest.mark.integration

LABELS = ["card_arrival", "exchange_rate", "lost_or_stolen_card", "top_up_failed", "age_limit"]
PER_LABEL = 10


def _subset(name: str) -> list[LabeledText]:
    return [r for r in read_labeled_jsonl(BANKING77 / name) if r.label in LABELS]


@pytest.fixture(scope="module")
def splits() -> tuple[list[LabeledText], list[LabeledText]]:
    return _subset("train.jsonl"), _subset("test.jsonl")


@pytest.fixture
def simulator(splits: tuple[list[LabeledText], list[LabeledText]]) -> Iterator[SimulatorServer]:
    train, test = splits
    teacher = Teacher(train + test, accuracy=0.8, labels=sorted(LABELS))
    generator = ExampleGenerator(train, exclude=[r.text for r in test])
    with SimulatorServer(teacher, generator=generator) as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path, simulator: SimulatorServer) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=tmp_path,
        labels_file=write_label_set(tmp_path / "labels.txt", sorted(LABELS)),
        database={"url": f"sqlite:///{tmp_path / 'sieve.db'}"},
        models={"family": "ngram", "dir": tmp_path / "models"},
        llm={"base_url": simulator.base_url, "prices_usd_per_1m": {"teacher-sim": [1.0, 4.0]}},
        retrain={"min_labels": 20, "gate_bootstrap_rounds": 200},
        bootstrap={
            "per_label": PER_LABEL,
            "evaluate_real_after_labels": 40,
            "drop_after_labels": 1_000,
        },
    )


def _client(settings: Settings, gate: BudgetGate | None = None) -> LLMClient:
    return LLMClient(
        base_url=settings.llm.base_url,
        api_key="",
        model="teacher-sim",
        timeout_s=10,
        prices={"teacher-sim": ModelPrice(1.0, 4.0)},
        gate=gate,
    )


def test_bootstrap_trains_and_activates_a_student_apart_from_real_traffic(
    settings: Settings,
    simulator: SimulatorServer,
    splits: tuple[list[LabeledText], list[LabeledText]],
) -> None:
    from sieve.store.migrate import upgrade

    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    result = bootstrap_student(settings, engine, open_registry(settings), _client(settings))
    report, run = result.generation, result.run
    assert run is not None and run["status"] == "succeeded" and run["promoted"]
    assert run["trigger"] == RunTrigger.BOOTSTRAP
    assert active_model_version(engine) == run["model_version"]
    counts = synthetic_counts(engine)
    assert set(counts) == set(LABELS)
    assert all(0 < count <= PER_LABEL for count in counts.values())
    assert sum(counts.values()) == report.kept == result.stored
    assert report.generated - report.kept == sum(report.dropped.values()) > 0  # noise dropped
    assert run["metrics"]["synthetic_labels"] == report.kept
    # Never the stream's texts, never messages, LLM labels or gold.
    test_texts = {normalise_text(r.text) for r in splits[1]}
    assert not {normalise_text(r.text) for r in synthetic_training_rows(engine)} & test_texts
    assert ok_label_count(engine) == 0
    from sieve.store.tables import messages

    assert count_rows(engine, messages) == 0
    # Every request is in the ledger under the generation prompt, as the endpoint counted.
    spent = {row.group: row for row in spend_by(engine, SpendGroup.PROMPT_VERSION)}
    assert spent["generate-examples@1"].requests == report.calls == simulator.stats()["paid_calls"]
    assert report.calls >= len(LABELS) and report.cost_usd > 0
    engine.dispose()


def test_generation_is_seeded(settings: Settings, simulator: SimulatorServer) -> None:
    prompt = load_generation_prompt()
    first, _ = generate_examples(_client(settings), prompt, LABELS, per_label=8, seed=5)
    again, _ = generate_examples(
        _client(settings), prompt, list(reversed(LABELS)), per_label=8, seed=5
    )
    other, _ = generate_examples(_client(settings), prompt, LABELS, per_label=8, seed=6)
    assert first == again
    assert first != other


def test_a_spent_budget_stops_generation_cleanly(
    settings: Settings, simulator: SimulatorServer, redis_prefix: str
) -> None:
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    limit = Limit(LimitName.USD_PER_DAY, 0.0001)  # less than one generation request
    gate = BudgetGate(Budget([limit], RedisCounters(client, redis_prefix)))
    prompt = load_generation_prompt()
    kept, report = generate_examples(_client(settings, gate), prompt, LABELS, per_label=5, seed=0)
    assert report.stopped is not None and "budget usd_per_day" in report.stopped
    assert simulator.stats()["paid_calls"] == report.calls == 1  # one request passed the limit
    assert {example.label for example in kept} == {sorted(LABELS)[0]}
    client.close()


def test_later_retrainings_train_on_synthetic_examples_then_drop_them(
    settings: Settings, splits: tuple[list[LabeledText], list[LabeledText]]
) -> None:
    from sieve.store.migrate import upgrade

    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    registry = open_registry(settings)
    kept = bootstrap_student(settings, engine, registry, _client(settings)).generation.kept
    real = splits[1][:60]  # stand-ins for LLM labels of real traffic

    def add_real(rows: list[LabeledText]) -> None:
        save_messages(engine, [MessageRecord(id=r.id, text=r.text) for r in rows])
        for row in rows:
            save_label(engine, LabelRecord(row.id, "llm", "p@1", "teacher-sim", row.label, "ok"))

    def retrain(config: Settings) -> dict[str, int]:
        run = run_retrain(config, engine, registry, create_run(engine, RunTrigger.CLI))
        assert run["status"] == "succeeded", run["error"]
        return run["metrics"]

    add_real(real[:30])
    metrics = retrain(settings)  # 30 real labels < 40: synthetic examples split with them
    assert metrics["synthetic_labels"] == kept
    config = settings.retrain
    synthetic = synthetic_training_rows(engine)
    both = training_labels(engine) + synthetic
    held_out = stratified_split(both, config.eval_fraction, config.seed)[1]
    assert any(row.source == "synthetic" for row in held_out)
    assert metrics["evaluation_labels"] == len(held_out)
    assert metrics["training_labels"] == 30 + kept - len(held_out)
    add_real(real[30:])
    metrics = retrain(settings)  # 60 real labels >= 40: synthetic examples train only
    assert metrics["synthetic_labels"] == kept
    held_out = stratified_split(training_labels(engine), config.eval_fraction, config.seed)[1]
    assert metrics["evaluation_labels"] == len(held_out)  # real labels only
    assert metrics["training_labels"] == len(real) - len(held_out) + kept
    dropped = settings.model_copy(
        update={"bootstrap": settings.bootstrap.model_copy(update={"drop_after_labels": 50})}
    )
    metrics = retrain(dropped)  # 60 real labels >= 50: synthetic examples dropped
    assert metrics["synthetic_labels"] == 0
    assert metrics["training_labels"] + metrics["evaluation_labels"] == len(real)
    engine.dispose()


def test_the_cli_bootstraps_and_says_what_it_did(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in {
        "SIEVE_DATA_DIR": str(settings.data_dir),
        "SIEVE_LABELS_FILE": str(settings.labels_file),
        "SIEVE_DATABASE__URL": settings.database_url,
        "SIEVE_MODELS__FAMILY": "ngram",
        "SIEVE_MODELS__DIR": str(settings.models_dir),
        "SIEVE_LLM__BASE_URL": settings.llm.base_url,
        "SIEVE_RETRAIN__MIN_LABELS": "20",
    }.items():
        monkeypatch.setenv(name, value)
    assert sieve_main(["bootstrap", "--per-label", "6", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "asked 5 labels for 6 examples each" in out
    assert "LLM calls" in out and ", active" in out
    engine = make_engine(settings.database_url)
    assert active_model_version(engine) is not None
    assert any(
        line.startswith(f"student {active_model_version(engine)}") for line in out.splitlines()
    )
    engine.dispose()


def test_a_bad_per_label_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        sieve_main(["bootstrap", "--per-label", "0"])
    assert exit_info.value.code == 2
    assert "expected a number above 0" in capsys.readouterr().err
