"""LLMClient reports every HTTP request it sends to the caller's recorder: answered or not,
usable or not, corrective turns included; the totals equal the simulator's own counts."""

from __future__ import annotations

import contextlib

import pytest

from sieve.labeler.client import LLMClient, PermanentLLMError, TransientLLMError
from sieve.labeler.cost import ModelPrice
from sieve.labeler.parsing import LabelOutsideSet
from sieve.labeler.prompts import load_prompt
from sieve.labeler.sim.faults import Fault, FaultRates
from sieve.labeler.sim.simulator import SimulatorServer
from sieve.labeler.usage import ListRecorder, LLMRequest, RequestOutcome
from tests.unit.labeler.conftest import SMALL_LABELS, SMALL_RECORDS, MakeSimulator

PROMPT = load_prompt("classify-zero-shot")
TEXT = SMALL_RECORDS[0].text
PRICES = {"teacher-sim": ModelPrice(1.0, 2.0)}


def _client(sim: SimulatorServer, **kwargs: object) -> LLMClient:
    options: dict = {"api_key": "", "model": "teacher-sim", "timeout_s": 5.0, **kwargs}
    return LLMClient(base_url=sim.base_url, prices=PRICES, **options)


def _usd(tokens_in: int, tokens_out: int) -> float:
    return (tokens_in * 1.0 + tokens_out * 2.0) / 1e6


def _totals(requests: list[LLMRequest]) -> tuple[int, int, int]:
    return (
        len(requests),
        sum(r.tokens_in for r in requests),
        sum(r.tokens_out for r in requests),
    )


def test_an_answer_is_one_reported_request_with_its_usage_and_cost(
    make_simulator: MakeSimulator,
) -> None:
    sim, recorder = make_simulator(), ListRecorder()
    answer = _client(sim).label(TEXT, PROMPT, SMALL_LABELS, recorder=recorder)
    (request,) = recorder.requests
    stats = sim.stats()
    assert (request.outcome, request.turn, request.status_code) == (RequestOutcome.OK, 1, 200)
    assert (request.model, request.prompt_version) == ("teacher-sim", "classify-zero-shot@1")
    assert (request.tokens_in, request.tokens_out) == (
        stats["prompt_tokens"],
        stats["completion_tokens"],
    )
    assert (answer.tokens_in, answer.tokens_out) == (request.tokens_in, request.tokens_out)
    assert request.cost_usd == pytest.approx(_usd(request.tokens_in, request.tokens_out))
    assert request.cost_usd > 0 and request.latency_ms > 0


@pytest.mark.parametrize(
    ("faults", "outcome"),
    [
        (FaultRates(outside_set=1.0), RequestOutcome.OUTSIDE_SET),
        (FaultRates(malformed=1.0), RequestOutcome.MALFORMED),
    ],
)
def test_unusable_answers_and_their_corrective_turn_are_each_reported(
    make_simulator: MakeSimulator, faults: FaultRates, outcome: RequestOutcome
) -> None:
    sim, recorder = make_simulator(faults=faults), ListRecorder()
    with pytest.raises(LabelOutsideSet) as caught:
        _client(sim).label(TEXT, PROMPT, SMALL_LABELS, recorder=recorder)
    stats = sim.stats()
    assert [(r.turn, r.outcome) for r in recorder.requests] == [(1, outcome), (2, outcome)]
    assert caught.value.outcome is outcome
    assert _totals(recorder.requests) == (
        stats["paid_calls"],
        stats["prompt_tokens"],
        stats["completion_tokens"],
    )
    # The corrective turn carries the whole conversation: it costs more than the first.
    assert recorder.requests[1].tokens_in > recorder.requests[0].tokens_in
    assert sum(r.cost_usd for r in recorder.requests) == pytest.approx(
        _usd(stats["prompt_tokens"], stats["completion_tokens"])
    )


