"""The authorization request (RFC 6749 section 4.1.1, RFC 7636 section 4.3,
OpenID Connect Core section 3.1.2.1, RFC 9449 section 10): its parameters, read
from the query as it came, and the checks in the order of docs/signin.md.

A parameter is a field of :class:`AuthorizationRequest`; nothing else lists
them. Two kinds of failure (RFC 6749 section 4.1.2.1):

* before the redirect URI is known to be the client's (unknown client, missing
  or unregistered redirect_uri, duplicated client_id/redirect_uri) the check
  raises InvalidRequest, and the gateway shows a page, never redirecting to an
  address nobody vouched for;
* after it, the error is kept in ``error``/``error_description`` of the
  validated request, to be sent to that redirect URI.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Final

from common import pkce
from common.errors import (
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    OAuthError,
    RequestNotSupported,
    RequestUriNotSupported,
    UnauthorizedClient,
    UnsupportedResponseType,
)
from common.resources import ONE_RESOURCE, ResourceDirectory, single_resource, usable_resource
from common.scopes import parse_scope
from common.vocabulary import GrantType, ResponseMode, ResponseType
from services.authorize.domain.model import ClientInfo
from services.authorize.domain.ports import ClientDirectory

# Parameters whose repetition makes the redirect URI itself doubtful.
PAGE_PARAMETERS: Final = ("client_id", "redirect_uri")
# OpenID Connect Core section 3.1.2.1.
PROMPT_VALUES: Final = frozenset({"none", "login", "consent", "select_account"})
# Only query responses: the code goes back in the redirect URI's query.
#: The code flow's modes: query (the default) and form_post; fragment is not offered
#: (it keeps the code from the client's server, OAuth 2.0 Multiple Response Types 3).
RESPONSE_MODES: Final = frozenset({"", *ResponseMode})
# Bounds on what a query may carry, so a pending request stays small.
MAX_PARAMETERS: Final = 64
MAX_VALUE_LENGTH: Final = 4096
# What the parameters kept (the ones this server reads) may add up to.
MAX_REQUEST_LENGTH: Final = 16 * 1024
_DIGITS = re.compile(r"[0-9]{1,19}")
# RFC 9449 section 10 (RFC 7638): a SHA-256 JWK thumbprint, base64url without padding.
_JWK_THUMBPRINT = re.compile(r"[A-Za-z0-9_-]{43}")
_INT64_MAX: Final = 2**63 - 1

UNKNOWN_CLIENT: Final = "Unknown client_id"
MISSING_REDIRECT_URI: Final = "Missing 'redirect_uri'"
UNREGISTERED_REDIRECT_URI: Final = "redirect_uri is not registered for this client"
NO_REDIRECT_URIS: Final = "The client has no registered redirect_uri"
TOO_LARGE: Final = "The authorization request is too large"
MALFORMED_DPOP_JKT: Final = (
    "'dpop_jkt' must be the SHA-256 JWK thumbprint of the DPoP key (RFC 7638): "
    "43 base64url characters without padding"
)


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """The parameters of ``GET /oauth/authorize``, each field one parameter by
    its name. Empty values count as omitted (RFC 6749 section 3.1); a parameter
    given twice keeps its first value and is named in ``duplicated_parameters``
    for the first check to refuse."""

    response_type: str = ""
    client_id: str = ""
    redirect_uri: str = ""
    scope: str = ""
    state: str = ""
    nonce: str = ""
    code_challenge: str = ""
    code_challenge_method: str = ""
    prompt: str = ""
    # As sent; the max_age step checks it is a non-negative integer.
    max_age: str = ""
    response_mode: str = ""
    login_hint: str = ""
    # RFC 9101: a signed request object (services/authorize/domain/request_object.py),
    # unpacked before validation; refused (request_not_supported) where none is wired.
    request: str = ""
    request_uri: str = ""
    # RFC 8707: the resource server the access tokens are for (one per request).
    resource: str = ""
    # RFC 9449 section 10: the DPoP key (its RFC 7638 thumbprint) the code is bound to;
    # the token request must then carry a proof made with it.
    dpop_jkt: str = ""
    duplicated_parameters: tuple[str, ...] = ()

    @classmethod
    def from_query(cls, parameters: Iterable[tuple[str, str]]) -> AuthorizationRequest:
        """Unknown parameters are ignored (RFC 6749 section 3.1)."""
        values: dict[str, str] = {}
        duplicated: list[str] = []
        kept = 0
        for count, (name, value) in enumerate(parameters, start=1):
            longest = MAX_REQUEST_LENGTH if name == "request" else MAX_VALUE_LENGTH
            if count > MAX_PARAMETERS or len(value) > longest:
                raise InvalidRequest(TOO_LARGE)
            if value == "" or name not in _PARAMETER_NAMES:
                continue
            if name in values:
                if name not in duplicated:
                    duplicated.append(name)
                continue
            kept += len(value)
            if kept > MAX_REQUEST_LENGTH:
                raise InvalidRequest(TOO_LARGE)
            values[name] = value
        return cls(**values, duplicated_parameters=tuple(duplicated))

    @property
    def prompts(self) -> frozenset[str]:
        return frozenset(self.prompt.split())

    @property
    def max_age_seconds(self) -> int | None:
        """None when absent (or not a number: the max_age step refuses that)."""
        return int(self.max_age) if _is_max_age(self.max_age) else None


def _is_max_age(value: str) -> bool:
    return bool(_DIGITS.fullmatch(value)) and int(value) <= _INT64_MAX


_PARAMETER_NAMES: Final = frozenset(
    field.name
    for field in dataclasses.fields(AuthorizationRequest)
    if field.name != "duplicated_parameters"
)


@dataclass(frozen=True, slots=True)
class ValidatedAuthorizationRequest:
    """An authorization request whose client and redirect URI are known good.

    ``error`` set means: answer it at ``redirect_uri`` with that error
    (RFC 6749 section 4.1.2.1). ``code_challenge_method`` is the method the
    code is bound to ("" without PKCE), as RFC 7636 section 4.3 defaults it.
    """

    request: AuthorizationRequest
    redirect_uri: str
    redirect_uri_in_request: bool
    client: ClientInfo
    scopes: tuple[str, ...] = ()
    code_challenge_method: str = ""
    error: str = ""
    error_description: str = ""


def allowed_scopes(client: ClientInfo, scope: str) -> tuple[str, ...]:
    """RFC 6749 section 3.3: the requested scope within the client's (invalid_scope
    beyond it); empty means all of it."""
    requested = parse_scope(scope)
    for token in requested:
        if token not in client.scope:
            raise InvalidScope(f"Scope '{token}' is not allowed for this client")
    return tuple(requested) if requested else client.scope


class _Checked:
    """What the redirectable steps read and fill in."""

    __slots__ = ("client", "code_challenge_method", "request", "require_pkce", "scopes")

    def __init__(
        self, request: AuthorizationRequest, client: ClientInfo, require_pkce: bool
    ) -> None:
        self.request = request
        self.client = client
        self.require_pkce = require_pkce
        self.scopes: tuple[str, ...] = ()
        self.code_challenge_method = ""


RedirectStep = Callable[[_Checked], None]


class AuthorizationRequestValidator:
    """A list of small named steps, each raising one specific error
    (node-oidc-provider's shape)."""

    def __init__(
        self,
        clients: ClientDirectory,
        *,
        allow_plain_pkce: bool = False,
        resources: ResourceDirectory | None = None,
    ) -> None:
        self._clients = clients
        self._resources = resources
        self._allow_plain_pkce = allow_plain_pkce
        self._steps: tuple[RedirectStep, ...] = (
            self._reject_duplicated_parameters,
            self._check_response_type,
            self._check_grant_type,
            self._check_scope,
            self._check_pkce,
            self._check_prompt,
            self._check_max_age,
            self._check_response_mode,
            self._check_dpop_jkt,
            self._reject_request_objects,
        )

    async def validate(self, request: AuthorizationRequest) -> ValidatedAuthorizationRequest:
        for name in PAGE_PARAMETERS:
            if name in request.duplicated_parameters:
                raise InvalidRequest(f"Parameter '{name}' was given more than once")
        if not request.client_id:
            raise InvalidRequest("Missing 'client_id'")
        client = await self._clients.get_client(request.client_id)
        if client is None:
            raise InvalidRequest(UNKNOWN_CLIENT, detail=f"client_id {request.client_id!r}")
        redirect_uri = self._redirect_uri(request, client)

        checked = _Checked(request, client, require_pkce=client.is_public or client.require_pkce)
        validated = ValidatedAuthorizationRequest(
            request=request,
            redirect_uri=redirect_uri,
            redirect_uri_in_request=bool(request.redirect_uri),
            client=client,
        )
        try:
            for step in self._steps:
                step(checked)
            await self._check_resource(checked)
        except OAuthError as exc:
            return replace(validated, error=exc.error, error_description=exc.description)
        return replace(
            validated, scopes=checked.scopes, code_challenge_method=checked.code_challenge_method
        )

    @staticmethod
    def _redirect_uri(request: AuthorizationRequest, client: ClientInfo) -> str:
        """RFC 6749 section 3.1.2.3, OAuth 2.1 section 2.3.1: exact string comparison;
        the parameter may be left out only when one URI is registered."""
        if not request.redirect_uri:
            if len(client.redirect_uris) == 1:
                return client.redirect_uris[0]
            raise InvalidRequest(MISSING_REDIRECT_URI if client.redirect_uris else NO_REDIRECT_URIS)
        if request.redirect_uri not in client.redirect_uris:
            raise InvalidRequest(UNREGISTERED_REDIRECT_URI, detail=request.redirect_uri)
        return request.redirect_uri

    async def _check_resource(self, checked: _Checked) -> None:
        """RFC 8707 section 2: a registered resource the client may use, else
        invalid_target (at the redirect URI)."""
        identifier = single_resource([checked.request.resource])
        if not identifier:
            return
        if self._resources is None:
            raise InvalidTarget("Resource indicators are not configured on this server")
        await usable_resource(self._resources, identifier, checked.client.scope)

    @staticmethod
    def _reject_duplicated_parameters(checked: _Checked) -> None:
        """RFC 6749 section 3.1: parameters must not be included more than once
        (RFC 8707 allows several resources; this server takes one)."""
        duplicated = checked.request.duplicated_parameters
        if "resource" in duplicated:
            raise InvalidTarget(ONE_RESOURCE)
        if duplicated:
            raise InvalidRequest(f"Parameter '{duplicated[0]}' was given more than once")

    @staticmethod
    def _check_response_type(checked: _Checked) -> None:
        """OAuth 2.1 keeps only ``code`` (section 4.1.1)."""
        response_type = checked.request.response_type
        if not response_type:
            raise InvalidRequest("Missing 'response_type'")
        if response_type != ResponseType.CODE:
            raise UnsupportedResponseType(
                f"Unsupported response_type '{response_type}'; use 'code'"
            )

    @staticmethod
    def _check_grant_type(checked: _Checked) -> None:
        if GrantType.AUTHORIZATION_CODE not in checked.client.grant_types:
            raise UnauthorizedClient(
                f"The client is not allowed to use grant_type '{GrantType.AUTHORIZATION_CODE}'"
            )

    @staticmethod
    def _check_scope(checked: _Checked) -> None:
        checked.scopes = allowed_scopes(checked.client, checked.request.scope)

    def _check_pkce(self, checked: _Checked) -> None:
        """RFC 7636 section 4.3 and 4.4.1; OAuth 2.1 section 4.1.1 (common.pkce)."""
        checked.code_challenge_method = pkce.check_challenge(
            checked.request.code_challenge,
            checked.request.code_challenge_method,
            required=checked.require_pkce,
            allow_plain=self._allow_plain_pkce,
        )

    @staticmethod
    def _check_prompt(checked: _Checked) -> None:
        """OpenID Connect Core section 3.1.2.1."""
        values = checked.request.prompt.split()
        for value in values:
            if value not in PROMPT_VALUES:
                raise InvalidRequest(f"Unsupported prompt value '{value}'")
        if "none" in values and len(values) > 1:
            raise InvalidRequest("prompt 'none' cannot be combined with other values")

    @staticmethod
    def _check_max_age(checked: _Checked) -> None:
        """OpenID Connect Core section 3.1.2.1: seconds since the last sign-in."""
        max_age = checked.request.max_age
        if max_age and not _is_max_age(max_age):
            raise InvalidRequest("'max_age' must be a non-negative integer")

    @staticmethod
    def _check_response_mode(checked: _Checked) -> None:
        mode = checked.request.response_mode
        if mode not in RESPONSE_MODES:
            raise InvalidRequest(f"Unsupported response_mode '{mode}'; use 'query' or 'form_post'")

    @staticmethod
    def _check_dpop_jkt(checked: _Checked) -> None:
        """RFC 9449 section 10: a key's thumbprint, or no binding at all. A value that
        is not one could never match a proof: refused now rather than at the token
        endpoint, where the code would be lost."""
        dpop_jkt = checked.request.dpop_jkt
        if dpop_jkt and not _JWK_THUMBPRINT.fullmatch(dpop_jkt):
            raise InvalidRequest(MALFORMED_DPOP_JKT)

    @staticmethod
    def _reject_request_objects(checked: _Checked) -> None:
        """OpenID Connect Core section 6 is not offered (yet)."""
        if checked.request.request:
            raise RequestNotSupported("Request objects are not supported")
        if checked.request.request_uri:
            raise RequestUriNotSupported("request_uri is not supported")
