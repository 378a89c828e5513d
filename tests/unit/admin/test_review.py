"""GET /review and POST /review/{id} on a migrated SQLite file: the queue with the label set,
and a human label that is checked (token, label set, known message) before it is saved."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from sieve.store.labels import gold_labels
from tests.integration.review_rows import seed_queue
from tests.unit.admin.conftest import AUTH


def test_the_queue_comes_with_the_label_set(client: TestClient, engine: Engine) -> None:
    seed_queue(engine)

    answer = client.get("/review", params={"limit": 2})

    assert answer.status_code == 200
    body = answer.json()
    assert body["total"] == 4
    assert [item["reasons"] for item in body["items"]] == [["disagreement"], ["disagreement"]]
    assert {item["message_id"] for item in body["items"]} == {"d1", "d2"}
    assert "card_arrival" in body["labels"] and len(body["labels"]) == 77


def test_a_human_label_is_saved_into_the_gold_set(client: TestClient, engine: Engine) -> None:
    seed_queue(engine)

    answer = client.post("/review/d1", json={"label": "card_linking"}, headers=AUTH)

    assert answer.status_code == 200
    assert answer.json() == {"message_id": "d1", "label": "card_linking"}
    assert [(g.message_id, g.label) for g in gold_labels(engine, with_reviews=True)] == [
        ("d1", "card_linking")
    ]
    assert "d1" not in [item["message_id"] for item in client.get("/review").json()["items"]]


def test_a_message_id_with_a_slash_is_one_id(client: TestClient, engine: Engine) -> None:
    from tests.integration.review_rows import classified

    classified(engine, "shop/42", "card_arrival", llm="card_linking")

    answer = client.post("/review/shop%2F42", json={"label": "card_arrival"}, headers=AUTH)

    assert answer.status_code == 200
    assert [g.message_id for g in gold_labels(engine, with_reviews=True)] == ["shop/42"]


def test_a_label_outside_the_set_is_refused(client: TestClient, engine: Engine) -> None:
    seed_queue(engine)

    answer = client.post("/review/d1", json={"label": "nonsense"}, headers=AUTH)

    assert answer.status_code == 422
    assert "not in the label set" in answer.json()["detail"]
    assert gold_labels(engine, with_reviews=True) == []


def test_an_unknown_message_is_404(client: TestClient, engine: Engine) -> None:
    answer = client.post("/review/nope", json={"label": "age_limit"}, headers=AUTH)
    too_long = client.post("/review/" + "x" * 300, json={"label": "age_limit"}, headers=AUTH)

    assert (answer.status_code, too_long.status_code) == (404, 404)


def test_labeling_needs_the_token(client: TestClient, engine: Engine) -> None:
    seed_queue(engine)

    answer = client.post("/review/d1", json={"label": "age_limit"})

    assert answer.status_code == 401
    assert gold_labels(engine, with_reviews=True) == []
