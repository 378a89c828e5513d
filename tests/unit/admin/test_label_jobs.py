"""POST /label-jobs: a JSON Lines backlog in, labeling tasks out through the sink."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from sieve.core.errors import TransientError
from sieve.core.settings import Settings
from sieve.labeler.prompts import load_prompt
from sieve.store.tables import messages
from tests.fakes import FakeBacklogSink
from tests.unit.admin.asgi_calls import call
from tests.unit.admin.conftest import AUTH, ClientFactory
from tests.unit.admin.store_rows import add_label

NDJSON = {**AUTH, "Content-Type": "application/x-ndjson"}

# The defaults the test app runs with: a label from them counts as "already labeled".
_DEFAULTS = Settings(_env_file=None)
PROMPT_VERSION = load_prompt(_DEFAULTS.llm.prompt).version_id
LLM_MODEL = _DEFAULTS.llm.model


def _body(*ids: str) -> str:
    return "".join(json.dumps({"id": i, "text": f"text of {i}"}) + "\n" for i in ids)


def _post(client: TestClient, body: str | bytes, **params: Any) -> Any:
    return client.post("/label-jobs", content=body, headers=NDJSON, params=params)


def _label_current(engine: Engine, message_id: str, **fields: Any) -> None:
    add_label(engine, message_id, prompt_version=PROMPT_VERSION, llm_model=LLM_MODEL, **fields)


def _stored(engine: Engine) -> dict[str, tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(select(messages.c.id, messages.c.text, messages.c.source))
        return {row.id: (row.text, row.source) for row in rows}


def test_a_backlog_is_saved_and_enqueued(
    client: TestClient, engine: Engine, backlog_sink: FakeBacklogSink
) -> None:
    response = _post(client, _body("b1", "b2", "b3"))

    assert response.status_code == 202
    assert response.json() == {"received": 3, "already_labeled": 0, "enqueued": 3}
    assert backlog_sink.enqueued == ["b1", "b2", "b3"]
    assert _stored(engine) == {f"b{i}": (f"text of b{i}", "backlog") for i in (1, 2, 3)}


def test_chunk_size_splits_the_enqueue_calls(
    client: TestClient, backlog_sink: FakeBacklogSink
) -> None:
    response = _post(client, _body("b1", "b2", "b3", "b4", "b5"), chunk_size=2)

    assert response.status_code == 202
    assert backlog_sink.calls == [["b1", "b2"], ["b3", "b4"], ["b5"]]


def test_a_message_labeled_with_this_prompt_version_and_model_is_skipped(
    client: TestClient, engine: Engine, backlog_sink: FakeBacklogSink
) -> None:
    _label_current(engine, "b2")

    response = _post(client, _body("b1", "b2", "b3"))

    assert response.status_code == 202
    assert response.json() == {"received": 3, "already_labeled": 1, "enqueued": 2}
    assert backlog_sink.enqueued == ["b1", "b3"]


@pytest.mark.parametrize(
    "label",
    [
        {"status": "failed", "label": None, "error": "timeout"},
        {"prompt_version": "classify-zero-shot@0"},
        {"llm_model": "another-model"},
        {"source": "human", "prompt_version": "", "llm_model": ""},
    ],
    ids=["failed", "older-prompt", "other-model", "human"],
)
def test_other_labels_do_not_count_as_labeled(
    client: TestClient, engine: Engine, backlog_sink: FakeBacklogSink, label: dict[str, Any]
) -> None:
    add_label(engine, "b1", **{"prompt_version": PROMPT_VERSION, "llm_model": LLM_MODEL, **label})

    response = _post(client, _body("b1"))

    assert response.json() == {"received": 1, "already_labeled": 0, "enqueued": 1}
    assert backlog_sink.enqueued == ["b1"]


def test_resubmitting_skips_what_got_labeled_meanwhile(
    client: TestClient, engine: Engine, backlog_sink: FakeBacklogSink
) -> None:
    body = _body("b1", "b2", "b3")
    assert _post(client, body).json()["enqueued"] == 3
    _label_current(engine, "b1")
    _label_current(engine, "b3")

    response = _post(client, body)

    assert response.json() == {"received": 3, "already_labeled": 2, "enqueued": 1}
    # The unlabeled one goes to the sink again: its enqueue markers stop a second task.
    assert backlog_sink.calls == [["b1", "b2", "b3"], ["b2"]]


def test_after_a_broker_failure_midway_the_same_body_resumes(
    client: TestClient, engine: Engine, backlog_sink: FakeBacklogSink
) -> None:
    backlog_sink.fail_with = TransientError("task broker unavailable")
    backlog_sink.fail_after = 1
    body = _body("b1", "b2", "b3", "b4")

    failed = _post(client, body, chunk_size=2)

    assert failed.status_code == 503
    assert "task broker unavailable" in failed.json()["detail"]
    assert backlog_sink.calls == [["b1", "b2"]]
    # The failed chunk was saved before the sink refused it: nothing enqueued is unsaved.
    assert set(_stored(engine)) == {"b1", "b2", "b3", "b4"}

    backlog_sink.fail_with = None
    _label_current(engine, "b1")
    resumed = _post(client, body, chunk_size=2)

    assert resumed.json() == {"received": 4, "already_labeled": 1, "enqueued": 3}
    assert backlog_sink.calls[1:] == [["b2", "b3"], ["b4"]]


@pytest.mark.parametrize(
    ("second_line", "detail"),
    [
        ("{not json", "line 2: not JSON (Expecting property name enclosed in double quotes)"),
        ('{"id": "b2"}', "line 2: expected string 'id' and 'text'"),
        ('{"id": 2, "text": "x"}', "line 2: expected string 'id' and 'text'"),
        ('{"id": "b2", "text": "   "}', "line 2: expected string 'id' and 'text'"),
        ('["b2", "text"]', "line 2: expected string 'id' and 'text'"),
    ],
    ids=["not-json", "no-text", "numeric-id", "blank-text", "array"],
)
def test_a_bad_line_answers_422_naming_it_and_saves_nothing(
    client: TestClient,
    engine: Engine,
    backlog_sink: FakeBacklogSink,
    second_line: str,
    detail: str,
) -> None:
    body = _body("b1") + second_line + "\n" + _body("b3")

    response = _post(client, body)

    assert response.status_code == 422
    assert response.json() == {"detail": detail, "enqueued_before_error": 0}
    assert backlog_sink.calls == []
    assert _stored(engine) == {}


def test_blank_lines_are_skipped_but_counted_in_line_numbers(
    client: TestClient, backlog_sink: FakeBacklogSink
) -> None:
    assert _post(client, "\n" + _body("b1") + "\r\n" + _body("b2")).json()["received"] == 2

    response = _post(client, _body("b1") + "\n   \n{oops\n")

    assert response.json()["detail"].startswith("line 4: not JSON")
    assert backlog_sink.enqueued == ["b1", "b2"]


def test_a_line_that_is_not_utf8_answers_422(
    client: TestClient, backlog_sink: FakeBacklogSink
) -> None:
    response = _post(client, _body("b1").encode() + b'{"id": "b2", "text": "caf\xe9"}\n')

    assert response.status_code == 422
    assert response.json() == {"detail": "line 2: not UTF-8", "enqueued_before_error": 0}
    assert backlog_sink.calls == []


@pytest.mark.parametrize("body", ["", "\n\n  \n"], ids=["empty", "blank-lines"])
def test_an_empty_body_answers_422(
    client: TestClient, backlog_sink: FakeBacklogSink, body: str
) -> None:
    response = _post(client, body)

    assert response.status_code == 422
    assert response.json()["detail"].startswith("empty body")
    assert backlog_sink.calls == []


@pytest.mark.parametrize("content_type", ["application/json", None])
def test_another_content_type_answers_415(
    client: TestClient, backlog_sink: FakeBacklogSink, content_type: str | None
) -> None:
    headers = dict(AUTH) if content_type is None else {**AUTH, "Content-Type": content_type}

    response = client.post("/label-jobs", content=_body("b1"), headers=headers)

    assert response.status_code == 415
    assert "application/x-ndjson" in response.json()["detail"]
    assert backlog_sink.calls == []


def test_a_content_type_with_parameters_is_accepted(
    client: TestClient, backlog_sink: FakeBacklogSink
) -> None:
    headers = {**AUTH, "Content-Type": "application/x-ndjson; charset=utf-8"}

    response = client.post("/label-jobs", content=_body("b1"), headers=headers)

    assert response.status_code == 202
    assert backlog_sink.enqueued == ["b1"]


@pytest.mark.parametrize("chunk_size", [0, -1, 10_001, "many"])
def test_chunk_size_outside_1_to_10000_answers_422(
    client: TestClient, backlog_sink: FakeBacklogSink, chunk_size: object
) -> None:
    response = _post(client, _body("b1"), chunk_size=chunk_size)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "chunk_size"]
    assert backlog_sink.calls == []


def test_the_token_is_checked_before_the_body(
    client: TestClient, engine: Engine, backlog_sink: FakeBacklogSink
) -> None:
    headers = {"Content-Type": "application/x-ndjson"}

    valid = client.post("/label-jobs", content=_body("b1"), headers=headers)
    invalid = client.post("/label-jobs", content="{oops\n", headers=headers)

    assert (valid.status_code, invalid.status_code) == (401, 401)
    assert backlog_sink.calls == []
    assert _stored(engine) == {}


class OrderedSink(FakeBacklogSink):
    """A FakeBacklogSink that writes its calls into the request's event log."""

    def __init__(self, events: list[str]) -> None:
        super().__init__()
        self.events = events

    def enqueue(self, message_ids: Sequence[str]) -> int:
        self.events.append("enqueue " + ",".join(message_ids))
        return super().enqueue(message_ids)


