"""JWT client authentication in the registry (RFC 7523 section 2.2, OpenID Connect
Core section 9): ``client_secret_jwt`` (an HMAC keyed by the client secret, which is
stored sealed under the key-encryption key) beside ``private_key_jwt``, one set of
claim rules for both; the method is the registered one, and each method's algs only."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import time
import uuid
import warnings
from datetime import timedelta
from typing import Any

import jwt
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from common.client_keys import ClientKeySets
from common.errors import InvalidClient, InvalidClientMetadata
from common.kek import seal, unseal
from common.kv import MemoryKeyValue
from common.replay import ReplayCache
from common.timeutil import utcnow
from services.clients.domain import ClientRegistry
from services.clients.domain.client_assertion import ClientAssertions
from services.clients.domain.client_secret import MAC_KEY_SECRET_BYTES, SealedSecrets
from services.clients.domain.model import Client, ClientMetadata
from services.clients.domain.ports import ClientStore
from services.clients.metrics import CLIENT_ASSERTIONS
from services.clients.store.cache import decode_client, encode_client
from services.clients.store.sql import SqlClientStore
from services.clients.store.tables import clients as clients_table
from services.clients.tests.fakes import MemoryClientStore
from services.clients.tests.keys import ec_jwk, ec_private_key, key_set, rsa_private_key

ISSUER = "https://auth.example.com"
TOKEN_ENDPOINT = ISSUER + "/oauth/token"
SECRET_JWT = "client_secret_jwt"
KEY_JWT = "private_key_jwt"
FAILED = "Client authentication failed"


def make_registry(store: ClientStore, kek: bytes | None = None) -> ClientRegistry:
    secrets = SealedSecrets(kek if kek is not None else os.urandom(32))
    assertions = ClientAssertions(
        ClientKeySets(),
        ReplayCache(MemoryKeyValue(), "client-assertion"),
        audiences=(ISSUER, TOKEN_ENDPOINT),
        secrets=secrets,
    )
    return ClientRegistry(store, assertions=assertions, secrets=secrets)


@pytest.fixture
def kek() -> bytes:
    return os.urandom(32)


@pytest.fixture
def registry(memory_store: MemoryClientStore, kek: bytes) -> ClientRegistry:
    return make_registry(memory_store, kek)


def claims(client_id: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    values = {
        "iss": client_id,
        "sub": client_id,
        "aud": TOKEN_ENDPOINT,
        "iat": now,
        "exp": now + 60,
        "jti": str(uuid.uuid4()),
        **overrides,
    }
    return {name: value for name, value in values.items() if value is not None}


def mac(client_id: str, secret: str | bytes, alg: str = "HS256", **overrides: Any) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    with warnings.catch_warnings():
        # A client may sign with too short a key; the registry refuses it.
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        return jwt.encode(claims(client_id, **overrides), key, algorithm=alg)


def hand_made_hs256(client_id: str, key: bytes) -> str:
    """An HS256 JWS keyed by bytes PyJWT will not take as a MAC key (a JWK's JSON)."""
    encode = jwt.utils.base64url_encode
    signing_input = b".".join(
        encode(json.dumps(part).encode())
        for part in ({"alg": "HS256", "typ": "JWT"}, claims(client_id))
    )
    signature = hmac.new(key, signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + encode(signature)).decode()


def signed(client_id: str, alg: str = "ES256", **overrides: Any) -> str:
    """Signed with the private half of keys.ec_jwk() (or of keys.rsa_jwk())."""
    key = ec_private_key() if alg == "ES256" else rsa_private_key()
    kid = "ec-1" if alg == "ES256" else "rsa-1"
    return jwt.encode(claims(client_id, **overrides), key, algorithm=alg, headers={"kid": kid})


async def secret_jwt_client(registry: ClientRegistry, **fields: Any) -> tuple[Client, str]:
    metadata = ClientMetadata(
        token_endpoint_auth_method=SECRET_JWT, grant_types=("client_credentials",)
    )
    return await registry.create(dataclasses.replace(metadata, **fields))


async def refused(registry: ClientRegistry, client_id: str, assertion: str, method: str) -> str:
    with pytest.raises(InvalidClient) as caught:
        await registry.authenticate(client_id, "", method, assertion)
    return caught.value.description


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
async def test_an_hmac_keyed_by_the_secret_authenticates(
    registry: ClientRegistry, alg: str
) -> None:
    client, secret = await secret_jwt_client(registry)
    # A generated secret is a key as long as HS512 asks for (RFC 7518 section 3.2).
    assert len(secret.encode()) >= MAC_KEY_SECRET_BYTES
    assert client.holds_secret and client.is_confidential
    accepted = CLIENT_ASSERTIONS.labels("accepted")._value.get()
    authenticated = await registry.authenticate(
        client.client_id, "", SECRET_JWT, mac(client.client_id, secret, alg)
    )
    assert authenticated.client_id == client.client_id
    assert CLIENT_ASSERTIONS.labels("accepted")._value.get() == accepted + 1
    # The issuer is an audience too.
    assert await registry.authenticate(
        client.client_id, "", SECRET_JWT, mac(client.client_id, secret, alg, aud=ISSUER)
    )


async def test_the_claim_rules_are_private_key_jwts(registry: ClientRegistry) -> None:
    client, secret = await secret_jwt_client(registry)
    cid = client.client_id
    now = int(time.time())
    none = jwt.encode(claims(cid), "", algorithm="none")
    cases = {
        "wrong secret": (mac(cid, "x" * 64), "signature does not verify"),
        "wrong aud": (mac(cid, secret, aud="https://elsewhere.example/token"), "aud must be"),
        "expired": (mac(cid, secret, iat=now - 600, exp=now - 300), "has expired"),
        "too long a life": (mac(cid, secret, exp=now + 7200), "lives longer than"),
        "no jti": (mac(cid, secret, jti=None), "must have 'jti'"),
        "iss not the client": (mac(cid, secret, iss="someone"), "iss must be the client_id"),
        "alg none": (none, "alg 'none' is not allowed"),
        "an RS256 signature": (signed(cid, "RS256"), "alg 'RS256' is not allowed"),
        "an ES256 signature": (signed(cid), "alg 'ES256' is not allowed"),
        "a DPoP proof's typ": (
            jwt.encode(claims(cid), secret.encode(), "HS256", headers={"typ": "dpop+jwt"}),
            "typ must be",
        ),
    }
    for name, (assertion, message) in cases.items():
        description = await refused(registry, cid, assertion, SECRET_JWT)
        assert message in description, (name, description)
    # None of the refusals used up a jti: a good assertion still passes.
    assert await registry.authenticate(cid, "", SECRET_JWT, mac(cid, secret))


async def test_each_jti_is_good_once(registry: ClientRegistry) -> None:
    client, secret = await secret_jwt_client(registry)
    assertion = mac(client.client_id, secret)
    await registry.authenticate(client.client_id, "", SECRET_JWT, assertion)
    replayed = CLIENT_ASSERTIONS.labels("replayed")._value.get()
    assert "used before" in await refused(registry, client.client_id, assertion, SECRET_JWT)
    assert CLIENT_ASSERTIONS.labels("replayed")._value.get() == replayed + 1


async def test_the_registered_method_decides(registry: ClientRegistry) -> None:
    """An assertion of the other kind never passes: the gateway names the method by
    the assertion's alg, and the registry holds it to the registered one."""
    hmac_client, secret = await secret_jwt_client(registry)
    key_client, _ = await registry.create(
        ClientMetadata(
            token_endpoint_auth_method=KEY_JWT,
            grant_types=("client_credentials",),
            jwks=json.dumps(key_set(ec_jwk())),
        )
    )
    # An RS256 assertion for the client_secret_jwt client: private_key_jwt, not its method.
    rs256 = signed(hmac_client.client_id, "RS256")
    assert await refused(registry, hmac_client.client_id, rs256, KEY_JWT) == FAILED
    # An HS256 assertion for the private_key_jwt client, keyed by its public key's JSON
    # (the alg confusion of RFC 8725 section 2.1), or by anything else.
    public = json.dumps(ec_jwk()).encode()
    for hs256 in (hand_made_hs256(key_client.client_id, public), mac(key_client.client_id, secret)):
        assert await refused(registry, key_client.client_id, hs256, SECRET_JWT) == FAILED
        described = await refused(registry, key_client.client_id, hs256, KEY_JWT)
        assert "alg 'HS256' is not allowed" in described
    # The private_key_jwt client still authenticates with its own key.
    assert await registry.authenticate(
        key_client.client_id, "", KEY_JWT, signed(key_client.client_id)
    )
    # The secret itself, by any method, is no credential of a client_secret_jwt client.
    for method in ("client_secret_basic", "client_secret_post", SECRET_JWT):
        with pytest.raises(InvalidClient) as caught:
            await registry.authenticate(hmac_client.client_id, secret, method)
        assert caught.value.description == FAILED
    with pytest.raises(InvalidClient):
        await registry.authenticate(
            hmac_client.client_id, secret, SECRET_JWT, mac(hmac_client.client_id, secret)
        )


async def test_rotation_changes_the_key(registry: ClientRegistry) -> None:
    client, old = await secret_jwt_client(registry)
    sealed_before = client.client_secret_encrypted
    rotated, new = await registry.rotate_secret(client.client_id)
    assert new != old and len(new.encode()) >= MAC_KEY_SECRET_BYTES
    assert rotated.client_secret_encrypted not in (None, sealed_before)
    described = await refused(registry, client.client_id, mac(client.client_id, old), SECRET_JWT)
    assert "signature does not verify" in described
    assert await registry.authenticate(client.client_id, "", SECRET_JWT, mac(client.client_id, new))


async def test_switching_methods_keeps_the_sealed_copy_in_step(registry: ClientRegistry) -> None:
    basic, secret = await registry.create(ClientMetadata(grant_types=("client_credentials",)))
    assert basic.client_secret_encrypted is None
    cid = basic.client_id
    # To client_secret_jwt: a hash cannot give the secret back, so there is none until
    # a rotation issues one that can be sealed.
    switched = await registry.update(
        cid, ClientMetadata(token_endpoint_auth_method=SECRET_JWT), ["token_endpoint_auth_method"]
    )
    assert (switched.client_secret_hash, switched.client_secret_encrypted) == (None, None)
    assert "Cannot verify" in await refused(registry, cid, mac(cid, secret), SECRET_JWT)
    _, hmac_secret = await registry.rotate_secret(cid)
    assert await registry.authenticate(cid, "", SECRET_JWT, mac(cid, hmac_secret))
    # An update that keeps the method keeps both forms.
    renamed = await registry.update(cid, ClientMetadata(client_name="renamed"), ["client_name"])
    assert renamed.client_secret_encrypted is not None
    assert await registry.authenticate(cid, "", SECRET_JWT, mac(cid, hmac_secret))
    # Back to client_secret_basic: the sealed copy goes, the secret stays.
    back = await registry.update(
        cid,
        ClientMetadata(token_endpoint_auth_method="client_secret_basic"),
        ["token_endpoint_auth_method"],
    )
    assert back.client_secret_encrypted is None and back.client_secret_hash is not None
    assert await registry.authenticate(cid, hmac_secret, "client_secret_basic")


async def test_an_imported_secret_is_sealed_and_bounds_the_algs(
    registry: ClientRegistry,
) -> None:
    imported = "an operator's secret of 40 characters!!!"
    assert len(imported) == 40
    client, shown = await registry.create(
        ClientMetadata(token_endpoint_auth_method=SECRET_JWT, grant_types=("client_credentials",)),
        client_secret_plain=imported,
    )
    assert shown == "" and client.client_secret_encrypted is not None
    assert client.client_secret_hash is not None
    assert client.client_secret_hash.startswith("$argon2id$")
    cid = client.client_id
    assert await registry.authenticate(cid, "", SECRET_JWT, mac(cid, imported, "HS256"))
    # RFC 7518 section 3.2: 40 bytes are too short a key for HS384 (48) and HS512 (64).
    for alg in ("HS384", "HS512"):
        described = await refused(registry, cid, mac(cid, imported, alg), SECRET_JWT)
        assert f"too short a key for {alg}" in described


async def test_an_expired_or_disabled_client_is_refused(registry: ClientRegistry) -> None:
    client, secret = await secret_jwt_client(registry)
    store: Any = registry._store
    await store.update(
        dataclasses.replace(client, client_secret_expires_at=utcnow() - timedelta(seconds=1)),
        expected_revision=client.revision,
    )
    expired = await refused(registry, client.client_id, mac(client.client_id, secret), SECRET_JWT)
    assert expired == FAILED
    other, other_secret = await secret_jwt_client(registry)
    await registry.update(other.client_id, ClientMetadata(enabled=False), ["enabled"])
    description = await refused(
        registry, other.client_id, mac(other.client_id, other_secret), SECRET_JWT
    )
    assert description == FAILED


async def test_without_a_key_encryption_key_there_is_no_such_client(
    memory_store: MemoryClientStore,
) -> None:
    with pytest.raises(InvalidClientMetadata, match="no key-encryption key"):
        await secret_jwt_client(ClientRegistry(memory_store))


async def test_another_key_encryption_key_opens_nothing(
    memory_store: MemoryClientStore, registry: ClientRegistry
) -> None:
    client, secret = await secret_jwt_client(registry)
    elsewhere = make_registry(memory_store, os.urandom(32))
    assertion = mac(client.client_id, secret)
    described = await refused(elsewhere, client.client_id, assertion, SECRET_JWT)
    assert "Cannot verify the client assertion" in described


async def test_the_cache_keeps_the_sealed_secret(registry: ClientRegistry) -> None:
    client, _ = await secret_jwt_client(registry)
    assert decode_client(encode_client(client)) == client
    assert client.client_secret_encrypted is not None
    assert decode_client(encode_client(dataclasses.replace(client, client_secret_encrypted=None)))


def test_the_sealed_form_is_bound_to_the_client() -> None:
    kek = os.urandom(32)
    sealed = seal(kek, b"secret", b"a")
    assert unseal(kek, sealed, b"a") == b"secret"
    secrets = SealedSecrets(kek)
    assert secrets.open("a", secrets.seal("a", "secret")) == b"secret"


async def stored_column(engine: AsyncEngine, client_id: str) -> bytes | None:
    statement = select(clients_table.c.client_secret_encrypted).where(
        clients_table.c.client_id == client_id
    )
    async with engine.connect() as conn:
        value = await conn.scalar(statement)
    return bytes(value) if value is not None else None


async def test_the_column_never_holds_the_secret(engine: AsyncEngine, kek: bytes) -> None:
    registry = make_registry(SqlClientStore(engine), kek)
    client, secret = await secret_jwt_client(registry)
    stored = await stored_column(engine, client.client_id)
    assert stored is not None and stored == client.client_secret_encrypted
    assert secret.encode() not in stored and secret not in stored.decode("latin-1")
    # nonce (12) || ciphertext || tag (16), the client_id as associated data.
    assert len(stored) == 12 + len(secret.encode()) + 16
    assert unseal(kek, stored, client.client_id.encode()) == secret.encode()
    # Every other method stores none.
    basic, _ = await registry.create(ClientMetadata(grant_types=("client_credentials",)))
    assert await stored_column(engine, basic.client_id) is None
    # What the store reads back authenticates.
    assert await registry.authenticate(
        client.client_id, "", SECRET_JWT, mac(client.client_id, secret)
    )
    rotated, new = await registry.rotate_secret(client.client_id)
    stored = await stored_column(engine, client.client_id)
    assert stored == rotated.client_secret_encrypted and new.encode() not in (stored or b"")


async def test_a_row_copied_to_another_client_fails_closed(engine: AsyncEngine, kek: bytes) -> None:
    store = SqlClientStore(engine)
    registry = make_registry(store, kek)
    victim, victim_secret = await secret_jwt_client(registry)
    attacker, attacker_secret = await secret_jwt_client(registry)
    copied = dataclasses.replace(
        attacker,
        client_secret_encrypted=victim.client_secret_encrypted,
        client_secret_hash=victim.client_secret_hash,
    )
    await store.update(copied, expected_revision=attacker.revision)
    for secret in (victim_secret, attacker_secret):
        described = await refused(
            registry, attacker.client_id, mac(attacker.client_id, secret), SECRET_JWT
        )
        assert "Cannot verify the client assertion" in described
    # The victim is untouched.
    assert await registry.authenticate(
        victim.client_id, "", SECRET_JWT, mac(victim.client_id, victim_secret)
    )
