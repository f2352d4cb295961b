"""``GET /openapi.json``: an OpenAPI 3.1 document of every gateway endpoint.

Built here as plain data: the public OAuth 2.1 / OpenID Connect endpoints
(RFC 6749, RFC 7009, RFC 7662, RFC 7517, RFC 8414, OpenID Connect Core and
Discovery, RFC 7591/7592), the sign-in pages, health and metrics, and the whole
admin API (docs/operators.md). Tests keep it true: it validates against the
OpenAPI 3.1 meta-schema, lists exactly the app's routes, and schemathesis
checks the running gateway's answers against it. Response schemas leave
``additionalProperties`` open where the server may add members; request
schemas of the admin API are closed because the API refuses unknown fields.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.state import settings_of

OPENAPI_VERSION = "3.1.0"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
HTML = "text/html"

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


STRING: Schema = {"type": "string"}
BOOLEAN: Schema = {"type": "boolean"}
INTEGER: Schema = {"type": "integer"}
DATE_TIME: Schema = {"type": "string", "format": "date-time"}
STRINGS: Schema = {"type": "array", "items": STRING}


def obj(
    properties: dict[str, Schema],
    required: tuple[str, ...] = (),
    *,
    closed: bool = False,
    description: str = "",
) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    if description:
        schema["description"] = description
    return schema


# --- components/schemas ---------------------------------------------------------------

CLIENT_METADATA: dict[str, Schema] = {
    "client_name": STRING,
    "redirect_uris": STRINGS,
    "grant_types": STRINGS,
    "response_types": STRINGS,
    "scope": {"type": "string", "description": "Space-separated scopes (RFC 6749 section 3.3)"},
    "token_endpoint_auth_method": {
        "type": "string",
        "description": "client_secret_basic | client_secret_post | none",
    },
    "require_pkce": BOOLEAN,
    "post_logout_redirect_uris": STRINGS,
    "access_token_signing_alg": STRING,
    "always_issue_refresh_token": BOOLEAN,
    "contacts": STRINGS,
    "client_uri": STRING,
    "logo_uri": STRING,
}

CLIENT: Schema = obj(
    {
        "client_id": STRING,
        **CLIENT_METADATA,
        "client_secret_expires_at": {
            "type": "integer",
            "description": "RFC 7591 section 3.2.1: seconds since the epoch, 0 for never",
        },
        "dynamically_registered": BOOLEAN,
        "revision": INTEGER,
        "created_at": DATE_TIME,
        "updated_at": DATE_TIME,
    },
    ("client_id",),
    description="A client in RFC 7591 section 2 metadata names",
)


def _with_secret(schema: Schema) -> Schema:
    extended = copy.deepcopy(schema)
    extended["properties"]["client_secret"] = {
        "type": "string",
        "description": "Shown once; empty for public clients (then omitted)",
    }
    extended["description"] = "The client and, when one was generated, its client_secret"
    return extended


def page_of(item: str) -> Schema:
    return obj(
        {
            "items": {"type": "array", "items": ref(item)},
            "next_page_token": {
                "type": "string",
                "description": "Omitted on the last page; pass as page_token",
            },
        },
        ("items",),
    )


REGISTRATION_METADATA: Schema = obj(
    dict(CLIENT_METADATA),
    description="RFC 7591 section 2 client metadata",
)

REGISTRATION_RESPONSE: Schema = obj(
    {
        **CLIENT_METADATA,
        "client_id": STRING,
        "client_secret": STRING,
        "client_id_issued_at": INTEGER,
        "client_secret_expires_at": INTEGER,
        "registration_access_token": STRING,
        "registration_client_uri": STRING,
    },
    ("client_id",),
    description="RFC 7591 section 3.2.1 client information response",
)

SCHEMAS: dict[str, Schema] = {
    "OAuthError": obj(
        {"error": STRING, "error_description": STRING, "error_uri": STRING},
        ("error",),
        description="RFC 6749 section 5.2 error response",
    ),
    "TokenRequest": obj(
        {
            "grant_type": {
                "type": "string",
                "description": "authorization_code | refresh_token | client_credentials",
            },
            "code": STRING,
            "redirect_uri": STRING,
            "code_verifier": STRING,
            "refresh_token": STRING,
            "scope": STRING,
            "resource": STRING,
            "client_id": STRING,
            "client_secret": STRING,
        },
        ("grant_type",),
        description="RFC 6749 section 4.1.3, 4.4.2 and 6",
    ),
    "TokenResponse": obj(
        {
            "access_token": STRING,
            "token_type": STRING,
            "expires_in": INTEGER,
            "scope": STRING,
            "refresh_token": STRING,
            "id_token": STRING,
        },
        ("access_token", "token_type"),
        description="RFC 6749 section 5.1",
    ),
    "IntrospectionRequest": obj(
        {"token": STRING, "token_type_hint": STRING, "client_id": STRING, "client_secret": STRING},
        ("token",),
        description="RFC 7662 section 2.1",
    ),
    "IntrospectionResponse": obj(
        {
            "active": BOOLEAN,
            "scope": STRING,
            "client_id": STRING,
            "username": STRING,
            "token_type": STRING,
            "exp": INTEGER,
            "iat": INTEGER,
            "nbf": INTEGER,
            "sub": STRING,
            "aud": {"oneOf": [STRING, STRINGS]},
            "iss": STRING,
            "jti": STRING,
        },
        ("active",),
        description="RFC 7662 section 2.2",
    ),
    "RevocationRequest": obj(
        {"token": STRING, "token_type_hint": STRING, "client_id": STRING, "client_secret": STRING},
        ("token",),
        description="RFC 7009 section 2.1",
    ),
    "JWK": obj(
        {name: STRING for name in ("kty", "kid", "use", "alg", "crv", "x", "y", "n", "e")},
        ("kty",),
        description="RFC 7517 section 4 (public members only)",
    ),
    "JWKS": obj(
        {"keys": {"type": "array", "items": ref("JWK")}},
        ("keys",),
        description="RFC 7517 section 5",
    ),
    "ServerMetadata": obj(
        {
            "issuer": STRING,
            "authorization_endpoint": STRING,
            "token_endpoint": STRING,
            "jwks_uri": STRING,
            "userinfo_endpoint": STRING,
            "registration_endpoint": STRING,
            "scopes_supported": STRINGS,
            "response_types_supported": STRINGS,
            "grant_types_supported": STRINGS,
        },
        ("issuer",),
        description="RFC 8414 section 2 / OpenID Connect Discovery 1.0 section 3",
    ),
    "UserInfo": obj(
        {
            "sub": STRING,
            "name": STRING,
            "preferred_username": STRING,
            "email": STRING,
            "email_verified": BOOLEAN,
        },
        ("sub",),
        description="OpenID Connect Core section 5.3.2",
    ),
    "Health": obj({"status": STRING}, ("status",)),
    "Readiness": obj(
        {
            "status": {"type": "string", "enum": ["ok", "unavailable"]},
            "services": {"type": "object", "additionalProperties": STRING},
        },
        ("status",),
    ),
    "ClientRegistrationRequest": REGISTRATION_METADATA,
    "ClientRegistrationUpdate": obj(
        {**CLIENT_METADATA, "client_id": STRING, "client_secret": STRING},
        ("client_id",),
        description="RFC 7592 section 2.2: the full metadata, with client_id",
    ),
    "ClientRegistrationResponse": REGISTRATION_RESPONSE,
    # The admin API.
    "Client": CLIENT,
    "ClientWithSecret": _with_secret(CLIENT),
    "ClientCreate": obj(
        {
            **CLIENT_METADATA,
            "client_id": {"type": "string", "description": "Optional operator-chosen id"},
            "client_secret": {"type": "string", "description": "Optional imported secret"},
        },
        closed=True,
        description="Client metadata, optionally with an id and a secret to import",
    ),
    "ClientUpdate": obj(
        dict(CLIENT_METADATA),
        closed=False,
        description=(
            "The metadata fields to replace (at least one). Read-only fields of a client "
            "(client_id, created_at, ...) may be sent back and are ignored; any other "
            "unknown field is refused."
        ),
    ),
    "ClientList": page_of("Client"),
    "User": obj(
        {
            "user_id": STRING,
            "username": STRING,
            "email": STRING,
            "email_verified": BOOLEAN,
            "enabled": BOOLEAN,
            "given_name": STRING,
            "family_name": STRING,
            "name": STRING,
            "provider": STRING,
            "provider_user_id": STRING,
            "created_at": DATE_TIME,
            "updated_at": DATE_TIME,
        },
        ("user_id", "username", "enabled"),
        description="A person who signs in; never a password hash",
    ),
    "UserCreate": obj(
        {
            "username": {"type": "string", "minLength": 1},
            "password": {"type": "string", "minLength": 1},
            "email": STRING,
            "given_name": STRING,
            "family_name": STRING,
        },
        ("username", "password"),
        closed=True,
    ),
    "UserUpdate": obj(
        {
            "email": STRING,
            "email_verified": BOOLEAN,
            "given_name": STRING,
            "family_name": STRING,
            "name": STRING,
            "enabled": {
                "type": "boolean",
                "description": "false also revokes every grant the user holds",
            },
        },
        description="The fields to replace (at least one)",
    ),
    "PasswordChange": obj(
        {"password": {"type": "string", "minLength": 1}}, ("password",), closed=True
    ),
    "UserList": page_of("User"),
    "Consent": obj(
        {"client_id": STRING, "user_id": STRING, "scopes": STRINGS, "granted_at": DATE_TIME},
        ("client_id", "user_id", "scopes"),
    ),
    "Family": obj(
        {
            "family_id": STRING,
            "client_id": STRING,
            "user_id": STRING,
            "scope": STRING,
            "created_at": DATE_TIME,
            "last_used_at": DATE_TIME,
            "expires_at": DATE_TIME,
        },
        ("family_id", "client_id"),
        description="A refresh-token family: one grant's chain of rotated refresh tokens",
    ),
    "Grants": obj(
        {
            "consents": {"type": "array", "items": ref("Consent")},
            "items": {"type": "array", "items": ref("Family")},
            "next_page_token": STRING,
        },
        ("consents", "items"),
        description="Consents (whole) and refresh-token families (paged)",
    ),
    "Revoked": obj({"revoked": INTEGER}, ("revoked",)),
    "Key": obj(
        {
            "kid": STRING,
            "alg": STRING,
            "status": {"type": "string", "description": "active | previous | retired"},
            "created_at": DATE_TIME,
            "retired_at": DATE_TIME,
        },
        ("kid", "alg", "status"),
        description="A token signing key (public facts only)",
    ),
    "KeyList": obj({"items": {"type": "array", "items": ref("Key")}}, ("items",)),
    "KeyRotation": obj(
        {"alg": {"type": "string", "enum": ["ES256", "RS256"]}},
        closed=True,
        description="Omit alg (or the whole body) for the server default",
    ),
    "Stats": obj(
        {
            "clients": INTEGER,
            "users": INTEGER,
            "active_grants": INTEGER,
            "tokens_issued_by_grant_type": {"type": "object", "additionalProperties": INTEGER},
            "since": DATE_TIME,
        },
        ("clients", "users", "active_grants", "tokens_issued_by_grant_type"),
    ),
    "AuditEvent": obj(
        {
            "event_id": STRING,
            "action": {"type": "string", "description": "e.g. client.created, key.rotated"},
            "actor": {
                "type": "string",
                "description": "client:<id>, user:<id>, cli or system",
            },
            "remote_addr": STRING,
            "target": {"type": "string", "description": "client:<id>, user:<id>, key:<kid>..."},
            "outcome": {"type": "string", "description": "success | failure | denied"},
            "time": DATE_TIME,
            "trace_id": {"type": "string", "description": "W3C trace id of the cause"},
            "source": STRING,
            "details": {"type": "object", "additionalProperties": STRING},
        },
        ("event_id", "action", "actor", "target", "outcome"),
    ),
    "AuditEventList": page_of("AuditEvent"),
    "RegistrationTokenRequest": obj(
        {
            "expires_in": {
                "type": "integer",
                "minimum": 0,
                "maximum": 31_536_000,
                "description": "Lifetime in seconds; 0 or absent: the server default",
            },
            "max_uses": {
                "type": "integer",
                "minimum": 0,
                "maximum": 1_000_000,
                "description": "Registrations it allows; 0 or absent: one",
            },
        },
        closed=True,
    ),
    "RegistrationToken": obj(
        {"initial_access_token": STRING, "expires_at": DATE_TIME},
        ("initial_access_token",),
        description="An RFC 7591 section 3 initial access token, shown once",
    ),
}

SECURITY_SCHEMES: dict[str, Schema] = {
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

# --- responses --------------------------------------------------------------------------

_REASONS = {
    200: "OK",
    201: "Created",
    204: "No content",
    302: "Found: a redirect",
    303: "See other: a redirect",
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type: the body must be application/json",
    429: "Too many requests",
    500: "server_error: unexpected failure, nothing disclosed",
    501: "Not implemented in this release",
    503: "temporarily_unavailable: a service this request needs did not answer",
}

NO_STORE_HEADERS = {
    "Cache-Control": {"schema": STRING},
}


def json_response(schema: Schema, description: str = "") -> Schema:
    return {"description": description or "OK", "content": {JSON: {"schema": schema}}}


def error(status: int, description: str = "", *, challenge: bool = False) -> Schema:
    response: Schema = {
        "description": description or _REASONS[status],
        "content": {JSON: {"schema": ref("OAuthError")}},
    }
    if challenge:
        response["headers"] = {
            "WWW-Authenticate": {"schema": STRING, "description": "RFC 6750 section 3 challenge"}
        }
    return response


def errors(*statuses: int) -> dict[str, Schema]:
    return {str(status): error(status, challenge=status in (401, 403)) for status in statuses}


def html(status: int, description: str = "") -> Schema:
    return {"description": description or _REASONS[status], "content": {HTML: {"schema": STRING}}}


def redirect(status: int = 303, description: str = "") -> Schema:
    return {
        "description": description or _REASONS[status],
        "headers": {"Location": {"schema": STRING, "required": True}},
    }


def page_errors(*statuses: int) -> dict[str, Schema]:
    """A page answers its errors as HTML; a body it cannot read at all may get
    the JSON error of the gateway's error handler."""
    return {
        str(status): {
            "description": _REASONS[status],
            "content": {HTML: {"schema": STRING}, JSON: {"schema": ref("OAuthError")}},
        }
        for status in statuses
    }


