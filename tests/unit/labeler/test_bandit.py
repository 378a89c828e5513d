"""The bandit's rules (sieve.labeler.bandit): Thompson sampling moves the traffic to the
better arm, and no arm is promoted before every arm has its minimum of rewards."""

from __future__ import annotations

import numpy as np
import pytest

from sieve.labeler.bandit import ArmStats, probability_best, promotion, thompson_pick


def _run(true_accuracy: dict[str, float], steps: int, seed: int) -> list[str]:
    """Simulated traffic: each pick earns a reward drawn from the arm's true accuracy."""
    rng = np.random.default_rng(seed)
    correct = dict.fromkeys(true_accuracy, 0)
    wrong = dict.fromkeys(true_accuracy, 0)
    picks = []
    for _ in range(steps):
        arms = [ArmStats(v, correct[v], wrong[v]) for v in sorted(true_accuracy)]
        version = thompson_pick(arms, rng)
        picks.append(version)
        if rng.random() < true_accuracy[version]:
            correct[version] += 1
        else:
            wrong[version] += 1
    return picks


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_thompson_sampling_moves_the_traffic_to_the_better_arm(seed: int) -> None:
    picks = _run({"a@1": 0.70, "b@1": 0.85, "c@1": 0.60}, steps=1_500, seed=seed)
    first, last = picks[:20], picks[-500:]
    assert len(set(first)) == 3  # the start explores every arm
    assert last.count("b@1") / len(last) > 0.9


def test_with_no_rewards_the_traffic_is_shared() -> None:
    rng = np.random.default_rng(0)
    arms = [ArmStats("a@1"), ArmStats("b@1")]
    picks = [thompson_pick(arms, rng) for _ in range(2_000)]
    assert 0.45 < picks.count("a@1") / len(picks) < 0.55


def test_one_arm_is_always_picked_and_none_is_an_error() -> None:
    rng = np.random.default_rng(0)
    assert thompson_pick([ArmStats("only@1", 0, 50)], rng) == "only@1"
    with pytest.raises(ValueError):
        thompson_pick([], rng)


def test_arms_below_the_minimum_keep_the_exploration_share() -> None:
    rng = np.random.default_rng(0)
    arms = [ArmStats("a@1", 2, 8), ArmStats("b@1", 300, 20), ArmStats("c@1", 1, 9)]
    plain = [thompson_pick(arms, rng) for _ in range(2_000)]
    assert plain.count("b@1") / len(plain) > 0.99  # Thompson alone starves a and c
    floored = [thompson_pick(arms, rng, min_rewards=30, explore_share=0.2) for _ in range(2_000)]
    for starved in ("a@1", "c@1"):
        assert 0.07 < floored.count(starved) / len(floored) < 0.13
    # Once every arm has its minimum, the floor is gone.
    done = [ArmStats("a@1", 22, 8), ArmStats("b@1", 300, 20), ArmStats("c@1", 21, 9)]
    picks = [thompson_pick(done, rng, min_rewards=30, explore_share=0.2) for _ in range(1_000)]
    assert picks.count("b@1") / len(picks) > 0.99


def test_probability_best_follows_the_evidence() -> None:
    rng = np.random.default_rng(0)
    clear = probability_best([ArmStats("a@1", 60, 40), ArmStats("b@1", 90, 10)], rng)
    assert sum(clear.values()) == pytest.approx(1.0)
    assert clear["b@1"] > 0.99
    even = probability_best([ArmStats("a@1", 8, 2), ArmStats("b@1", 8, 2)], rng)
    assert 0.4 < even["a@1"] < 0.6


def test_no_promotion_before_every_arm_has_the_minimum() -> None:
    rng = np.random.default_rng(0)
    lopsided = [ArmStats("a@1", 0, 29), ArmStats("b@1", 200, 0)]
    assert promotion(lopsided, rng, confidence=0.95, min_rewards=30) is None
    enough = [ArmStats("a@1", 0, 30), ArmStats("b@1", 200, 0)]
    won = promotion(enough, rng, confidence=0.95, min_rewards=30)
    assert won is not None and won.winner == "b@1" and won.rewards == 230
    assert won.probability_best >= 0.95
    assert "after 230 rewards" in won.reason(0.95)


def test_no_promotion_while_the_arms_are_close() -> None:
    rng = np.random.default_rng(0)
    close = [ArmStats("a@1", 40, 20), ArmStats("b@1", 42, 18)]
    assert promotion(close, rng, confidence=0.95, min_rewards=30) is None
    assert promotion([ArmStats("a@1", 100, 0)], rng, confidence=0.95, min_rewards=1) is None


def test_a_simulated_run_promotes_the_better_arm() -> None:
    rng = np.random.default_rng(7)
    truth = {"a@1": 0.70, "b@1": 0.85}
    correct, wrong = dict.fromkeys(truth, 0), dict.fromkeys(truth, 0)
    for step in range(5_000):
        arms = [ArmStats(v, correct[v], wrong[v]) for v in sorted(truth)]
        won = promotion(arms, rng, confidence=0.95, min_rewards=30) if step % 10 == 0 else None
        if won is not None:
            break
        version = thompson_pick(arms, rng, min_rewards=30, explore_share=0.2)
        if rng.random() < truth[version]:
            correct[version] += 1
        else:
            wrong[version] += 1
    assert won is not None and won.winner == "b@1"
    assert step < 5_000 and min(correct[v] + wrong[v] for v in truth) >= 30
