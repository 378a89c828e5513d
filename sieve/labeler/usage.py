"""What each HTTP request to the LLM cost: the record the client reports, and who hears it.

``LLMClient`` reports every request it sends — answered, refused, timed out, malformed,
outside the label set, and every corrective turn — to a ``RequestRecorder`` as one
``LLMRequest``, right after the request ends and before anything else can fail. The
labeler knows nothing of storage: the workers hand in a recorder that writes the ledger
(``sieve.store.ledger``), tests hand in a list.

Tokens come from the response's ``usage`` when there is a response (a 200, usable or
not); a request without one (429, 5xx, timeout) has none, as the provider bills it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol


class RequestOutcome(StrEnum):
    """How one request ended. The failure kinds share their values with ``LLMFailure``."""

    OK = "ok"
    OUTSIDE_SET = "outside_set"  # a label was named, not one of the set
    MALFORMED = "malformed"  # no label could be read from the answer at all
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    REJECTED = "rejected"  # 4xx other than 408/409/429
    BAD_RESPONSE = "bad_response"  # an answer that is not a completion

    @property
    def answered(self) -> bool:
        """Whether the endpoint answered with a completion (and billed its usage)."""
        return self in _ANSWERED


_ANSWERED = frozenset({RequestOutcome.OK, RequestOutcome.OUTSIDE_SET, RequestOutcome.MALFORMED})


@dataclass(frozen=True)
class LLMRequest:
    """One HTTP request sent to the LLM endpoint."""

    model: str
    prompt_version: str
    # 1 for the first request of a labeling, 2 for its first corrective turn, ...
    turn: int
    outcome: RequestOutcome
    tokens_in: int
    tokens_out: int
    cost_usd: float
    latency_ms: float
    status_code: int | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # Unique per request: the ledger's key, so writing a row twice leaves one.
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)


class RequestRecorder(Protocol):
    def record(self, request: LLMRequest) -> None:
        """Take note of one request. Must not raise: the request is made and paid."""
        ...


class NoRecorder:
    """For tools that account for nothing (benchmarks, one-off checks)."""

    def record(self, request: LLMRequest) -> None:
        pass


class ListRecorder:
    """Every request in a list, in order: for tests and in-process tools."""

    def __init__(self) -> None:
        self.requests: list[LLMRequest] = []

    def record(self, request: LLMRequest) -> None:
        self.requests.append(request)


class RequestGate(Protocol):
    """Admits each request before it is sent (the workers' global limits and budgets).

    ``admit`` gets the request's estimated tokens and cost and returns a ticket, or raises
    (a TransientError) to refuse it; ``settle`` gets the ticket back with what the request
    really used once it ended (0 tokens when it got no answer)."""

    def admit(self, tokens: int, cost_usd: float) -> object: ...

    def settle(self, ticket: object, tokens: int, cost_usd: float) -> None: ...


class OpenGate:
    """No limit: every request is admitted."""

    def admit(self, tokens: int, cost_usd: float) -> object:
        return None

    def settle(self, ticket: object, tokens: int, cost_usd: float) -> None:
        pass


# Tokens a request may use, estimated before it is sent: prompt characters / 3 (English
# runs near 4 characters a token; 3 errs high) plus the completion's cap.
PROMPT_CHARS_PER_TOKEN = 3
UNCAPPED_COMPLETION_TOKENS = 1_024


def estimated_tokens(prompt_chars: int, max_tokens: int | None) -> tuple[int, int]:
    """(tokens in, tokens out) a request is admitted for."""
    completion = max_tokens if max_tokens is not None else UNCAPPED_COMPLETION_TOKENS
    return -(-prompt_chars // PROMPT_CHARS_PER_TOKEN), completion
