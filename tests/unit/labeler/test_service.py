"""label_message: a cache hit costs no call; failures are never cached."""

from __future__ import annotations

import pytest

from sieve.labeler.cache import InMemoryAnswerCache
from sieve.labeler.client import LLMClient, LLMParams, TransientLLMError
from sieve.labeler.cost import ModelPrice
from sieve.labeler.parsing import LabelOutsideSet
from sieve.labeler.prompts import load_prompt
from sieve.labeler.service import label_message
from sieve.labeler.sim.faults import FaultRates
from sieve.labeler.sim.simulator import SimulatorServer
from tests.unit.labeler.conftest import SMALL_LABELS, SMALL_RECORDS, MakeSimulator

PROMPT = load_prompt("classify-zero-shot")
TEXT, GOLD = SMALL_RECORDS[0].text, SMALL_RECORDS[0].label
PRICES = {"teacher-sim": ModelPrice(1.0, 2.0)}


def _client(sim: SimulatorServer) -> LLMClient:
    return LLMClient(
        base_url=sim.base_url, api_key="", model="teacher-sim", timeout_s=5.0, prices=PRICES
    )


def test_a_cache_hit_costs_no_call(make_simulator: MakeSimulator) -> None:
    sim, cache = make_simulator(), InMemoryAnswerCache()
    client = _client(sim)
    first = label_message(TEXT, client=client, cache=cache, prompt=PROMPT, labels=SMALL_LABELS)
    paid = sim.stats()
    assert not first.cached and first.label == GOLD
    assert first.cost_usd == pytest.approx(
        (first.answer.tokens_in * 1.0 + first.answer.tokens_out * 2.0) / 1e6
    )
    again = label_message(
        f"  {TEXT.upper()} ", client=client, cache=cache, prompt=PROMPT, labels=SMALL_LABELS
    )
    assert again.cached and again.answer == first.answer and again.cost_usd == 0.0
    assert sim.stats() == paid  # not one more request, paid or not
    assert paid["paid_calls"] == 1


def test_a_new_prompt_version_or_parameters_is_a_miss(make_simulator: MakeSimulator) -> None:
    sim, cache = make_simulator(), InMemoryAnswerCache()
    client = _client(sim)
    label_message(TEXT, client=client, cache=cache, prompt=PROMPT, labels=SMALL_LABELS)
    few_shot = load_prompt("classify-few-shot")
    other = label_message(TEXT, client=client, cache=cache, prompt=few_shot, labels=SMALL_LABELS)
    warmer = label_message(
        TEXT,
        client=client,
        cache=cache,
        prompt=PROMPT,
        labels=SMALL_LABELS,
        params=LLMParams(temperature=0.7),
    )
    assert not other.cached and not warmer.cached
    assert other.answer.prompt_version == "classify-few-shot@1"
    assert sim.stats()["paid_calls"] == 3 and len(cache) == 3


@pytest.mark.parametrize(
    ("faults", "error"),
    [
        (FaultRates(rate_limit=1.0), TransientLLMError),
        (FaultRates(server_error=1.0), TransientLLMError),
        (FaultRates(outside_set=1.0), LabelOutsideSet),
    ],
)
def test_failures_are_never_cached(
    make_simulator: MakeSimulator, faults: FaultRates, error: type[Exception]
) -> None:
    sim, cache = make_simulator(faults=faults), InMemoryAnswerCache()
    client = _client(sim)
    for _ in range(2):
        with pytest.raises(error):
            label_message(TEXT, client=client, cache=cache, prompt=PROMPT, labels=SMALL_LABELS)
    assert len(cache) == 0
    assert sim.stats()["distinct_texts"] == 1 and sim.stats()["requests"] >= 2
