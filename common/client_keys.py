"""The public keys a client registered (RFC 7591 section 2: ``jwks`` or ``jwks_uri``),
for verifying what it signs: request objects (RFC 9101) and client assertions
(RFC 7523).

A ``jwks`` value is the registered JWK Set itself (the clients service validated it).
A ``jwks_uri`` is fetched with a deadline (``timeout_seconds``), without following
redirects, refusing a body over ``max_bytes`` or anything but a JWK Set of public
keys, and kept ``cache_seconds``. A ``kid`` the cached set does not have triggers one
refetch, at most every ``refetch_seconds`` per URI (the client rotated its keys; a
flood of made-up kids costs one fetch). Concurrent fetches of one URI are one; a
fetch that failed is the answer for ``refetch_seconds`` (a URI that is down is not
asked again by every request). ``timeout_seconds`` bounds the whole fetch.

Failures are :class:`ClientKeysUnavailable` (the URI did not answer a usable set) or
:class:`NoSuchKey` (no key of the set fits): the caller turns them into its own error
(``invalid_request_object``, ``invalid_client``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

import httpx
import jwt

log = logging.getLogger(__name__)

#: JWK members that only a private (or symmetric) key has (RFC 7517, RFC 7518 section 6).
PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
#: The most keys taken from one set.
MAX_KEYS: Final = 20


class ClientKeySource(Protocol):
    """:class:`ClientKeySets`: the client's key for a JWS it signed."""

    async def verification_key(
        self, *, jwks: str, jwks_uri: str, alg: str, kid: str | None
    ) -> jwt.PyJWK: ...


class ClientKeySetSource(Protocol):
    """:class:`ClientKeySets`: the client's whole set of public JWKs (RFC 8705
    section 2.2: a self-signed TLS certificate's key must be one of them)."""

    async def key_set(
        self, *, jwks: str, jwks_uri: str, refetch: bool = False
    ) -> tuple[dict[str, Any], ...]: ...


class ClientKeysUnavailable(Exception):
    """The client's jwks_uri could not be fetched, or did not hold a usable JWK Set."""


class NoSuchKey(Exception):
    """No key of the client's set verifies this algorithm (and kid)."""


@dataclass(frozen=True, slots=True)
class _Cached:
    keys: tuple[dict[str, Any], ...]
    fetched_at: float
    #: The fetch failed: this error is the answer until ``refetch_seconds`` pass.
    failure: str = ""


def parse_key_set(raw: str | bytes) -> tuple[dict[str, Any], ...]:
    """The public JWKs of a JWK Set document; ValueError for anything else."""
    try:
        document = json.loads(raw)
    except ValueError:
        raise ValueError("not JSON") from None
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list) or not keys:
        raise ValueError("not a JWK Set (no 'keys' array)")
    if len(keys) > MAX_KEYS:
        raise ValueError(f"more than {MAX_KEYS} keys")
    public: list[dict[str, Any]] = []
    for key in keys:
        if not isinstance(key, dict):
            raise ValueError("a key is not a JSON object")
        if PRIVATE_MEMBERS & key.keys():
            raise ValueError("the set holds private or symmetric key material")
        public.append(key)
    return tuple(public)


