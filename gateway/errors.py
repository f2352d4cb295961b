"""Rendering errors as RFC 6749 section 5.2 JSON.

Every error the gateway answers goes through :func:`error_response`: the body
is ``{"error", "error_description"}`` (the description only when there is a
public one), with ``Cache-Control: no-store`` and ``Pragma: no-cache``.
``invalid_client`` is 401 with a ``WWW-Authenticate: Basic`` challenge
(RFC 6749 section 5.2); ``invalid_token``/``insufficient_scope`` carry a
``Bearer`` challenge (RFC 6750 section 3). 5xx never show a description.
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from common.errors import (
    InsufficientScope,
    InvalidClient,
    InvalidRequest,
    InvalidToken,
    NotFound,
    OAuthError,
    safe_description,
)
from gateway.pages import DEFAULT_RETRY_AFTER_SECONDS, PAGE_PATHS, UNAVAILABLE, error_page

log = logging.getLogger(__name__)

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
BASIC_CHALLENGE = 'Basic realm="oauth2", charset="UTF-8"'


def error_body(error: OAuthError) -> dict[str, str]:
    body = {"error": error.error}
    description = safe_description(error.public_description)
    if description:
        body["error_description"] = description
    return body


def bearer_challenge(
    realm: str, error: OAuthError | None = None, *, describe: bool = True, scope: str = ""
) -> str:
    """The one builder of ``WWW-Authenticate: Bearer`` values (RFC 6750 section 3):
    no ``error`` when the request had no credentials (section 3.1); the
    description when ``describe``; the scope needed for ``insufficient_scope``."""
    parts = [f'realm="{realm}"']
    if error is not None:
        parts.append(f'error="{error.error}"')
        description = safe_description(error.public_description) if describe else ""
        if description:
            parts.append(f'error_description="{description}"')
        if scope and isinstance(error, InsufficientScope):
            parts.append(f'scope="{scope}"')
    return "Bearer " + ", ".join(parts)


def error_response(
    error: OAuthError,
    headers: dict[str, str] | None = None,
    *,
    challenge: str = "",
    status_code: int = 0,
) -> JSONResponse:
    """The one rendering of an error as RFC 6749 section 5.2 JSON, for the OAuth
    endpoints and every bearer-protected resource. ``challenge`` is the
    ``WWW-Authenticate`` value of a resource (:func:`bearer_challenge`); without
    it ``invalid_client`` gets the Basic challenge and token errors a bare one.
    ``status_code`` replaces the error's own (a DPoP proof refused by a resource is
    401, RFC 9449 section 7.1, where the token endpoint answers 400). A server
    nonce the error carries goes out as ``DPoP-Nonce`` (RFC 9449 section 8)."""
    all_headers = {**NO_STORE, **(headers or {})}
    if error.dpop_nonce:
        all_headers.setdefault("DPoP-Nonce", error.dpop_nonce)
    if error.retry_after:
        all_headers.setdefault("Retry-After", str(error.retry_after))
    elif error.status_code == 503:
        # Nothing was done: the request may be retried (RFC 9110 section 10.2.3).
        all_headers.setdefault("Retry-After", str(DEFAULT_RETRY_AFTER_SECONDS))
    if challenge:
        all_headers["WWW-Authenticate"] = challenge
    elif isinstance(error, InvalidClient):
        all_headers["WWW-Authenticate"] = BASIC_CHALLENGE
    elif isinstance(error, InvalidToken | InsufficientScope):
        all_headers["WWW-Authenticate"] = bearer_challenge("oauth2", error, describe=False)
    return JSONResponse(
        error_body(error), status_code=status_code or error.status_code, headers=all_headers
    )


async def oauth_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OAuthError)
    if exc.status_code >= 500:
        # The detail (gRPC code, downstream message) is for operators only.
        log.warning(
            "%s %s failed: %s %s",
            request.method,
            request.url.path,
            exc.error,
            exc.detail or exc.description,
        )
    if request.scope["path"] in PAGE_PATHS:
        # A person's page (the session store unreachable, say): a page, not JSON.
        retry = str(exc.retry_after or DEFAULT_RETRY_AFTER_SECONDS)
        if exc.status_code >= 500:
            return error_page(
                request,
                UNAVAILABLE,
                status_code=exc.status_code,
                title="Temporarily unavailable",
                headers={**NO_STORE, "Retry-After": retry},
            )
        return error_page(request, exc.public_description or "The request is not valid.")
    return error_response(exc)


async def http_error_handler(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 as JSON instead of plain text."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(NotFound())
    if exc.status_code == 405:
        return error_response(
            _MethodNotAllowed("Method not allowed"), headers=dict(exc.headers or {})
        )
    error = InvalidRequest(exc.detail if isinstance(exc.detail, str) else "")
    response = error_response(error, headers=dict(exc.headers or {}))
    response.status_code = exc.status_code
    return response


class _MethodNotAllowed(InvalidRequest):
    status_code = 405