def query(name: str, description: str = "", *, required: bool = False) -> Schema:
    param: Schema = {"name": name, "in": "query", "required": required, "schema": STRING}
    if description:
        param["description"] = description
    return param


def path(name: str, description: str = "") -> Schema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": STRING,
        "description": description or name,
    }


def form_body(schema_name: str) -> Schema:
    return {"required": True, "content": {FORM: {"schema": ref(schema_name)}}}


def json_body(schema_name: str, *, required: bool = True) -> Schema:
    return {"required": required, "content": {JSON: {"schema": ref(schema_name)}}}


CLIENT_AUTH: list[dict[str, list[str]]] = [{"clientBasic": []}, {}]
PAGING = [
    {
        "name": "page_size",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 0, "maximum": 500},
        "description": "0 or absent: the server default",
    },
    query("page_token", "next_page_token of the previous page"),
]

# --- operations ------------------------------------------------------------------------


def op(
    operation_id: str,
    summary: str,
    tags: list[str],
    responses: dict[str, Schema],
    **extra: Any,
) -> Schema:
    return {
        "operationId": operation_id,
        "summary": summary,
        "tags": tags,
        "responses": responses,
        **extra,
    }


def public_paths() -> dict[str, Schema]:
    oauth = ["OAuth 2.1"]
    pages = ["Sign-in pages"]
    authz_params = [
        query("response_type", "code", required=True),
        query("client_id", required=True),
        query("redirect_uri"),
        query("scope"),
        query("state"),
        query("nonce"),
        query("code_challenge", "RFC 7636 S256 challenge"),
        query("code_challenge_method", "S256"),
        query("prompt"),
        query("max_age"),
        query("response_mode", "query"),
        query("login_hint"),
    ]
    page_params = [query("interaction", "The interaction waiting for this page")]
    login_form = obj(
        {"username": STRING, "password": STRING, "interaction": STRING, "csrf_token": STRING}
    )
    consent_form = obj(
        {"decision": STRING, "interaction": STRING, "csrf_token": STRING, "scope": STRINGS}
    )
    logout_params = [
        query("id_token_hint"),
        query("post_logout_redirect_uri"),
        query("client_id"),
        query("state"),
    ]
    logout_form = obj(
        {
            "id_token_hint": STRING,
            "post_logout_redirect_uri": STRING,
            "client_id": STRING,
            "state": STRING,
            "csrf_token": STRING,
        }
    )

    def form_of(schema: Schema) -> Schema:
        return {"required": False, "content": {FORM: {"schema": schema}}}

    page_statuses = page_errors(400, 401, 403, 413, 429, 500, 503)
    return {
        "/oauth/authorize": {
            "get": op(
                "authorize",
                "Authorization request (RFC 6749 section 4.1.1, OpenID Connect Core 3.1.2)",
                oauth,
                {
                    "200": html(200),
                    "302": redirect(302),
                    "303": redirect(303, "To sign-in, consent, or the client's redirect_uri"),
                    **page_errors(400, 500, 503),
                },
                parameters=authz_params,
            )
        },
        "/oauth/token": {
            "post": op(
                "token",
                "Token endpoint (RFC 6749 section 3.2)",
                oauth,
                {
                    "200": json_response(ref("TokenResponse")),
                    **errors(400),
                    "401": error(401, "invalid_client (WWW-Authenticate: Basic)", challenge=True),
                    **errors(413, 429, 500, 501, 503),
                },
                requestBody=form_body("TokenRequest"),
                security=CLIENT_AUTH,
            )
        },
        "/oauth/introspect": {
            "post": op(
                "introspect",
                "Token introspection (RFC 7662)",
                oauth,
                {
                    "200": json_response(ref("IntrospectionResponse")),
                    **errors(400),
                    "401": error(401, "invalid_client", challenge=True),
                    **errors(413, 429, 500, 501, 503),
                },
                requestBody=form_body("IntrospectionRequest"),
                security=CLIENT_AUTH,
            )
        },
        "/oauth/revoke": {
            "post": op(
                "revoke",
                "Token revocation (RFC 7009)",
                oauth,
                {
                    "200": {"description": "Revoked, or the token was not valid anyway"},
                    **errors(400),
                    "401": error(401, "invalid_client", challenge=True),
                    **errors(413, 429, 500, 501, 503),
                },
                requestBody=form_body("RevocationRequest"),
                security=CLIENT_AUTH,
            )
        },
        "/oauth/userinfo": {
            method: op(
                f"userinfo{method.capitalize()}",
                "UserInfo (OpenID Connect Core section 5.3)",
                ["OpenID Connect"],
                {
                    "200": json_response(ref("UserInfo")),
                    **errors(400, 413),
                    "401": error(
                        401,
                        "invalid_token; without any token the challenge names no error "
                        '(RFC 6750 section 3.1): WWW-Authenticate: Bearer realm="oauth2"',
                        challenge=True,
                    ),
                    **errors(403, 500, 503),
                },
                security=[{"accessToken": []}],
                **(
                    {"requestBody": form_of(obj({"access_token": STRING}))}
                    if method == "post"
                    else {}
                ),
            )
            for method in ("get", "post")
        },
        "/oauth/jwks": {
            "get": op(
                "jwks",
                "The token signing keys (RFC 7517 JWK Set)",
                oauth,
                {"200": json_response(ref("JWKS")), **errors(500, 503)},
            )
        },
        "/oauth/register": {
            "post": op(
                "registerClient",
                "Dynamic client registration (RFC 7591 section 3.1)",
                ["Dynamic registration"],
                {
                    "201": json_response(ref("ClientRegistrationResponse"), "Registered"),
                    **errors(400, 401, 403, 404, 413, 415, 429, 500, 501, 503),
                },
                requestBody=json_body("ClientRegistrationRequest"),
                security=[{}, {"initialAccessToken": []}],
            )
        },
        "/oauth/register/{client_id}": {
            "parameters": [path("client_id")],
            "get": op(
                "readRegistration",
                "Read a registration (RFC 7592 section 2.1)",
                ["Dynamic registration"],
                {
                    "200": json_response(ref("ClientRegistrationResponse")),
                    **errors(400, 401, 403, 404, 429, 500, 501, 503),
                },
                security=[{"registrationAccessToken": []}],
            ),
            "put": op(
                "updateRegistration",
                "Replace a registration (RFC 7592 section 2.2)",
                ["Dynamic registration"],
                {
                    "200": json_response(ref("ClientRegistrationResponse")),
                    **errors(400, 401, 403, 404, 413, 415, 429, 500, 501, 503),
                },
                requestBody=json_body("ClientRegistrationUpdate"),
                security=[{"registrationAccessToken": []}],
            ),
            "delete": op(
                "deleteRegistration",
                "Delete a registration (RFC 7592 section 2.3)",
                ["Dynamic registration"],
                {
                    "204": {"description": "Deleted; its grants and tokens are revoked"},
                    **errors(400, 401, 403, 404, 429, 500, 501, 503),
                },
                security=[{"registrationAccessToken": []}],
            ),
        },
        "/.well-known/oauth-authorization-server": {
            "get": op(
                "authorizationServerMetadata",
                "Authorization server metadata (RFC 8414)",
                ["Discovery"],
                {"200": json_response(ref("ServerMetadata"))},
            )
        },
        "/.well-known/openid-configuration": {
            "get": op(
                "openidConfiguration",
                "OpenID Connect Discovery 1.0",
                ["Discovery"],
                {"200": json_response(ref("ServerMetadata"))},
            )
        },
        "/login": {
            "get": op(
                "showLogin",
                "The sign-in page",
                pages,
                {"200": html(200), "303": redirect(), **page_errors(400, 500, 503)},
                parameters=page_params,
            ),
            "post": op(
                "submitLogin",
                "Submit the sign-in form",
                pages,
                {"200": html(200), "303": redirect(), **page_statuses},
                requestBody=form_of(login_form),
            ),
        },
        "/consent": {
            "get": op(
                "showConsent",
                "The consent page",
                pages,
                {"200": html(200), "303": redirect(), **page_errors(400, 500, 503)},
                parameters=page_params,
            ),
            "post": op(
                "submitConsent",
                "Allow or deny",
                pages,
                {"200": html(200), "303": redirect(), **page_statuses},
                requestBody=form_of(consent_form),
            ),
        },
        "/logout": {
            "get": op(
                "showLogout",
                "RP-Initiated Logout (OpenID Connect RP-Initiated Logout 1.0 section 2)",
                pages,
                {"200": html(200), "303": redirect(), **page_errors(400, 500, 503)},
                parameters=logout_params,
            ),
            "post": op(
                "submitLogout",
                "Confirm signing out",
                pages,
                {"200": html(200), "303": redirect(), **page_statuses},
                requestBody=form_of(logout_form),
            ),
        },
        "/health": {
            "get": op(
                "liveness",
                "Liveness: the process answers",
                ["Operations"],
                {"200": json_response(ref("Health"))},
            )
        },
        "/ready": {
            "get": op(
                "readiness",
                "Readiness: every downstream service is SERVING",
                ["Operations"],
                {
                    "200": json_response(ref("Readiness")),
                    "503": json_response(ref("Readiness"), "A dependency is not ready"),
                },
            )
        },
        "/metrics": {
            "get": op(
                "metrics",
                "Prometheus metrics (text exposition format)",
                ["Operations"],
                {"200": {"description": "OK", "content": {"text/plain": {"schema": STRING}}}},
            )
        },
        "/openapi.json": {
            "get": op(
                "openapi",
                "This document",
                ["Operations"],
                {"200": json_response({"type": "object"})},
            )
        },
    }


