"""Bearer-token guard for the endpoints that change state (retrain, promote, rollback,
label jobs).

Without a configured token (unset or empty) nothing may change state: every guarded
request answers 401, so an admin API exposed by mistake cannot retrain or swap models.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sieve.admin.deps import SettingsDep

_bearer = HTTPBearer(auto_error=False, description="SIEVE_ADMIN__TOKEN")


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=detail,
        headers={"WWW-Authenticate": "Bearer"},
    )


def require_token(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    configured = settings.admin.token
    expected = configured.get_secret_value() if configured is not None else ""
    if not expected:
        raise _unauthorized("no admin token is configured (SIEVE_ADMIN__TOKEN)")
    if credentials is None:
        raise _unauthorized("missing bearer token")
    # Bytes, because compare_digest refuses non-ASCII str.
    if not hmac.compare_digest(credentials.credentials.encode(), expected.encode()):
        raise _unauthorized("invalid bearer token")


RequireToken = Depends(require_token)
