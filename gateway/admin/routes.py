"""``/admin/api/...``: JSON REST over the AdminService (docs/operators.md).

Each endpoint is one AdminService call: convert the JSON, call with the actor
(``client:<client_id of the bearer token>`` and the caller's address), convert
the answer back. The admin service audits every call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from google.protobuf import empty_pb2
from oauth2.v1 import admin_pb2, authorize_pb2, clients_pb2, token_pb2
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from common.errors import InvalidRequest
from gateway.admin import convert
from gateway.admin.http import (
    AdminCall,
    admin_endpoint,
    json_response,
    no_content,
    page_body,
)

PREFIX = "/admin/api"

# --- clients ------------------------------------------------------------------------


@admin_endpoint
async def list_clients(call: AdminCall) -> Response:
    found = await call.admin.ListClients(
        clients_pb2.ListClientsRequest(page=call.page(), search=call.query("search"))
    )
    return json_response(page_body([convert.client_json(c) for c in found.clients], found.page))


@admin_endpoint
async def create_client(call: AdminCall) -> Response:
    request = convert.create_client_request(await call.json())
    request.actor.CopyFrom(call.actor)
    created = await call.admin.CreateClient(request)
    return json_response(convert.client_json(created.client, created.client_secret), 201)


@admin_endpoint
async def get_client(call: AdminCall) -> Response:
    client = await call.admin.GetClient(
        clients_pb2.GetClientRequest(client_id=call.path("client_id"))
    )
    return json_response(convert.client_json(client))


@admin_endpoint
async def update_client(call: AdminCall) -> Response:
    request = convert.update_client_request(call.path("client_id"), await call.json())
    request.actor.CopyFrom(call.actor)
    client = await call.admin.UpdateClient(request)
    return json_response(convert.client_json(client))


@admin_endpoint
async def delete_client(call: AdminCall) -> Response:
    await call.admin.DeleteClient(
        clients_pb2.DeleteClientRequest(client_id=call.path("client_id"), actor=call.actor)
    )
    return no_content()


@admin_endpoint
async def rotate_client_secret(call: AdminCall) -> Response:
    """The client with its new ``client_secret``, shown this once."""
    rotated = await call.admin.RotateClientSecret(
        clients_pb2.RotateClientSecretRequest(client_id=call.path("client_id"), actor=call.actor)
    )
    return json_response(convert.client_json(rotated.client, rotated.client_secret))


# --- users ----------------------------------------------------------------------------


@admin_endpoint
async def list_users(call: AdminCall) -> Response:
    found = await call.admin.ListUsers(
        authorize_pb2.ListUsersRequest(page=call.page(), search=call.query("search"))
    )
    return json_response(page_body([convert.user_json(u) for u in found.users], found.page))


@admin_endpoint
async def create_user(call: AdminCall) -> Response:
    request = convert.create_user_request(await call.json())
    request.actor.CopyFrom(call.actor)
    user = await call.admin.CreateUser(request)
    return json_response(convert.user_json(user), 201)


@admin_endpoint
async def get_user(call: AdminCall) -> Response:
    user = await call.admin.GetUser(authorize_pb2.GetUserRequest(user_id=call.path("user_id")))
    return json_response(convert.user_json(user))


@admin_endpoint
async def update_user(call: AdminCall) -> Response:
    """``enabled: false`` also revokes the user's grants (the admin service does)."""
    request = convert.update_user_request(call.path("user_id"), await call.json())
    request.actor.CopyFrom(call.actor)
    user = await call.admin.UpdateUser(request)
    return json_response(convert.user_json(user))


@admin_endpoint
async def set_password(call: AdminCall) -> Response:
    password = convert.password_of(await call.json())
    await call.admin.SetPassword(
        authorize_pb2.SetPasswordRequest(
            user_id=call.path("user_id"), password=password, actor=call.actor
        )
    )
    return no_content()


@admin_endpoint
async def delete_user(call: AdminCall) -> Response:
    await call.admin.DeleteUser(
        authorize_pb2.DeleteUserRequest(user_id=call.path("user_id"), actor=call.actor)
    )
    return no_content()


# --- grants ----------------------------------------------------------------------------


def _grant_selector(call: AdminCall) -> tuple[str, str]:
    user_id, client_id = call.query("user_id"), call.query("client_id")
    if not user_id and not client_id:
        raise InvalidRequest("Give 'user_id' or 'client_id'")
    return user_id, client_id


@admin_endpoint
async def list_grants(call: AdminCall) -> Response:
    """Consents (whole) and refresh-token families (paged) of a user or a client."""
    user_id, client_id = _grant_selector(call)
    grants = await call.admin.ListGrants(
        token_pb2.ListGrantsRequest(subject=user_id, client_id=client_id, page=call.page())
    )
    body = {
        "consents": [convert.consent_json(c) for c in grants.consents],
        **page_body([convert.family_json(f) for f in grants.families], grants.page),
    }
    return json_response(body)


