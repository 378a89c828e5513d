"""The operator's page in a real browser: the admin app under uvicorn on a fresh
PostgreSQL store, Debian's headless Chromium driven by selenium through
/usr/bin/chromedriver. The screenshot goes to $SIEVE_TEST_ARTEFACTS (default
.sieve/artefacts under the repository) as dashboard.png.

Why selenium and not the DevTools protocol by hand: the test clicks, picks an option and
waits for the page's own requests; selenium's Select and WebDriverWait say that in a line
each, where raw CDP would need a websocket client and hand-written waits.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from sieve.admin.app import create_app
from sieve.core.settings import Settings
from sieve.store.engine import make_engine
from sieve.store.labels import gold_labels
from sieve.store.migrate import upgrade
from sieve.workers.llm.budget import LimitState
from tests.fakes import FakeBacklogSink
from tests.integration.review_rows import seed_history
from tests.unit.admin.fakes import FakeRetrainer

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
TOKEN = "dashboard-test-token"
REPO = Path(__file__).resolve().parents[2]
PLOTS = ("plot-share", "plot-audit", "plot-cost", "plot-models")


def artefacts_dir() -> Path:
    folder = Path(os.environ.get("SIEVE_TEST_ARTEFACTS", REPO / ".sieve" / "artefacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class FakeLimits:
    """Implements sieve.admin.deps.LimitsReader: an hourly budget of $0.10, a third spent."""

    def state(self) -> list[LimitState]:
        renews = (datetime.now(UTC) + timedelta(minutes=20)).timestamp()
        return [LimitState("usd_per_hour", 0.10, 0.03, 0.07, renews)]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def store(postgres_url: str) -> Iterator[Engine]:
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    seed_history(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def admin_url(store: Engine, tmp_path: Path) -> Iterator[str]:
    import uvicorn

    settings = Settings(_env_file=None, data_dir=tmp_path, admin={"token": TOKEN})
    app = create_app(settings, store, FakeRetrainer(), FakeBacklogSink(), FakeLimits())
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def browser() -> Iterator[object]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (scripts/ensure-services.sh installs it)")
        pytest.skip("chromium is not installed (scripts/ensure-services.sh installs it)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument("--window-size=1280,1400")
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def test_the_dashboard_plots_and_a_label_given_in_the_page_joins_the_gold_set(
    admin_url: str, browser: object, store: Engine
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver: WebDriver = browser  # type: ignore[assignment]
    wait = WebDriverWait(driver, 30)
    driver.get(f"{admin_url}/dashboard")
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-plots-loaded"))
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-review-loaded"))

    points = {plot: len(driver.find_elements(By.CSS_SELECTOR, f"#{plot} .point")) for plot in PLOTS}
    shot = artefacts_dir() / "dashboard.png"
    driver.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    # Six hours with decisions; audited items in each; six hours of spend; 2 runs and
    # 1 activation in the window.
    assert points["plot-share"] == 6
    assert points["plot-audit"] == 12
    assert points["plot-cost"] == 6
    assert points["plot-models"] == 3
    assert driver.find_elements(By.CSS_SELECTOR, "#plot-cost .limit")
    # /stats carries the drift monitor's signals: one row each, no verdict on so few.
    assert driver.find_element(By.ID, "drift-panel").is_displayed()
    signals = driver.find_elements(By.CSS_SELECTOR, "#drift tbody tr")
    assert {row.get_attribute("data-signal") for row in signals} == {
        "escalation_rate",
        "label_mix",
        "confidence",
    }

    rows = driver.find_elements(By.CSS_SELECTOR, "#review tbody tr")
    assert rows, "the review queue is empty"
    row = rows[0]
    message_id = row.get_attribute("data-message-id")
    assert message_id is not None
    assert gold_labels(store, with_reviews=True)
    assert message_id not in {g.message_id for g in gold_labels(store, with_reviews=True)}

    # Without the token the page says so and nothing is saved.
    Select(row.find_element(By.CSS_SELECTOR, "select.label-choice")).select_by_value("age_limit")
    row.find_element(By.CSS_SELECTOR, "button.submit-label").click()
    status = driver.find_element(By.ID, "review-status")
    wait.until(lambda _d: "token" in status.text)

    driver.find_element(By.ID, "token").send_keys(TOKEN)
    driver.find_element(By.CSS_SELECTOR, "#token-form button").click()
    row.find_element(By.CSS_SELECTOR, "button.submit-label").click()
    wait.until(lambda _d: "saved" in status.text)

    gold = {g.message_id: g.label for g in gold_labels(store, with_reviews=True)}
    assert gold[message_id] == "age_limit"
    wait.until(
        lambda d: (
            message_id
            not in [
                r.get_attribute("data-message-id")
                for r in d.find_elements(By.CSS_SELECTOR, "#review tbody tr")
            ]
        )
    )
