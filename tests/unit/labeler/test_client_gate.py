"""LLMClient asks its RequestGate before every request (corrective turns too) and settles
each with what the request used; a refusal sends nothing."""

from __future__ import annotations

import pytest

from sieve.core.errors import TransientError
from sieve.labeler.client import LLMClient, TransientLLMError
from sieve.labeler.cost import ModelPrice
from sieve.labeler.parsing import LabelOutsideSet
from sieve.labeler.prompts import load_prompt
from sieve.labeler.sim.faults import FaultRates
from sieve.labeler.sim.simulator import SimulatorServer
from sieve.labeler.usage import ListRecorder, estimated_tokens
from tests.unit.labeler.conftest import SMALL_LABELS, SMALL_RECORDS, MakeSimulator

PROMPT = load_prompt("classify-zero-shot")
TEXT = SMALL_RECORDS[0].text
PRICES = {"teacher-sim": ModelPrice(1.0, 2.0)}


class Refused(TransientError):
    pass


class RecordingGate:
    """Admits ``room`` requests, then refuses; keeps what it was told."""

    def __init__(self, room: int = 100) -> None:
        self.room = room
        self.admitted: list[tuple[int, float]] = []
        self.settled: list[tuple[int, int, float]] = []

    def admit(self, tokens: int, cost_usd: float) -> int:
        if len(self.admitted) >= self.room:
            raise Refused("no room")
        self.admitted.append((tokens, cost_usd))
        return len(self.admitted)

    def settle(self, ticket: object, tokens: int, cost_usd: float) -> None:
        assert isinstance(ticket, int)
        self.settled.append((ticket, tokens, cost_usd))


def _client(sim: SimulatorServer, gate: RecordingGate) -> LLMClient:
    return LLMClient(
        base_url=sim.base_url,
        api_key="",
        model="teacher-sim",
        timeout_s=5.0,
        prices=PRICES,
        gate=gate,
    )


def test_each_request_is_admitted_on_an_upper_estimate_and_settled_with_its_usage(
    make_simulator: MakeSimulator,
) -> None:
    sim, gate, recorder = make_simulator(), RecordingGate(), ListRecorder()
    _client(sim, gate).label(TEXT, PROMPT, SMALL_LABELS, recorder=recorder)
    ((tokens, cost),) = gate.admitted
    (request,) = recorder.requests
    assert gate.settled == [
        (1, request.tokens_in + request.tokens_out, pytest.approx(request.cost_usd))
    ]
    # The estimate errs high, so a budget is not passed by more than one request.
    assert tokens >= request.tokens_in + request.tokens_out
    assert cost >= request.cost_usd
    prompt_chars = sum(len(m["content"]) for m in PROMPT.render(TEXT, SMALL_LABELS))
    assert tokens == sum(estimated_tokens(prompt_chars, 512))


def test_a_corrective_turn_is_a_request_of_its_own(make_simulator: MakeSimulator) -> None:
    sim, gate = make_simulator(faults=FaultRates(outside_set=1.0)), RecordingGate()
    with pytest.raises(LabelOutsideSet):
        _client(sim, gate).label(TEXT, PROMPT, SMALL_LABELS)
    assert [ticket for ticket, _, _ in gate.settled] == [1, 2]
    assert gate.admitted[1][0] > gate.admitted[0][0]  # the conversation grew


def test_a_refused_request_is_not_sent(make_simulator: MakeSimulator) -> None:
    sim, gate = make_simulator(), RecordingGate(room=0)
    with pytest.raises(Refused):
        _client(sim, gate).label(TEXT, PROMPT, SMALL_LABELS)
    assert sim.stats()["requests"] == 0 and gate.settled == []


def test_a_request_without_an_answer_is_settled_at_nothing(make_simulator: MakeSimulator) -> None:
    sim, gate = make_simulator(faults=FaultRates(server_error=1.0)), RecordingGate()
    with pytest.raises(TransientLLMError):
        _client(sim, gate).label(TEXT, PROMPT, SMALL_LABELS)
    assert gate.settled == [(1, 0, 0.0)]
