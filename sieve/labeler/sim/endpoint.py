"""The teacher simulator's behaviour without HTTP: one chat completion request in, one reply out.

The text to label is read from the ``<feedback>`` block of the last user message that
has one (a corrective turn appended by the client still finds it), else searched for
among the known texts. The label comes from a ``Teacher`` (noise.py); faults and latency
from faults.py. ``simulator.py`` puts this behind an HTTP server.

The counters are the ground truth for cost tests: a *paid* call is a 200 answer with
usage — including malformed and out-of-set answers, which a real provider bills too.
429s, 5xx, hangs and refusals are *failed* calls. A hang closes the connection without
an answer and is not counted as paid (a real provider might bill it).
"""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sieve.labeler.generation import GenerationRequest, generation_request
from sieve.labeler.prompts import extract_feedback
from sieve.labeler.sim.faults import Fault, FaultRates, LatencySpec
from sieve.labeler.sim.generator import ExampleGenerator
from sieve.labeler.sim.noise import Teacher, TeacherChoice, unit_interval
from sieve.labeler.sim.prompting import PromptSensitivity

OUTSIDE_LABEL = "none_of_the_above"
_PAID = frozenset({"ok", Fault.MALFORMED.value, Fault.OUTSIDE_SET.value})


@dataclass(frozen=True)
class SimulatorConfig:
    model: str = "teacher-sim"
    latency: LatencySpec = field(default_factory=LatencySpec)
    faults: FaultRates = field(default_factory=FaultRates)
    seed: int = 0
    retry_after_s: int = 1
    hang_s: float = 60.0
    # Require "Authorization: Bearer <api_key>" when set.
    api_key: str | None = None
    # Answer 400 to response_format, like endpoints without JSON mode.
    reject_response_format: bool = False
    # Accuracy that depends on the prompt (prompting.py); off by default.
    prompts: PromptSensitivity = field(default_factory=PromptSensitivity)


@dataclass
class Reply:
    status: int
    body: dict[str, Any] | None  # None: hang up without answering
    headers: dict[str, str] = field(default_factory=dict)


def approx_tokens(text: str) -> int:
    """About four characters per token, the usual rule of thumb for English."""
    return max(1, math.ceil(len(text) / 4))


