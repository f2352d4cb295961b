"""Dynamic client registration (RFC 7591 section 3) and its management protocol
(RFC 7592 section 2), over ``ClientsService`` (docs/operators.md).

``POST /oauth/register``, in steps:

1. the body: ``application/json`` (else 415 ``invalid_request``), at most
   ``max_body_bytes`` (else 413), a JSON object (else 400
   ``invalid_client_metadata``);
2. the metadata (RFC 7591 section 2): known fields of the right JSON type (else
   400 ``invalid_client_metadata``, or ``invalid_redirect_uri`` for the redirect
   URI lists); fields this server does not know are ignored;
3. ``ClientsService.RegisterClient`` with the ``Authorization: Bearer`` initial
   access token, if any: the service applies the registration mode (401
   ``invalid_token``, 403 ``access_denied``) and the policy (400
   ``invalid_redirect_uri`` / ``invalid_client_metadata``);
4. 201 with the client information response (RFC 7591 section 3.2.1, RFC 7592
   section 3): ``client_id``, ``client_secret`` (confidential clients),
   ``client_id_issued_at``, ``client_secret_expires_at`` (0: never),
   ``registration_access_token``, ``registration_client_uri`` and the metadata.

``GET|PUT|DELETE /oauth/register/{client_id}`` (the client configuration
endpoint) need the registration access token as a Bearer token; without one, or
with a wrong one, 401 ``invalid_token``. PUT replaces the metadata as a whole
(section 2.2: the body names the same ``client_id`` and none of the fields the
server sets). DELETE deletes the client, then revokes what it was granted
(``TokenService.RevokeGrants``), and answers 204.

Every answer carries ``Cache-Control: no-store`` and ``Pragma: no-cache``.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import quote

from oauth2.v1 import clients_pb2, token_pb2
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from common.errors import InvalidClientMetadata, InvalidRedirectUri, InvalidToken
from gateway.bearer import authorization_bearer
from gateway.errors import NO_STORE
from gateway.forms import (
    JSON_MEDIA_TYPE,
    UnsupportedMediaType,
    check_media_type,
    parse_json_object,
    read_body,
)
from gateway.state import actor_of, downstream_of, settings_of

#: RFC 7591 section 2 (and OpenID RP-initiated logout) fields this server keeps.
STRING_FIELDS: Final = (
    "client_name",
    "scope",
    "token_endpoint_auth_method",
    "client_uri",
    "logo_uri",
)
LIST_FIELDS: Final = (
    "redirect_uris",
    "grant_types",
    "response_types",
    "contacts",
    "post_logout_redirect_uris",
)
_URI_LISTS: Final = frozenset({"redirect_uris", "post_logout_redirect_uris"})
#: RFC 7592 section 2.2: the server sets these; an update must not send them.
SERVER_FIELDS: Final = (
    "registration_access_token",
    "registration_client_uri",
    "client_secret_expires_at",
    "client_id_issued_at",
)
REVOKE_REASON: Final = "registration deleted (RFC 7592)"
#: RFC 7591 section 2: the method of public clients, which hold no secret.
PUBLIC_CLIENT_AUTH_METHOD: Final = "none"


async def registration_endpoint(request: Request) -> Response:
    """RFC 7591 section 3.1: register a client."""
    body = await read_json_object(request)
    answer = await downstream_of(request).clients.call.RegisterClient(
        clients_pb2.RegisterClientRequest(
            metadata=metadata_from_json(body),
            initial_access_token=bearer_token(request),
            actor=actor_of(request, ""),
        )
    )
    return client_information(request, answer, status_code=201)


async def client_configuration_endpoint(request: Request) -> Response:
    """RFC 7592 section 2: read, replace or delete a registration."""
    client_id: str = request.path_params["client_id"]
    token = bearer_token(request)
    if not token:
        raise InvalidToken("Missing registration access token")
    if request.method == "GET":
        return await read_registration(request, client_id, token)
    if request.method == "PUT":
        return await update_registration(request, client_id, token)
    return await delete_registration(request, client_id, token)


async def read_registration(request: Request, client_id: str, token: str) -> Response:
    """RFC 7592 section 2.1."""
    answer = await downstream_of(request).clients.call.GetRegistration(
        clients_pb2.RegistrationAccessRequest(
            client_id=client_id,
            registration_access_token=token,
            actor=actor_of(request, client_id),
        )
    )
    return client_information(request, answer)


async def update_registration(request: Request, client_id: str, token: str) -> Response:
    """RFC 7592 section 2.2: a full replacement of the metadata."""
    body = await read_json_object(request)
    if body.get("client_id") != client_id:
        raise InvalidClientMetadata("'client_id' must be present and match the URL")
    for name in SERVER_FIELDS:
        if name in body:
            raise InvalidClientMetadata(f"'{name}' is set by the server; leave it out")
    answer = await downstream_of(request).clients.call.UpdateRegistration(
        clients_pb2.UpdateRegistrationRequest(
            client_id=client_id,
            registration_access_token=token,
            metadata=metadata_from_json(body),
            client_secret=_string(body, "client_secret"),
            actor=actor_of(request, client_id),
        )
    )
    return client_information(request, answer)


async def delete_registration(request: Request, client_id: str, token: str) -> Response:
    """RFC 7592 section 2.3, then the client's grants and tokens are revoked
    (docs/operators.md: the gateway orchestrates this)."""
    downstream = downstream_of(request)
    actor = actor_of(request, client_id)
    await downstream.clients.call.DeleteRegistration(
        clients_pb2.RegistrationAccessRequest(
            client_id=client_id, registration_access_token=token, actor=actor
        )
    )
    await downstream.token.call.RevokeGrants(
        token_pb2.RevokeGrantsRequest(client_id=client_id, reason=REVOKE_REASON, actor=actor)
    )
    return Response(status_code=204, headers=NO_STORE)


def bearer_token(request: Request) -> str:
    """The RFC 6750 section 2.1 Bearer credential, or "" when none is sent."""
    return authorization_bearer(request) or ""


async def read_json_object(request: Request) -> dict[str, Any]:
    check_media_type(
        request.headers.get("content-type"),
        JSON_MEDIA_TYPE.__eq__,
        JSON_MEDIA_TYPE,
        UnsupportedMediaType,
    )
    raw = await read_body(request, settings_of(request).max_body_bytes)
    return parse_json_object(raw, InvalidClientMetadata)


def metadata_from_json(body: dict[str, Any]) -> clients_pb2.ClientMetadata:
    """The fields this server knows; anything else is ignored (RFC 7591 section 2)."""
    metadata = clients_pb2.ClientMetadata()
    for name in STRING_FIELDS:
        setattr(metadata, name, _string(body, name))
    for name in LIST_FIELDS:
        getattr(metadata, name).extend(_strings(body, name))
    return metadata


def _string(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidClientMetadata(f"'{name}' must be a string")
    return _encodable(value, name, InvalidClientMetadata)


def _strings(body: dict[str, Any], name: str) -> list[str]:
    error = InvalidRedirectUri if name in _URI_LISTS else InvalidClientMetadata
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise error(f"'{name}' must be an array of strings")
    return [_encodable(item, name, error) for item in value]


def _encodable(
    value: str, name: str, error: type[InvalidClientMetadata | InvalidRedirectUri]
) -> str:
    # JSON may carry lone surrogates ("\ud800"), which are not UTF-8 and which
    # protobuf cannot send.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise error(f"Invalid characters in '{name}'") from None
    return value


def client_information(
    request: Request, answer: clients_pb2.RegisterClientResponse, status_code: int = 200
) -> JSONResponse:
    """RFC 7591 section 3.2.1 plus RFC 7592 section 3: credentials, then metadata.
    Empty metadata values are left out."""
    client = answer.client
    body: dict[str, Any] = {"client_id": client.client_id}
    if answer.client_secret:
        body["client_secret"] = answer.client_secret
    body["client_id_issued_at"] = answer.client_id_issued_at.seconds
    if client.token_endpoint_auth_method != PUBLIC_CLIENT_AUTH_METHOD:
        # 0: the secret does not expire (RFC 7591 section 3.2.1).
        body["client_secret_expires_at"] = client.client_secret_expires_at.seconds
    body["registration_access_token"] = answer.registration_access_token
    body["registration_client_uri"] = registration_client_uri(request, client.client_id)
    for name in (*STRING_FIELDS, *LIST_FIELDS):
        value = getattr(client, name)
        if value:
            body[name] = value if isinstance(value, str) else list(value)
    return JSONResponse(body, status_code=status_code, headers=NO_STORE)


def registration_client_uri(request: Request, client_id: str) -> str:
    return f"{settings_of(request).issuer}/oauth/register/{quote(client_id, safe='')}"