@admin_endpoint
async def revoke_family(call: AdminCall) -> Response:
    await call.admin.RevokeGrants(
        token_pb2.RevokeGrantsRequest(family_id=call.path("family_id"), actor=call.actor)
    )
    return no_content()


@admin_endpoint
async def revoke_grants(call: AdminCall) -> Response:
    """Every family (and consent) of one user or one client: exactly one selector."""
    user_id, client_id = _grant_selector(call)
    if user_id and client_id:
        raise InvalidRequest("Give only one of 'user_id' and 'client_id'")
    revoked = await call.admin.RevokeGrants(
        token_pb2.RevokeGrantsRequest(subject=user_id, client_id=client_id, actor=call.actor)
    )
    return json_response({"revoked": revoked.families_revoked})


# --- signing keys ------------------------------------------------------------------------


@admin_endpoint
async def list_keys(call: AdminCall) -> Response:
    found = await call.admin.ListSigningKeys(empty_pb2.Empty())
    return json_response({"items": [convert.key_json(k) for k in found.keys]})


@admin_endpoint
async def rotate_key(call: AdminCall) -> Response:
    request = convert.rotate_key_request(await call.json(required=False))
    request.actor.CopyFrom(call.actor)
    key = await call.admin.RotateSigningKey(request)
    return json_response(convert.key_json(key), 201)


@admin_endpoint
async def retire_key(call: AdminCall) -> Response:
    key = await call.admin.RetireSigningKey(
        token_pb2.RetireSigningKeyRequest(kid=call.path("kid"), actor=call.actor)
    )
    return json_response(convert.key_json(key))


# --- stats, audit, registration tokens ------------------------------------------------------


@admin_endpoint
async def stats(call: AdminCall) -> Response:
    found = await call.admin.GetStats(empty_pb2.Empty())
    return json_response(convert.stats_json(found))


@admin_endpoint
async def list_events(call: AdminCall) -> Response:
    """Newest first; ``since``/``until`` are RFC 3339 date-times."""
    outcome = call.query("outcome")
    if outcome and outcome not in convert.OUTCOMES:
        raise InvalidRequest(f"'outcome' must be one of {', '.join(convert.OUTCOMES)}")
    request = admin_pb2.ListEventsRequest(
        page=call.page(),
        action=call.query("action"),
        actor_id=call.query("actor"),
        target=call.query("target"),
        outcome=outcome,
    )
    for name in ("since", "until"):
        value = call.query(name)
        if value:
            getattr(request, name).CopyFrom(convert.parse_rfc3339(name, value))
    found = await call.admin.ListEvents(request)
    return json_response(page_body([convert.event_json(e) for e in found.events], found.page))


@admin_endpoint
async def create_registration_token(call: AdminCall) -> Response:
    """An initial access token for protected dynamic registration (RFC 7591 section 3)."""
    request = convert.initial_access_token_request(await call.json(required=False))
    request.actor.CopyFrom(call.actor)
    created = await call.admin.CreateInitialAccessToken(request)
    body = {"initial_access_token": created.initial_access_token}
    expires_at = convert.rfc3339(created.expires_at)
    if expires_at:
        body["expires_at"] = expires_at
    return json_response(body, 201)


Endpoint = Callable[[Request], Awaitable[Response]]


def by_method(**endpoints: Endpoint) -> Endpoint:
    """One route per path, so that a 405 names every method the path allows."""

    async def endpoint(request: Request) -> Response:
        return await endpoints[request.method](request)

    return endpoint


def route(path: str, **endpoints: Endpoint) -> Route:
    return Route(PREFIX + path, by_method(**endpoints), methods=list(endpoints))


ROUTES: list[BaseRoute] = [
    route("/clients", GET=list_clients, POST=create_client),
    route("/clients/{client_id}", GET=get_client, PATCH=update_client, DELETE=delete_client),
    route("/clients/{client_id}/secret", POST=rotate_client_secret),
    route("/users", GET=list_users, POST=create_user),
    route("/users/{user_id}", GET=get_user, PATCH=update_user, DELETE=delete_user),
    route("/users/{user_id}/password", POST=set_password),
    route("/grants", GET=list_grants, DELETE=revoke_grants),
    route("/grants/{family_id}", DELETE=revoke_family),
    route("/keys", GET=list_keys),
    route("/keys/rotate", POST=rotate_key),
    route("/keys/{kid}/retire", POST=retire_key),
    route("/stats", GET=stats),
    route("/audit", GET=list_events),
    route("/registration-tokens", POST=create_registration_token),
]
