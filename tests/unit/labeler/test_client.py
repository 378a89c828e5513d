"""LLMClient over HTTP against the in-process teacher simulator."""

from __future__ import annotations

import socket

import pytest

from sieve.core.errors import PermanentError, TransientError
from sieve.labeler.client import (
    LLMClient,
    LLMFailure,
    LLMParams,
    PermanentLLMError,
    TransientLLMError,
)
from sieve.labeler.parsing import LabelOutsideSet
from sieve.labeler.prompts import load_prompt
from sieve.labeler.sim.faults import Fault, FaultRates
from sieve.labeler.sim.simulator import SimulatorServer
from tests.unit.labeler.conftest import SMALL_LABELS, SMALL_RECORDS, MakeSimulator

PROMPT = load_prompt("classify-zero-shot")
TEXT, GOLD = SMALL_RECORDS[0].text, SMALL_RECORDS[0].label


def _client(server: SimulatorServer, **kwargs: object) -> LLMClient:
    options: dict = {"api_key": "", "model": "teacher-sim", "timeout_s": 5.0, **kwargs}
    return LLMClient(base_url=server.base_url, **options)


def test_a_known_text_gets_its_label_with_usage_and_prompt_version(
    make_simulator: MakeSimulator,
) -> None:
    sim = make_simulator()
    answer = _client(sim).label(TEXT, PROMPT, SMALL_LABELS)
    stats = sim.stats()
    assert answer.label == GOLD
    assert answer.rationale
    assert answer.prompt_version == "classify-zero-shot@1"
    assert answer.model == answer.response_model == "teacher-sim"
    assert answer.calls == 1
    assert (answer.tokens_in, answer.tokens_out) == (
        stats["prompt_tokens"],
        stats["completion_tokens"],
    )
    assert answer.tokens_in > 0 and answer.latency_ms > 0
    assert stats["paid_calls"] == 1


def test_429_is_transient_and_carries_retry_after(make_simulator: MakeSimulator) -> None:
    sim = make_simulator(faults=FaultRates(rate_limit=1.0), retry_after_s=7)
    with pytest.raises(TransientLLMError) as caught:
        _client(sim).label(TEXT, PROMPT, SMALL_LABELS)
    assert caught.value.status_code == 429
    assert caught.value.failure is LLMFailure.RATE_LIMITED
    assert caught.value.retry_after_s == 7.0
    assert sim.stats()["paid_calls"] == 0 and sim.stats()["failed_calls"] == 1


def test_5xx_is_transient(make_simulator: MakeSimulator) -> None:
    sim = make_simulator(faults=FaultRates(server_error=1.0))
    client = _client(sim)
    statuses = set()
    for record in SMALL_RECORDS:
        with pytest.raises(TransientLLMError) as caught:
            client.label(record.text, PROMPT, SMALL_LABELS)
        assert caught.value.failure is LLMFailure.SERVER_ERROR
        assert caught.value.retry_after_s is None
        statuses.add(caught.value.status_code)
    assert statuses == {500, 503}


def test_a_hang_past_the_timeout_is_transient(make_simulator: MakeSimulator) -> None:
    sim = make_simulator(faults=FaultRates(hang=1.0), hang_s=10.0)
    with pytest.raises(TransientLLMError) as caught:
        _client(sim, timeout_s=0.3).label(TEXT, PROMPT, SMALL_LABELS)
    assert caught.value.failure is LLMFailure.TIMEOUT


def test_an_unreachable_endpoint_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = LLMClient(base_url=f"http://127.0.0.1:{port}/v1", api_key="", model="m", timeout_s=1.0)
    with pytest.raises(TransientLLMError) as caught:
        client.label(TEXT, PROMPT, SMALL_LABELS)
    assert caught.value.failure is LLMFailure.CONNECTION


def test_400_is_permanent_and_json_mode_can_be_switched_off(
    make_simulator: MakeSimulator,
) -> None:
    sim = make_simulator(reject_response_format=True)
    with pytest.raises(PermanentLLMError) as caught:
        _client(sim).label(TEXT, PROMPT, SMALL_LABELS)
    assert caught.value.status_code == 400
    assert not isinstance(caught.value, TransientError)
    answer = _client(sim, params=LLMParams(json_mode=False)).label(TEXT, PROMPT, SMALL_LABELS)
    assert answer.label == GOLD


@pytest.mark.parametrize(
    ("client_options", "status"),
    [({"model": "gpt-nonexistent"}, 404), ({"api_key": "wrong"}, 401)],
)
def test_other_refusals_are_permanent(
    make_simulator: MakeSimulator, client_options: dict, status: int
) -> None:
    sim = make_simulator(api_key="right")
    with pytest.raises(PermanentLLMError) as caught:
        _client(sim, **{"api_key": "right", **client_options}).label(TEXT, PROMPT, SMALL_LABELS)
    assert caught.value.status_code == status
    assert caught.value.failure is LLMFailure.REJECTED


def test_an_answer_outside_the_set_gets_one_corrective_retry_then_fails(
    make_simulator: MakeSimulator,
) -> None:
    sim = make_simulator(faults=FaultRates(outside_set=1.0))
    with pytest.raises(LabelOutsideSet) as caught:
        _client(sim).label(TEXT, PROMPT, SMALL_LABELS)
    assert isinstance(caught.value, PermanentError)
    assert "none_of_the_above" in caught.value.raw_answer
    stats = sim.stats()
    assert stats["paid_calls"] == 2 == stats["requests"]
    assert caught.value.tokens_in == stats["prompt_tokens"]
    assert caught.value.tokens_out == stats["completion_tokens"]


def test_no_corrective_retry_when_switched_off(make_simulator: MakeSimulator) -> None:
    sim = make_simulator(faults=FaultRates(malformed=1.0))
    with pytest.raises(LabelOutsideSet):
        _client(sim, corrective_retries=0).label(TEXT, PROMPT, SMALL_LABELS)
    assert sim.stats()["requests"] == 1


@pytest.mark.parametrize("fault", [Fault.OUTSIDE_SET, Fault.MALFORMED])
def test_the_corrective_retry_recovers_a_label(make_simulator: MakeSimulator, fault: Fault) -> None:
    rates = FaultRates(**{fault.value: 0.5})
    # A text whose first answer is faulty and whose second is not (faults are per attempt).
    record = next(
        r
        for r in SMALL_RECORDS
        if rates.decide(0, r.text, 0) is fault and rates.decide(0, r.text, 1) is Fault.NONE
    )
    sim = make_simulator(faults=rates)
    answer = _client(sim).label(record.text, PROMPT, SMALL_LABELS)
    assert answer.label == record.label
    assert answer.calls == 2
    stats = sim.stats()
    assert stats["paid_calls"] == 2
    assert stats["outcomes"] == {fault.value: 1, "ok": 1}
    assert answer.tokens_in == stats["prompt_tokens"]
