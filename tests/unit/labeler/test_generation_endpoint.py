"""The simulator's generation mode over HTTP, as the bootstrap job meets it: faults on
generation requests, verification with the classification prompt, and its CLI options."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest

from sieve.labeler.client import LLMClient
from sieve.labeler.generation import load_generation_prompt
from sieve.labeler.prompts import load_prompt
from sieve.labeler.sim.endpoint import SimulatorConfig
from sieve.labeler.sim.faults import FaultRates
from sieve.labeler.sim.generator import ExampleGenerator, generator_from_args
from sieve.labeler.sim.simulator import SimulatorServer, add_arguments
from sieve.workers.llm.bootstrap import generate_examples
from tests.unit.labeler.conftest import SMALL_LABELS, SMALL_RECORDS, small_teacher


def _server(config: SimulatorConfig, off_label_rate: float = 0.0) -> SimulatorServer:
    generator = ExampleGenerator(SMALL_RECORDS, off_label_rate=off_label_rate, duplicate_rate=0)
    return SimulatorServer(small_teacher(), config, generator=generator)


@pytest.fixture
def client() -> Iterator[list[LLMClient]]:
    made: list[LLMClient] = []
    yield made
    for item in made:
        item.close()


def _client(server: SimulatorServer, made: list[LLMClient]) -> LLMClient:
    made.append(LLMClient(base_url=server.base_url, api_key="", model="teacher-sim", timeout_s=5))
    return made[-1]


def test_malformed_generation_answers_are_counted_and_nothing_is_kept(
    client: list[LLMClient],
) -> None:
    with _server(SimulatorConfig(faults=FaultRates(malformed=1.0))) as server:
        kept, report = generate_examples(
            _client(server, client), load_generation_prompt(), SMALL_LABELS, per_label=2, seed=0
        )
        assert kept == [] and report.stopped is None
        # Two rounds per label (the second asks again for the shortfall), all unusable.
        assert report.unusable_answers == report.calls == 2 * len(SMALL_LABELS)
        assert server.stats()["outcomes"] == {"malformed": 2 * len(SMALL_LABELS)}


def test_verification_keeps_only_what_the_classifier_prompt_agrees_with(
    client: list[LLMClient],
) -> None:
    with _server(SimulatorConfig(), off_label_rate=0.5) as server:
        llm = _client(server, client)
        classify = load_prompt("classify-zero-shot")

        def verify(text: str) -> str:
            return llm.label(text, classify, SMALL_LABELS).label

        prompt = load_generation_prompt()
        checked, report = generate_examples(
            llm, prompt, SMALL_LABELS, per_label=3, seed=1, extra_rounds=0, verify=verify
        )
        unchecked, _ = generate_examples(
            llm, prompt, SMALL_LABELS, per_label=3, seed=1, extra_rounds=0
        )
    gold = {record.text: record.label for record in SMALL_RECORDS}
    assert all(gold[example.text] == example.label for example in checked)
    assert any(gold[example.text] != example.label for example in unchecked)
    assert report.dropped["off_label"] > 0


def test_the_cli_options_build_a_generator_without_the_excluded_texts(tmp_path: Path) -> None:
    pool, stream = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    pool.write_text(
        '{"id": "1", "text": "Where is my card?", "label": "a"}\n'
        '{"id": "2", "text": "Card not here", "label": "a"}\n'
    )
    stream.write_text('{"id": "3", "text": "where is my CARD?", "label": "a"}\n')
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        ["--data", str(pool), "--generate-from", str(pool), "--generate-exclude", str(stream)]
    )
    generator = generator_from_args(args)
    assert generator is not None and generator.pool == {"a": ["Card not here"]}
    assert generator_from_args(parser.parse_args(["--data", str(pool)])) is None
