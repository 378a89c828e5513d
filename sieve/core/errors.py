"""One error hierarchy. Transient failures are retried; permanent ones never are."""

from __future__ import annotations


class SieveError(Exception):
    """Base of every error Sieve raises on purpose."""


class TransientError(SieveError):
    """Worth retrying later: a broker, database or LLM endpoint that is unavailable."""


class KafkaUnavailable(TransientError):
    """The Kafka broker or client failed for a reason other than a record's size: not
    reachable, a timeout, a rebalance under a commit (translated in
    sieve.workers.kafka_adapter)."""


class PermanentError(SieveError):
    """Retrying cannot help: bad input, a label outside the set, a missing artefact."""


class BadMessage(PermanentError):
    """A stream message that cannot be processed; it goes to the dead-letter topic."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class ConfigError(PermanentError):
    """A setting or argument that cannot work."""


class ModelNotFound(PermanentError):
    """A model version that is not registered or whose artefact folder is missing."""


class StoreRejected(PermanentError):
    """The database refused what it was given (a value it cannot hold, a constraint): the
    same rows would be refused again, so the records behind them go to the DLQ."""


class RecordTooLarge(PermanentError):
    """A Kafka record larger than the producer or the broker accepts."""
