"""What a self-registered client may ask for (RFC 7591 section 2, RFC 8252).

Dynamic registration lets anyone (or anyone holding an initial access token)
create a client, so the operator's policy bounds it more tightly than the
admin API's :func:`~services.clients.domain.metadata.validate_metadata`:

* redirect URIs follow the registry's one policy, the same as the admin API's
  (:mod:`services.clients.domain.redirect_uris`, RFC 8252 section 7):
  ``invalid_redirect_uri``;
* ``grant_types``, ``scope`` and ``token_endpoint_auth_method`` within the
  configured lists, and never the ``admin`` scope -> ``invalid_client_metadata``
  naming the field;
* the server-specific fields an operator sets (``require_pkce`` false,
  ``always_issue_refresh_token``, ``introspection``, ``enabled``,
  ``token_exchange_audiences``) are not for registrants, nor is the token exchange
  grant (RFC 8693: the client is trusted with other clients' tokens), whatever
  ``registration_allowed_grant_types`` says; an RFC 7592 update keeps those an
  operator gave the client (``held``); ``allowed_cors_origins`` is for registrants
  (as Hydra's is).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Final

from common.errors import InvalidClientMetadata
from common.scopes import format_scope, parse_scope
from common.vocabulary import GrantType
from services.clients.domain.model import ClientMetadata
from services.clients.domain.redirect_uris import check_redirect_uri

#: Scopes no self-registered client may ever hold, whatever the configuration says.
FORBIDDEN_SCOPES: Final = frozenset({"admin"})
#: Grant types only an operator gives a client (admin API, oauth2ctl).
OPERATOR_GRANT_TYPES: Final = frozenset({GrantType.TOKEN_EXCHANGE})
#: The redirect URI rules are the registry's one policy, re-exported here.
check_native_or_web_redirect_uri = check_redirect_uri


@dataclass(frozen=True, slots=True)
class RegistrationPolicy:
    """The operator's limits on RFC 7591 registrations (docs/operators.md)."""

    allowed_grant_types: frozenset[str]
    allowed_scopes: tuple[str, ...]
    allowed_auth_methods: frozenset[str]

    @classmethod
    def of(
        cls,
        *,
        grant_types: Iterable[str],
        scopes: Iterable[str],
        auth_methods: Iterable[str],
    ) -> RegistrationPolicy:
        return cls(
            allowed_grant_types=frozenset(grant_types) - OPERATOR_GRANT_TYPES,
            allowed_scopes=tuple(s for s in dict.fromkeys(scopes) if s not in FORBIDDEN_SCOPES),
            allowed_auth_methods=frozenset(auth_methods),
        )

    def prepare(self, metadata: ClientMetadata, *, held: Collection[str] = ()) -> ClientMetadata:
        """Checks on the request as sent, before validation fills in defaults:
        redirect URIs, operator-only fields, and the default scope. ``held``: the
        operator-only grant types the client already has (an RFC 7592 update may
        name them as it read them)."""
        # Redirect URIs: validate_metadata applies the one policy of every path
        # (services/clients/domain/redirect_uris.py), admin API and registration alike.
        if metadata.require_pkce is False:
            raise InvalidClientMetadata("'require_pkce' cannot be turned off by registration")
        if metadata.always_issue_refresh_token:
            raise InvalidClientMetadata("'always_issue_refresh_token' is set by operators only")
        if metadata.introspection:
            raise InvalidClientMetadata("'introspection' is set by operators only")
        if metadata.token_exchange_audiences:
            raise InvalidClientMetadata("'token_exchange_audiences' is set by operators only")
        if metadata.enabled is not None:
            raise InvalidClientMetadata("'enabled' is set by operators only")
        for grant_type in metadata.grant_types:
            if grant_type in OPERATOR_GRANT_TYPES and grant_type not in held:
                raise InvalidClientMetadata(
                    f"'grant_types' {grant_type!r} is set by operators only"
                )
        if not metadata.scope.strip():
            # RFC 7591 section 2: the server may register a default set of scopes.
            metadata = dataclasses.replace(metadata, scope=format_scope(self.allowed_scopes))
        return metadata

    def check(self, metadata: ClientMetadata, *, held: Collection[str] = ()) -> ClientMetadata:
        """Checks on validated metadata (defaults applied), so that a default the
        policy does not allow is refused too."""
        for grant_type in metadata.grant_types:
            if grant_type not in self.allowed_grant_types and grant_type not in held:
                raise InvalidClientMetadata(
                    f"'grant_types' {grant_type!r} is not allowed for registered clients; "
                    f"use {', '.join(sorted(self.allowed_grant_types))}"
                )
        method = metadata.token_endpoint_auth_method
        if method not in self.allowed_auth_methods:
            raise InvalidClientMetadata(
                f"'token_endpoint_auth_method' {method!r} is not allowed for registered clients; "
                f"use {', '.join(sorted(self.allowed_auth_methods))}"
            )
        for scope in parse_scope(metadata.scope, InvalidClientMetadata):
            if scope in FORBIDDEN_SCOPES or scope not in self.allowed_scopes:
                raise InvalidClientMetadata(
                    f"'scope' {scope!r} is not allowed for registered clients"
                )
        return metadata
