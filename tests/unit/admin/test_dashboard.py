"""GET /dashboard serves the page and its files from the package (nothing from a CDN);
GET /dashboard/series gives the plotted figures per hour."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.integration.review_rows import seed_history


def test_the_page_and_its_files_are_served_from_the_package(client: TestClient) -> None:
    page = client.get("/dashboard")
    script = client.get("/dashboard/static/dashboard.js")
    style = client.get("/dashboard/static/dashboard.css")

    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert style.status_code == 200
    assert 'id="plot-share"' in page.text and 'id="drift-panel"' in page.text
    # Everything the page loads is its own: no absolute URL to another host.
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text)
    assert "http" not in script.text.replace("http://www.w3.org/2000/svg", "")


def test_only_the_pages_own_files_are_served(client: TestClient) -> None:
    assert client.get("/dashboard/static/../app.py").status_code == 404
    assert client.get("/dashboard/static/dashboard.html").status_code == 404


def test_series_counts_per_hour(client: TestClient, engine: Engine) -> None:
    seed_history(engine)

    body = client.get("/dashboard/series", params={"hours": 12}).json()

    assert body["hours"] == 12 and len(body["share"]) == 12
    shares = [h["escalated_share"] for h in body["share"] if h["decisions"]]
    assert shares == [0.7, 0.6, 0.5, 0.4, 0.3, 0.2]  # oldest first
    audited = [h for h in body["audit"] if h["audited"]]
    assert len(audited) == 6
    assert all(h["audited"] == 2 and h["student_accuracy"] == 1.0 for h in audited)
    # n=0 is escalated and the LLM said card_linking; n=5 kept, or answered right.
    assert all(h["final_accuracy"] == 0.5 for h in audited)
    spent = [h for h in body["cost"] if h["requests"]]
    assert [h["requests"] for h in spent] == [7, 6, 5, 4, 3, 2]
    # Hour ``age`` hours ago: 2 + age requests at 0.01 * (age + 1) USD each.
    expected = [(2 + age) * 0.01 * (age + 1) for age in range(5, -1, -1)]
    assert [round(h["cost_usd"], 6) for h in spent] == [round(v, 6) for v in expected]
    assert [(r["model_version"], r["promoted"]) for r in body["runs"]] == [
        ("v2", True),
        ("v3", False),
    ]
    assert [a["version"] for a in body["activations"]] == ["v2"]
    assert body["active_at_start"] == "v1"


def test_series_bounds_its_window(client: TestClient) -> None:
    assert client.get("/dashboard/series", params={"hours": 0}).status_code == 422
    assert client.get("/dashboard/series", params={"hours": 10_000}).status_code == 422
