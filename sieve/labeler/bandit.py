"""Prompt A/B by Thompson sampling: which prompt version labels the next message, and
when one has won.

Each active prompt version is an arm with a Beta(1 + correct, 1 + wrong) posterior over
its accuracy. The reward is one the operator can trust: the arm's LLM label agreed (or
not) with a human label of the same message — a gold item sent through the LLM, or a
human review of an answer — never with the student (sieve.store.prompt_arms counts
them). The rules, pure of any store; randomness is handed in by the caller:

1. **Pick** (``thompson_pick``): draw one accuracy from each arm's Beta, take the
   highest. Arms that look better get more traffic, and an arm with few rewards still
   gets some while its posterior is wide. Thompson sampling alone starves a clearly worse
   arm (measured by `sieve bench prompts`: 0-8% of the traffic; no promotion after 500
   messages), so reaching the minimum of rule 2 takes very long. Hence an exploration
   floor: while some arms are below ``min_rewards``, a share ``explore_share`` of the
   picks goes to them (uniformly).
2. **Promote** (``promotion``): once every arm has at least ``min_rewards`` rewards, and
   the probability that one arm is the best — estimated by ``draws`` joint draws from the
   Betas — reaches ``confidence``, that arm wins: it becomes the only active version.
   No promotion before the minimum, however lopsided the first rewards look.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_DRAWS = 4_000


@dataclass(frozen=True)
class ArmStats:
    version: str
    correct: int = 0
    wrong: int = 0

    @property
    def rewards(self) -> int:
        return self.correct + self.wrong

    @property
    def posterior_mean(self) -> float:
        return (1 + self.correct) / (2 + self.rewards)


@dataclass(frozen=True)
class Promotion:
    winner: str
    probability_best: float
    rewards: int  # over every arm, when the winner was named

    def reason(self, confidence: float) -> str:
        return (
            f"P(best) {self.probability_best:.3f} >= {confidence:.3f} after {self.rewards} rewards"
        )


def _draws(arms: Sequence[ArmStats], rng: np.random.Generator, size: int) -> np.ndarray:
    """[size, len(arms)] accuracies drawn from each arm's posterior."""
    correct = np.array([arm.correct for arm in arms], dtype=np.float64)
    wrong = np.array([arm.wrong for arm in arms], dtype=np.float64)
    drawn: np.ndarray = rng.beta(1 + correct, 1 + wrong, size=(size, len(arms)))
    return drawn


def thompson_pick(
    arms: Sequence[ArmStats],
    rng: np.random.Generator,
    *,
    min_rewards: int = 0,
    explore_share: float = 0.0,
) -> str:
    """The version to use for the next message (rule 1)."""
    if not arms:
        raise ValueError("no prompt version to choose from")
    if len(arms) == 1:
        return arms[0].version
    short = [arm for arm in arms if arm.rewards < min_rewards]
    if short and len(short) < len(arms) and rng.random() < explore_share:
        return short[int(rng.integers(len(short)))].version
    return arms[int(np.argmax(_draws(arms, rng, 1)[0]))].version


def probability_best(
    arms: Sequence[ArmStats], rng: np.random.Generator, draws: int = DEFAULT_DRAWS
) -> dict[str, float]:
    """Per version, the share of joint posterior draws in which it is the best arm."""
    if len(arms) == 1:
        return {arms[0].version: 1.0}
    winners = np.argmax(_draws(arms, rng, draws), axis=1)
    counts = np.bincount(winners, minlength=len(arms))
    return {arm.version: float(counts[i]) / draws for i, arm in enumerate(arms)}


def promotion(
    arms: Sequence[ArmStats],
    rng: np.random.Generator,
    *,
    confidence: float,
    min_rewards: int,
    draws: int = DEFAULT_DRAWS,
) -> Promotion | None:
    """The winner, if there is one yet (rule 2); None while the test goes on."""
    if len(arms) < 2 or min(arm.rewards for arm in arms) < min_rewards:
        return None
    best = probability_best(arms, rng, draws)
    version = max(best, key=lambda name: best[name])
    if best[version] < confidence:
        return None
    return Promotion(version, best[version], sum(arm.rewards for arm in arms))
