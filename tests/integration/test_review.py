"""The human review queue (store/review.py) and `sieve review export|import`, on SQLite and
PostgreSQL: what enters the queue and in what order, and what a human label becomes (a gold
label that overrides the LLM's label in training)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from sieve.cli.main import main
from sieve.store.engine import make_engine
from sieve.store.labels import gold_labels, training_labels
from sieve.store.review import HumanLabel, ReviewReason, review_queue, save_human_labels
from sieve.store.tables import escalations
from tests.integration.review_rows import classified, hours_ago, seed_queue

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    engine = make_engine(store_url)
    yield engine
    engine.dispose()


def _escalated_at(engine: Engine, ages_h: dict[str, float]) -> None:
    with engine.begin() as conn:
        for message_id, age in ages_h.items():
            conn.execute(
                escalations.update()
                .where(escalations.c.message_id == message_id)
                .values(created_at=hours_ago(age))
            )


def test_queue_holds_disagreements_first_then_exploration_newest_first(engine: Engine) -> None:
    seed_queue(engine)
    _escalated_at(engine, {"d1": 3, "d2": 1, "x1": 2, "x2": 0.5, "a1": 0.1})

    page = review_queue(engine)

    assert [item.message_id for item in page.items] == ["d2", "d1", "x2", "x1"]
    assert page.total == 4
    first = page.items[0]
    assert first.reasons == (ReviewReason.DISAGREEMENT,)
    assert (first.student_label, first.llm_label) == ("lost_or_stolen_card", "card_arrival")
    assert first.text == "text of d2"
    assert first.student_confidence == pytest.approx(0.4)
    assert page.items[3].reasons == (ReviewReason.EXPLORATION,)
    assert page.items[2].llm_label is None


def test_an_exploration_item_the_models_disagree_on_has_both_reasons(engine: Engine) -> None:
    classified(engine, "x3", "atm_support", escalated="exploration", llm="age_limit")

    (item,) = review_queue(engine).items

    assert item.reasons == (ReviewReason.DISAGREEMENT, ReviewReason.EXPLORATION)


def test_the_queue_pages(engine: Engine) -> None:
    seed_queue(engine)
    _escalated_at(engine, {"d1": 3, "d2": 1, "x1": 2, "x2": 0.5})

    second = review_queue(engine, limit=2, offset=2)

    assert [item.message_id for item in second.items] == ["x2", "x1"]
    assert second.total == 4
    past_the_end = review_queue(engine, limit=2, offset=10)
    assert (past_the_end.items, past_the_end.total) == ([], 4)


def test_the_newest_llm_label_is_the_one_compared(engine: Engine) -> None:
    classified(engine, "m1", "card_arrival", llm="card_linking")
    from sieve.core.events import LabelSource
    from sieve.store.labels import LabelRecord, LabelStatus, save_label

    save_label(
        engine,
        LabelRecord("m1", LabelSource.LLM, "few-shot@2", "sim", "card_arrival", LabelStatus.OK),
    )

    assert review_queue(engine).items == []


def test_a_human_label_takes_the_item_out_joins_the_gold_set_and_trains(engine: Engine) -> None:
    seed_queue(engine)

    save_human_labels(engine, [HumanLabel("d1", "card_arrival")])

    assert "d1" not in [item.message_id for item in review_queue(engine).items]
    assert [(g.message_id, g.label) for g in gold_labels(engine, with_reviews=True)] == [
        ("d1", "card_arrival")
    ]
    assert gold_labels(engine) == []  # the registered, evaluation-only set is unchanged
    trained = {row.message_id: row for row in training_labels(engine)}
    assert (trained["d1"].label, trained["d1"].source) == ("card_arrival", "human")
    assert trained["d2"].label == "card_arrival"  # the LLM's label where no human spoke


def test_a_second_review_of_a_message_replaces_the_first(engine: Engine) -> None:
    seed_queue(engine)
    save_human_labels(engine, [HumanLabel("d1", "card_arrival")])

    save_human_labels(engine, [HumanLabel("d1", "card_linking")])

    gold = gold_labels(engine, with_reviews=True)
    assert [(g.message_id, g.label) for g in gold] == [("d1", "card_linking")]
    assert {r.message_id: r.label for r in training_labels(engine)}["d1"] == "card_linking"


def _cli(monkeypatch: pytest.MonkeyPatch, store_url: str, tmp_path: Path, *argv: str) -> int:
    monkeypatch.setenv("SIEVE_DATABASE__URL", store_url)
    monkeypatch.setenv("SIEVE_DATA_DIR", str(tmp_path))
    return main(list(argv))


def test_export_then_import_a_filled_in_csv(
    engine: Engine,
    store_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed_queue(engine)
    out = tmp_path / "queue.csv"

    assert (
        _cli(
            monkeypatch,
            store_url,
            tmp_path,
            "review",
            "export",
            "--format",
            "csv",
            "--out",
            str(out),
        )
        == 0
    )
    lines = out.read_text().splitlines()
    assert lines[0].split(",")[0] == "id" and lines[0].endswith(",label")
    assert len(lines) == 5
    filled = [lines[0]] + [
        line + ("card_arrival" if line.startswith("d1,") else "") for line in lines[1:]
    ]
    out.write_text("\n".join(filled) + "\n")

    assert _cli(monkeypatch, store_url, tmp_path, "review", "import", str(out)) == 0

    assert "imported 1 human labels" in capsys.readouterr().out
    assert [g.message_id for g in gold_labels(engine, with_reviews=True)] == ["d1"]


def test_export_jsonl_with_a_limit(
    engine: Engine, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_queue(engine)
    out = tmp_path / "queue.jsonl"

    code = _cli(
        monkeypatch, store_url, tmp_path, "review", "export", "--out", str(out), "--limit", "3"
    )

    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert code == 0
    assert len(rows) == 3
    assert {rows[0]["id"], rows[1]["id"]} == {"d1", "d2"}
    assert rows[0]["reasons"] == ["disagreement"] and rows[0]["label"] == ""


def test_import_keeps_good_rows_and_names_the_bad_ones_by_line(
    engine: Engine,
    store_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed_queue(engine)
    labels = tmp_path / "labels.jsonl"
    labels.write_text(
        "\n".join(
            [
                json.dumps({"id": "d1", "label": "card_arrival"}),
                json.dumps({"id": "d2", "label": "not_a_label"}),
                "{broken",
                json.dumps({"id": "nope", "label": "age_limit"}),
                "",
                json.dumps({"id": "x1", "label": ""}),
                json.dumps({"label": "age_limit"}),
                json.dumps({"id": "x2", "label": "atm_support"}),
            ]
        )
        + "\n"
    )

    code = _cli(monkeypatch, store_url, tmp_path, "review", "import", str(labels))

    captured = capsys.readouterr()
    assert code == 1
    assert sorted(g.message_id for g in gold_labels(engine, with_reviews=True)) == ["d1", "x2"]
    errors = [line for line in captured.err.splitlines() if line.startswith(str(labels))]
    assert [line.split(": ")[0] for line in errors] == [
        f"{labels}:2",
        f"{labels}:3",
        f"{labels}:4",
        f"{labels}:7",
    ]
    assert "not_a_label" in errors[0] and "not in the label set" in errors[0]
    assert "no message 'nope'" in errors[2]
    assert "imported 2 human labels" in captured.out
    assert "1 rows without a label skipped; 4 bad rows" in captured.out


def test_a_csv_without_the_label_column_is_one_line_error(
    store_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = tmp_path / "labels.csv"
    bad.write_text("id,text\nd1,hello\n")

    code = _cli(monkeypatch, store_url, tmp_path, "review", "import", str(bad))

    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1] == f"sieve: error: {bad}: a CSV review file needs a header with id and label"
