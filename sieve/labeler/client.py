"""The LLM labeler: one OpenAI-compatible chat call per text, validated against the label set.

Works with any endpoint that speaks the chat completions API (OpenAI, vLLM, Ollama,
llama.cpp server, the teacher simulator). The SDK's own retries are off: retrying is the
caller's decision (a Celery task with a countdown from ``backoff_s``), so every call
made here is visible and counted. Errors are translated at this boundary, by exception
type and status code only:

- 408, 409, 429, 5xx, timeouts, connection errors → ``TransientLLMError`` (with
  ``retry_after_s`` from the ``Retry-After`` / ``retry-after-ms`` header when present);
- every other status (400, 401, 403, 404, 422, ...) → ``PermanentLLMError``;
- an answer outside the label set → one corrective retry in the same conversation,
  then ``LabelOutsideSet`` (permanent).

Every request sent — answered or not, corrective turns included — is reported once, as it
ends, to the metrics and to the caller's ``RequestRecorder`` (usage.py) with its outcome,
the tokens of the response's ``usage`` and their cost from the client's price table.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Generic, TypeVar, cast

import openai
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam

from sieve.core import metrics
from sieve.core.errors import ConfigError, PermanentError, TransientError
from sieve.core.settings import LLMSettings
from sieve.labeler.answer import LLMAnswer
from sieve.labeler.cost import DEFAULT_PRICES, PriceTable, cost_usd, parse_prices
from sieve.labeler.parsing import LabelOutsideSet, parse_answer
from sieve.labeler.prompts import ChatMessage, FewShotExample, PromptTemplate
from sieve.labeler.usage import (
    LLMRequest,
    NoRecorder,
    OpenGate,
    RequestGate,
    RequestOutcome,
    RequestRecorder,
    estimated_tokens,
)

logger = logging.getLogger(__name__)

# The openai SDK refuses an empty key; local servers (Ollama, vLLM, the simulator) need none.
_NO_KEY = "no-key"
_TRANSIENT_STATUS = frozenset({408, 409, 429})


class LLMFailure(StrEnum):
    """Why a call failed: the outcome label for logs and metrics."""

    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    REJECTED = "rejected"
    BAD_RESPONSE = "bad_response"


class TransientLLMError(TransientError):
    """Worth retrying after ``backoff_s(attempt, ..., retry_after_s=self.retry_after_s)``."""

    def __init__(
        self,
        message: str,
        *,
        failure: LLMFailure,
        status_code: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.failure = failure
        self.status_code = status_code
        self.retry_after_s = retry_after_s


class PermanentLLMError(PermanentError):
    """The endpoint refused the request as such (bad request, auth, unknown model)."""

    def __init__(
        self, message: str, *, failure: LLMFailure, status_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.failure = failure
        self.status_code = status_code


@dataclass(frozen=True)
class LLMParams:
    """Request parameters that change the answer: part of the cache key."""

    temperature: float = 0.0
    max_tokens: int | None = 512
    # Ask for response_format={"type": "json_object"}; some endpoints reject it (400).
    json_mode: bool = True
    seed: int | None = None

    def canonical_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class _Reply:
    """A completion as read from one answered request."""

    raw: str
    tokens_in: int
    tokens_out: int
    response_model: str
    latency_s: float


T = TypeVar("T")


@dataclass(frozen=True)
class Completion(Generic[T]):
    """A free-form answer (``LLMClient.complete``), read, with what it cost."""

    value: T
    tokens_in: int
    tokens_out: int
    cost_usd: float


class LLMClient:
    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        model: str,
        timeout_s: float,
        params: LLMParams | None = None,
        corrective_retries: int = 1,
        prices: PriceTable = DEFAULT_PRICES,
        gate: RequestGate | None = None,
    ) -> None:
        if corrective_retries < 0:
            raise ConfigError("corrective_retries must be >= 0")
        self.model = model
        self.params = params or LLMParams()
        self.corrective_retries = corrective_retries
        self.prices = prices
        # Global limits and budgets: admits each request, corrective turns included.
        self.gate: RequestGate = gate or OpenGate()
        self._openai = openai.OpenAI(
            base_url=base_url, api_key=api_key or _NO_KEY, timeout=timeout_s, max_retries=0
        )

    @classmethod
    def from_settings(cls, llm: LLMSettings, params: LLMParams | None = None) -> LLMClient:
        return cls(
            base_url=llm.base_url,
            api_key=llm.api_key.get_secret_value(),
            model=llm.model,
            timeout_s=llm.timeout_s,
            params=params,
            prices={**DEFAULT_PRICES, **parse_prices(llm.prices_usd_per_1m)},
        )

    def cost_usd(self, tokens_in: int, tokens_out: int) -> float:
        return cost_usd(self.model, tokens_in, tokens_out, self.prices)

    def close(self) -> None:
        self._openai.close()

    def label(
        self,
        text: str,
        prompt: PromptTemplate,
        labels: Sequence[str],
        params: LLMParams | None = None,
        recorder: RequestRecorder | None = None,
        retrieved: Sequence[FewShotExample] = (),
    ) -> LLMAnswer:
        """The label of ``text``; raises TransientLLMError, PermanentLLMError, LabelOutsideSet.
        Every request made is reported to ``recorder`` before this returns or raises.
        ``retrieved``: labeled examples for a prompt with ``retrieval_k``."""
        params = params or self.params
        report = _Report(self, prompt.version_id, recorder or NoRecorder())
        messages = prompt.render(text, labels, retrieved)
        started = time.perf_counter()
        tokens_in = tokens_out = 0
        for turn in range(1, self.corrective_retries + 2):
            reply = self._request(messages, params, report, turn)
            tokens_in, tokens_out = tokens_in + reply.tokens_in, tokens_out + reply.tokens_out
            try:
                parsed = parse_answer(reply.raw, labels)
            except LabelOutsideSet as exc:
                report.answered(turn, exc.outcome, reply)
                logger.warning(
                    "%s answer %d of %d outside the label set: %s",
                    prompt.version_id,
                    turn,
                    self.corrective_retries + 1,
                    exc.reason,
                )
                failure = exc
                messages = [*messages, *_corrective_turn(reply.raw, exc.reason, labels)]
                continue
            report.answered(turn, RequestOutcome.OK, reply)
            return LLMAnswer(
                label=parsed.label,
                rationale=parsed.rationale,
                raw_answer=reply.raw,
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                latency_ms=round((time.perf_counter() - started) * 1000, 1),
                model=self.model,
                prompt_version=prompt.version_id,
                response_model=reply.response_model,
                calls=turn,
            )
        raise LabelOutsideSet(
            failure.reason,
            failure.raw_answer,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            outcome=failure.outcome,
        ) from failure

    def complete(
        self,
        messages: list[ChatMessage],
        *,
        prompt_version: str,
        parse: Callable[[str], T],
        params: LLMParams | None = None,
        recorder: RequestRecorder | None = None,
    ) -> Completion[T]:
        """One request for a free-form answer (a generation prompt), read by ``parse``. An
        answer ``parse`` refuses (with a PermanentError) is reported as malformed and the
        error raised; transport errors as in ``label``. No corrective turn."""
        report = _Report(self, prompt_version, recorder or NoRecorder())
        reply = self._request(messages, params or self.params, report, 1)
        try:
            value = parse(reply.raw)
        except PermanentError:
            report.answered(1, RequestOutcome.MALFORMED, reply)
            raise
        report.answered(1, RequestOutcome.OK, reply)
        cost = self.cost_usd(reply.tokens_in, reply.tokens_out)
        return Completion(value, reply.tokens_in, reply.tokens_out, cost)

    def _request(
        self, messages: list[ChatMessage], params: LLMParams, report: _Report, turn: int
    ) -> _Reply:
        """One HTTP request, read. One that gets no completion is reported here; the caller
        reports an answered one once it has parsed it (ok, outside the set, malformed)."""
        prompt_chars = sum(len(message["content"]) for message in messages)
        estimate_in, estimate_out = estimated_tokens(prompt_chars, params.max_tokens)
        estimate = (estimate_in + estimate_out, self.cost_usd(estimate_in, estimate_out))
        ticket = self.gate.admit(*estimate)
        started = time.perf_counter()
        try:
            raw, tokens_in, tokens_out, response_model = _read(self._complete(messages, params))
        except (TransientLLMError, PermanentLLMError) as exc:
            self.gate.settle(ticket, 0, 0.0)
            report.failed(turn, exc, time.perf_counter() - started)
            raise
        except BaseException:  # e.g. the task's soft time limit: the request may be billed
            self.gate.settle(ticket, *estimate)
            raise
        self.gate.settle(ticket, tokens_in + tokens_out, self.cost_usd(tokens_in, tokens_out))
        return _Reply(raw, tokens_in, tokens_out, response_model, time.perf_counter() - started)

    def _complete(self, messages: list[ChatMessage], params: LLMParams) -> ChatCompletion:
        options: dict[str, Any] = {"temperature": params.temperature}
        if params.max_tokens is not None:
            options["max_tokens"] = params.max_tokens
        if params.seed is not None:
            options["seed"] = params.seed
        if params.json_mode:
            options["response_format"] = {"type": "json_object"}
        try:
            return self._openai.chat.completions.create(
                model=self.model,
                messages=cast("list[ChatCompletionMessageParam]", messages),
                **options,
            )
        except openai.APIStatusError as exc:
            raise _status_error(exc) from exc
        except openai.APITimeoutError as exc:  # before its base class, APIConnectionError
            raise TransientLLMError("LLM call timed out", failure=LLMFailure.TIMEOUT) from exc
        except openai.APIConnectionError as exc:
            raise TransientLLMError(
                "cannot reach the LLM endpoint", failure=LLMFailure.CONNECTION
            ) from exc
        except openai.APIError as exc:  # e.g. a response body that is not a completion
            raise PermanentLLMError(
                f"unusable LLM response: {type(exc).__name__}", failure=LLMFailure.BAD_RESPONSE
            ) from exc


class _Report:
    """Reports each request of one labeling to the metrics and to the recorder."""

    def __init__(self, client: LLMClient, prompt_version: str, recorder: RequestRecorder) -> None:
        self._client = client
        self._prompt_version = prompt_version
        self._recorder = recorder

    def answered(self, turn: int, outcome: RequestOutcome, reply: _Reply) -> None:
        self._send(turn, outcome, reply.latency_s, reply.tokens_in, reply.tokens_out, 200)

    def failed(
        self, turn: int, exc: TransientLLMError | PermanentLLMError, latency_s: float
    ) -> None:
        self._send(turn, RequestOutcome(exc.failure.value), latency_s, 0, 0, exc.status_code)

    def _send(
        self,
        turn: int,
        outcome: RequestOutcome,
        latency_s: float,
        tokens_in: int,
        tokens_out: int,
        status_code: int | None,
    ) -> None:
        cost = self._client.cost_usd(tokens_in, tokens_out)
        metrics.record_llm_call(
            outcome.value, latency_s, tokens_in=tokens_in, tokens_out=tokens_out
        )
        metrics.record_llm_cost(cost)
        request = LLMRequest(
            model=self._client.model,
            prompt_version=self._prompt_version,
            turn=turn,
            outcome=outcome,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost_usd=cost,
            latency_ms=round(latency_s * 1000, 1),
            status_code=status_code,
            started_at=datetime.now(UTC) - timedelta(seconds=latency_s),
        )
        try:
            self._recorder.record(request)
        except Exception:  # the request is made and paid whatever the recorder does
            logger.exception("recorder %r lost an LLM request: %s", self._recorder, request)


def _read(completion: ChatCompletion) -> tuple[str, int, int, str]:
    """(answer text, tokens in, tokens out, model that answered) of a completion."""
    if not completion.choices:
        raise PermanentLLMError("LLM response has no choices", failure=LLMFailure.BAD_RESPONSE)
    choice = completion.choices[0]
    if choice.finish_reason == "length":
        logger.warning("LLM answer cut off at max_tokens")
    usage = completion.usage
    tokens_in = usage.prompt_tokens if usage else 0
    tokens_out = usage.completion_tokens if usage else 0
    return choice.message.content or "", tokens_in, tokens_out, completion.model or ""


def _corrective_turn(raw: str, reason: str, labels: Sequence[str]) -> list[ChatMessage]:
    allowed = ", ".join(labels)
    correction = (
        f"Your answer is not valid ({reason}). Answer again with one JSON object "
        '{"label": "...", "rationale": "..."} and nothing else, where label is exactly one '
        f"of: {allowed}"
    )
    return [{"role": "assistant", "content": raw}, {"role": "user", "content": correction}]


def _status_error(exc: openai.APIStatusError) -> TransientLLMError | PermanentLLMError:
    status = exc.status_code
    detail = _error_detail(exc.body)
    if status in _TRANSIENT_STATUS or status >= 500:
        failure = LLMFailure.RATE_LIMITED if status == 429 else LLMFailure.SERVER_ERROR
        retry_after_s = retry_after_from_headers(exc.response.headers)
        return TransientLLMError(
            f"LLM endpoint answered {status}{detail}",
            failure=failure,
            status_code=status,
            retry_after_s=retry_after_s,
        )
    return PermanentLLMError(
        f"LLM endpoint refused the request with {status}{detail}",
        failure=LLMFailure.REJECTED,
        status_code=status,
    )


def _error_detail(body: object) -> str:
    """The endpoint's own error message from the structured body, for humans only."""
    if isinstance(body, Mapping) and isinstance(body.get("message"), str):
        return f": {body['message'][:200]}"
    return ""


def retry_after_from_headers(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms``, or ``Retry-After`` (seconds or HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        logger.debug("ignoring an unreadable Retry-After header: %r", value)
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def backoff_s(
    attempt: int,
    base_s: float = 1.0,
    cap_s: float = 60.0,
    retry_after_s: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Delay before retry number ``attempt`` (0 = the first retry).

    Exponential with full jitter: uniform in [0, min(cap_s, base_s * 2**attempt)]. When the
    endpoint sent Retry-After, never less than that, even above the cap: the endpoint knows
    when it will take requests again, and calling earlier only buys another 429.
    """
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    ceiling_s = min(cap_s, base_s * 2.0 ** min(attempt, 64))
    delay_s = (rng or random).uniform(0.0, ceiling_s)
    if retry_after_s is not None:
        delay_s = max(delay_s, retry_after_s)
    return delay_s
