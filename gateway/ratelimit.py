"""Rate limits at the edge (docs/operators.md, "Rate limits").

GCRA, the generic cell rate algorithm, counted where every gateway replica sees the
same numbers: one atomic Lua script in Redis, or the in-process stand-in on the
embedded default (``KeyValue.gcra`` in common/kv.py, one Protocol for both). Each
limit is a setting ``"<requests>/<unit> burst <n>"`` (gateway/settings.py) and is
keyed by what it limits: a client_id, an address (gateway/client_address.py) or a
username, hashed so that no key grows with the input.

Two places apply them, both before any downstream call, Argon2 or signing:

- :class:`RateLimitMiddleware`, for what the path and the address say: per address
  on ``POST /login``, ``POST /oauth/register``, ``POST /device`` (user_code
  guesses, RFC 8628 section 5.1), the sign-in pages, discovery, JWKS and userinfo;
  per client on the RFC 7592 ``/oauth/register/{client_id}``;
- :func:`limit_client` and :func:`limit_user`, called by the endpoints once the form
  is read: per client on the token, introspection and revocation endpoints (the
  client_id from Basic or the form, *not* verified: the point is to stop secret
  guessing before the token service works; requests naming no client count per
  address, and a generous per-address limit over all of them stops made-up
  client_ids from buying unlimited calls), and per username on ``POST /login``.

Over a limit: 429 with ``Retry-After`` (whole seconds, rounded up); the OAuth
endpoints answer RFC 6749 section 5.2 JSON ``{"error": "slow_down"}`` (the code
this server uses for every 429, and the one RFC 8628 section 3.5 already tells
clients to back off on), the pages an HTML page. Each refusal counts in
``oauth2_rate_limited_total{limit}``, and the first one per key and window is an
audit event ``rate_limit.exceeded``.

When Redis does not answer the limiter fails open: the request goes on, a warning is
logged (at most every few seconds) and ``oauth2_rate_limit_errors_total`` counts it.
A Redis outage must not take the sign-in down; the socket timeout of common.kv
bounds the wait.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from common.errors import OAuthError, SlowDown
from common.kv import Cell, KeyValue
from common.vocabulary import AuditOutcome
from gateway.client_address import client_address
from gateway.client_auth import parse_basic_authorization
from gateway.errors import error_response
from gateway.forms import Form
from gateway.metrics import RATE_LIMIT_ERRORS, RATE_LIMITED
from gateway.pages import PAGE_PATHS, error_page
from gateway.settings import GatewaySettings, Rate
from gateway.state import audit_of, settings_of

log = logging.getLogger(__name__)

AUDIT_ACTION: Final = "rate_limit.exceeded"
#: The actor of a refused request: nobody was authenticated before the limit applied.
ANONYMOUS: Final = "anonymous"
#: Seconds between two "limiter unavailable" warnings.
WARN_EVERY_SECONDS: Final = 10.0
#: The longest identity quoted in an audit event.
MAX_AUDITED_IDENTITY: Final = 200


@dataclass(frozen=True)
class Limit:
    """One limit: its name (the metric label, the key, the audit detail), what it
    is keyed by, and the setting that holds its rate."""

    name: str
    keyed_by: str  # "client" | "address" | "username"
    setting: str

    def rate(self, settings: GatewaySettings) -> Rate:
        rate: Rate = getattr(settings, self.setting)
        return rate


TOKEN_PER_CLIENT = Limit("token_per_client", "client", "rate_limit_token_per_client")
INTROSPECT_PER_CLIENT = Limit("introspect_per_client", "client", "rate_limit_introspect_per_client")
REVOKE_PER_CLIENT = Limit("revoke_per_client", "client", "rate_limit_revoke_per_client")
PAR_PER_CLIENT = Limit("par_per_client", "client", "rate_limit_par_per_client")
DEVICE_AUTHORIZATION_PER_CLIENT = Limit(
    "device_authorization_per_client", "client", "rate_limit_device_authorization_per_client"
)
DEVICE_VERIFICATION_PER_ADDRESS = Limit(
    "device_verification_per_address", "address", "rate_limit_device_verification_per_address"
)
CLIENT_PER_ADDRESS = Limit("client_per_address", "address", "rate_limit_client_per_address")
OAUTH_PER_ADDRESS = Limit("oauth_per_address", "address", "rate_limit_oauth_per_address")
REGISTRATION_PER_CLIENT = Limit(
    "registration_per_client", "client", "rate_limit_registration_per_client"
)
REGISTER_PER_ADDRESS = Limit("register_per_address", "address", "rate_limit_register_per_address")
LOGIN_PER_ADDRESS = Limit("login_per_address", "address", "rate_limit_login_per_address")
LOGIN_PER_USER = Limit("login_per_user", "username", "rate_limit_login_per_user")
PAGES_PER_ADDRESS = Limit("pages_per_address", "address", "rate_limit_pages_per_address")
PUBLIC_PER_ADDRESS = Limit("public_per_address", "address", "rate_limit_public_per_address")

#: The pages: over a limit they answer HTML, everything else JSON.
PAGES: Final = PAGE_PATHS
#: Cheap public documents and userinfo, limited per address.
PUBLIC: Final = frozenset(
    {
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
        "/oauth/jwks",
        "/oauth/userinfo",
    }
)
REGISTRATION_PREFIX: Final = "/oauth/register/"


class RateLimiter:
    """The limits of one gateway process over the shared KeyValue."""

    def __init__(self, kv: KeyValue, settings: GatewaySettings) -> None:
        self._kv = kv
        self._settings = settings
        self._warned_at = -math.inf

    @property
    def enabled(self) -> bool:
        return self._settings.rate_limits_enabled

    async def first_refused(self, checks: Sequence[tuple[Limit, str]]) -> tuple[int, int] | None:
        """The limits in order, in one round trip to Redis: None when every one
        admits the request, else (the index of the first that refused, the whole
        seconds to wait); the limits after a refusal are not counted."""
        settings = self._settings
        cells = []
        for limit, identity in checks:
            rate = limit.rate(settings)
            cells.append(Cell(_key(limit, identity), rate.per_second, rate.burst))
        try:
            index, wait = await self._kv.gcra_all(cells)
        except (RedisError, OSError, TimeoutError):
            for limit, _ in checks:
                RATE_LIMIT_ERRORS.labels(limit.name).inc()
            now = time.monotonic()
            if now - self._warned_at >= WARN_EVERY_SECONDS:
                self._warned_at = now
                log.warning("rate limiter unavailable (Redis); admitting requests unlimited")
            return None
        return None if index is None else (index, max(1, math.ceil(wait)))

    async def first_refusal(self, limit: Limit, identity: str, window: float) -> bool:
        """True once per key and window: the refusal worth an audit event."""
        marker = "ratelimit:audited:" + _key(limit, identity).removeprefix("ratelimit:")
        try:
            return await self._kv.set_if_absent(marker, "1", ttl=max(1.0, window))
        except (RedisError, OSError, TimeoutError):
            return False


def address_key(address: str, ipv6_prefix: int) -> str:
    """What a per-address limit counts: the address, or for IPv6 its network of
    ``ipv6_prefix`` bits (``2001:db8::/64``), which one host can rotate through."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address) and ipv6_prefix < 128:
        return str(ipaddress.IPv6Network((parsed, ipv6_prefix), strict=False))
    return str(parsed)