class EndpointStats:
    """Thread-safe counters behind ``GET /stats``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._outcomes: Counter[str] = Counter()
            self._verdicts: Counter[str] = Counter()
            self._prompt_tokens = self._completion_tokens = 0
            self._texts_seen: set[str] = set()
            self._texts_paid: set[str] = set()

    def record(
        self,
        outcome: str,
        key: str | None = None,
        tokens: tuple[int, int] = (0, 0),
        choice: TeacherChoice | None = None,
    ) -> None:
        with self._lock:
            self._outcomes[outcome] += 1
            if key is not None:
                self._texts_seen.add(key)
            if outcome not in _PAID:
                return
            self._prompt_tokens += tokens[0]
            self._completion_tokens += tokens[1]
            if key is not None:
                self._texts_paid.add(key)
            if outcome == "ok" and choice is not None:
                correct = choice.correct
                self._verdicts["unknown" if correct is None else str(correct).lower()] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            requests = sum(self._outcomes.values())
            paid = sum(self._outcomes[outcome] for outcome in _PAID)
            return {
                "requests": requests,
                "outcomes": dict(self._outcomes),
                "paid_calls": paid,
                "failed_calls": requests - paid,
                "prompt_tokens": self._prompt_tokens,
                "completion_tokens": self._completion_tokens,
                "distinct_texts": len(self._texts_seen),
                "distinct_texts_paid": len(self._texts_paid),
                "answers_correct": self._verdicts["true"],
                "answers_wrong": self._verdicts["false"],
                "answers_unknown_text": self._verdicts["unknown"],
            }


class SimulatedEndpoint:
    def __init__(
        self,
        teacher: Teacher,
        config: SimulatorConfig,
        generator: ExampleGenerator | None = None,
    ) -> None:
        self.teacher = teacher
        self.config = config
        # Answers generation prompts when set (generator.py); else they get a label.
        self.generator = generator
        self.stats = EndpointStats()
        # Set on shutdown: ends simulated latency and hangs at once.
        self.stopping = threading.Event()
        self._attempts: Counter[str] = Counter()
        self._attempts_lock = threading.Lock()
        # hold()/release(): park incoming requests, e.g. while a test kills a client.
        self._open = threading.Event()
        self._open.set()
        self._refuse_held = False
        self._held = 0
        self._systems = config.prompts.systems() if config.prompts.active else {}

    def reset(self) -> None:
        """Zero the counters and the per-text attempt numbers (faults replay from the start)."""
        with self._attempts_lock:
            self._attempts.clear()
        self.stats.reset()

    def hold(self) -> None:
        """Park every request that arrives from now on until release()."""
        self._refuse_held = False
        self._open.clear()

    def release(self, *, refuse_held: bool) -> None:
        """Let parked requests through, or answer them 503 (not paid) with ``refuse_held``."""
        self._refuse_held = refuse_held
        self._open.set()

    @property
    def held(self) -> int:
        return self._held

    def _wait_if_held(self) -> Reply | None:
        if self._open.is_set():
            return None
        with self._attempts_lock:
            self._held += 1
        self._open.wait()
        with self._attempts_lock:
            self._held -= 1
        if not self._refuse_held:
            return None
        self.stats.record("server_error")
        return _error(503, "The server was held and refused the request.", "server")

    def complete(self, body: Any, authorization: str | None) -> Reply:
        held = self._wait_if_held()
        if held is not None:
            return held
        refusal = self._refusal(body, authorization)
        if refusal is not None:
            self.stats.record("rejected")
            return refusal
        generation = self._generation_of(body["messages"])
        text = None if generation is not None else self._text_of(body["messages"])
        key = text if text is not None else json.dumps(body["messages"], sort_keys=True)
        with self._attempts_lock:
            attempt = self._attempts[key]
            self._attempts[key] += 1
        seed = self.config.seed
        fault = self.config.faults.decide(seed, key, attempt)
        if fault is Fault.RATE_LIMIT:
            self.stats.record("rate_limited", key)
            reply = _error(429, "Rate limit reached, retry later.", "rate_limit_exceeded")
            reply.headers["Retry-After"] = str(self.config.retry_after_s)
            return reply
        if fault is Fault.SERVER_ERROR:
            self.stats.record("server_error", key)
            status = 503 if unit_interval(seed, "5xx", key, attempt) < 0.5 else 500
            return _error(status, "The server had an error processing your request.", "server")
        if fault is Fault.HANG:
            self.stats.record("hang", key)
            self.stopping.wait(self.config.hang_s)
            return Reply(0, None)
        self.stopping.wait(
            self.config.latency.sample_s(unit_interval(seed, "latency", key, attempt))
        )
        if generation is not None:
            seed = body["seed"] if isinstance(body.get("seed"), int) else self.config.seed
            return self._generated(body["messages"], generation, seed, key, fault)
        return self._answer(body["messages"], key, fault)

    def _refusal(self, body: Any, authorization: str | None) -> Reply | None:
        config = self.config
        if config.api_key and authorization != f"Bearer {config.api_key}":
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        if not isinstance(body, dict):
            return _error(400, "The request body must be a JSON object.", "invalid_json")
        if body.get("model") != config.model:
            message = f"The model {body.get('model')!r} does not exist; try {config.model!r}."
            return _error(404, message, "model_not_found", "model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return _error(400, "'messages' must be a non-empty array.", "invalid_value", "messages")
        if body.get("stream"):
            return _error(400, "Streaming is not supported.", "unsupported_value", "stream")
        if "response_format" in body and config.reject_response_format:
            message = "response_format is not supported by this endpoint."
            return _error(400, message, "unsupported_parameter", "response_format")
        return None

    def _text_of(self, messages: list[Any]) -> str | None:
        """The text to label, in the data's own spelling when it is a known text."""
        users = [_content(m) for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        for content in reversed(users):
            text = extract_feedback(content)
            if text is not None:
                return self.teacher.known_text(text) or text
        return self.teacher.find_known_text(users[-1]) if users else None

    def _generation_of(self, messages: list[Any]) -> GenerationRequest | None:
        """The generation request of the last user message, when a generator is set."""
        if self.generator is None:
            return None
        users = [_content(m) for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        return generation_request(users[-1]) if users else None

    def _generated(
        self,
        messages: list[Any],
        request: GenerationRequest,
        seed: int,
        key: str,
        fault: Fault,
    ) -> Reply:
        assert self.generator is not None
        texts = self.generator.examples(
            request.label, request.count, seed=seed, batch=request.batch
        )
        content = json.dumps({"messages": texts}, ensure_ascii=False)
        if fault is Fault.MALFORMED:
            content = content[: len(content) // 2]
        outcome = "ok" if fault in (Fault.NONE, Fault.OUTSIDE_SET) else fault.value
        return self._reply(messages, content, key, outcome, None)

    def _answer(self, messages: list[Any], key: str, fault: Fault) -> Reply:
        accuracy = None
        if self.config.prompts.active:
            gold = self.teacher.gold_of(key)
            accuracy = self.config.prompts.accuracy(
                messages, gold, self.teacher.accuracy, self._systems
            )
        choice = self.teacher.choose(key, accuracy=accuracy)
        label = choice.label
        if fault is Fault.OUTSIDE_SET:
            label = OUTSIDE_LABEL if OUTSIDE_LABEL not in self.teacher.labels else "__outside__"
        rationale = f"The message is about {label.replace('_', ' ')}."
        content = json.dumps({"label": label, "rationale": rationale})
        if fault is Fault.MALFORMED:
            content = content[: len(content) // 2]  # cut mid-object: not parseable JSON
        outcome = "ok" if fault is Fault.NONE else fault.value
        return self._reply(messages, content, key, outcome, choice)

    def _reply(
        self,
        messages: list[Any],
        content: str,
        key: str,
        outcome: str,
        choice: TeacherChoice | None,
    ) -> Reply:
        prompt_tokens = sum(approx_tokens(_content(m)) + 4 for m in messages) + 3
        completion_tokens = approx_tokens(content)
        self.stats.record(outcome, key, (prompt_tokens, completion_tokens), choice)
        message = {"role": "assistant", "content": content}
        return Reply(
            200,
            {
                "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": self.config.model,
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            },
        )


def _error(status: int, message: str, code: str, param: str | None = None) -> Reply:
    kind = {429: "rate_limit_error"}.get(status, "invalid_request_error")
    if status >= 500:
        kind = "server_error"
    return Reply(
        status, {"error": {"message": message, "type": kind, "param": param, "code": code}}
    )


def _content(message: Any) -> str:
    """A message's text; content given as a list of parts is joined."""
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""
