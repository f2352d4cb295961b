"""A client's public keys (common.client_keys): the key a JWS names (or the only one
that fits), what a registered set may not hold, and a jwks_uri fetched once, kept,
refetched for a rotated kid at most every refetch_seconds, refused when it answers
anything but a JWK Set of public keys. Keys are made with joserfc, a JOSE library
other than the PyJWT the code verifies with; the jwks_uri is an httpx.MockTransport
and the cache reads a settable clock."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import jwt
import pytest
from joserfc import jwt as jose_jwt
from joserfc.jwk import ECKey, OKPKey, RSAKey

from common.client_keys import ClientKeySets, ClientKeysUnavailable, NoSuchKey, parse_key_set

URI = "https://client.example.com/jwks.json"

RSA_A = RSAKey.generate_key(2048, parameters={"kid": "rsa-a"})
RSA_B = RSAKey.generate_key(2048, parameters={"kid": "rsa-b"})
EC_A = ECKey.generate_key("P-256", parameters={"kid": "ec-a"})
ED_A = OKPKey.generate_key("Ed25519", parameters={"kid": "ed-a"})

Key = RSAKey | ECKey | OKPKey


def key_set(*keys: Key | dict[str, Any]) -> dict[str, Any]:
    """A JWK Set of the public halves (dicts are taken as they are)."""
    return {"keys": [key if isinstance(key, dict) else key.as_dict(private=False) for key in keys]}


def registered(*keys: Key | dict[str, Any]) -> str:
    """The registered ``jwks`` value: the JSON text of the set."""
    return json.dumps(key_set(*keys))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class JwksServer:
    """The client's jwks_uri: answers ``document`` (or what ``answer`` says) and
    counts the requests."""

    def __init__(self, document: dict[str, Any] | None = None) -> None:
        self.document = document if document is not None else key_set(RSA_A)
        self.answer: Callable[[httpx.Request], httpx.Response] | None = None
        self.delay = 0.0
        self.requests: list[httpx.Request] = []

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.answer is not None:
            return self.answer(request)
        return httpx.Response(200, json=self.document)

    @property
    def calls(self) -> int:
        return len(self.requests)


@pytest.fixture
def server() -> JwksServer:
    return JwksServer()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def keys(server: JwksServer, clock: Clock) -> ClientKeySets:
    return ClientKeySets(
        cache_seconds=300,
        refetch_seconds=30,
        transport=httpx.MockTransport(server.handle),
        clock=clock,
    )


def fetched(keys: ClientKeySets, alg: str, kid: str | None) -> Awaitable[jwt.PyJWK]:
    return keys.verification_key(jwks="", jwks_uri=URI, alg=alg, kid=kid)


def signed_by(key: Key, alg: str) -> str:
    return jose_jwt.encode({"alg": alg}, {"sub": "x"}, key, algorithms=[alg])


# -- a registered jwks -----------------------------------------------------------------


async def test_the_kid_names_the_key_of_a_registered_set() -> None:
    jwks = registered(RSA_A, RSA_B, EC_A)
    found = await ClientKeySets().verification_key(jwks=jwks, jwks_uri="", alg="RS256", kid="rsa-b")
    assert found.key_id == "rsa-b"
    # It is that key: it verifies what RSA_B signed, not what RSA_A signed.
    assert jwt.decode(signed_by(RSA_B, "RS256"), key=found.key, algorithms=["RS256"]) == {
        "sub": "x"
    }
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(signed_by(RSA_A, "RS256"), key=found.key, algorithms=["RS256"])


@pytest.mark.parametrize(
    ("alg", "kid"), [("RS256", "rsa-a"), ("PS256", "rsa-a"), ("ES256", "ec-a"), ("EdDSA", "ed-a")]
)
async def test_without_kid_the_only_key_that_fits_the_alg_is_chosen(alg: str, kid: str) -> None:
    jwks = registered(RSA_A, EC_A, ED_A)
    found = await ClientKeySets().verification_key(jwks=jwks, jwks_uri="", alg=alg, kid=None)
    assert found.key_id == kid


async def test_several_fitting_keys_and_no_kid_is_no_such_key() -> None:
    jwks = registered(RSA_A, RSA_B, EC_A)
    with pytest.raises(NoSuchKey, match="several keys fit"):
        await ClientKeySets().verification_key(jwks=jwks, jwks_uri="", alg="RS256", kid=None)


async def test_a_key_of_another_kty_or_use_or_alg_is_skipped() -> None:
    same_kid = {**EC_A.as_dict(private=False), "kid": "k"}
    rsa = {**RSA_A.as_dict(private=False), "kid": "k"}
    keys = ClientKeySets()
    # Two keys named "k": the EC one cannot verify RS256, so the RSA one is the only fit.
    found = await keys.verification_key(
        jwks=registered(same_kid, rsa), jwks_uri="", alg="RS256", kid="k"
    )
    assert found.key_type == "RSA"
    for unfit in (
        EC_A.as_dict(private=False),  # EC for an RSA alg
        {**RSA_A.as_dict(private=False), "use": "enc"},  # not a signing key
        {**RSA_A.as_dict(private=False), "alg": "PS256"},  # registered for another alg
    ):
        with pytest.raises(NoSuchKey, match="no key of the client's set fits"):
            await keys.verification_key(jwks=registered(unfit), jwks_uri="", alg="RS256", kid=None)


async def test_an_unknown_kid_or_no_keys_at_all_is_no_such_key() -> None:
    keys = ClientKeySets()
    with pytest.raises(NoSuchKey, match="kid 'nope'"):
        await keys.verification_key(jwks=registered(RSA_A), jwks_uri="", alg="RS256", kid="nope")
    with pytest.raises(NoSuchKey, match="registered no keys"):
        await keys.verification_key(jwks="", jwks_uri="", alg="RS256", kid=None)


@pytest.mark.parametrize(
    ("jwks", "reason"),
    [
        pytest.param(registered(RSA_A.as_dict(private=True)), "private", id="rsa-private"),
        pytest.param(registered(EC_A.as_dict(private=True)), "private", id="ec-private"),
        pytest.param(registered({"kty": "oct", "k": "c2VjcmV0"}), "symmetric", id="oct"),
        pytest.param(registered(RSA_A, {**EC_A.as_dict(), "d": "x"}), "private", id="one-of-2"),
        pytest.param("not json", "not JSON", id="not-json"),
        pytest.param('{"keys": []}', "no 'keys' array", id="empty"),
        pytest.param('[{"kty": "RSA"}]', "no 'keys' array", id="not-a-set"),
        pytest.param('{"keys": ["RSA"]}', "not a JSON object", id="not-a-key"),
        pytest.param(registered(*[RSA_A] * 21), "more than 20", id="too-many"),
    ],
)
async def test_an_unusable_registered_set_is_unavailable(jwks: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_key_set(jwks)
    with pytest.raises(ClientKeysUnavailable, match=reason):
        await ClientKeySets().verification_key(jwks=jwks, jwks_uri="", alg="RS256", kid=None)


# -- a jwks_uri ---------------------------------------------------------------------


async def test_a_jwks_uri_is_fetched_once_and_kept_cache_seconds(
    keys: ClientKeySets, server: JwksServer, clock: Clock
) -> None:
    assert (await fetched(keys, "RS256", "rsa-a")).key_id == "rsa-a"
    assert server.calls == 1
    request = server.requests[0]
    assert str(request.url) == URI and request.headers["accept"] == "application/json"
    for _ in range(3):
        clock.advance(99)
        assert (await fetched(keys, "RS256", None)).key_id == "rsa-a"
    assert server.calls == 1  # 297 s: still the cached set
    clock.advance(3)
    server.document = key_set(RSA_B)
    assert (await fetched(keys, "RS256", None)).key_id == "rsa-b"
    assert server.calls == 2


async def test_an_unknown_kid_refetches_at_most_every_refetch_seconds(
    keys: ClientKeySets, server: JwksServer, clock: Clock
) -> None:
    await fetched(keys, "RS256", "rsa-a")
    server.document = key_set(RSA_A, RSA_B)  # the client rotates
    clock.advance(5)
    # Within refetch_seconds of the fetch, a new kid costs no fetch.
    with pytest.raises(NoSuchKey):
        await fetched(keys, "RS256", "rsa-b")
    assert server.calls == 1
    clock.advance(26)
    # Past it, the unknown kid refetches once and finds the rotated key.
    assert (await fetched(keys, "RS256", "rsa-b")).key_id == "rsa-b"
    assert server.calls == 2
    # A flood of made-up kids within refetch_seconds of that fetch: no more fetches.
    for n in range(10):
        clock.advance(1)
        with pytest.raises(NoSuchKey, match=f"kid 'made-up-{n}'"):
            await fetched(keys, "RS256", f"made-up-{n}")
    assert server.calls == 2
    # No kid and no fitting key: nothing to look again for.
    clock.advance(60)
    with pytest.raises(NoSuchKey):
        await fetched(keys, "ES256", None)
    assert server.calls == 2


async def test_a_failed_fetch_is_the_answer_until_refetch_seconds(
    keys: ClientKeySets, server: JwksServer, clock: Clock
) -> None:
    server.answer = lambda _: httpx.Response(503)
    with pytest.raises(ClientKeysUnavailable, match="HTTP 503"):
        await fetched(keys, "RS256", None)
    server.answer = None
    # A URI that is down is not asked again by every request...
    clock.advance(29)
    with pytest.raises(ClientKeysUnavailable, match="HTTP 503"):
        await fetched(keys, "RS256", None)
    assert server.calls == 1
    # ...but once refetch_seconds have passed.
    clock.advance(2)
    assert (await fetched(keys, "RS256", None)).key_id == "rsa-a"
    assert server.calls == 2


def _raise(error: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def answer(request: httpx.Request) -> httpx.Response:
        raise error

    return answer


BIG = json.dumps(key_set(RSA_A)) + " " * 70_000  # valid JSON, over 64 KiB


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        pytest.param(lambda _: httpx.Response(500), "HTTP 500", id="500"),
        pytest.param(lambda _: httpx.Response(404), "HTTP 404", id="404"),
        pytest.param(
            lambda _: httpx.Response(204, json=key_set(RSA_A)), "HTTP 204", id="204-with-a-set"
        ),
        pytest.param(
            lambda _: httpx.Response(302, headers={"Location": URI + "?moved"}),
            "HTTP 302",
            id="302-not-followed",
        ),
        pytest.param(lambda _: httpx.Response(200, text=BIG), "over 65536 bytes", id="oversize"),
        pytest.param(lambda _: httpx.Response(200, text="<html>"), "not JSON", id="html"),
        pytest.param(lambda _: httpx.Response(200, json=[1]), "not a JWK Set", id="not-a-set"),
        pytest.param(
            lambda _: httpx.Response(200, json=key_set(RSA_A.as_dict(private=True))),
            "private",
            id="private-key",
        ),
        pytest.param(_raise(httpx.ConnectTimeout("slow")), "in time", id="connect-timeout"),
        pytest.param(_raise(httpx.ReadTimeout("slow")), "in time", id="read-timeout"),
        pytest.param(_raise(httpx.ConnectError("refused")), "in time", id="connect-error"),
    ],
)
async def test_a_jwks_uri_that_answers_no_usable_set_is_unavailable(
    keys: ClientKeySets,
    server: JwksServer,
    answer: Callable[[httpx.Request], httpx.Response],
    reason: str,
) -> None:
    server.answer = answer
    with pytest.raises(ClientKeysUnavailable, match=reason):
        await fetched(keys, "RS256", None)
    # One request: a redirect is not followed.
    assert server.calls == 1


async def test_max_bytes_is_the_largest_body_taken(server: JwksServer) -> None:
    body = json.dumps(key_set(RSA_A))
    keys = ClientKeySets(max_bytes=len(body), transport=httpx.MockTransport(server.handle))
    server.answer = lambda _: httpx.Response(200, text=body)
    assert (await fetched(keys, "RS256", None)).key_id == "rsa-a"
    keys = ClientKeySets(max_bytes=len(body) - 1, transport=httpx.MockTransport(server.handle))
    with pytest.raises(ClientKeysUnavailable, match="over"):
        await fetched(keys, "RS256", None)


async def test_http_is_refused_unless_allowed(server: JwksServer) -> None:
    transport = httpx.MockTransport(server.handle)
    plain = "http://client.example.com/jwks.json"
    for uri in (plain, "ftp://client.example.com/jwks.json", "client.example.com/jwks"):
        with pytest.raises(ClientKeysUnavailable, match="not an https URL"):
            await ClientKeySets(transport=transport).verification_key(
                jwks="", jwks_uri=uri, alg="RS256", kid=None
            )
    assert server.calls == 0
    allowed = ClientKeySets(allow_http=True, transport=transport)
    found = await allowed.verification_key(jwks="", jwks_uri=plain, alg="RS256", kid=None)
    assert found.key_id == "rsa-a" and server.calls == 1


async def test_concurrent_lookups_of_one_uri_are_one_fetch(
    keys: ClientKeySets, server: JwksServer
) -> None:
    server.document = key_set(RSA_A, EC_A)
    server.delay = 0.05
    found = await asyncio.gather(
        *(fetched(keys, "RS256", "rsa-a") for _ in range(5)),
        *(fetched(keys, "ES256", None) for _ in range(5)),
    )
    assert [key.key_id for key in found] == ["rsa-a"] * 5 + ["ec-a"] * 5
    assert server.calls == 1


async def test_a_jwks_uri_that_trickles_its_body_is_cut_off_at_timeout_seconds() -> None:
    """The module promises a fetch 'with a deadline (timeout_seconds)'. A server that
    sends its (small, valid) set a few bytes at a time, each within the read timeout,
    holds the fetch (and the URI's lock, which every lookup of it waits on) far longer."""
    document = json.dumps(key_set(RSA_A)).encode()

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(document)
            )
            for start in range(0, len(document), 50):
                await asyncio.sleep(0.15)
                writer.write(document[start : start + 50])
                await writer.drain()
            writer.close()
            await writer.wait_closed()

    listener = await asyncio.start_server(trickle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    keys = ClientKeySets(timeout_seconds=0.3, allow_http=True)
    started = time.monotonic()
    try:
        with pytest.raises(ClientKeysUnavailable):
            await keys.verification_key(
                jwks="", jwks_uri=f"http://127.0.0.1:{port}/jwks", alg="RS256", kid=None
            )
    finally:
        listener.close()
        await listener.wait_closed()
    assert time.monotonic() - started < 1.0
