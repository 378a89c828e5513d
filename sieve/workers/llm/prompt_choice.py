"""Which prompt version labels a message: one template, or an A/B between several.

With one template (``SIEVE_LLM__PROMPTS`` unset) every message gets it and the store is
not touched. With several, the chooser runs the bandit (sieve.labeler.bandit) over the
store's state (sieve.store.prompt_arms):

1. a message keeps the version assigned to it before (a retried or redelivered task);
2. once a version of the pool is promoted, every new message gets it;
3. otherwise Thompson sampling on the rewards picks one, and the pick is stored — the
   first writer wins, so two copies of a task label with the same version.

The rewards and the promotion are re-read at most every ``refresh_s`` (they change
slowly: a reward needs a human label); each refresh also checks for a winner and, when
one is ahead with the set confidence, promotes it (logged, stored, shown in /stats).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

import numpy as np
from sqlalchemy import Engine

from sieve.core.errors import ConfigError
from sieve.core.settings import BanditSettings
from sieve.labeler.bandit import ArmStats, promotion, thompson_pick
from sieve.labeler.prompts import PromptTemplate, load_prompt
from sieve.store import prompt_arms

logger = logging.getLogger(__name__)


def load_prompts(names: Sequence[str]) -> list[PromptTemplate]:
    """Templates by name; ``name@version`` must name the file's version."""
    templates = []
    for entry in names:
        name, _, version = entry.partition("@")
        template = load_prompt(name)
        if version and template.version_id != entry:
            raise ConfigError(f"prompt {entry!r}: the file holds {template.version_id}")
        templates.append(template)
    if len({template.version_id for template in templates}) != len(templates):
        raise ConfigError(f"a prompt is named twice in {list(names)}")
    return templates


class PromptChooser:
    def __init__(
        self,
        engine: Engine,
        prompts: Sequence[PromptTemplate],
        *,
        llm_model: str,
        bandit: BanditSettings,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not prompts:
            raise ConfigError("no prompt to label with")
        self._engine = engine
        self.prompts = {prompt.version_id: prompt for prompt in prompts}
        self.pool = prompt_arms.pool_of(list(self.prompts))
        self._llm_model = llm_model
        self._bandit = bandit
        self._clock = clock
        self._rng = np.random.default_rng(bandit.seed)
        self._lock = threading.Lock()
        self._checked_at: float | None = None
        self._promoted: str | None = None
        self._arms: list[ArmStats] = []

    @property
    def single(self) -> bool:
        return len(self.prompts) == 1

    def for_message(self, message_id: str) -> PromptTemplate:
        if self.single:
            return next(iter(self.prompts.values()))
        stored = prompt_arms.assigned(self._engine, self.pool, message_id)
        if stored in self.prompts:
            return self.prompts[stored]
        with self._lock:
            self._refresh()
            version = self._promoted or thompson_pick(
                self._arms,
                self._rng,
                min_rewards=self._bandit.min_rewards,
                explore_share=self._bandit.explore_share,
            )
        return self.prompts[prompt_arms.assign(self._engine, self.pool, message_id, version)]

    def refresh(self, *, force: bool = False) -> None:
        with self._lock:
            self._refresh(force=force)

    @property
    def promoted(self) -> str | None:
        return self._promoted

    def _refresh(self, *, force: bool = False) -> None:
        now = self._clock()
        if (
            not force
            and self._checked_at is not None
            and now - self._checked_at < self._bandit.refresh_s
        ):
            return
        if self._checked_at is None:
            prompt_arms.ensure_arms(self._engine, self.pool, list(self.prompts))
        self._checked_at = now
        self._promoted = prompt_arms.promoted_version(self._engine, self.pool)
        if self._promoted is not None:
            return
        scored = prompt_arms.rewards(self._engine, list(self.prompts), self._llm_model)
        self._arms = [
            ArmStats(version, scored[version].correct, scored[version].wrong)
            if version in scored
            else ArmStats(version)
            for version in sorted(self.prompts)
        ]
        won = promotion(
            self._arms,
            self._rng,
            confidence=self._bandit.confidence,
            min_rewards=self._bandit.min_rewards,
            draws=self._bandit.draws,
        )
        if won is None:
            return
        reason = won.reason(self._bandit.confidence)
        if prompt_arms.promote(self._engine, self.pool, won.winner, reason):
            logger.warning("prompt %s promoted in pool %s: %s", won.winner, self.pool, reason)
        self._promoted = prompt_arms.promoted_version(self._engine, self.pool)
