"""The LLM endpoint of a fault run: the teacher simulator on a fixed port that can go down
(its listening socket closed: connections are refused) and come back on the same address.
The paid-call counter is kept across restarts."""

from __future__ import annotations

from types import TracebackType

from sieve.demo.broker import free_port
from sieve.labeler.sim.endpoint import SimulatorConfig
from sieve.labeler.sim.noise import Teacher
from sieve.labeler.sim.simulator import SimulatorServer


class SwitchableLLM:
    def __init__(self, teacher: Teacher, config: SimulatorConfig | None = None) -> None:
        self._teacher = teacher
        self._config = config or SimulatorConfig()
        self.port = free_port()
        self._server: SimulatorServer | None = None
        self._paid_before = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def paid_calls(self) -> int:
        running = self._server.stats()["paid_calls"] if self._server is not None else 0
        return self._paid_before + int(running)

    def up(self) -> None:
        if self._server is None:
            self._server = SimulatorServer(self._teacher, self._config, port=self.port).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.stop()  # open connections are cut too
            self._paid_before += int(self._server.stats()["paid_calls"])
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
