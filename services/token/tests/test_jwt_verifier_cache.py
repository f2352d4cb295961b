"""JwtAccessTokenVerifier keeps the tokens it verified: what can change is judged again."""

from __future__ import annotations

import os
import time
from typing import Any

import jwt
import pytest

from services.token.domain import jwt_access_token
from services.token.domain.jwt_access_token import (
    AccessTokenPolicy,
    JwtAccessTokenIssuer,
    JwtAccessTokenVerifier,
)
from services.token.domain.keys import KeyManager
from services.token.tests.conftest import ISSUER
from services.token.tests.fakes import MemorySigningKeyStore


@pytest.fixture
async def keys() -> KeyManager:
    keys = KeyManager(MemorySigningKeyStore(), os.urandom(32))
    await keys.start()
    return keys


def issuer(keys: KeyManager, ttl: int = 3600) -> JwtAccessTokenIssuer:
    return JwtAccessTokenIssuer(keys, AccessTokenPolicy(ISSUER, ttl, "ES256"))


def counting_decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    decoded: list[str] = []
    decode = jwt.decode

    def counted(token: str, *args: Any, **kwargs: Any) -> Any:
        decoded.append(token)
        return decode(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counted)
    return decoded


async def test_a_token_shown_again_is_not_verified_again(
    keys: KeyManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded = counting_decodes(monkeypatch)
    verifier = JwtAccessTokenVerifier(keys, ISSUER)
    token = issuer(keys).issue(client_id="svc", subject="svc", scope=["read"]).token
    first = await verifier.verify(token)
    assert first is not None and first["client_id"] == "svc"
    first["scope"] = "changed by a caller"
    again = await verifier.verify(token)
    assert again is not None and again["scope"] == "read"
    assert decoded == [token]


async def test_a_kept_token_still_expires(
    keys: KeyManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    verifier = JwtAccessTokenVerifier(keys, ISSUER)
    issued = issuer(keys, ttl=1).issue(client_id="svc", subject="svc", scope=[])
    assert await verifier.verify(issued.token) is not None
    assert await verifier.verify(issued.token) is not None  # kept
    time.sleep(max(0.0, issued.exp - time.time()) + 0.05)
    decoded = counting_decodes(monkeypatch)
    assert await verifier.verify(issued.token) is None
    # Judged afresh (and refused) once its kept copy had expired, and not kept since.
    assert await verifier.verify(issued.token) is None
    assert decoded == [issued.token, issued.token]


async def test_a_kept_token_of_a_retired_key_is_refused_and_one_of_a_reloaded_key_is_not(
    keys: KeyManager,
) -> None:
    verifier = JwtAccessTokenVerifier(keys, ISSUER)
    token = issuer(keys).issue(client_id="svc", subject="svc", scope=[]).token
    kid = jwt.get_unverified_header(token)["kid"]
    assert await verifier.verify(token) is not None
    # A reload makes new key objects: the kept token is verified afresh, and passes.
    await keys.reload()
    assert await verifier.verify(token) is not None
    await keys.rotate("ES256")
    await keys.retire(kid)
    assert await verifier.verify(token) is None
    assert await verifier.verify(token) is None


async def test_only_tokens_that_verified_are_kept(
    keys: KeyManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded = counting_decodes(monkeypatch)
    verifier = JwtAccessTokenVerifier(keys, ISSUER)
    token = issuer(keys).issue(client_id="svc", subject="svc", scope=[]).token
    head, payload, signature = token.split(".")
    forged = f"{head}.{payload}.{signature[:-4]}AAAA"
    for _ in range(2):
        assert await verifier.verify(forged) is None
    assert decoded == [forged, forged]


async def test_the_kept_tokens_are_bounded(
    keys: KeyManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jwt_access_token, "VERIFIED_TOKENS_KEPT", 3)
    decoded = counting_decodes(monkeypatch)
    verifier = JwtAccessTokenVerifier(keys, ISSUER)
    tokens = [issuer(keys).issue(client_id="svc", subject="svc", scope=[]).token for _ in range(4)]
    for token in tokens:
        assert await verifier.verify(token) is not None
    # The first one was let go (least recently used); the last three are kept.
    for token in [*tokens[1:], tokens[0]]:
        assert await verifier.verify(token) is not None
    assert decoded == [*tokens, tokens[0]]
