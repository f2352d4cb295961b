"""OAuth errors, one class per error code, and their gRPC <-> HTTP mapping.

The codes are those of RFC 6749 section 4.1.2.1 and 5.2, RFC 6750 section 3.1,
RFC 7009 section 2.2.1 and RFC 7591 section 3.2.2. A service raises one of
these; the gRPC server interceptor turns it into a ``google.rpc.Status`` whose
``ErrorInfo.reason`` is the code; the gateway decodes it back into the same
class (:func:`from_rpc_error`) and renders it with the class's HTTP status.

``description`` is public (``error_description``); ``detail`` is for logs only.
"""

from __future__ import annotations

import re
from typing import ClassVar, Final

import grpc

ERROR_DOMAIN = "oauth2"
# error_description characters (RFC 6749 section 4.1.2.1, 5.2; RFC 6750 section 3):
# printable ASCII except " and \.
_NOT_DESCRIPTION_CHARS = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")


def safe_description(description: str) -> str:
    """``description`` without the characters an error_description may not hold,
    so it can go into a URL parameter or a quoted challenge parameter."""
    return _NOT_DESCRIPTION_CHARS.sub("", description)


#: The longest error_description: one quoting a 9,000-character input must stay a
#: 400 (gRPC metadata, which carries it, has a limit of a few KiB) and no error
#: body grows past 1 KiB.
MAX_DESCRIPTION: Final = 512
#: The longest detail kept for the logs.
MAX_DETAIL: Final = 2048


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class OAuthError(Exception):
    """Base class; ``error`` is the RFC error code."""

    error: ClassVar[str] = "server_error"
    status_code: ClassVar[int] = 400
    grpc_code: ClassVar[grpc.StatusCode] = grpc.StatusCode.INVALID_ARGUMENT
    # 5xx errors never show their description to the caller.
    expose: ClassVar[bool] = True
    # Shown when the raiser gave no description.
    default_description: ClassVar[str] = ""
    # The ErrorInfo reason across gRPC when two classes share an ``error`` (the same
    # code with another HTTP status); "" means ``error``.
    reason: ClassVar[str] = ""

    def __init__(
        self,
        description: str = "",
        *,
        detail: str = "",
        retry_after: int | None = None,
        dpop_nonce: str = "",
    ) -> None:
        description = _bounded(description or self.default_description, MAX_DESCRIPTION)
        super().__init__(description or self.error)
        self.description = description
        self.detail = _bounded(detail, MAX_DETAIL)
        # Seconds after which the same request may succeed (429/503 ``Retry-After``);
        # carried across gRPC as a google.rpc.RetryInfo.
        self.retry_after = retry_after
        # RFC 9449 section 8: a server nonce for the client's next DPoP proof, sent
        # back in ``DPoP-Nonce`` (carried across gRPC in the ErrorInfo).
        self.dpop_nonce = dpop_nonce

    @property
    def public_description(self) -> str:
        return self.description if self.expose else ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.description!r})"


class InvalidRequest(OAuthError):
    error = "invalid_request"


class InvalidClient(OAuthError):
    error = "invalid_client"
    status_code = 401
    grpc_code = grpc.StatusCode.UNAUTHENTICATED


class InvalidGrant(OAuthError):
    error = "invalid_grant"


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"
    grpc_code = grpc.StatusCode.PERMISSION_DENIED


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"


class InvalidScope(OAuthError):
    error = "invalid_scope"


class AccessDenied(OAuthError):
    error = "access_denied"
    status_code = 403
    grpc_code = grpc.StatusCode.PERMISSION_DENIED


class UnsupportedResponseType(OAuthError):
    error = "unsupported_response_type"


class UnsupportedTokenType(OAuthError):
    """RFC 7009 section 2.2.1."""

    error = "unsupported_token_type"


class InvalidToken(OAuthError):
    """RFC 6750 section 3.1."""

    error = "invalid_token"
    status_code = 401
    grpc_code = grpc.StatusCode.UNAUTHENTICATED


class DpopBoundToken(InvalidToken):
    """RFC 9449 section 7.2: ``invalid_token`` for a DPoP-bound access token presented
    as a bearer token; its own reason so that the resource answers with the DPoP
    challenge, the scheme the token needs."""

    reason = "dpop_bound_token"


class InsufficientScope(OAuthError):
    """RFC 6750 section 3.1."""

    error = "insufficient_scope"
    status_code = 403
    grpc_code = grpc.StatusCode.PERMISSION_DENIED


class InvalidRedirectUri(OAuthError):
    """RFC 7591 section 3.2.2."""

    error = "invalid_redirect_uri"


class InvalidClientMetadata(OAuthError):
    """RFC 7591 section 3.2.2."""

    error = "invalid_client_metadata"


class LoginRequired(OAuthError):
    """OpenID Connect Core section 3.1.2.6."""

    error = "login_required"


class ConsentRequired(OAuthError):
    """OpenID Connect Core section 3.1.2.6."""

    error = "consent_required"


class RequestNotSupported(OAuthError):
    """OpenID Connect Core section 3.1.2.6: request objects are not supported."""

    error = "request_not_supported"


class RequestUriNotSupported(OAuthError):
    """OpenID Connect Core section 3.1.2.6: request_uri is not supported."""

    error = "request_uri_not_supported"


