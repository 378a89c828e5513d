"""sieve.workers.llm.backlog: the parsing and the skip-then-enqueue loop that `sieve label-file`
and POST /label-jobs share."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

from sieve.core.errors import PermanentError
from sieve.store.labels import LabelRecord, labeled_ids, save_label
from sieve.store.repository import MessageRecord
from sieve.workers.llm.backlog import enqueue_backlog, parse_backlog, parse_backlog_line
from tests.fakes import FakeBacklogSink

VERSION, MODEL = "classify-zero-shot@1", "teacher-sim"


class RecordingProgress:
    def __init__(self) -> None:
        self.events: list[tuple[object, ...]] = []

    def planned(self, received: int, already_labeled: int) -> None:
        self.events.append(("planned", received, already_labeled))

    def advanced(self, enqueued: int) -> None:
        self.events.append(("advanced", enqueued))


@pytest.fixture
def engine(sqlite_engine: Engine) -> Engine:
    return sqlite_engine


def _records(*ids: str) -> list[MessageRecord]:
    return [MessageRecord(id=i, text=f"text {i}", source="backlog") for i in ids]


def _label(engine: Engine, message_id: str, status: str = "ok") -> None:
    save_label(engine, LabelRecord(message_id, "llm", VERSION, MODEL, "card_arrival", status))


def test_a_line_becomes_a_backlog_record_and_extra_fields_are_ignored() -> None:
    record = parse_backlog_line('{"id": "m1", "text": "hello", "lang": "en"}\n', "line 1")

    assert record == MessageRecord(id="m1", text="hello", source="backlog")
    assert parse_backlog_line("  \n", "line 2") is None


def test_errors_name_the_file_and_line_or_the_line_alone() -> None:
    lines = ['{"id": "m1", "text": "a"}\n', "\n", "{oops\n"]

    with pytest.raises(PermanentError, match=r"^backlog\.jsonl:3: not JSON \("):
        parse_backlog(lines, name="backlog.jsonl")
    with pytest.raises(PermanentError, match=r"^line 3: not JSON \("):
        parse_backlog(lines)


def test_label_file_reports_a_bad_line_as_file_and_line(tmp_path: Path) -> None:
    backlog = tmp_path / "backlog.jsonl"
    backlog.write_text('{"id": "m1", "text": "a"}\n{"id": "m2"}\n', encoding="utf-8")

    result = subprocess.run(
        [sys.executable, "-m", "sieve.cli", "label-file", str(backlog)],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert f"sieve: error: {backlog}:2: expected string 'id' and 'text'" in result.stderr
    assert "Traceback" not in result.stderr


def test_enqueue_backlog_skips_labeled_and_saves_before_enqueueing(engine: Engine) -> None:
    _label(engine, "b2")
    _label(engine, "b4", status="failed")
    sink, progress = FakeBacklogSink(), RecordingProgress()

    result = enqueue_backlog(
        engine,
        sink,
        _records("b1", "b2", "b3", "b4", "b5"),
        prompt_version=VERSION,
        llm_model=MODEL,
        chunk_size=2,
        progress=progress,
    )

    assert (result.received, result.already_labeled, result.enqueued) == (5, 1, 4)
    assert sink.calls == [["b1", "b3"], ["b4", "b5"]]
    assert progress.events == [("planned", 5, 1), ("advanced", 2), ("advanced", 2)]
    assert labeled_ids(engine, ["b1", "b2", "b4"], VERSION, MODEL) == {"b2"}


def test_nothing_to_do_enqueues_nothing(engine: Engine) -> None:
    _label(engine, "b1")
    sink = FakeBacklogSink()

    result = enqueue_backlog(
        engine, sink, _records("b1"), prompt_version=VERSION, llm_model=MODEL, chunk_size=10
    )

    assert (result.received, result.already_labeled, result.enqueued) == (1, 1, 0)
    assert sink.calls == []


def test_labeled_ids_looks_up_more_ids_than_one_query_takes(engine: Engine) -> None:
    ids = [f"m{i:04d}" for i in range(1203)]
    labeled = set(ids[::100]) | {ids[499], ids[500], ids[-1]}
    for message_id in labeled:
        _label(engine, message_id)

    assert labeled_ids(engine, ids, VERSION, MODEL) == labeled
    assert labeled_ids(engine, [], VERSION, MODEL) == set()


@pytest.mark.parametrize("chunk_size", [0, -3])
def test_a_chunk_size_below_1_is_refused(engine: Engine, chunk_size: int) -> None:
    sink = FakeBacklogSink()

    with pytest.raises(ValueError, match="chunk_size"):
        enqueue_backlog(
            engine,
            sink,
            _records("b1"),
            prompt_version=VERSION,
            llm_model=MODEL,
            chunk_size=chunk_size,
        )
    assert sink.calls == []
