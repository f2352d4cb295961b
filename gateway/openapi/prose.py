"""What the OpenAPI document says that no route or model can: the info block, the
tags, the security schemes and the words on some path parameters (OpenAPI 3.1
sections 4.8.2, 4.8.22, 4.8.27, 4.8.12)."""

from __future__ import annotations

from typing import Any, Final

from gateway.openapi.spec import Security

INFO: Final[dict[str, Any]] = {
    "title": "OAuth 2.1 / OpenID Connect authorization server",
    "version": "1.0.0",
    "description": (
        "The gateway's HTTP surface: the public OAuth 2.1 and OpenID Connect "
        "endpoints, the sign-in pages, dynamic client registration (RFC 7591/7592) "
        "and the admin API (bearer token with the 'admin' scope). Each listener "
        "documents its own part: the public one the protocol endpoints and pages, "
        "the admin one (admin_port) the admin API and /metrics. Errors are "
        "RFC 6749 section 5.2 JSON."
    ),
    "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
}

OAUTH: Final = ("OAuth 2.1",)
OPENID: Final = ("OpenID Connect",)
DISCOVERY: Final = ("Discovery",)
REGISTRATION: Final = ("Dynamic registration",)
PAGES: Final = ("Sign-in pages",)
ADMIN: Final = ("Admin",)
OPERATIONS: Final = ("Operations",)
TAGS: Final = [
    {"name": name} for (name,) in (OAUTH, OPENID, DISCOVERY, REGISTRATION, PAGES, ADMIN, OPERATIONS)
]

#: Path parameters that need more than their name (the others are described by it).
PATH_PARAMETERS: Final[dict[str, str]] = {
    "identifier": (
        "The resource server's identifier, a URI, percent-encoded as one path segment: "
        "https%3A%2F%2Fapi.example.com%2Forders for https://api.example.com/orders "
        "(encodeURIComponent; '?', '#' and '%' must be encoded)"
    ),
}

SECURITY_SCHEMES: Final[dict[str, Any]] = {
    "clientBasic": {
        "type": "http",
        "scheme": "basic",
        "description": "client_secret_basic (RFC 6749 section 2.3.1)",
    },
    "adminBearer": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token with the 'admin' scope (RFC 6750)",
    },
    "accessToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token with the 'openid' scope (RFC 6750)",
    },
    "initialAccessToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "An RFC 7591 initial access token, when registration requires one",
    },
    "registrationAccessToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "The registration access token (RFC 7592 section 3)",
    },
}

#: client_secret_basic, or the credentials in the form (client_secret_post, or a
#: public client's client_id alone).
CLIENT_AUTH: Final[Security] = ({"clientBasic": []}, {})
ADMIN_BEARER: Final[Security] = ({"adminBearer": []},)
ACCESS_TOKEN: Final[Security] = ({"accessToken": []},)
#: Open registration, or an initial access token when the mode requires one.
INITIAL_ACCESS_TOKEN: Final[Security] = ({}, {"initialAccessToken": []})
REGISTRATION_ACCESS_TOKEN: Final[Security] = ({"registrationAccessToken": []},)
