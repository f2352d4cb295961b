"""The paths of the gateway's protocol endpoints, defined once: the routes, the
discovery document (RFC 8414 section 2) and the audiences a client assertion may
name (RFC 7523 section 3: the issuer, or the URL of the endpoint) all read them."""

from __future__ import annotations

from typing import Final

TOKEN: Final = "/oauth/token"  # noqa: S105 - a path
INTROSPECTION: Final = "/oauth/introspect"
REVOCATION: Final = "/oauth/revoke"
PUSHED_AUTHORIZATION_REQUEST: Final = "/oauth/par"
DEVICE_AUTHORIZATION: Final = "/oauth/device_authorization"
USERINFO: Final = "/oauth/userinfo"

#: The endpoints at which a client authenticates (RFC 6749 section 2.3).
CLIENT_AUTHENTICATING: Final = (
    TOKEN,
    INTROSPECTION,
    REVOCATION,
    PUSHED_AUTHORIZATION_REQUEST,
    DEVICE_AUTHORIZATION,
)


def assertion_audiences(issuer: str) -> tuple[str, ...]:
    """What the ``aud`` of a client assertion may be: the issuer, or the URL of an
    endpoint at which the client authenticates (RFC 7523 section 3, item 3)."""
    return (issuer, *(issuer + path for path in CLIENT_AUTHENTICATING))