def _key(limit: Limit, identity: str) -> str:
    # The digest is the key's hash tag: on Redis Cluster every limit of one identity
    # is in one slot (the two per-address limits of a request naming no client go in
    # one script), while the identities spread over the nodes.
    digest = hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"ratelimit:{limit.name}:{{{digest}}}"


def limiter_of(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


async def check(request: Request, limit: Limit, identity: str, *, page: bool) -> Response | None:
    """None when the request may go on; else the 429 to send."""
    retry_after = await refusal(request, limit, identity)
    return None if retry_after is None else too_many_requests(request, retry_after, page=page)


async def refusal(request: Request, limit: Limit, identity: str) -> int | None:
    """None when the request may go on; else the seconds to wait, and the refusal
    is counted and, the first time in a window, audited."""
    refused = await first_refusal(request, ((limit, identity),))
    return None if refused is None else refused[1]


async def first_refusal(
    request: Request, checks: Sequence[tuple[Limit, str]]
) -> tuple[Limit, int] | None:
    """:func:`refusal` for several limits applied in order in one round trip: None
    when the request may go on, else the limit that refused and the seconds to wait."""
    limiter = limiter_of(request)
    if not limiter.enabled:
        return None
    ipv6_prefix = settings_of(request).rate_limit_ipv6_prefix
    keyed = [
        (limit, address_key(identity, ipv6_prefix) if limit.keyed_by == "address" else identity)
        for limit, identity in checks
    ]
    refused = await limiter.first_refused(keyed)
    if refused is None:
        return None
    index, retry_after = refused
    limit, identity = keyed[index]
    RATE_LIMITED.labels(limit.name).inc()
    rate = limit.rate(settings_of(request))
    if await limiter.first_refusal(limit, identity, rate.burst / rate.per_second):
        audit_of(request).report(
            AUDIT_ACTION,
            target=f"{limit.keyed_by}:{identity[:MAX_AUDITED_IDENTITY]}",
            outcome=AuditOutcome.DENIED,
            # Nothing was verified yet: the client_id is only what the request named,
            # so it is the target, never the actor.
            actor=ANONYMOUS,
            remote_addr=client_address(request.scope),
            details={
                "limit": limit.name,
                "path": request.url.path[:MAX_AUDITED_IDENTITY],
                "rate": str(rate),
            },
        )
    return limit, retry_after


def too_many_requests(request: Request, retry_after: int, *, page: bool) -> Response:
    headers = {"Retry-After": str(retry_after)}
    if page:
        return error_page(
            request,
            f"Too many requests. Try again in {_seconds(retry_after)}.",
            status_code=429,
            title="Too many requests",
            headers=headers,
        )
    error = SlowDown(f"Too many requests; retry after {_seconds(retry_after)}")
    return error_response(error, headers=headers)


def _seconds(n: int) -> str:
    return "1 second" if n == 1 else f"{n} seconds"


def client_id_hint(request: Request, form: Form) -> str:
    """The client_id the request names (Basic or the form), unverified; "" for none."""
    header = request.headers.get("authorization")
    if header is not None:
        try:
            return parse_basic_authorization(header)[0]
        except OAuthError:
            return ""
    return form.get("client_id")


async def limit_client(request: Request, limit: Limit, form: Form) -> Response | None:
    """Per address (``oauth_per_address``), then per client_id, or per address
    (``client_per_address``) when none is named: both in one round trip, and the
    second is not counted when the first refuses."""
    address = client_address(request.scope)
    client_id = client_id_hint(request, form)
    second = (limit, client_id) if client_id else (CLIENT_PER_ADDRESS, address)
    refused = await first_refusal(request, ((OAUTH_PER_ADDRESS, address), second))
    return None if refused is None else too_many_requests(request, refused[1], page=False)


async def limit_user(request: Request, username: str) -> int | None:
    """``login_per_user``: None, or the seconds to wait; the caller renders its own
    page (the login form)."""
    return await refusal(request, LOGIN_PER_USER, username.casefold())


def address_limit(method: str, path: str) -> Limit | None:
    """The per-address limit of a request by its method and path."""
    if path == "/login" and method == "POST":
        return LOGIN_PER_ADDRESS
    if path == "/oauth/register" and method == "POST":
        return REGISTER_PER_ADDRESS
    if path == "/device" and method == "POST":
        return DEVICE_VERIFICATION_PER_ADDRESS
    if path in PAGES:
        return PAGES_PER_ADDRESS
    if path in PUBLIC:
        return PUBLIC_PER_ADDRESS
    return None


class RateLimitMiddleware:
    """The limits the path and the address decide, before the route runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = path_limit(scope) if scope["type"] == "http" else None
        if found is not None:
            limit, identity = found
            page = scope["path"] in PAGES
            refused = await check(Request(scope, receive), limit, identity, page=page)
            if refused is not None:
                await refused(scope, receive, send)
                return
        await self.app(scope, receive, send)


def path_limit(scope: Scope) -> tuple[Limit, str] | None:
    """The limit the path and the address decide, and what it counts; None for
    the paths whose limits need the form (token, introspection, revocation: the
    routes apply those), so they cost nothing here."""
    path, method = scope["path"], scope["method"]
    if path.startswith(REGISTRATION_PREFIX) and len(path) > len(REGISTRATION_PREFIX):
        return REGISTRATION_PER_CLIENT, path[len(REGISTRATION_PREFIX) :]
    limit = address_limit(method, path)
    return None if limit is None else (limit, client_address(scope))
