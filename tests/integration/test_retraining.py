"""Retraining from stored labels on a real PostgreSQL: promotion gate, one run at a time,
rollback."""

from __future__ import annotations

import threading

import pytest

from sieve.core.dataset import read_labeled_jsonl
from sieve.models.registry import ModelRegistry
from sieve.store.engine import make_engine
from sieve.store.labels import LabelRecord, save_label
from sieve.store.repository import MessageRecord, save_messages
from sieve.store.training import RunTrigger, create_run
from sieve.store.versions import active_model_version, get_model_version
from sieve.workers.distill.retrain import rollback, run_retrain
from tests.conftest import BANKING77


@pytest.fixture
def labeled(settings):
    """Every third Banking77 training text (3,335) with their gold labels stored as LLM labels."""
    engine = make_engine(settings.database_url)
    rows = read_labeled_jsonl(BANKING77 / "train.jsonl")[::3]
    save_messages(engine, [MessageRecord(id=r.id, text=r.text) for r in rows])
    for row in rows:
        save_label(engine, LabelRecord(row.id, "llm", "p@1", "teacher", row.label, "ok"))
    yield settings.model_copy(update={"labels_file": BANKING77 / "labels.txt"}), engine
    engine.dispose()


def _retrain(settings, engine, registry):
    return run_retrain(settings, engine, registry, create_run(engine, trigger=RunTrigger.CLI))


def test_first_run_promotes_a_worse_one_is_refused_and_rollback_restores(labeled, tmp_path):
    settings, engine = labeled
    registry = ModelRegistry(tmp_path / "models")
    first = _retrain(settings, engine, registry)
    assert (first["status"], first["promoted"]) == ("succeeded", True)
    assert active_model_version(engine) == first["model_version"]
    metrics = first["metrics"]
    assert metrics["macro_f1"] > 0.8 and metrics["evaluation_labels"] >= 500
    assert metrics["prompt_versions"] == ["p@1"] and sum(metrics["label_counts"].values()) > 2000
    # Where the run's time went, phase by phase up to the gate (sieve bench retrain).
    assert list(metrics["phase_s"]) == ["read", "train", "calibrate", "export", "gate"]

    # One epoch learns much less: same evaluation slice, a macro-F1 interval wholly below
    # the active model's, not promoted.
    weak = settings.model_copy(
        update={"retrain": settings.retrain.model_copy(update={"epochs": 1})}
    )
    second = _retrain(weak, engine, registry)
    assert (second["status"], second["promoted"]) == ("succeeded", False)
    assert second["metrics"]["gate"].startswith("macro-F1")
    assert ": measurably worse" in second["metrics"]["gate"]
    assert get_model_version(engine, second["model_version"]).status == "rejected"
    assert active_model_version(engine) == first["model_version"]

    # Promote the weak one by hand, then roll back.
    from sieve.workers.distill.retrain import promote

    promote(engine, second["model_version"], reason="operator")
    assert rollback(engine) == first["model_version"]
    assert active_model_version(engine) == first["model_version"]


def test_concurrent_runs_train_once(labeled, tmp_path):
    settings, engine = labeled
    registry = ModelRegistry(tmp_path / "models")
    runs = [create_run(engine, trigger=RunTrigger.CLI) for _ in range(2)]
    results: dict[str, dict] = {}
    threads = [
        threading.Thread(
            target=lambda run_id=run_id: results.__setitem__(
                run_id, run_retrain(settings, engine, registry, run_id)
            )
        )
        for run_id in runs
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    statuses = sorted(result["status"] for result in results.values())
    assert statuses == ["skipped", "succeeded"]
    assert len(registry.versions()) == 1


def test_too_few_labels_fails_with_the_reason(settings, tmp_path):
    engine = make_engine(settings.database_url)
    settings = settings.model_copy(update={"labels_file": BANKING77 / "labels.txt"})
    run = _retrain(settings, engine, ModelRegistry(tmp_path / "models"))
    assert run["status"] == "failed" and "0 usable labels" in run["error"]
    engine.dispose()


def test_gold_set_is_evaluated_on_and_never_trained_on(labeled, tmp_path, capsys):
    import json

    from sieve.jobs import register_gold_set
    from sieve.store.labels import gold_labels, training_labels

    settings, engine = labeled
    gold_rows = read_labeled_jsonl(BANKING77 / "test.jsonl")[::10]
    gold_file = tmp_path / "gold.jsonl"
    gold_file.write_text("".join(json.dumps(vars(row)) + "\n" for row in gold_rows))
    # One gold message was also labeled by the LLM: it still must not be trained on.
    save_messages(engine, [MessageRecord(id=gold_rows[0].id, text=gold_rows[0].text)])
    save_label(engine, LabelRecord(gold_rows[0].id, "llm", "p@1", "teacher", "wrong", "ok"))
    register_gold_set(settings, gold_file)
    assert f"registered {len(gold_rows)} gold labels" in capsys.readouterr().out

    assert len(gold_labels(engine)) == len(gold_rows)
    gold_ids = {row.id for row in gold_rows}
    trainable = training_labels(engine)
    assert not gold_ids & {row.message_id for row in trainable}
    run = _retrain(settings, engine, ModelRegistry(tmp_path / "models"))
    metrics = run["metrics"]
    # Every trainable label is in training or the held-out slice; the gold set is added
    # to the evaluation only.
    assert metrics["training_labels"] + metrics["evaluation_labels"] == len(trainable) + len(
        gold_rows
    )
    assert metrics["evaluation_labels"] > len(gold_rows)
