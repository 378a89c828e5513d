"""What can go wrong at the simulated endpoint, and how long it takes to answer.

Fault decisions are a hash of (seed, text, attempt number for that text): reproducible
from run to run, yet a retry of the same text is a fresh draw and can succeed — a fault
that depended on the text alone would fail that text forever.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from enum import StrEnum

from sieve.core.errors import ConfigError
from sieve.labeler.sim.noise import unit_interval


class Fault(StrEnum):
    NONE = "none"
    RATE_LIMIT = "rate_limit"  # 429 with Retry-After
    SERVER_ERROR = "server_error"  # 500 or 503
    HANG = "hang"  # no answer until long after the client gave up
    MALFORMED = "malformed"  # 200, but the content is broken JSON
    OUTSIDE_SET = "outside_set"  # 200, but the label is not in the set


@dataclass(frozen=True)
class FaultRates:
    """Probability of each fault per request; together at most 1."""

    rate_limit: float = 0.0
    server_error: float = 0.0
    hang: float = 0.0
    malformed: float = 0.0
    outside_set: float = 0.0

    def __post_init__(self) -> None:
        rates = [getattr(self, field.name) for field in fields(self)]
        if any(not 0.0 <= rate <= 1.0 for rate in rates):
            raise ConfigError(f"fault rates must be within [0, 1]: {self}")
        if sum(rates) > 1.0 + 1e-9:
            raise ConfigError(f"fault rates add up to more than 1: {self}")

    def decide(self, seed: int, key: str, attempt: int) -> Fault:
        """The fault (or none) for request number ``attempt`` (0-based) about ``key``."""
        draw = unit_interval(seed, "fault", key, attempt)
        edge = 0.0
        for field in fields(self):
            edge += getattr(self, field.name)
            if draw < edge:
                return Fault(field.name)
        return Fault.NONE


@dataclass(frozen=True)
class LatencySpec:
    """Answer latency, uniform in [low_ms, high_ms]."""

    low_ms: float = 0.0
    high_ms: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.low_ms <= self.high_ms:
            raise ConfigError(f"latency needs 0 <= low <= high, got {self}")

    @classmethod
    def parse(cls, spec: str) -> LatencySpec:
        """``"100"`` (fixed), ``"50-150"`` (uniform), or ``"100~20"`` (100 ± 20, uniform)."""
        text = spec.strip()
        number = r"(\d+(?:\.\d+)?)"
        if match := re.fullmatch(number, text):
            value = float(match.group(1))
            return cls(value, value)
        if match := re.fullmatch(rf"{number}\s*-\s*{number}", text):
            return cls(float(match.group(1)), float(match.group(2)))
        if match := re.fullmatch(rf"{number}\s*~\s*{number}", text):
            mean, jitter = float(match.group(1)), float(match.group(2))
            return cls(max(0.0, mean - jitter), mean + jitter)
        raise ConfigError(f"latency {spec!r}: expected MS, LOW-HIGH or MEAN~JITTER")

    def sample_s(self, draw: float) -> float:
        """The latency for a draw in [0, 1), in seconds."""
        return (self.low_ms + (self.high_ms - self.low_ms) * draw) / 1000