def admin_op(
    operation_id: str,
    summary: str,
    success: dict[str, Schema],
    *,
    body: str | None = None,
    body_required: bool = True,
    parameters: list[Schema] | None = None,
    writes: bool = False,
) -> Schema:
    statuses = [400, 401, 403, 404]
    if writes:
        statuses.append(409)
    if body:
        statuses += [413, 415]
    statuses += [500, 503]
    extra: dict[str, Any] = {}
    if body:
        extra["requestBody"] = json_body(body, required=body_required)
    if parameters:
        extra["parameters"] = parameters
    return op(
        operation_id,
        summary,
        ["Admin"],
        {**success, **errors(*statuses)},
        security=[{"adminBearer": []}],
        **extra,
    )


def admin_paths() -> dict[str, Schema]:
    ok = json_response
    deleted = {"204": {"description": "Done"}}
    search = query("search", "Case-insensitive substring")
    return {
        "/admin/api/clients": {
            "get": admin_op(
                "listClients",
                "List clients",
                {"200": ok(ref("ClientList"))},
                parameters=[search, *PAGING],
            ),
            "post": admin_op(
                "createClient",
                "Create a client; its generated secret is shown this once",
                {"201": ok(ref("ClientWithSecret"), "Created")},
                body="ClientCreate",
                writes=True,
            ),
        },
        "/admin/api/clients/{client_id}": {
            "parameters": [path("client_id")],
            "get": admin_op("getClient", "Show a client", {"200": ok(ref("Client"))}),
            "patch": admin_op(
                "updateClient",
                "Replace the metadata fields given",
                {"200": ok(ref("Client"))},
                body="ClientUpdate",
                writes=True,
            ),
            "delete": admin_op(
                "deleteClient",
                "Delete a client; its grants, consents and tokens are revoked",
                deleted,
                writes=True,
            ),
        },
        "/admin/api/clients/{client_id}/secret": {
            "parameters": [path("client_id")],
            "post": admin_op(
                "rotateClientSecret",
                "Replace a client's secret; the new one is shown this once",
                {"200": ok(ref("ClientWithSecret"))},
                writes=True,
            ),
        },
        "/admin/api/users": {
            "get": admin_op(
                "listUsers",
                "List users",
                {"200": ok(ref("UserList"))},
                parameters=[search, *PAGING],
            ),
            "post": admin_op(
                "createUser",
                "Create a user",
                {"201": ok(ref("User"), "Created")},
                body="UserCreate",
                writes=True,
            ),
        },
        "/admin/api/users/{user_id}": {
            "parameters": [path("user_id")],
            "get": admin_op("getUser", "Show a user", {"200": ok(ref("User"))}),
            "patch": admin_op(
                "updateUser",
                "Replace the fields given (enabled=false revokes the user's grants)",
                {"200": ok(ref("User"))},
                body="UserUpdate",
                writes=True,
            ),
            "delete": admin_op(
                "deleteUser", "Delete a user after revoking its grants", deleted, writes=True
            ),
        },
        "/admin/api/users/{user_id}/password": {
            "parameters": [path("user_id")],
            "post": admin_op(
                "setPassword",
                "Replace a user's password",
                deleted,
                body="PasswordChange",
                writes=True,
            ),
        },
        "/admin/api/grants": {
            "get": admin_op(
                "listGrants",
                "Consents and refresh-token families of a user or a client (one required)",
                {"200": ok(ref("Grants"))},
                parameters=[query("user_id"), query("client_id"), *PAGING],
            ),
            "delete": admin_op(
                "revokeGrants",
                "Revoke every grant of one user or one client (exactly one)",
                {"200": ok(ref("Revoked"))},
                parameters=[query("user_id"), query("client_id")],
                writes=True,
            ),
        },
        "/admin/api/grants/{family_id}": {
            "parameters": [path("family_id")],
            "delete": admin_op(
                "revokeFamily",
                "Revoke one refresh-token family and the access tokens it issued",
                deleted,
                writes=True,
            ),
        },
        "/admin/api/keys": {
            "get": admin_op("listKeys", "List the signing keys", {"200": ok(ref("KeyList"))}),
        },
        "/admin/api/keys/rotate": {
            "post": admin_op(
                "rotateKey",
                "A new active key; the former one stays published as 'previous'",
                {"201": ok(ref("Key"), "Created")},
                body="KeyRotation",
                body_required=False,
                writes=True,
            ),
        },
        "/admin/api/keys/{kid}/retire": {
            "parameters": [path("kid")],
            "post": admin_op(
                "retireKey",
                "Retire a key now: it leaves the JWKS and its tokens become inactive",
                {"200": ok(ref("Key"))},
                writes=True,
            ),
        },
        "/admin/api/stats": {
            "get": admin_op("getStats", "Counts", {"200": ok(ref("Stats"))}),
        },
        "/admin/api/audit": {
            "get": admin_op(
                "listAuditEvents",
                "The audit log, newest first",
                {"200": ok(ref("AuditEventList"))},
                parameters=[
                    query("action"),
                    query("actor", "e.g. client:<client_id>"),
                    query("target", "e.g. user:<user_id>"),
                    {
                        "name": "outcome",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": ["success", "failure", "denied"]},
                    },
                    {
                        "name": "since",
                        "in": "query",
                        "required": False,
                        "schema": DATE_TIME,
                        "description": "RFC 3339",
                    },
                    {
                        "name": "until",
                        "in": "query",
                        "required": False,
                        "schema": DATE_TIME,
                        "description": "RFC 3339",
                    },
                    *PAGING,
                ],
            ),
        },
        "/admin/api/registration-tokens": {
            "post": admin_op(
                "createRegistrationToken",
                "Issue an initial access token for dynamic registration (RFC 7591 section 3)",
                {"201": ok(ref("RegistrationToken"), "Created")},
                body="RegistrationTokenRequest",
                body_required=False,
                writes=True,
            ),
        },
    }


@functools.cache
def _document_template() -> dict[str, Any]:
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "OAuth 2.1 / OpenID Connect authorization server",
            "version": "1.0.0",
            "description": (
                "The gateway's HTTP surface: the public OAuth 2.1 and OpenID Connect "
                "endpoints, the sign-in pages, dynamic client registration (RFC 7591/7592) "
                "and the admin API (bearer token with the 'admin' scope). Errors are "
                "RFC 6749 section 5.2 JSON."
            ),
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "tags": [
            {"name": name}
            for name in (
                "OAuth 2.1",
                "OpenID Connect",
                "Discovery",
                "Dynamic registration",
                "Sign-in pages",
                "Admin",
                "Operations",
            )
        ],
        "paths": {**public_paths(), **admin_paths()},
        "components": {"schemas": SCHEMAS, "securitySchemes": SECURITY_SCHEMES},
    }


def document(server_url: str) -> dict[str, Any]:
    """The document, with the issuer as the one server."""
    return {**_document_template(), "servers": [{"url": server_url}]}


async def openapi_endpoint(request: Request) -> Response:
    return JSONResponse(
        document(settings_of(request).issuer), headers={"Cache-Control": "public, max-age=300"}
    )
