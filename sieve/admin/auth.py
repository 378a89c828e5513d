"""Bearer-token guard for the endpoints that change state (retrain, promote, rollback,
label jobs).

Without a configured token (unset or empty) nothing may change state: every guarded
request answers 401, so an admin API exposed by mistake cannot retrain or swap models.

``token_refusal`` is the one decision; two places apply it. ``guard.AdminGuard`` applies it
to every request that is not a read, before the app reads a byte of the body (FastAPI reads
and parses a route's body before it resolves the route's dependencies). ``require_token``
applies it again as a route dependency, which also documents the scheme in OpenAPI.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import SecretStr

from sieve.admin.deps import SettingsDep

_bearer = HTTPBearer(auto_error=False, description="SIEVE_ADMIN__TOKEN")

NO_TOKEN_CONFIGURED = "no admin token is configured (SIEVE_ADMIN__TOKEN)"
MISSING = "missing bearer token"
INVALID = "invalid bearer token"


def bearer_credentials(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, None for any other."""
    scheme, credentials = get_authorization_scheme_param(authorization)
    if not (authorization and credentials) or scheme.lower() != "bearer":
        return None
    return credentials


def token_refusal(configured: SecretStr | None, credentials: str | None) -> str | None:
    """Why a request carrying ``credentials`` may not change state; None when it may."""
    expected = configured.get_secret_value() if configured is not None else ""
    if not expected:
        return NO_TOKEN_CONFIGURED
    if credentials is None:
        return MISSING
    # Bytes, because compare_digest refuses non-ASCII str.
    if not hmac.compare_digest(credentials.encode(), expected.encode()):
        return INVALID
    return None


def require_token(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    refusal = token_refusal(settings.admin.token, credentials.credentials if credentials else None)
    if refusal is not None:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail=refusal,
            headers={"WWW-Authenticate": "Bearer"},
        )


RequireToken = Depends(require_token)
