"""The authorization request (RFC 6749 section 4.1.1, RFC 7636 section 4.3,
OpenID Connect Core section 3.1.2.1), checked in the order of docs/signin.md.

Two kinds of failure (RFC 6749 section 4.1.2.1):

* before the redirect URI is known to be the client's (unknown client, missing
  or unregistered redirect_uri, duplicated client_id/redirect_uri) the call
  fails with InvalidRequest, and the gateway shows a page, never redirecting
  to an address nobody vouched for;
* after it, the error comes back in ``error``/``error_description`` for the
  gateway to send to that redirect URI.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Final

from common.errors import (
    InvalidRequest,
    InvalidScope,
    OAuthError,
    UnauthorizedClient,
    UnsupportedResponseType,
)
from common.scopes import parse_scope
from services.authorize.domain.model import (
    AUTHORIZATION_CODE,
    PLAIN,
    RESPONSE_TYPE_CODE,
    S256,
    AuthorizationRequest,
    ClientInfo,
    ValidatedAuthorizationRequest,
)
from services.authorize.domain.ports import ClientDirectory

# Parameters whose repetition makes the redirect URI itself doubtful.
PAGE_PARAMETERS: Final = ("client_id", "redirect_uri")
# OpenID Connect Core section 3.1.2.1.
PROMPT_VALUES: Final = frozenset({"none", "login", "consent", "select_account"})
# Only query responses: the gateway redirects with the code in the query.
RESPONSE_MODES: Final = frozenset({"", "query"})
# RFC 7636 section 4.1: code_challenge = 43*128unreserved.
_CODE_CHALLENGE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")

UNKNOWN_CLIENT: Final = "Unknown client_id"
MISSING_REDIRECT_URI: Final = "Missing 'redirect_uri'"
UNREGISTERED_REDIRECT_URI: Final = "redirect_uri is not registered for this client"
NO_REDIRECT_URIS: Final = "The client has no registered redirect_uri"

RedirectStep = Callable[["_Checked"], None]


class _Checked:
    """What the redirectable steps read and fill in."""

    __slots__ = ("client", "request", "require_pkce", "scopes")

    def __init__(
        self, request: AuthorizationRequest, client: ClientInfo, require_pkce: bool
    ) -> None:
        self.request = request
        self.client = client
        self.require_pkce = require_pkce
        self.scopes: tuple[str, ...] = ()


class AuthorizationRequestValidator:
    """ValidateAuthorizationRequest: a list of small named steps, each raising
    one specific error (node-oidc-provider's shape)."""

    def __init__(self, clients: ClientDirectory, *, allow_plain_pkce: bool = False) -> None:
        self._clients = clients
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
            require_pkce=checked.require_pkce,
        )
        try:
            for step in self._steps:
                step(checked)
        except OAuthError as exc:
            return replace(validated, error=exc.error, error_description=exc.description)
        return replace(validated, scopes=checked.scopes)

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

    @staticmethod
    def _reject_duplicated_parameters(checked: _Checked) -> None:
        """RFC 6749 section 3.1: parameters must not be included more than once."""
        duplicated = checked.request.duplicated_parameters
        if duplicated:
            raise InvalidRequest(f"Parameter '{duplicated[0]}' was given more than once")

    @staticmethod
    def _check_response_type(checked: _Checked) -> None:
        """OAuth 2.1 keeps only ``code`` (section 4.1.1)."""
        response_type = checked.request.response_type
        if not response_type:
            raise InvalidRequest("Missing 'response_type'")
        if response_type != RESPONSE_TYPE_CODE:
            raise UnsupportedResponseType(
                f"Unsupported response_type '{response_type}'; use 'code'"
            )

    @staticmethod
    def _check_grant_type(checked: _Checked) -> None:
        if AUTHORIZATION_CODE not in checked.client.grant_types:
            raise UnauthorizedClient(
                f"The client is not allowed to use grant_type '{AUTHORIZATION_CODE}'"
            )

    @staticmethod
    def _check_scope(checked: _Checked) -> None:
        """Section 3.3: the requested scope within the client's; empty means all of it."""
        requested = parse_scope(checked.request.scope)
        for token in requested:
            if token not in checked.client.scope:
                raise InvalidScope(f"Scope '{token}' is not allowed for this client")
        checked.scopes = tuple(requested) if requested else checked.client.scope

    def _check_pkce(self, checked: _Checked) -> None:
        """RFC 7636 section 4.3 and 4.4.1; OAuth 2.1 section 4.1.1."""
        challenge = checked.request.code_challenge
        method = checked.request.code_challenge_method
        if not challenge:
            if checked.require_pkce:
                raise InvalidRequest("code_challenge required")
            if method:
                raise InvalidRequest("'code_challenge_method' was sent without 'code_challenge'")
            return
        if method not in ("", S256, PLAIN):
            raise InvalidRequest(f"Unsupported code_challenge_method '{method}'; use 'S256'")
        if (method or PLAIN) == PLAIN and not self._allow_plain_pkce:
            if not method:
                raise InvalidRequest(
                    "Missing 'code_challenge_method', which defaults to 'plain'; "
                    "send code_challenge_method=S256"
                )
            raise InvalidRequest("code_challenge_method 'plain' is not allowed; use 'S256'")
        if not _CODE_CHALLENGE.fullmatch(challenge):
            raise InvalidRequest(
                "'code_challenge' must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~"
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
        # -1 is "absent"; the gateway sends a lower value for a max_age it could not parse.
        if checked.request.max_age < -1:
            raise InvalidRequest("'max_age' must be a non-negative integer")

    @staticmethod
    def _check_response_mode(checked: _Checked) -> None:
        mode = checked.request.response_mode
        if mode not in RESPONSE_MODES:
            raise InvalidRequest(f"Unsupported response_mode '{mode}'; use 'query'")