def test_chunks_are_enqueued_while_the_body_still_arrives(client: TestClient) -> None:
    events: list[str] = []
    client.app.state.backlog_sink = OrderedSink(events)  # type: ignore[attr-defined]
    chunks = [_body("b1", "b2").encode(), _body("b3", "b4").encode(), _body("b5").encode()]

    answer = call(
        client.app,  # type: ignore[arg-type]
        "POST",
        "/label-jobs",
        headers=NDJSON,
        chunks=chunks,
        query="chunk_size=2",
        events=events,
    )

    assert answer.status == 202
    assert answer.json() == {"received": 5, "already_labeled": 0, "enqueued": 5}
    assert events == ["read 1", "enqueue b1,b2", "read 2", "enqueue b3,b4", "read 3", "enqueue b5"]


def test_lines_and_line_ends_split_across_chunks_are_joined(
    client: TestClient, backlog_sink: FakeBacklogSink
) -> None:
    chunks = [b'{"id": "b1", "te', b'xt": "x"}\r', b'\n{"id": "b2", "text": "y"}\r', b"\n{oops"]

    answer = call(client.app, "POST", "/label-jobs", headers=NDJSON, chunks=chunks)  # type: ignore[arg-type]

    # \r\n is one line end even when split: the bad line is the third, not the fifth.
    assert answer.status == 422
    assert answer.json()["detail"].startswith("line 3: not JSON")
    assert backlog_sink.calls == []


