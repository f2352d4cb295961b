"""Dynamic client registration (RFC 7591 section 3) and its management protocol
(RFC 7592 section 2), over ``ClientsService`` (docs/operators.md).

``POST /oauth/register``, in steps:

1. the body: ``application/json`` (else 415 ``invalid_request``), at most
   ``max_body_bytes`` (else 413), a JSON object (else 400
   ``invalid_client_metadata``);
2. the metadata (RFC 7591 section 2, :class:`gateway.rfc7591.ClientRegistrationRequest`):
   known fields of the right JSON type (else 400 ``invalid_client_metadata``, or
   ``invalid_redirect_uri`` for the redirect URI lists); fields this server does
   not know are ignored;
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
server sets); it is ``AdminService.UpdateRegistration``, which revokes the
client's tokens when the update drops a scope. DELETE is
``AdminService.DeleteRegistration``: the same cascade as an operator's deletion
(grants, consents, audit; docs/operators.md), and answers 204.

Every answer carries ``Cache-Control: no-store`` and ``Pragma: no-cache``.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import quote

from oauth2.v1 import clients_pb2
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from common.errors import InvalidClientMetadata, InvalidToken
from gateway.bearer import authorization_bearer
from gateway.errors import NO_STORE
from gateway.forms import (
    JSON_MEDIA_TYPE,
    UnsupportedMediaType,
    check_media_type,
    parse_json_object,
    read_body,
)
from gateway.models import parse_body
from gateway.openapi.prose import (
    INITIAL_ACCESS_TOKEN,
    REGISTRATION,
    REGISTRATION_ACCESS_TOKEN,
)
from gateway.openapi.responses import errors, ok
from gateway.openapi.spec import Answer, Body, operation
from gateway.rfc7591 import (
    ClientRegistrationRequest,
    ClientRegistrationResponse,
    ClientRegistrationUpdate,
    client_information,
)
from gateway.state import actor_of, downstream_of, settings_of

#: What every registration operation may answer besides its success.
ERRORS: Final = (400, 401, 403, 404, 429, 500, 501, 503)
BODY_ERRORS: Final = (*ERRORS, 413, 415)


@operation(
    "registerClient",
    "Dynamic client registration (RFC 7591 section 3.1)",
    tags=REGISTRATION,
    body=Body(ClientRegistrationRequest),
    responses={201: ok(ClientRegistrationResponse, "Registered"), **errors(*BODY_ERRORS)},
    security=INITIAL_ACCESS_TOKEN,
)
async def registration_endpoint(request: Request) -> Response:
    """RFC 7591 section 3.1: register a client."""
    metadata = parse_body(ClientRegistrationRequest, await read_json_object(request))
    answer = await downstream_of(request).clients.call.RegisterClient(
        clients_pb2.RegisterClientRequest(
            metadata=metadata.metadata(),
            initial_access_token=bearer_token(request),
            actor=actor_of(request, ""),
        )
    )
    return client_information_response(request, answer, status_code=201)


@operation(
    "readRegistration",
    "Read a registration (RFC 7592 section 2.1)",
    tags=REGISTRATION,
    responses={200: ok(ClientRegistrationResponse), **errors(*ERRORS)},
    security=REGISTRATION_ACCESS_TOKEN,
    method="GET",
)
@operation(
    "updateRegistration",
    "Replace a registration (RFC 7592 section 2.2)",
    tags=REGISTRATION,
    body=Body(ClientRegistrationUpdate),
    responses={200: ok(ClientRegistrationResponse), **errors(*BODY_ERRORS)},
    security=REGISTRATION_ACCESS_TOKEN,
    method="PUT",
)
@operation(
    "deleteRegistration",
    "Delete a registration (RFC 7592 section 2.3)",
    tags=REGISTRATION,
    responses={
        204: Answer("Deleted; its grants, tokens and consents are revoked"),
        **errors(*ERRORS),
    },
    security=REGISTRATION_ACCESS_TOKEN,
    method="DELETE",
)
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
    return client_information_response(request, answer)


async def update_registration(request: Request, client_id: str, token: str) -> Response:
    """RFC 7592 section 2.2: a full replacement of the metadata."""
    update = parse_body(
        ClientRegistrationUpdate, await read_json_object(request), context={"client_id": client_id}
    )
    # Through the admin service: a scope the update drops revokes the client's tokens.
    answer = await downstream_of(request).admin.call.UpdateRegistration(
        clients_pb2.UpdateRegistrationRequest(
            client_id=client_id,
            registration_access_token=token,
            metadata=update.metadata(),
            client_secret=update.client_secret or "",
            actor=actor_of(request, client_id),
        )
    )
    return client_information_response(request, answer)


async def delete_registration(request: Request, client_id: str, token: str) -> Response:
    """RFC 7592 section 2.3. The admin service owns what a deletion takes back with
    it (docs/operators.md, "Who orchestrates"); the token is checked there, by
    ClientsService, before anything is revoked."""
    await downstream_of(request).admin.call.DeleteRegistration(
        clients_pb2.RegistrationAccessRequest(
            client_id=client_id,
            registration_access_token=token,
            actor=actor_of(request, client_id),
        )
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


def client_information_response(
    request: Request, answer: clients_pb2.RegisterClientResponse, status_code: int = 200
) -> JSONResponse:
    """RFC 7591 section 3.2.1 plus RFC 7592 section 3: credentials, then metadata."""
    uri = registration_client_uri(request, answer.client.client_id)
    return JSONResponse(
        client_information(answer, uri).body(), status_code=status_code, headers=NO_STORE
    )


def registration_client_uri(request: Request, client_id: str) -> str:
    return f"{settings_of(request).issuer}/oauth/register/{quote(client_id, safe='')}"