class InvalidTarget(OAuthError):
    """RFC 8707 section 2: the resource is invalid, unknown, or not this client's to use."""

    error = "invalid_target"


class InvalidRequestObject(OAuthError):
    """RFC 9101 section 6.2 / OpenID Connect Core section 6.4: the request object
    (JAR) is not a valid one of this client's."""

    error = "invalid_request_object"


class InvalidDpopProof(OAuthError):
    """RFC 9449 section 5 and 7.1: the DPoP proof is missing where one is required,
    malformed, or does not match the request, the key or the token."""

    error = "invalid_dpop_proof"


class UseDpopNonce(OAuthError):
    """RFC 9449 section 8 and 9: the proof must carry the server nonce sent along in
    ``DPoP-Nonce``."""

    error = "use_dpop_nonce"


class NotFound(OAuthError):
    """An admin or registry lookup found nothing (HTTP 404)."""

    error = "not_found"
    status_code = 404
    grpc_code = grpc.StatusCode.NOT_FOUND


class Conflict(OAuthError):
    """The thing already exists (HTTP 409)."""

    error = "conflict"
    status_code = 409
    grpc_code = grpc.StatusCode.ALREADY_EXISTS


class RequestTooLarge(OAuthError):
    error = "invalid_request"
    status_code = 413


class SlowDown(OAuthError):
    """Rate limited (RFC 8628 names it; HTTP 429 everywhere here)."""

    error = "slow_down"
    status_code = 429
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED


class AuthorizationPending(OAuthError):
    """RFC 8628 section 3.5: the person has not yet approved or denied."""

    error = "authorization_pending"
    grpc_code = grpc.StatusCode.FAILED_PRECONDITION


class PollingTooFast(OAuthError):
    """RFC 8628 section 3.5: ``slow_down`` as a token response (400), the device
    polling sooner than its interval allows; the interval grows by 5 seconds."""

    error = "slow_down"
    reason = "device_slow_down"
    grpc_code = grpc.StatusCode.FAILED_PRECONDITION


class DeviceAccessDenied(OAuthError):
    """RFC 8628 section 3.5: ``access_denied`` as a token response (400): the
    person denied the device's request."""

    error = "access_denied"
    reason = "device_access_denied"


class ExpiredToken(OAuthError):
    """RFC 8628 section 3.5: the device_code expired; start again."""

    error = "expired_token"


class ServerError(OAuthError):
    error = "server_error"
    status_code = 500
    grpc_code = grpc.StatusCode.INTERNAL
    expose = False


class TemporarilyUnavailable(OAuthError):
    error = "temporarily_unavailable"
    status_code = 503
    grpc_code = grpc.StatusCode.UNAVAILABLE
    default_description = "A service this request needs is unavailable; retry later"


class Overloaded(TemporarilyUnavailable):
    """Refused at once because a bounded resource is full (the Argon2 queue):
    RESOURCE_EXHAUSTED over gRPC, ``temporarily_unavailable`` (503) over HTTP,
    with ``retry_after``. Nothing was done, so the request may simply be retried."""

    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_description = "The server is busy; retry later"


class Unimplemented(OAuthError):
    """A contract method that a later release implements."""

    error = "unimplemented"
    status_code = 501
    grpc_code = grpc.StatusCode.UNIMPLEMENTED


#: The fixed table from an ErrorInfo reason back to the class.
ERRORS_BY_CODE: dict[str, type[OAuthError]] = {
    cls.reason or cls.error: cls
    for cls in (
        InvalidRequest,
        InvalidClient,
        InvalidGrant,
        UnauthorizedClient,
        UnsupportedGrantType,
        InvalidScope,
        AccessDenied,
        UnsupportedResponseType,
        UnsupportedTokenType,
        InvalidToken,
        DpopBoundToken,
        InsufficientScope,
        InvalidRedirectUri,
        InvalidClientMetadata,
        LoginRequired,
        ConsentRequired,
        RequestNotSupported,
        RequestUriNotSupported,
        InvalidRequestObject,
        InvalidTarget,
        InvalidDpopProof,
        UseDpopNonce,
        NotFound,
        Conflict,
        SlowDown,
        AuthorizationPending,
        PollingTooFast,
        DeviceAccessDenied,
        ExpiredToken,
        ServerError,
        TemporarilyUnavailable,
        Unimplemented,
    )
}

#: When a call fails without an ErrorInfo (transport trouble, a foreign server).
ERRORS_BY_GRPC_CODE: dict[grpc.StatusCode, type[OAuthError]] = {
    grpc.StatusCode.UNAVAILABLE: TemporarilyUnavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: TemporarilyUnavailable,
    grpc.StatusCode.RESOURCE_EXHAUSTED: TemporarilyUnavailable,
    grpc.StatusCode.CANCELLED: TemporarilyUnavailable,
    grpc.StatusCode.UNIMPLEMENTED: Unimplemented,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidRequest,
    # A bare refusal comes only from the caller allow-list (common.grpc_callers): this
    # deployment's certificates do not match its call graph, nothing the user can mend.
    grpc.StatusCode.PERMISSION_DENIED: TemporarilyUnavailable,
    grpc.StatusCode.UNAUTHENTICATED: TemporarilyUnavailable,
}
