"""Prompt A/B state on SQLite and PostgreSQL (sieve.store.prompt_arms) and the chooser over
it (sieve.workers.llm.prompt_choice): assignments stick, rewards come from human labels
only, a winner is promoted once and then takes every new message."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sieve.core.settings import BanditSettings
from sieve.labeler.prompts import load_prompt
from sieve.labeler.usage import LLMRequest, RequestOutcome
from sieve.store import prompt_arms
from sieve.store.engine import make_engine
from sieve.store.labels import GOLD, LabelRecord, LabelStatus, save_label
from sieve.store.ledger import LedgerRecorder
from sieve.store.prompt_arms import ArmStatus
from sieve.store.repository import MessageRecord, save_messages
from sieve.workers.llm.prompt_choice import PromptChooser, load_prompts

A, B = "classify-zero-shot@1", "classify-few-shot@1"
POOL = prompt_arms.pool_of([B, A])


@pytest.fixture
def engine(store_url):
    engine = make_engine(store_url)
    save_messages(engine, [MessageRecord(id=f"m{i}", text=f"text {i}") for i in range(200)])
    yield engine
    engine.dispose()


def _llm(message_id: str, label: str, prompt: str, model: str = "teacher-sim") -> LabelRecord:
    return LabelRecord(message_id, "llm", prompt, model, label, LabelStatus.OK)


def _human(message_id: str, label: str) -> LabelRecord:
    return LabelRecord(message_id, "human", GOLD, "", label, LabelStatus.OK)


def test_the_first_assignment_sticks(engine) -> None:
    assert f"{B},{A}" == POOL
    assert prompt_arms.assign(engine, POOL, "m1", A) == A
    assert prompt_arms.assign(engine, POOL, "m1", B) == A
    assert prompt_arms.assign(engine, "other-pool", "m1", B) == B
    assert prompt_arms.assignment_counts(engine, POOL) == {A: 1}


def test_rewards_count_agreement_with_human_labels_only(engine) -> None:
    for i, (label_a, gold) in enumerate([("x", "x"), ("x", "y"), ("y", "y")]):
        save_label(engine, _human(f"m{i}", gold))
        save_label(engine, _llm(f"m{i}", label_a, A))
    save_label(engine, _llm("m0", "y", B))  # wrong against gold
    save_label(engine, _llm("m9", "x", B))  # no human label: no reward
    save_label(engine, _llm("m1", "y", A, model="another-llm"))
    rewards = prompt_arms.rewards(engine, [A, B], "teacher-sim")
    assert rewards == {A: prompt_arms.Rewards(2, 1), B: prompt_arms.Rewards(0, 1)}
    assert prompt_arms.rewards(engine, [A], None)[A] == prompt_arms.Rewards(3, 1)


def test_a_pool_promotes_one_winner_once(engine) -> None:
    prompt_arms.ensure_arms(engine, POOL, [A, B])
    prompt_arms.ensure_arms(engine, POOL, [A, B])
    assert [arm.status for arm in prompt_arms.arms(engine, POOL)] == [ArmStatus.ACTIVE] * 2
    assert prompt_arms.promote(engine, POOL, B, "B is better")
    assert not prompt_arms.promote(engine, POOL, A, "too late")
    assert prompt_arms.promoted_version(engine, POOL) == B
    states = {arm.prompt_version: arm for arm in prompt_arms.arms(engine, POOL)}
    assert states[B].status is ArmStatus.PROMOTED and states[B].reason == "B is better"
    assert states[A].status is ArmStatus.RETIRED


def test_version_figures_join_labels_rewards_and_the_ledger(engine) -> None:
    save_label(engine, _human("m0", "x"))
    save_label(engine, _llm("m0", "x", A))
    save_label(engine, _llm("m1", "x", A))
    ledger = LedgerRecorder(engine)
    for latency_ms, outcome in ((100.0, RequestOutcome.OK), (300.0, RequestOutcome.OK)):
        request = LLMRequest(
            model="teacher-sim",
            prompt_version=A,
            turn=1,
            outcome=outcome,
            tokens_in=10,
            tokens_out=5,
            cost_usd=0.25,
            latency_ms=latency_ms,
            status_code=200,
            started_at=datetime.now(UTC),
        )
        ledger.for_message("m0").record(request)
    (figures,) = prompt_arms.version_figures(engine)
    assert (figures.prompt_version, figures.labels, figures.correct, figures.wrong) == (A, 2, 1, 0)
    assert figures.accuracy == 1.0 and figures.requests == 2
    assert figures.cost_usd == pytest.approx(0.5) and figures.mean_latency_ms == 200.0


class _Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_chooser_shares_traffic_then_promotes_the_better_version(engine) -> None:
    clock = _Clock()
    bandit = BanditSettings(confidence=0.95, min_rewards=10, refresh_s=5.0, seed=0)
    chooser = PromptChooser(
        engine, load_prompts([A, B]), llm_model="teacher-sim", bandit=bandit, clock=clock
    )
    first = {f"m{i}": chooser.for_message(f"m{i}").version_id for i in range(20)}
    assert set(first.values()) == {A, B}  # no rewards yet: both get traffic
    assert {f"m{i}": chooser.for_message(f"m{i}").version_id for i in range(20)} == first
    # Gold answers: B right on every message, A wrong on most.
    for i, (message_id, version) in enumerate(first.items()):
        save_label(engine, _human(message_id, "x"))
        save_label(engine, _llm(message_id, "x" if version == B or i % 4 == 0 else "y", version))
    for i in range(20, 60):
        save_label(engine, _human(f"m{i}", "x"))
        version = A if i % 2 else B
        save_label(engine, _llm(f"m{i}", "x" if version == B or i % 4 == 0 else "y", version))
    assert chooser.promoted is None
    chooser.for_message("m100")  # within refresh_s: the rewards are not read yet
    assert chooser.promoted is None
    clock.now = 10.0
    assert chooser.for_message("m101").version_id == B
    assert chooser.promoted == B and prompt_arms.promoted_version(engine, chooser.pool) == B
    assert {chooser.for_message(f"m{i}").version_id for i in range(102, 130)} == {B}
    assert chooser.for_message("m0").version_id == first["m0"]  # an old assignment stands


def test_a_single_prompt_touches_no_store(engine) -> None:
    chooser = PromptChooser(
        engine, [load_prompt("classify-zero-shot")], llm_model="m", bandit=BanditSettings()
    )
    assert chooser.single and chooser.for_message("m1").version_id == A
    assert prompt_arms.arms(engine) == [] and prompt_arms.assignment_counts(engine, A) == {}
