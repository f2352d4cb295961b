"""``/admin/api/...``: JSON REST over the AdminService (docs/operators.md).

Each endpoint is one AdminService call: the body arrives as its model
(:mod:`gateway.admin.bodies`), the call carries the actor (``client:<client_id
of the bearer token>`` and the caller's address), and the answer goes back as a
model of :mod:`gateway.admin.resources`. The admin service audits every call.
Each ``@admin_endpoint`` is also the operation's entry in ``GET /openapi.json``.
"""

from __future__ import annotations

from google.protobuf import empty_pb2
from oauth2.v1 import admin_pb2, authorize_pb2, clients_pb2, token_pb2
from starlette.routing import BaseRoute, Route

from common.errors import InvalidRequest, NotFound
from gateway.admin import bodies, convert
from gateway.admin.http import (
    NO_CONTENT,
    PAGING,
    SEARCH,
    AdminCall,
    admin_endpoint,
    created,
    ok,
)
from gateway.admin.resources import (
    AuditEventList,
    Client,
    ClientList,
    ClientWithSecret,
    Grants,
    Key,
    KeyList,
    RegistrationToken,
    ResourceServer,
    ResourceServerList,
    Revoked,
    Stats,
    User,
    UserList,
)
from gateway.openapi.spec import Endpoint, Param, by_method

PREFIX = "/admin/api"

# --- clients ------------------------------------------------------------------------


@admin_endpoint("listClients", "List clients", ok(ClientList), parameters=[SEARCH, *PAGING])
async def list_clients(call: AdminCall) -> ClientList:
    found = await call.admin.ListClients(
        clients_pb2.ListClientsRequest(page=call.page(), search=call.query("search"))
    )
    return ClientList.of([convert.client_of(c) for c in found.clients], found.page)


@admin_endpoint(
    "createClient",
    "Create a client; its generated secret is shown this once",
    created(ClientWithSecret),
    body=bodies.ClientCreate,
    writes=True,
)
async def create_client(call: AdminCall, body: bodies.ClientCreate) -> ClientWithSecret:
    request = convert.create_client_request(body)
    request.actor.CopyFrom(call.actor)
    answer = await call.admin.CreateClient(request)
    return convert.client_of(answer.client, answer.client_secret)


@admin_endpoint("getClient", "Show a client", ok(Client))
async def get_client(call: AdminCall) -> Client:
    client = await call.admin.GetClient(
        clients_pb2.GetClientRequest(client_id=call.path("client_id"))
    )
    return convert.client_of(client)


@admin_endpoint(
    "updateClient",
    "Replace the metadata fields given",
    ok(Client),
    body=bodies.ClientUpdate,
    writes=True,
)
async def update_client(call: AdminCall, body: bodies.ClientUpdate) -> Client:
    request = convert.update_client_request(call.path("client_id"), body)
    request.actor.CopyFrom(call.actor)
    return convert.client_of(await call.admin.UpdateClient(request))


@admin_endpoint(
    "deleteClient",
    "Delete a client; its grants, consents and tokens are revoked",
    NO_CONTENT,
    writes=True,
)
async def delete_client(call: AdminCall) -> None:
    await call.admin.DeleteClient(
        clients_pb2.DeleteClientRequest(client_id=call.path("client_id"), actor=call.actor)
    )


@admin_endpoint(
    "rotateClientSecret",
    "Replace a client's secret; the new one is shown this once",
    ok(ClientWithSecret),
    writes=True,
)
async def rotate_client_secret(call: AdminCall) -> ClientWithSecret:
    """The client with its new ``client_secret``, shown this once."""
    rotated = await call.admin.RotateClientSecret(
        clients_pb2.RotateClientSecretRequest(client_id=call.path("client_id"), actor=call.actor)
    )
    return convert.client_of(rotated.client, rotated.client_secret)


# --- resource servers (RFC 8707) --------------------------------------------------------
#
# The identifier is a URI, so it travels percent-encoded as the one last segment of
# the path (/resources/https%3A%2F%2Fapi.example.com%2Forders): the route takes the
# rest of the path, decoded once, so that unencoded slashes reach it as well. "?", "#"
# and "%" of an identifier must be encoded.


@admin_endpoint(
    "listResources",
    "List resource servers, by identifier",
    ok(ResourceServerList),
    parameters=PAGING,
)
async def list_resources(call: AdminCall) -> ResourceServerList:
    found = await call.admin.ListResources(clients_pb2.ListResourcesRequest(page=call.page()))
    return ResourceServerList.of([convert.resource_of(r) for r in found.resources], found.page)


@admin_endpoint(
    "createResource",
    "Register a resource server (RFC 8707)",
    created(ResourceServer),
    body=bodies.ResourceCreate,
    writes=True,
)
async def create_resource(call: AdminCall, body: bodies.ResourceCreate) -> ResourceServer:
    request = convert.create_resource_request(body)
    request.actor.CopyFrom(call.actor)
    return convert.resource_of(await call.admin.CreateResource(request))


