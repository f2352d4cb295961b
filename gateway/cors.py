"""CORS (the Fetch standard's CORS protocol) for the endpoints browser apps call.

Which endpoints (the choice of node-oidc-provider, minus introspection):

- token (RFC 6749 section 3.2), revocation (RFC 7009) and userinfo (OpenID
  Connect Core section 5.3): a single-page app calls them itself. Client based:
  the actual response names the origin only when it is allowed for the client
  the request is about (the client authenticating at token and revocation, the
  access token's client at userinfo). A cross-origin request whose origin that
  client does not allow is refused with ``invalid_request`` before any work is
  done, as node-oidc-provider's ``clientBasedCORS`` does: no token is minted for
  a page that may not read it.
- JWKS and the two discovery documents: public, but still echoed only to allowed
  origins (never ``*``), which there means any client's.

Introspection (RFC 7662) is for resource servers, which are not browsers; the
authorization endpoint, the sign-in pages, registration, the admin API and
everything else answer no CORS header at all, so a page on another origin can
neither read them nor send them a non-simple request.

Allowed for a client: ``cors_allowed_origins`` (every client), the origins of
its redirect URIs and its ``allowed_cors_origins``. A preflight carries no
credentials, so it is answered for an origin that some client (or the global
list) allows. Credentials (cookies) are never allowed: the endpoints take
their credentials from ``Authorization`` or the body, so there is no
``Access-Control-Allow-Credentials`` and hence no ``*`` with credentials.

What the clients service says is cached for ``cors_cache_seconds``: each
client's origins in a bounded LRU keyed by client_id (one ``GetClient`` per
client and period), and the set of every client's origins from a paged
``ListClients`` walk refreshed in the background (the first request waits for
it; a failed walk is retried after a few seconds, the old set kept meanwhile).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from oauth2.v1 import clients_pb2, common_pb2
from starlette._utils import get_route_path
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.errors import InvalidRequest, OAuthError
from gateway.downstream import Downstream
from gateway.errors import error_response
from gateway.origins import origin_of
from gateway.settings import GatewaySettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CorsRoute:
    """An endpoint browser apps may call: its methods and whether the client decides."""

    methods: tuple[str, ...]
    client_based: bool


_POST = CorsRoute(("POST",), client_based=True)
_PUBLIC = CorsRoute(("GET", "HEAD"), client_based=False)

#: The endpoints that answer CORS, by path.
CORS_ROUTES: Final[dict[str, CorsRoute]] = {
    "/oauth/token": _POST,
    "/oauth/revoke": _POST,
    "/oauth/userinfo": CorsRoute(("GET", "HEAD", "POST"), client_based=True),
    "/oauth/jwks": _PUBLIC,
    "/.well-known/oauth-authorization-server": _PUBLIC,
    "/.well-known/openid-configuration": _PUBLIC,
}
#: Request headers a browser app may send (beyond the CORS-safelisted ones).
ALLOWED_HEADERS: Final = "Authorization, Content-Type, DPoP"
#: Response headers its script may read (beyond the CORS-safelisted ones).
EXPOSED_HEADERS: Final = "WWW-Authenticate, Retry-After, DPoP-Nonce"
#: Clients whose origins are kept at once; the least recently used go first.
MAX_CACHED_CLIENTS: Final = 4096
#: Clients a ListClients walk reads at most; beyond it list origins in
#: cors_allowed_origins (a preflight for a client past it is refused).
MAX_LISTED_CLIENTS: Final = 20_000
#: Seconds before a failed lookup is tried again.
RETRY_SECONDS: Final = 5.0
_LIST_PAGE_SIZE: Final = 500
_SCOPE_KEY: Final = "oauth2.cors"


def client_origins(client: clients_pb2.Client) -> frozenset[str]:
    """The origins a client allows: those of its redirect URIs, and its
    ``allowed_cors_origins`` (a field of the clients service's Client; a
    gateway talking to an older clients service sees none)."""
    explicit: Iterable[str] = getattr(client, "allowed_cors_origins", ())
    found = (origin_of(uri) for uri in (*client.redirect_uris, *explicit))
    return frozenset(origin for origin in found if origin is not None)


class CorsPolicy:
    """Which origins are allowed, from the settings and (cached) the clients service."""

    def __init__(
        self, settings: GatewaySettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.global_origins = frozenset(settings.cors_allowed_origins)
        self.own_origin = origin_of(settings.issuer)
        self.max_age = str(settings.cors_max_age_seconds)
        self._ttl = settings.cors_cache_seconds
        self._clock = clock
        self._by_client: OrderedDict[str, tuple[float, frozenset[str]]] = OrderedDict()
        self._known: frozenset[str] | None = None
        self._known_until = 0.0
        self._lock = asyncio.Lock()
        self._refreshing: asyncio.Task[None] | None = None

    async def allows_client(self, downstream: Downstream, client_id: str, origin: str) -> bool:
        """``origin`` may read the answers about ``client_id``."""
        if origin in self.global_origins:
            return True
        return bool(client_id) and origin in await self._origins_of(downstream, client_id)

    async def allows_any(self, downstream: Downstream, origin: str) -> bool:
        """``origin`` is allowed for some client (preflights, JWKS, discovery)."""
        if origin in self.global_origins:
            return True
        return origin in await self._known_origins(downstream)

    async def _origins_of(self, downstream: Downstream, client_id: str) -> frozenset[str]:
        now = self._clock()
        cached = self._by_client.get(client_id)
        if cached is not None and cached[0] > now:
            self._by_client.move_to_end(client_id)
            return cached[1]
        ttl = self._ttl
        try:
            client = await downstream.clients.call.GetClient(
                clients_pb2.GetClientRequest(client_id=client_id)
            )
            origins = client_origins(client)
        except OAuthError as exc:
            if exc.status_code >= 500:
                # The clients service is down: allow nothing now, ask again soon.
                log.warning("CORS: the origins of %s are unknown: %s", client_id, exc.error)
                ttl = min(ttl, RETRY_SECONDS)
            origins = frozenset()  # an unknown client allows no origin
        self._by_client[client_id] = (now + ttl, origins)
        self._by_client.move_to_end(client_id)
        while len(self._by_client) > MAX_CACHED_CLIENTS:
            self._by_client.popitem(last=False)
        return origins

    async def _known_origins(self, downstream: Downstream) -> frozenset[str]:
        if self._known is None:
            await self._refresh(downstream)
        elif self._clock() >= self._known_until and self._refreshing is None:
            self._refreshing = asyncio.get_running_loop().create_task(self._refresh(downstream))
            self._refreshing.add_done_callback(self._refreshed)
        return self._known or frozenset()

    def _refreshed(self, task: asyncio.Task[None]) -> None:
        self._refreshing = None

    async def _refresh(self, downstream: Downstream) -> None:
        async with self._lock:
            if self._known is not None and self._clock() < self._known_until:
                return  # another request refreshed it while this one waited
            try:
                self._known = await self._list_origins(downstream)
                self._known_until = self._clock() + self._ttl
            except OAuthError as exc:
                log.warning("CORS: the clients' origins could not be listed: %s", exc.error)
                self._known = self._known or frozenset()
                self._known_until = self._clock() + min(self._ttl, RETRY_SECONDS)

    async def _list_origins(self, downstream: Downstream) -> frozenset[str]:
        origins: set[str] = set()
        token, listed = "", 0
        while listed < MAX_LISTED_CLIENTS:
            page = await downstream.clients.call.ListClients(
                clients_pb2.ListClientsRequest(
                    page=common_pb2.PageRequest(page_size=_LIST_PAGE_SIZE, page_token=token)
                )
            )
            for client in page.clients:
                origins |= client_origins(client)
            listed += len(page.clients)
            token = page.page.next_page_token
            if not token or not page.clients:
                return frozenset(origins)
        log.warning("CORS: only the first %d clients' origins are known", MAX_LISTED_CLIENTS)
        return frozenset(origins)


@dataclass
class CrossOrigin:
    """A cross-origin request to a CORS endpoint, kept in its ASGI scope so the
    endpoint can name the client it is about (:func:`require_allowed_origin`)."""

    origin: str  # "" when the Origin header is no serialised origin
    header: str
    policy: CorsPolicy
    allowed: bool | None = None  # None: no endpoint decided


async def require_allowed_origin(request: Request, downstream: Downstream, client_id: str) -> None:
    """For a cross-origin request, ``invalid_request`` unless its origin is allowed
    for ``client_id``; the answer then carries the CORS headers."""
    cross: CrossOrigin | None = request.scope.get(_SCOPE_KEY)
    if cross is None:
        return
    cross.allowed = await cross.policy.allows_client(downstream, client_id, cross.origin)
    if not cross.allowed:
        # An Origin that is no origin ("null" from a sandboxed frame) is quoted as sent.
        named = cross.origin or cross.header[:100]
        raise InvalidRequest(f"The origin {named} is not allowed for this client")


def _add_vary_origin(headers: MutableHeaders) -> None:
    vary = [v.strip() for v in headers.get("vary", "").split(",") if v.strip()]
    if "origin" not in (v.lower() for v in vary):
        headers["Vary"] = ", ".join([*vary, "Origin"])


class CorsMiddleware:
    """Pure ASGI: answers preflights of :data:`CORS_ROUTES` and adds the CORS
    headers to their actual responses; every other path passes untouched."""

    def __init__(self, app: ASGIApp, policy: CorsPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = CORS_ROUTES.get(get_route_path(scope)) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        header = headers.get("origin")
        if header is None or header == self.policy.own_origin:
            # Not a CORS request (or same-origin), but the answer still varies
            # by Origin for any cache in between.
            await self.app(scope, receive, self._vary(send))
            return
        origin = header if origin_of(header) == header else ""  # "null" or junk: refused
        downstream: Downstream = scope["app"].state.downstream
        requested = headers.get("access-control-request-method")
        if scope["method"] == "OPTIONS" and requested is not None:
            await self._preflight(scope, receive, send, route, origin, requested, downstream)
            return
        cross = CrossOrigin(origin, header, self.policy)
        scope[_SCOPE_KEY] = cross

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer = MutableHeaders(scope=message)
                allowed = cross.allowed
                if allowed is None:
                    allowed = bool(origin) and await self.policy.allows_any(downstream, origin)
                if allowed:
                    answer["Access-Control-Allow-Origin"] = origin
                    answer["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
                _add_vary_origin(answer)
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        route: CorsRoute,
        origin: str,
        requested: str,
        downstream: Downstream,
    ) -> None:
        refusal: InvalidRequest | None = None
        if requested not in route.methods:
            refusal = InvalidRequest(f"CORS does not allow {requested[:20]} here")
        elif not origin or not await self.policy.allows_any(downstream, origin):
            refusal = InvalidRequest("The origin is not allowed")
        response = (
            error_response(refusal)
            if refusal is not None
            else Response(
                status_code=204,
                headers={
                    "Access-Control-Allow-Origin": origin,
                    "Access-Control-Allow-Methods": ", ".join(route.methods),
                    "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                    "Access-Control-Max-Age": self.policy.max_age,
                },
            )
        )
        _add_vary_origin(response.headers)
        await response(scope, receive, send)

    def _vary(self, send: Send) -> Send:
        async def send_varying(message: Message) -> None:
            if message["type"] == "http.response.start":
                _add_vary_origin(MutableHeaders(scope=message))
            await send(message)

        return send_varying