def test_a_corrective_turn_that_succeeds_is_the_second_request(
    make_simulator: MakeSimulator,
) -> None:
    faults = FaultRates(outside_set=0.5)
    # Fault draws are a pure function of (seed, text, attempt): pick a text whose first
    # answer is outside the set and whose second is fine.
    text = next(
        r.text
        for r in SMALL_RECORDS
        if faults.decide(0, r.text, 0) is Fault.OUTSIDE_SET
        and faults.decide(0, r.text, 1) is Fault.NONE
    )
    sim, recorder = make_simulator(faults=faults), ListRecorder()
    answer = _client(sim).label(text, PROMPT, SMALL_LABELS, recorder=recorder)
    assert [(r.turn, r.outcome) for r in recorder.requests] == [
        (1, RequestOutcome.OUTSIDE_SET),
        (2, RequestOutcome.OK),
    ]
    assert answer.calls == 2
    assert (answer.tokens_in, answer.tokens_out) == _totals(recorder.requests)[1:]


@pytest.mark.parametrize(
    ("config", "outcome", "status_code", "error"),
    [
        (
            {"faults": FaultRates(rate_limit=1.0)},
            RequestOutcome.RATE_LIMITED,
            429,
            TransientLLMError,
        ),
        (
            {"faults": FaultRates(server_error=1.0)},
            RequestOutcome.SERVER_ERROR,
            500,
            TransientLLMError,
        ),
        (
            {"faults": FaultRates(hang=1.0), "hang_s": 5.0},
            RequestOutcome.TIMEOUT,
            None,
            TransientLLMError,
        ),
        ({"model": "other-model"}, RequestOutcome.REJECTED, 404, PermanentLLMError),
    ],
)
def test_a_request_without_an_answer_is_reported_without_tokens(
    make_simulator: MakeSimulator,
    config: dict,
    outcome: RequestOutcome,
    status_code: int | None,
    error: type[Exception],
) -> None:
    sim, recorder = make_simulator(**config), ListRecorder()
    with pytest.raises(error):
        _client(sim, timeout_s=0.3).label(TEXT, PROMPT, SMALL_LABELS, recorder=recorder)
    (request,) = recorder.requests
    assert request.outcome is outcome
    assert request.status_code in ({500, 503} if status_code == 500 else {status_code})
    assert (request.tokens_in, request.tokens_out, request.cost_usd) == (0, 0, 0.0)
    assert sim.stats()["requests"] == 1 and sim.stats()["paid_calls"] == 0


def test_a_mix_of_faults_reports_what_the_endpoint_counted(make_simulator: MakeSimulator) -> None:
    faults = FaultRates(rate_limit=0.15, server_error=0.15, malformed=0.15, outside_set=0.15)
    sim, recorder = make_simulator(faults=faults), ListRecorder()
    client = _client(sim)
    for record in SMALL_RECORDS * 3:
        with contextlib.suppress(TransientLLMError, LabelOutsideSet):
            client.label(record.text, PROMPT, SMALL_LABELS, recorder=recorder)
    stats = sim.stats()
    outcomes = {r.outcome for r in recorder.requests}
    assert {RequestOutcome.OK, RequestOutcome.MALFORMED, RequestOutcome.SERVER_ERROR} <= outcomes
    assert _totals(recorder.requests) == (
        stats["requests"],
        stats["prompt_tokens"],
        stats["completion_tokens"],
    )
    assert len({r.request_id for r in recorder.requests}) == len(recorder.requests)


class _BrokenRecorder:
    def record(self, request: LLMRequest) -> None:
        raise RuntimeError("recorder bug")


def test_a_recorder_that_fails_does_not_lose_the_paid_answer(
    make_simulator: MakeSimulator,
) -> None:
    sim = make_simulator()
    answer = _client(sim).label(TEXT, PROMPT, SMALL_LABELS, recorder=_BrokenRecorder())
    assert answer.label == SMALL_RECORDS[0].label
    assert sim.stats()["paid_calls"] == 1
