"""One HTTP request straight into the ASGI app, with a body handed over chunk by chunk, so a
test sees how much of the body the app read before it answered (TestClient hides that)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    chunks_read: int = 0
    bytes_read: int = 0
    events: list[str] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    app: FastAPI,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    chunks: Iterable[bytes] = (),
    query: str = "",
    events: list[str] | None = None,
) -> Answer:
    """``chunks`` are sent without a Content-Length unless ``headers`` give one; each read
    appends ``read N`` to ``events`` (a list the test may share with its fakes)."""
    log = events if events is not None else []
    answer = Answer(status=0, headers={}, body=b"", events=log)
    body: list[bytes] = []
    source: Iterator[bytes] = iter(chunks)
    pending = next(source, None)

    async def receive() -> dict[str, Any]:
        nonlocal pending
        if pending is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        chunk, pending = pending, next(source, None)
        answer.chunks_read += 1
        answer.bytes_read += len(chunk)
        log.append(f"read {answer.chunks_read}")
        return {"type": "http.request", "body": chunk, "more_body": pending is not None}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.headers = {k.decode(): v.decode() for k, v in message.get("headers", [])}
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b""))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    asyncio.run(app(scope, receive, send))
    answer.body = b"".join(body)
    return answer