class ClientKeySets:
    def __init__(
        self,
        *,
        timeout_seconds: float = 5.0,
        max_bytes: int = 64 * 1024,
        cache_seconds: float = 300.0,
        refetch_seconds: float = 30.0,
        allow_http: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._timeout = timeout_seconds
        self._max_bytes = max_bytes
        self._cache_seconds = cache_seconds
        self._refetch_seconds = refetch_seconds
        self._allow_http = allow_http
        self._transport = transport
        self._clock = clock
        self._cache: dict[str, _Cached] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def verification_key(
        self, *, jwks: str, jwks_uri: str, alg: str, kid: str | None
    ) -> jwt.PyJWK:
        """The client's key for ``alg`` (and ``kid`` when the JWS names one)."""
        if jwks:
            try:
                keys = parse_key_set(jwks)
            except ValueError as exc:
                raise ClientKeysUnavailable(f"the registered jwks is unusable: {exc}") from None
            return _select(keys, alg, kid)
        if not jwks_uri:
            raise NoSuchKey("the client registered no keys (jwks or jwks_uri)")
        keys = await self._fetched(jwks_uri, stale_if_older_than=None)
        try:
            return _select(keys, alg, kid)
        except NoSuchKey:
            if kid is None:
                raise
            # The client may have rotated: look again, but not more often than allowed.
            fresh = await self._fetched(jwks_uri, stale_if_older_than=self._refetch_seconds)
            return _select(fresh, alg, kid)

    async def key_set(
        self, *, jwks: str, jwks_uri: str, refetch: bool = False
    ) -> tuple[dict[str, Any], ...]:
        """The client's public JWKs (validated as by :func:`parse_key_set`).
        ``refetch``: the key looked for is not in the set a ``jwks_uri`` answered, so
        fetch it again (the client may have rotated), at most every
        ``refetch_seconds``."""
        if jwks:
            try:
                return parse_key_set(jwks)
            except ValueError as exc:
                raise ClientKeysUnavailable(f"the registered jwks is unusable: {exc}") from None
        if not jwks_uri:
            raise NoSuchKey("the client registered no keys (jwks or jwks_uri)")
        return await self._fetched(
            jwks_uri, stale_if_older_than=self._refetch_seconds if refetch else None
        )

    async def _fetched(
        self, uri: str, *, stale_if_older_than: float | None
    ) -> tuple[dict[str, Any], ...]:
        lock = self._locks.setdefault(uri, asyncio.Lock())
        async with lock:
            cached = self._cache.get(uri)
            now = self._clock()
            if cached is not None:
                age = now - cached.fetched_at
                if cached.failure:
                    if age < self._refetch_seconds:
                        # A URI that just failed is not asked again at once.
                        raise ClientKeysUnavailable(cached.failure)
                elif age < self._cache_seconds and (
                    stale_if_older_than is None or age < stale_if_older_than
                ):
                    return cached.keys
            try:
                async with asyncio.timeout(self._timeout):
                    keys = await self._fetch(uri)
            except TimeoutError:
                failure = "the jwks_uri did not answer in time"
                self._cache[uri] = _Cached((), self._clock(), failure)
                raise ClientKeysUnavailable(failure) from None
            except ClientKeysUnavailable as exc:
                self._cache[uri] = _Cached((), self._clock(), str(exc))
                raise
            self._cache[uri] = _Cached(keys, self._clock())
            return keys

    async def _fetch(self, uri: str) -> tuple[dict[str, Any], ...]:
        if not (uri.startswith("https://") or (self._allow_http and uri.startswith("http://"))):
            raise ClientKeysUnavailable("the jwks_uri is not an https URL")
        try:
            async with (
                httpx.AsyncClient(
                    timeout=self._timeout, follow_redirects=False, transport=self._transport
                ) as http,
                http.stream("GET", uri, headers={"Accept": "application/json"}) as response,
            ):
                if response.status_code != 200:
                    raise ClientKeysUnavailable(
                        f"the jwks_uri answered HTTP {response.status_code}"
                    )
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > self._max_bytes:
                        raise ClientKeysUnavailable(
                            f"the jwks_uri's document is over {self._max_bytes} bytes"
                        )
        except httpx.HTTPError as exc:
            log.warning("fetching jwks_uri %s failed: %s", uri[:200], type(exc).__name__)
            raise ClientKeysUnavailable("the jwks_uri did not answer in time") from None
        try:
            return parse_key_set(bytes(body))
        except ValueError as exc:
            raise ClientKeysUnavailable(f"the jwks_uri's document is unusable: {exc}") from None


def _select(keys: Sequence[dict[str, Any]], alg: str, kid: str | None) -> jwt.PyJWK:
    """The key named ``kid`` (or the only one fitting ``alg`` when the JWS names
    none), as a PyJWK for ``alg``; NoSuchKey otherwise."""
    candidates = [key for key in keys if kid is None or key.get("kid") == kid]
    usable: list[jwt.PyJWK] = []
    for key in candidates:
        if key.get("use", "sig") != "sig" or key.get("alg", alg) != alg:
            continue
        try:
            usable.append(jwt.PyJWK(key, algorithm=alg))
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            continue  # another kty than alg needs
    if not usable:
        named = f"kid {kid!r} and " if kid is not None else ""
        raise NoSuchKey(f"no key of the client's set fits {named}alg {alg}")
    if len(usable) > 1:
        raise NoSuchKey("several keys fit: the JWS header must name one by 'kid'")
    return usable[0]