def test_a_bad_line_after_enqueued_chunks_keeps_them_and_says_how_many(
    client: TestClient, engine: Engine, backlog_sink: FakeBacklogSink
) -> None:
    body = _body("b1", "b2", "b3") + "{oops\n" + _body("b5")

    response = _post(client, body, chunk_size=2)

    assert response.status_code == 422
    assert response.json() == {
        "detail": "line 4: not JSON (Expecting property name enclosed in double quotes)",
        "enqueued_before_error": 2,
    }
    # The full chunk went out (saved first); the partial one and the rest did not.
    assert backlog_sink.calls == [["b1", "b2"]]
    assert set(_stored(engine)) == {"b1", "b2"}
    # Sending the corrected body again skips nothing it should not and queues the rest.
    fixed = _post(client, _body("b1", "b2", "b3", "b4", "b5"), chunk_size=2)
    assert fixed.json() == {"received": 5, "already_labeled": 0, "enqueued": 5}


def test_the_skip_query_runs_before_chunking_as_label_file_does(
    client: TestClient, engine: Engine, backlog_sink: FakeBacklogSink
) -> None:
    _label_current(engine, "b1")
    _label_current(engine, "b2")

    response = _post(client, _body("b1", "b2", "b3", "b4", "b5"), chunk_size=2)

    assert response.json() == {"received": 5, "already_labeled": 2, "enqueued": 3}
    assert backlog_sink.calls == [["b3", "b4"], ["b5"]]


def test_a_body_over_the_ndjson_bound_answers_413(
    make_client: ClientFactory, backlog_sink: FakeBacklogSink
) -> None:
    client = make_client(max_ndjson_body_bytes=2_048)
    body = _body(*(f"b{i}" for i in range(100)))
    assert len(body) > 2_048

    response = _post(client, body)

    assert response.status_code == 413
    assert backlog_sink.calls == []


def test_a_chunked_body_over_the_ndjson_bound_stops_reading(
    make_client: ClientFactory, backlog_sink: FakeBacklogSink
) -> None:
    client = make_client(max_ndjson_body_bytes=2_048)
    line = _body("b1").encode()

    chunks = [line] * 1_000  # finite: a guard that fails reads it all and the test fails

    answer = call(client.app, "POST", "/label-jobs", headers=NDJSON, chunks=chunks)  # type: ignore[arg-type]

    assert answer.status == 413
    assert answer.bytes_read <= 2_048 + len(line)


def test_the_ndjson_bound_is_larger_than_the_json_one(
    client: TestClient, backlog_sink: FakeBacklogSink
) -> None:
    body = _body(*(f"b{i}" for i in range(3_000)))
    assert len(body) > 65_536

    response = _post(client, body)

    assert response.status_code == 202
    assert response.json()["enqueued"] == 3_000


def test_a_line_over_the_line_bound_answers_422_naming_it(
    make_client: ClientFactory, backlog_sink: FakeBacklogSink
) -> None:
    client = make_client(max_ndjson_line_bytes=1_024)
    long_line = json.dumps({"id": "b2", "text": "x" * 2_000})

    response = _post(client, _body("b1") + long_line + "\n")

    assert response.status_code == 422
    assert response.json()["detail"] == "line 2: longer than 1024 bytes"
    assert backlog_sink.calls == []