@admin_endpoint("getResource", "Show a resource server", ok(ResourceServer))
async def get_resource(call: AdminCall) -> ResourceServer:
    """The identifier percent-encoded in the path."""
    resource = await call.admin.GetResource(
        clients_pb2.GetResourceRequest(identifier=call.path("identifier"))
    )
    return convert.resource_of(resource)


@admin_endpoint(
    "updateResource",
    "Replace the fields given of a resource server",
    ok(ResourceServer),
    body=bodies.ResourceUpdate,
    writes=True,
)
async def update_resource(call: AdminCall, body: bodies.ResourceUpdate) -> ResourceServer:
    """The identifier percent-encoded in the path; the fields present are replaced."""
    request = convert.update_resource_request(call.path("identifier"), body)
    request.actor.CopyFrom(call.actor)
    return convert.resource_of(await call.admin.UpdateResource(request))


@admin_endpoint("deleteResource", "Delete a resource server", NO_CONTENT, writes=True)
async def delete_resource(call: AdminCall) -> None:
    """The identifier percent-encoded in the path."""
    await call.admin.DeleteResource(
        clients_pb2.DeleteResourceRequest(identifier=call.path("identifier"), actor=call.actor)
    )


# --- users ----------------------------------------------------------------------------


USERNAME = Param("username", "Exactly this username (case-insensitive): the one user or none")


@admin_endpoint("listUsers", "List users", ok(UserList), parameters=[SEARCH, USERNAME, *PAGING])
async def list_users(call: AdminCall) -> UserList:
    """``username``: the user of that name, or an empty list (GetUser by username),
    so that a name is resolved in one call rather than by paging a search."""
    username = call.query("username")
    if username:
        try:
            user = await call.admin.GetUser(authorize_pb2.GetUserRequest(username=username))
        except NotFound:
            return UserList(items=[])
        return UserList(items=[convert.user_of(user)])
    found = await call.admin.ListUsers(
        authorize_pb2.ListUsersRequest(page=call.page(), search=call.query("search"))
    )
    return UserList.of([convert.user_of(u) for u in found.users], found.page)


@admin_endpoint("createUser", "Create a user", created(User), body=bodies.UserCreate, writes=True)
async def create_user(call: AdminCall, body: bodies.UserCreate) -> User:
    request = convert.create_user_request(body)
    request.actor.CopyFrom(call.actor)
    return convert.user_of(await call.admin.CreateUser(request))


@admin_endpoint("getUser", "Show a user", ok(User))
async def get_user(call: AdminCall) -> User:
    user = await call.admin.GetUser(authorize_pb2.GetUserRequest(user_id=call.path("user_id")))
    return convert.user_of(user)


@admin_endpoint(
    "updateUser",
    "Replace the fields given (enabled=false revokes the user's grants)",
    ok(User),
    body=bodies.UserUpdate,
    writes=True,
)
async def update_user(call: AdminCall, body: bodies.UserUpdate) -> User:
    """``enabled: false`` also revokes the user's grants (the admin service does)."""
    request = convert.update_user_request(call.path("user_id"), body)
    request.actor.CopyFrom(call.actor)
    return convert.user_of(await call.admin.UpdateUser(request))


@admin_endpoint(
    "setPassword",
    "Replace a user's password",
    NO_CONTENT,
    body=bodies.PasswordChange,
    writes=True,
)
async def set_password(call: AdminCall, body: bodies.PasswordChange) -> None:
    await call.admin.SetPassword(
        authorize_pb2.SetPasswordRequest(
            user_id=call.path("user_id"), password=body.password, actor=call.actor
        )
    )


@admin_endpoint("deleteUser", "Delete a user after revoking its grants", NO_CONTENT, writes=True)
async def delete_user(call: AdminCall) -> None:
    await call.admin.DeleteUser(
        authorize_pb2.DeleteUserRequest(user_id=call.path("user_id"), actor=call.actor)
    )


# --- grants ----------------------------------------------------------------------------

GRANT_SELECTORS = (Param("user_id"), Param("client_id"))


def _grant_selector(call: AdminCall) -> tuple[str, str]:
    user_id, client_id = call.query("user_id"), call.query("client_id")
    if not user_id and not client_id:
        raise InvalidRequest("Give 'user_id' or 'client_id'")
    return user_id, client_id


@admin_endpoint(
    "listGrants",
    "Consents and refresh-token families of a user or a client (one required)",
    ok(Grants),
    parameters=[*GRANT_SELECTORS, *PAGING],
)
async def list_grants(call: AdminCall) -> Grants:
    """Consents (whole) and refresh-token families (paged) of a user or a client."""
    user_id, client_id = _grant_selector(call)
    grants = await call.admin.ListGrants(
        token_pb2.ListGrantsRequest(subject=user_id, client_id=client_id, page=call.page())
    )
    return Grants(
        consents=[convert.consent_of(c) for c in grants.consents],
        items=[convert.family_of(f) for f in grants.families],
        next_page_token=grants.page.next_page_token or None,
    )


