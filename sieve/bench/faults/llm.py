"""The LLM endpoint of a fault run: the teacher simulator on a fixed port that can go down
(its listening socket and open connections closed: connections are refused) and come back
on the same address. Its counters add up across restarts."""

from __future__ import annotations

from collections import Counter
from types import TracebackType
from typing import Any

from sieve.demo.broker import free_port
from sieve.labeler.sim.endpoint import SimulatorConfig
from sieve.labeler.sim.faults import Fault
from sieve.labeler.sim.noise import Teacher
from sieve.labeler.sim.simulator import SimulatorServer


class SwitchableLLM:
    def __init__(self, teacher: Teacher, config: SimulatorConfig | None = None) -> None:
        self._teacher = teacher
        self._config = config or SimulatorConfig()
        self.port = free_port()
        self._server: SimulatorServer | None = None
        self._before: Counter[str] = Counter()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def counts(self) -> Counter[str]:
        """``paid_calls``, ``requests`` and ``unusable`` (paid answers that were malformed
        or outside the label set), over every start."""
        running = _counts(self._server.stats()) if self._server is not None else Counter()
        return self._before + running

    @property
    def paid_calls(self) -> int:
        return self.counts()["paid_calls"]

    def up(self) -> None:
        if self._server is None:
            self._server = SimulatorServer(self._teacher, self._config, port=self.port).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.stop()  # open connections are cut too
            self._before += _counts(self._server.stats())
            self._server = None

    def __enter__(self) -> SwitchableLLM:
        self.up()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.down()


def _counts(stats: dict[str, Any]) -> Counter[str]:
    outcomes = stats["outcomes"]
    unusable = outcomes.get(Fault.MALFORMED.value, 0) + outcomes.get(Fault.OUTSIDE_SET.value, 0)
    return Counter(
        paid_calls=int(stats["paid_calls"]), requests=int(stats["requests"]), unusable=unusable
    )
