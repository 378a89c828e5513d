"""What the admin API refuses before a route reads a byte of the body: a pure ASGI
middleware around the whole app.

1. A request that may change state (any method but GET, HEAD, OPTIONS) without the admin
   token answers 401 (``auth.token_refusal``). It runs here, not only as a dependency,
   because FastAPI reads and parses a route's body before it resolves the route's
   dependencies: a 200 MB body sent without a token was read whole before the 401.
2. A Content-Length above the route's bound answers 413, unread.
3. A body without one (chunked) is counted as the app reads it: the read that passes the
   bound raises ``BodyTooLarge``, an HTTPException the app turns into a 413; the guard
   answers it itself if it escapes before the response started. So no more than the bound
   plus one received chunk is ever taken from the connection.

The bound is per path (``BodyLimits``): POST /label-jobs streams JSON Lines and takes far
more than the JSON routes, whose largest body is a 500-character reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from fastapi import HTTPException, status
from pydantic import SecretStr
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sieve.admin.auth import bearer_credentials, token_refusal

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Starlette renamed its constant (..._REQUEST_ENTITY_TOO_LARGE, deprecated, then ..._CONTENT).
TOO_LARGE = 413


@dataclass(frozen=True)
class BodyLimit:
    max_bytes: int
    setting: str  # named in the 413, so the operator knows what to raise


@dataclass(frozen=True)
class BodyLimits:
    default: BodyLimit
    by_path: Mapping[str, BodyLimit] = field(default_factory=dict)

    def for_path(self, path: str) -> BodyLimit:
        return self.by_path.get(path, self.default)


class BodyTooLarge(HTTPException):
    def __init__(self, limit: BodyLimit) -> None:
        super().__init__(TOO_LARGE, f"request body over {limit.max_bytes} bytes ({limit.setting})")


class AdminGuard:
    def __init__(self, app: ASGIApp, *, token: SecretStr | None, limits: BodyLimits) -> None:
        self.app = app
        self.token = token
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if scope["method"] not in READ_METHODS:
            credentials = bearer_credentials(headers.get("authorization"))
            refusal = token_refusal(self.token, credentials)
            if refusal is not None:
                auth = {"WWW-Authenticate": "Bearer"}
                await _answer(scope, receive, send, status.HTTP_401_UNAUTHORIZED, refusal, auth)
                return
        limit = self.limits.for_path(scope["path"])
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                detail = "invalid Content-Length"
                await _answer(scope, receive, send, status.HTTP_400_BAD_REQUEST, detail)
                return
            if int(declared) > limit.max_bytes:
                await _answer(scope, receive, send, TOO_LARGE, BodyTooLarge(limit).detail)
                return
        await self._counted(scope, receive, send, limit)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: BodyLimit) -> None:
        received_bytes = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received_bytes
            message = await receive()
            if message["type"] == "http.request":
                received_bytes += len(message.get("body", b""))
                if received_bytes > limit.max_bytes:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge as exc:
            if started:
                raise
            await _answer(scope, receive, send, TOO_LARGE, exc.detail)


async def _answer(
    scope: Scope,
    receive: Receive,
    send: Send,
    status_code: int,
    detail: str,
    headers: dict[str, str] | None = None,
) -> None:
    response = JSONResponse({"detail": detail}, status_code=status_code, headers=headers)
    await response(scope, receive, send)