@admin_endpoint(
    "revokeFamily",
    "Revoke one refresh-token family and the access tokens it issued",
    NO_CONTENT,
    writes=True,
)
async def revoke_family(call: AdminCall) -> None:
    await call.admin.RevokeGrants(
        token_pb2.RevokeGrantsRequest(family_id=call.path("family_id"), actor=call.actor)
    )


@admin_endpoint(
    "revokeGrants",
    "Revoke every grant of one user or one client (exactly one)",
    ok(Revoked),
    parameters=GRANT_SELECTORS,
    writes=True,
)
async def revoke_grants(call: AdminCall) -> Revoked:
    """Every family (and consent) of one user or one client: exactly one selector."""
    user_id, client_id = _grant_selector(call)
    if user_id and client_id:
        raise InvalidRequest("Give only one of 'user_id' and 'client_id'")
    revoked = await call.admin.RevokeGrants(
        token_pb2.RevokeGrantsRequest(subject=user_id, client_id=client_id, actor=call.actor)
    )
    return Revoked(revoked=revoked.families_revoked)


# --- signing keys ------------------------------------------------------------------------


@admin_endpoint("listKeys", "List the signing keys", ok(KeyList))
async def list_keys(call: AdminCall) -> KeyList:
    found = await call.admin.ListSigningKeys(empty_pb2.Empty())
    return KeyList(items=[convert.key_of(k) for k in found.keys])


@admin_endpoint(
    "rotateKey",
    "A new active key; the former one stays published as 'previous'",
    created(Key),
    body=bodies.KeyRotation,
    body_required=False,
    writes=True,
)
async def rotate_key(call: AdminCall, body: bodies.KeyRotation) -> Key:
    request = convert.rotate_key_request(body)
    request.actor.CopyFrom(call.actor)
    return convert.key_of(await call.admin.RotateSigningKey(request))


@admin_endpoint(
    "retireKey",
    "Retire a key now: it leaves the JWKS and its tokens become inactive",
    ok(Key),
    writes=True,
)
async def retire_key(call: AdminCall) -> Key:
    key = await call.admin.RetireSigningKey(
        token_pb2.RetireSigningKeyRequest(kid=call.path("kid"), actor=call.actor)
    )
    return convert.key_of(key)


# --- stats, audit, registration tokens ------------------------------------------------------


@admin_endpoint("getStats", "Counts", ok(Stats))
async def stats(call: AdminCall) -> Stats:
    return convert.stats_of(await call.admin.GetStats(empty_pb2.Empty()))


AUDIT_FILTERS = (
    Param("action"),
    Param("actor", "e.g. client:<client_id>"),
    Param("target", "e.g. user:<user_id>"),
    Param("outcome", schema={"type": "string", "enum": list(convert.OUTCOMES)}),
    Param("since", "RFC 3339", schema={"type": "string", "format": "date-time"}),
    Param("until", "RFC 3339", schema={"type": "string", "format": "date-time"}),
)


@admin_endpoint(
    "listAuditEvents",
    "The audit log, newest first",
    ok(AuditEventList),
    parameters=[*AUDIT_FILTERS, *PAGING],
)
async def list_events(call: AdminCall) -> AuditEventList:
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
    return AuditEventList.of([convert.event_of(e) for e in found.events], found.page)


@admin_endpoint(
    "createRegistrationToken",
    "Issue an initial access token for dynamic registration (RFC 7591 section 3)",
    created(RegistrationToken),
    body=bodies.RegistrationTokenRequest,
    body_required=False,
    writes=True,
)
async def create_registration_token(
    call: AdminCall, body: bodies.RegistrationTokenRequest
) -> RegistrationToken:
    """An initial access token for protected dynamic registration (RFC 7591 section 3)."""
    request = convert.initial_access_token_request(body)
    request.actor.CopyFrom(call.actor)
    answer = await call.admin.CreateInitialAccessToken(request)
    return RegistrationToken(
        initial_access_token=answer.initial_access_token,
        expires_at=convert.rfc3339(answer.expires_at),
    )


def route(path: str, **endpoints: Endpoint) -> Route:
    """One route per path, so that a 405 names every method the path allows."""
    return Route(PREFIX + path, by_method(endpoints), methods=list(endpoints))


ROUTES: list[BaseRoute] = [
    route("/clients", GET=list_clients, POST=create_client),
    route("/clients/{client_id}", GET=get_client, PATCH=update_client, DELETE=delete_client),
    route("/clients/{client_id}/secret", POST=rotate_client_secret),
    route("/resources", GET=list_resources, POST=create_resource),
    # The rest of the path: an identifier is a URI (see "resource servers" above).
    route(
        "/resources/{identifier:path}",
        GET=get_resource,
        PATCH=update_resource,
        DELETE=delete_resource,
    ),
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
