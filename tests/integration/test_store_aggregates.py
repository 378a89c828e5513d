"""The store modules that took over queries from outside sieve/store, and the enums that
replaced string literals, on SQLite and on a real PostgreSQL: the stored text is what
the literals wrote, and each query returns what its old caller computed."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from sieve.core.errors import PermanentError
from sieve.core.events import LabelSource
from sieve.routing.policy import Route
from sieve.store.engine import make_engine
from sieve.store.labels import LabelRecord, LabelStatus, ok_label_count, save_label
from sieve.store.outcomes import message_outcomes, settling
from sieve.store.repository import MessageRecord, PredictionRecord, save_predictions
from sieve.store.tables import labels, model_versions, training_runs
from sieve.store.training import RunStatus, RunTrigger, create_run, get_run, update_run
from sieve.store.versions import (
    ModelStatus,
    ModelVersionRecord,
    activate_model_version,
    activation_history,
    get_model_version,
    register_model_version,
)
from sieve.workers.distill.retrain import rollback


@pytest.fixture
def engine(store_url):
    engine = make_engine(store_url)
    yield engine
    engine.dispose()


def _label(message_id: str, label: str | None, status: LabelStatus) -> LabelRecord:
    return LabelRecord(message_id, LabelSource.LLM, "p@1", "teacher", label, status)


def _predict(engine, *rows: tuple[str, str, Route]) -> None:
    save_predictions(
        engine,
        [MessageRecord(id=mid, text=f"text {mid}") for mid, _, _ in rows],
        [
            PredictionRecord(mid, "v1", label, 0.7, 0.2, route.value, "low_margin")
            for mid, label, route in rows
        ],
    )


def test_enums_are_stored_as_the_literals_were(engine):
    _predict(engine, ("m1", "card", Route.ESCALATE))
    save_label(engine, _label("m1", "card", LabelStatus.OK))
    run_id = create_run(engine, RunTrigger.SCHEDULE)
    record = ModelVersionRecord("v1", "ngram", "/m/v1", "h", {}, ModelStatus.REJECTED)
    register_model_version(engine, record)
    with engine.connect() as conn:
        assert conn.execute(select(labels.c.source, labels.c.status)).one() == ("llm", "ok")
        run = conn.execute(select(training_runs.c.status, training_runs.c.trigger)).one()
        assert tuple(run) == ("queued", "schedule")
        assert conn.execute(select(model_versions.c.status)).scalar_one() == "rejected"
    assert get_run(engine, run_id)["status"] == RunStatus.QUEUED
    assert get_model_version(engine, "v1").status is ModelStatus.REJECTED


@pytest.mark.parametrize(
    ("status", "finished"),
    [
        (RunStatus.RUNNING, False),
        (RunStatus.SUCCEEDED, True),
        (RunStatus.FAILED, True),
        (RunStatus.SKIPPED, True),
    ],
)
def test_a_run_is_finished_only_by_a_final_status(engine, status, finished):
    run_id = create_run(engine, RunTrigger.CLI)
    update_run(engine, run_id, status)
    run = get_run(engine, run_id)
    assert run["status"] == status.value
    assert (run["finished_at"] is not None) is finished


def test_message_outcomes_pair_each_prediction_with_its_ok_llm_label(engine):
    _predict(
        engine,
        ("a", "card", Route.ACCEPT),
        ("b", "atm", Route.ESCALATE),
        ("c", "fee", Route.ESCALATE),
    )
    save_label(engine, _label("b", "cash", LabelStatus.OK))
    save_label(engine, _label("c", None, LabelStatus.FAILED))

    found = message_outcomes(engine, ["c", "missing", "a", "b"])

    assert [row.message_id for row in found] == ["c", "a", "b"]  # the order asked, no gaps
    assert [row.escalated for row in found] == [True, False, True]
    assert [row.llm_label for row in found] == [None, None, "cash"]  # a failed row: none
    assert found[1].model_label == "card" and found[1].route is Route.ACCEPT
    assert (found[1].model_version, found[1].reason) == ("v1", "low_margin")


def test_settling_counts_predictions_escalations_and_label_rows(engine):
    _predict(engine, ("a", "card", Route.ACCEPT), ("b", "atm", Route.ESCALATE))
    ids = ["a", "b", "c"]
    assert not settling(engine, ids).settled(len(ids))  # c has no prediction

    _predict(engine, ("c", "fee", Route.ESCALATE))
    save_label(engine, _label("b", "cash", LabelStatus.OK))
    state = settling(engine, ids)
    assert (state.predicted, state.escalated, state.answered) == (3, 2, 1)
    assert not state.settled(len(ids))  # c escalated, no label row yet

    save_label(engine, _label("c", None, LabelStatus.FAILED))  # a failed row answers too
    assert settling(engine, ids).settled(len(ids))


def test_ok_label_count_skips_failed_rows(engine):
    _predict(engine, ("a", "x", Route.ESCALATE), ("b", "x", Route.ESCALATE))
    _predict(engine, ("c", "x", Route.ESCALATE))
    save_label(engine, _label("a", "card", LabelStatus.OK))
    save_label(engine, _label("b", None, LabelStatus.FAILED))
    save_label(engine, _label("c", "atm", LabelStatus.OK))
    assert ok_label_count(engine) == 2
    assert ok_label_count(engine, ["a", "b"]) == 1
    assert ok_label_count(engine, []) == 0


def test_rollback_reads_the_activation_history(engine):
    for version in ("v1", "v2"):
        register_model_version(engine, ModelVersionRecord(version, "ngram", "/m", "h", {}))
    with pytest.raises(PermanentError):
        rollback(engine)  # nothing active yet
    activate_model_version(engine, "v1", reason="first")
    activate_model_version(engine, "v2", reason="second")
    assert activation_history(engine) == ["v2", "v1"]

    assert rollback(engine) == "v1"
    assert activation_history(engine) == ["v1", "v2", "v1"]
    assert get_model_version(engine, "v1").status is ModelStatus.ACTIVE
    assert get_model_version(engine, "v2").status is ModelStatus.REGISTERED
