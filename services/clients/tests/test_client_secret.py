"""The hashing choice: generated secrets verify with SHA-256, never Argon2."""

from __future__ import annotations

import time

import pytest
from argon2 import PasswordHasher

from services.clients.domain import ClientMetadata, ClientRegistry, client_secret
from services.clients.tests.fakes import MemoryClientStore


@pytest.fixture
def no_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any Argon2 run from here on fails the test."""

    def forbidden(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("Argon2 ran on the generated-secret path")

    for name in ("hash", "verify", "check_needs_rehash"):
        monkeypatch.setattr(PasswordHasher, name, forbidden)


def test_generated_secret_has_256_bits_and_a_sha256_hash() -> None:
    secret, stored = client_secret.generate_secret()
    assert len(secret) >= 43  # 32 random bytes in base64url
    assert stored.startswith("sha256$")
    assert len(stored) == len("sha256$") + 64
    assert secret not in stored


async def test_generated_secret_verifies_without_argon2(no_argon2: None) -> None:
    secret, stored = client_secret.generate_secret()
    assert await client_secret.verify_secret(secret, stored)
    assert not await client_secret.verify_secret(secret + "x", stored)


async def test_generated_secret_check_costs_microseconds() -> None:
    secret, stored = client_secret.generate_secret()
    started = time.perf_counter()
    for _ in range(1000):
        assert await client_secret.verify_secret(secret, stored)
    # One Argon2id run alone takes tens of milliseconds; 1000 checks stay far below.
    assert time.perf_counter() - started < 0.5


async def test_token_path_authentication_runs_no_argon2(no_argon2: None) -> None:
    registry = ClientRegistry(MemoryClientStore())
    client, secret = await registry.create(ClientMetadata(client_name="backend"))
    assert client.client_secret_hash is not None
    assert client.client_secret_hash.startswith("sha256$")
    authenticated = await registry.authenticate(client.client_id, secret, "client_secret_basic")
    assert authenticated.client_id == client.client_id


async def test_imported_secret_is_argon2id_and_verifies() -> None:
    stored = await client_secret.hash_imported_secret("operator-chosen secret")
    assert stored.startswith("$argon2id$")
    assert await client_secret.verify_secret("operator-chosen secret", stored)
    assert not await client_secret.verify_secret("operator-chosen secreT", stored)


async def test_imported_secret_through_the_registry() -> None:
    registry = ClientRegistry(MemoryClientStore())
    client, shown = await registry.create(
        ClientMetadata(token_endpoint_auth_method="client_secret_post"),
        client_secret_plain="imported-secret-of-at-least-32-characters",
    )
    assert shown == ""  # the operator already has it
    assert client.client_secret_hash is not None
    assert client.client_secret_hash.startswith("$argon2id$")
    await registry.authenticate(
        client.client_id, "imported-secret-of-at-least-32-characters", "client_secret_post"
    )


@pytest.mark.parametrize("stored", [None, "", "plain-text", "bcrypt$x", "$argon2id$garbage"])
async def test_unknown_or_broken_hashes_never_verify(stored: str | None) -> None:
    assert not await client_secret.verify_secret("plain-text", stored)
