"""The client registry (RFC 6749 section 2): registration, secrets, client
authentication (RFC 6749 section 2.3.1) and redirect URI checks (section 3.1.2.3).
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from common.errors import InvalidClient, InvalidClientMetadata, InvalidRequest, NotFound
from common.paging import decode_page_token, encode_page_token, page_size
from common.secrets import TOKEN_BYTES
from common.timeutil import utcnow
from common.vocabulary import TLS_AUTH_METHODS, ClientAuthMethod
from services.clients.domain import client_secret
from services.clients.domain.client_assertion import ASSERTION_METHODS, ClientAssertions
from services.clients.domain.client_certificates import CertificateRefused, ClientCertificates
from services.clients.domain.client_secret import SealedSecrets
from services.clients.domain.metadata import (
    validate_client_id,
    validate_imported_secret,
    validate_metadata,
)
from services.clients.domain.model import (
    METADATA_FIELDS,
    SECRET_METHODS,
    Client,
    ClientMetadata,
)
from services.clients.domain.ports import ClientPage, ClientStore

CLIENT_SECRET_JWT = ClientAuthMethod.CLIENT_SECRET_JWT

# One message for every authentication failure, so that callers learn nothing
# about which client_ids exist or how they authenticate.
AUTHENTICATION_FAILED = "Client authentication failed"

REDIRECT = "redirect"
POST_LOGOUT = "post_logout"


def new_client_id() -> str:
    """128 random bits, URL-safe: unguessable and safe in Basic auth and URLs. It
    starts with a letter or digit, so that no command line takes it for an
    option (``oauth2ctl client show -abc`` would); drawing again keeps it uniform."""
    while True:
        client_id = secrets.token_urlsafe(16)
        if client_id[0].isalnum():
            return client_id


class ClientRegistry:
    """Registered clients and their credentials (RFC 6749 section 2).

    Secrets are returned in plain text only by :meth:`create` and
    :meth:`rotate_secret`; the store sees only their hashes, and, for a
    ``client_secret_jwt`` client, the secret sealed by ``secrets`` (its
    assertions' HMAC key, RFC 7523 section 2.2).
    """

    def __init__(
        self,
        store: ClientStore,
        *,
        clock: Callable[[], datetime] = utcnow,
        client_id_factory: Callable[[], str] = new_client_id,
        jwks_uri_allow_http: bool = False,
        backchannel_logout_uri_allow_http: bool = False,
        assertions: ClientAssertions | None = None,
        secrets: SealedSecrets | None = None,
        certificates: ClientCertificates | None = None,
    ) -> None:
        """``jwks_uri_allow_http``, ``backchannel_logout_uri_allow_http``: the settings
        of those names (development only), for every validation of metadata, RFC 7591
        registrations' included. ``assertions`` verifies ``private_key_jwt`` and
        ``client_secret_jwt``; without it those methods authenticate no one.
        ``secrets`` seals the secrets of ``client_secret_jwt`` clients (the same key
        as ``assertions`` opens them with); without it no such client is made.
        ``certificates`` checks the TLS certificates of ``tls_client_auth`` and
        ``self_signed_tls_client_auth`` clients (RFC 8705); by default one that fetches
        a ``jwks_uri`` over https only."""
        self._store = store
        self._certificates = certificates if certificates is not None else ClientCertificates()
        self._assertions = assertions
        self._secrets = secrets
        self._clock = clock
        self._new_client_id = client_id_factory
        self._jwks_uri_allow_http = jwks_uri_allow_http
        self._backchannel_logout_uri_allow_http = backchannel_logout_uri_allow_http

    def validate(self, metadata: ClientMetadata, *, client_id: str) -> ClientMetadata:
        """:func:`validate_metadata` under this registry's settings."""
        return validate_metadata(
            metadata,
            client_id=client_id,
            jwks_uri_allow_http=self._jwks_uri_allow_http,
            backchannel_logout_uri_allow_http=self._backchannel_logout_uri_allow_http,
        )

    async def create(
        self,
        metadata: ClientMetadata,
        *,
        client_id: str = "",
        client_secret_plain: str = "",
        registration_access_token_hash: str | None = None,
    ) -> tuple[Client, str]:
        """Register a client; returns it and its plain secret ("" for public clients
        and for imported secrets, which the operator already has).

        A ``registration_access_token_hash`` marks an RFC 7591 self-registration
        (see :mod:`services.clients.domain.registration`)."""
        client_id = validate_client_id(client_id) if client_id else self._new_client_id()
        metadata = self.validate(metadata, client_id=client_id)
        method = metadata.token_endpoint_auth_method
        secret, secret_hash, sealed = "", None, None
        if method not in SECRET_METHODS:
            if client_secret_plain:
                raise InvalidRequest(
                    f"A client with 'token_endpoint_auth_method' {method} has no 'client_secret'"
                )
        elif client_secret_plain:
            validate_imported_secret(client_secret_plain)
            sealed = self._sealed(client_id, method, client_secret_plain)
            secret_hash = await client_secret.hash_imported_secret(client_secret_plain)
        else:
            secret, secret_hash = client_secret.generate_secret(_secret_bytes(method))
            sealed = self._sealed(client_id, method, secret)
        now = self._clock()
        client = Client(
            client_id=client_id,
            **_metadata_fields(metadata),
            created_at=now,
            updated_at=now,
            revision=1,
            client_secret_hash=secret_hash,
            client_secret_encrypted=sealed,
            dynamically_registered=registration_access_token_hash is not None,
            registration_access_token_hash=registration_access_token_hash,
        )
        await self._store.create(client)
        return client, secret

    async def get(self, client_id: str) -> Client:
        client = await self._store.get(_required_client_id(client_id))
        if client is None:
            raise NotFound(f"Client {client_id!r} not found")
        return client

    async def list(
        self, *, page_size_requested: int = 0, page_token: str = "", search: str = ""
    ) -> ClientPage:
        limit = page_size(page_size_requested)
        after = decode_page_token(page_token)
        # One extra row tells whether another page follows without a second query.
        clients, total = await self._store.list(after=after, limit=limit + 1, search=search.strip())
        next_token = encode_page_token(clients[limit - 1].client_id) if len(clients) > limit else ""
        return ClientPage(clients=clients[:limit], next_page_token=next_token, total_size=total)

    async def update(
        self, client_id: str, metadata: ClientMetadata, update_mask: Iterable[str] = ()
    ) -> Client:
        """Replace the fields named in ``update_mask`` (every field when empty).

        Switching to ``none`` drops the secret; switching a public client to a
        secret method leaves it without one until :meth:`rotate_secret`, and so
        does switching to ``client_secret_jwt`` from another method: a hash cannot
        give back the secret its assertions are keyed with. Switching away from
        ``client_secret_jwt`` drops the sealed copy and keeps the secret.
        """
        current = await self.get(client_id)
        mask = set(update_mask)
        unknown = sorted(mask - METADATA_FIELDS)
        if unknown:
            raise InvalidRequest(f"Unknown field {unknown[0]!r} in 'update_mask'")
        if mask:
            merged = dataclasses.replace(
                current.metadata(), **{name: getattr(metadata, name) for name in mask}
            )
        else:
            merged = metadata
        validated = self.validate(merged, client_id=current.client_id)
        method = validated.token_endpoint_auth_method
        secret_hash = current.client_secret_hash if method in SECRET_METHODS else None
        sealed = current.client_secret_encrypted if method == CLIENT_SECRET_JWT else None
        if method == CLIENT_SECRET_JWT and sealed is None:
            secret_hash = None
        updated = dataclasses.replace(
            current,
            **_metadata_fields(validated),
            updated_at=self._clock(),
            revision=current.revision + 1,
            client_secret_hash=secret_hash,
            client_secret_encrypted=sealed,
        )
        await self._store.update(updated, expected_revision=current.revision)
        return updated

    async def delete(self, client_id: str) -> None:
        if not await self._store.delete(_required_client_id(client_id)):
            raise NotFound(f"Client {client_id!r} not found")

    async def rotate_secret(self, client_id: str) -> tuple[Client, str]:
        """A new generated secret; the previous one stops working at once."""
        current = await self.get(client_id)
        if not current.holds_secret:
            raise InvalidRequest(
                f"A client with 'token_endpoint_auth_method' {current.token_endpoint_auth_method} "
                "has no secret to rotate"
            )
        method = current.token_endpoint_auth_method
        secret, secret_hash = client_secret.generate_secret(_secret_bytes(method))
        updated = dataclasses.replace(
            current,
            client_secret_hash=secret_hash,
            client_secret_encrypted=self._sealed(client_id, method, secret),
            client_secret_expires_at=None,
            updated_at=self._clock(),
            revision=current.revision + 1,
        )
        await self._store.update(updated, expected_revision=current.revision)
        return updated, secret

    async def authenticate(
        self,
        client_id: str,
        client_secret_plain: str,
        auth_method: str,
        client_assertion: str = "",
        client_certificate: bytes = b"",
    ) -> Client:
        """RFC 6749 section 2.3.1: the client must use the method it registered
        (RFC 7591 section 2) with the right secret; public clients present none;
        ``private_key_jwt`` and ``client_secret_jwt`` clients a client assertion
        (RFC 7523), never the secret itself; ``tls_client_auth`` and
        ``self_signed_tls_client_auth`` clients (RFC 8705) only their client_id (the
        gateway's ``none``) and the TLS certificate of their connection
        (``client_certificate``, DER), which any other client's authentication ignores.

        Every failure to identify the client or to match its secret is the same
        InvalidClient, whatever went wrong; an assertion of a known client that
        uses the method says what is wrong with it.
        """
        client = await self._store.get(client_id) if client_id else None
        if client is None:
            client_secret.dummy_verify(client_secret_plain)
            raise InvalidClient(AUTHENTICATION_FAILED, detail=f"unknown client {client_id!r}")
        if client.token_endpoint_auth_method in TLS_AUTH_METHODS:
            return await self._authenticate_by_certificate(
                client, client_secret_plain, auth_method, client_assertion, client_certificate
            )
        if auth_method != client.token_endpoint_auth_method:
            client_secret.dummy_verify(client_secret_plain)  # same cost as a wrong secret
            raise InvalidClient(
                AUTHENTICATION_FAILED,
                detail=f"{client_id!r} registered {client.token_endpoint_auth_method}, "
                f"presented {auth_method!r}",
            )
        if auth_method in ASSERTION_METHODS:
            if client_secret_plain or not client_assertion or self._assertions is None:
                raise InvalidClient(AUTHENTICATION_FAILED, detail="no usable client assertion")
            if not client.enabled:
                raise InvalidClient(AUTHENTICATION_FAILED, detail=f"{client_id!r} is disabled")
            self._check_secret_expiry(client)
            await self._assertions.verify(client, client_assertion)
            return client
        if client_assertion:
            raise InvalidClient(AUTHENTICATION_FAILED, detail="assertion for another method")
        if auth_method == ClientAuthMethod.NONE:
            if client_secret_plain:
                raise InvalidClient(AUTHENTICATION_FAILED, detail="secret sent by a public client")
            if not client.enabled:
                raise InvalidClient(AUTHENTICATION_FAILED, detail=f"{client_id!r} is disabled")
            return client
        if not client_secret_plain or not await client_secret.verify_secret(
            client_secret_plain, client.client_secret_hash
        ):
            raise InvalidClient(AUTHENTICATION_FAILED, detail=f"wrong secret for {client_id!r}")
        self._check_secret_expiry(client)
        if not client.enabled:
            raise InvalidClient(AUTHENTICATION_FAILED, detail=f"{client_id!r} is disabled")
        return client

    async def _authenticate_by_certificate(
        self,
        client: Client,
        client_secret_plain: str,
        auth_method: str,
        client_assertion: str,
        client_certificate: bytes,
    ) -> Client:
        """RFC 8705 section 2: the client sends its client_id alone (no secret, no
        assertion) over a connection with its certificate."""
        method = client.token_endpoint_auth_method
        if auth_method != ClientAuthMethod.NONE or client_secret_plain or client_assertion:
            client_secret.dummy_verify(client_secret_plain)  # same cost as a wrong secret
            raise InvalidClient(
                AUTHENTICATION_FAILED,
                detail=f"{client.client_id!r} registered {method}, presented {auth_method!r}"
                + (" with a secret" if client_secret_plain else "")
                + (" with an assertion" if client_assertion else ""),
            )
        if not client_certificate:
            raise InvalidClient(
                AUTHENTICATION_FAILED,
                detail=f"{client.client_id!r} registered {method}: no TLS client certificate",
            )
        if not client.enabled:
            raise InvalidClient(AUTHENTICATION_FAILED, detail=f"{client.client_id!r} is disabled")
        try:
            await self._certificates.verify(client, client_certificate)
        except CertificateRefused as exc:
            raise InvalidClient(
                AUTHENTICATION_FAILED, detail=f"{client.client_id!r} ({method}): {exc}"
            ) from None
        return client

    def _check_secret_expiry(self, client: Client) -> None:
        """RFC 7591 section 3.2.1 ``client_secret_expires_at``: an expired secret
        authenticates no one, sent as it is or as the key of an assertion."""
        expires_at = client.client_secret_expires_at
        if client.holds_secret and expires_at is not None and expires_at <= self._clock():
            raise InvalidClient(
                AUTHENTICATION_FAILED, detail=f"secret of {client.client_id!r} expired"
            )

    def _sealed(self, client_id: str, method: str, secret: str) -> bytes | None:
        """The sealed copy a ``client_secret_jwt`` client's secret needs; None for
        every other method."""
        if method != CLIENT_SECRET_JWT:
            return None
        if self._secrets is None:
            raise InvalidClientMetadata(
                "'token_endpoint_auth_method' client_secret_jwt is not available: the "
                "clients service has no key-encryption key",
                detail="ClientRegistry built without secrets",
            )
        return self._secrets.seal(client_id, secret)

    async def validate_redirect_uri(
        self, client_id: str, redirect_uri: str, kind: str = REDIRECT
    ) -> tuple[bool, Client]:
        """Exact string comparison (RFC 6749 section 3.1.2.3, OAuth 2.1 section
        2.3.1): no normalisation of case, trailing slashes or query order."""
        if kind not in {"", REDIRECT, POST_LOGOUT}:
            raise InvalidRequest(f"Unknown 'kind' {kind!r}; use redirect or post_logout")
        client = await self.get(client_id)
        if not client.enabled:
            # A disabled client is, to the protocol endpoints, no client at all.
            raise NotFound(f"Client {client_id!r} not found")
        registered = (
            client.post_logout_redirect_uris if kind == POST_LOGOUT else client.redirect_uris
        )
        return redirect_uri in registered, client


def _secret_bytes(method: str) -> int:
    """The random bytes of a generated secret: as long a key as HS512 asks for when
    the secret keys HMACs (RFC 7518 section 3.2), else 256 bits."""
    return client_secret.MAC_KEY_SECRET_BYTES if method == CLIENT_SECRET_JWT else TOKEN_BYTES


def _required_client_id(client_id: str) -> str:
    if not client_id:
        raise InvalidRequest("Missing 'client_id'")
    return client_id


def _metadata_fields(metadata: ClientMetadata) -> dict[str, Any]:
    fields = {name: getattr(metadata, name) for name in METADATA_FIELDS}
    fields["require_pkce"] = bool(metadata.require_pkce)
    fields["enabled"] = metadata.enabled is not False
    return fields
