"""Where a retraining run's time goes: seconds per phase, in the order the phases ran.

A run records them in its metrics (``phase_s``); `sieve bench retrain` prints them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum


class Phase(StrEnum):
    """The phases of one retraining run (sieve.workers.distill.retrain)."""

    READ = "read"  # the labels from the store, the split
    TRAIN = "train"  # featurise, fit, the reference embeddings
    CALIBRATE = "calibrate"  # held-out predictions, nearest examples, temperature, thresholds
    EXPORT = "export"  # the artefact in the registry (ONNX export)
    GATE = "gate"  # both models on the held-out slice, the paired tests
    RECORD = "record"  # the version and the run in the store


class PhaseClock:
    """Accumulates wall-clock seconds per phase (a phase entered twice adds up), and the
    process's CPU seconds in them: on a shared machine the wall clock also counts the
    time other processes held the cores."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.cpu_seconds: dict[str, float] = {}

    @contextmanager
    def phase(self, name: Phase) -> Iterator[None]:
        started, cpu_started = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
            self.seconds[name] = self.seconds.get(name, 0.0) + elapsed
            self.cpu_seconds[name] = self.cpu_seconds.get(name, 0.0) + cpu

    def rounded(self) -> dict[str, float]:
        """The seconds so far, to the millisecond (for a run's stored metrics)."""
        return {name: round(value, 3) for name, value in self.seconds.items()}
