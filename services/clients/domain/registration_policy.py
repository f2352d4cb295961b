"""What a self-registered client may ask for (RFC 7591 section 2, RFC 8252).

Dynamic registration lets anyone (or anyone holding an initial access token)
create a client, so the operator's policy bounds it more tightly than the
admin API's :func:`~services.clients.domain.metadata.validate_metadata`:

* redirect URIs (RFC 8252 section 7 and 8.3): ``https`` with a host (web apps
  and claimed "https" URIs, section 7.2); ``http`` only on a loopback host
  (``127.0.0.1``, ``[::1]``, ``localhost``, section 7.3); or a private-use
  scheme that is a reverse domain name, i.e. holds a period (section 7.1,
  ``com.example.app:/cb``); never a fragment -> ``invalid_redirect_uri``;
* ``grant_types``, ``scope`` and ``token_endpoint_auth_method`` within the
  configured lists, and never the ``admin`` scope -> ``invalid_client_metadata``
  naming the field;
* the server-specific fields an operator sets (``require_pkce`` false,
  ``always_issue_refresh_token``) are not for registrants.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from common.errors import InvalidClientMetadata, InvalidRedirectUri
from common.scopes import format_scope, parse_scope
from services.clients.domain.model import ClientMetadata

#: Scopes no self-registered client may ever hold, whatever the configuration says.
FORBIDDEN_SCOPES: Final = frozenset({"admin"})
#: RFC 8252 section 7.3 (and 8.3, which tolerates ``localhost``).
LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "::1", "localhost"})

# RFC 3986 section 3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")


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
            allowed_grant_types=frozenset(grant_types),
            allowed_scopes=tuple(s for s in dict.fromkeys(scopes) if s not in FORBIDDEN_SCOPES),
            allowed_auth_methods=frozenset(auth_methods),
        )

    def prepare(self, metadata: ClientMetadata) -> ClientMetadata:
        """Checks on the request as sent, before validation fills in defaults:
        redirect URIs, operator-only fields, and the default scope."""
        for field, uris in (
            ("redirect_uris", metadata.redirect_uris),
            ("post_logout_redirect_uris", metadata.post_logout_redirect_uris),
        ):
            for uri in uris:
                check_native_or_web_redirect_uri(uri, field)
        if metadata.require_pkce is False:
            raise InvalidClientMetadata("'require_pkce' cannot be turned off by registration")
        if metadata.always_issue_refresh_token:
            raise InvalidClientMetadata("'always_issue_refresh_token' is set by operators only")
        if not metadata.scope.strip():
            # RFC 7591 section 2: the server may register a default set of scopes.
            metadata = dataclasses.replace(metadata, scope=format_scope(self.allowed_scopes))
        return metadata

    def check(self, metadata: ClientMetadata) -> ClientMetadata:
        """Checks on validated metadata (defaults applied), so that a default the
        policy does not allow is refused too."""
        for grant_type in metadata.grant_types:
            if grant_type not in self.allowed_grant_types:
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


def check_native_or_web_redirect_uri(uri: str, field: str = "redirect_uris") -> None:
    """RFC 8252 section 7: the three redirect URI forms a registrant may use."""
    shown = uri[:100]
    if "#" in uri:
        raise InvalidRedirectUri(f"URI {shown!r} in '{field}' has a fragment")
    try:
        parts = urlsplit(uri)
        hostname = parts.hostname
    except ValueError:
        raise InvalidRedirectUri(f"Invalid URI {shown!r} in '{field}'") from None
    scheme = parts.scheme.lower()
    if scheme == "https":
        if not hostname:
            raise InvalidRedirectUri(f"URI {shown!r} in '{field}' has no host")
        return
    if scheme == "http":
        if hostname not in LOOPBACK_HOSTS:
            raise InvalidRedirectUri(
                f"URI {shown!r} in '{field}': http is only allowed on a loopback host "
                "(127.0.0.1, [::1], localhost); use https"
            )
        return
    if scheme and _SCHEME.fullmatch(scheme) and "." in scheme:
        # A private-use scheme: the registrant's reverse domain name (section 7.1).
        return
    raise InvalidRedirectUri(
        f"URI {shown!r} in '{field}' must be https, http on a loopback host, or a "
        "private-use scheme that is a reverse domain name (e.g. com.example.app:/cb)"
    )
