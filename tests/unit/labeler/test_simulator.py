"""The simulator over HTTP: OpenAI-shaped answers, faults, latency and paid-call counters."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from sieve.core.errors import ConfigError
from sieve.labeler.prompts import load_prompt
from sieve.labeler.sim.faults import Fault, FaultRates, LatencySpec
from sieve.labeler.sim.simulator import SimulatorServer
from tests.unit.labeler.conftest import SMALL_LABELS, SMALL_RECORDS, MakeSimulator, small_teacher

PROMPT = load_prompt("classify-zero-shot")


def _call(
    sim: SimulatorServer, path: str, body: Any = None, method: str | None = None
) -> tuple[int, dict[str, Any], dict[str, str]]:
    root = sim.base_url.removesuffix("/v1")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(root + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)


def _complete(sim: SimulatorServer, text: str, **extra: Any) -> tuple[int, dict[str, Any], dict]:
    body = {"model": "teacher-sim", "messages": PROMPT.render(text, SMALL_LABELS), **extra}
    return _call(sim, "/v1/chat/completions", body)


def test_answers_look_like_the_openai_api(make_simulator: MakeSimulator) -> None:
    sim = make_simulator()
    status, body, _ = _complete(sim, SMALL_RECORDS[0].text)
    assert status == 200
    assert body["id"].startswith("chatcmpl-") and body["model"] == "teacher-sim"
    choice = body["choices"][0]
    assert choice["finish_reason"] == "stop" and choice["message"]["role"] == "assistant"
    assert json.loads(choice["message"]["content"])["label"] == SMALL_RECORDS[0].label
    usage = body["usage"]
    assert usage["prompt_tokens"] > 50 and usage["completion_tokens"] > 5
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_service_endpoints(make_simulator: MakeSimulator) -> None:
    sim = make_simulator()
    assert _call(sim, "/healthz")[:2] == (200, {"status": "ok"})
    assert _call(sim, "/v1/models")[1]["data"][0]["id"] == "teacher-sim"
    assert _call(sim, "/nowhere")[0] == 404
    _complete(sim, SMALL_RECORDS[0].text)
    _complete(sim, SMALL_RECORDS[0].text)
    _complete(sim, SMALL_RECORDS[1].text, model="other-model")
    stats = _call(sim, "/stats")[1]
    assert stats["requests"] == 3 and stats["paid_calls"] == 2 and stats["failed_calls"] == 1
    assert stats["outcomes"] == {"ok": 2, "rejected": 1}
    assert stats["distinct_texts_paid"] == 1
    assert _call(sim, "/stats/reset", {}, method="POST")[0] == 200
    assert _call(sim, "/stats")[1]["requests"] == 0


def test_the_same_text_gets_the_same_answer_every_time(make_simulator: MakeSimulator) -> None:
    sim = make_simulator(small_teacher(accuracy=0.5, seed=9))
    for record in SMALL_RECORDS:
        answers = {
            _complete(sim, record.text)[1]["choices"][0]["message"]["content"] for _ in "abc"
        }
        assert len(answers) == 1


def test_text_is_found_behind_a_corrective_turn_and_without_tags(
    make_simulator: MakeSimulator,
) -> None:
    sim = make_simulator()
    record = SMALL_RECORDS[4]
    messages = PROMPT.render(record.text, SMALL_LABELS)
    messages += [
        {"role": "assistant", "content": "oops"},
        {"role": "user", "content": "Answer again with one label."},
    ]
    for conversation in (messages, [{"role": "user", "content": f"Label: {record.text} pls"}]):
        body = {"model": "teacher-sim", "messages": conversation}
        content = _call(sim, "/v1/chat/completions", body)[1]["choices"][0]["message"]["content"]
        assert json.loads(content)["label"] == record.label
    assert sim.stats()["answers_unknown_text"] == 0


def test_429_carries_retry_after(make_simulator: MakeSimulator) -> None:
    sim = make_simulator(faults=FaultRates(rate_limit=1.0), retry_after_s=3)
    status, body, headers = _complete(sim, SMALL_RECORDS[0].text)
    assert status == 429 and headers["Retry-After"] == "3"
    assert body["error"]["type"] == "rate_limit_error"


def test_faults_are_per_attempt_so_a_retry_can_succeed(make_simulator: MakeSimulator) -> None:
    rates = FaultRates(rate_limit=0.3, server_error=0.2)
    sim = make_simulator(faults=rates)
    for record in SMALL_RECORDS:
        statuses = [_complete(sim, record.text)[0] for _ in range(12)]
        assert 200 in statuses  # 12 draws at 50% faults: all failing is 1 in 4096
        expected = [rates.decide(0, record.text, attempt) for attempt in range(12)]
        assert [s == 200 for s in statuses] == [f is Fault.NONE for f in expected]


def test_fault_rates_are_met_and_counted(make_simulator: MakeSimulator) -> None:
    rates = FaultRates(rate_limit=0.2, server_error=0.1, malformed=0.1, outside_set=0.1)
    drawn = [rates.decide(5, f"text {i}", 0) for i in range(5_000)]
    for fault, rate in [(Fault.RATE_LIMIT, 0.2), (Fault.SERVER_ERROR, 0.1), (Fault.NONE, 0.5)]:
        assert abs(drawn.count(fault) / len(drawn) - rate) < 0.02
    sim = make_simulator(faults=rates, seed=5)
    for record in SMALL_RECORDS:
        _complete(sim, record.text)
    stats = sim.stats()
    paid = sum(stats["outcomes"].get(o, 0) for o in ("ok", "malformed", "outside_set"))
    assert stats["paid_calls"] == paid
    assert stats["paid_calls"] + stats["failed_calls"] == len(SMALL_RECORDS)


def test_latency_is_applied(make_simulator: MakeSimulator) -> None:
    sim = make_simulator(latency=LatencySpec.parse("150"))
    started = time.perf_counter()
    _complete(sim, SMALL_RECORDS[0].text)
    assert time.perf_counter() - started >= 0.15


@pytest.mark.parametrize(
    ("spec", "low_ms", "high_ms"),
    [("100", 100, 100), ("50-150", 50, 150), ("100~20", 80, 120), ("10~20", 0, 30)],
)
def test_latency_specs(spec: str, low_ms: float, high_ms: float) -> None:
    latency = LatencySpec.parse(spec)
    assert (latency.low_ms, latency.high_ms) == (low_ms, high_ms)
    assert latency.sample_s(0.0) == low_ms / 1000
    assert latency.sample_s(0.999999) == pytest.approx(high_ms / 1000, abs=1e-4)


@pytest.mark.parametrize("spec", ["fast", "150-50", "-5", ""])
def test_bad_latency_specs_are_refused(spec: str) -> None:
    with pytest.raises(ConfigError):
        LatencySpec.parse(spec)


def test_fault_rates_must_be_probabilities() -> None:
    with pytest.raises(ConfigError):
        FaultRates(rate_limit=0.7, server_error=0.4)
    with pytest.raises(ConfigError):
        FaultRates(hang=-0.1)


def test_stop_releases_a_hanging_request(make_simulator: MakeSimulator) -> None:
    sim = make_simulator(faults=FaultRates(hang=1.0), hang_s=30.0)
    root = sim.base_url.removesuffix("/v1")
    request = urllib.request.Request(
        root + "/v1/chat/completions",
        data=json.dumps(
            {"model": "teacher-sim", "messages": PROMPT.render("x", SMALL_LABELS)}
        ).encode(),
    )
    with pytest.raises(TimeoutError):
        urllib.request.urlopen(request, timeout=0.2)
    started = time.perf_counter()
    sim.stop()
    assert time.perf_counter() - started < 2.0
    assert sim.stats()["outcomes"] == {"hang": 1}


def test_stop_cuts_keep_alive_connections(make_simulator: MakeSimulator) -> None:
    """A stopped simulator is an outage: a client's open connection must not keep being
    answered (the fault suite's LLM outage found it was)."""
    import http.client

    sim = make_simulator()
    connection = http.client.HTTPConnection(sim.host, sim.port, timeout=5)
    body = json.dumps({"model": "teacher-sim", "messages": PROMPT.render("x", SMALL_LABELS)})
    connection.request("POST", "/v1/chat/completions", body=body)
    assert connection.getresponse().read() and sim.stats()["requests"] == 1
    sim.stop()
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        connection.request("POST", "/v1/chat/completions", body=body)
        connection.getresponse().read()
    connection.close()
    assert sim.stats()["requests"] == 1
