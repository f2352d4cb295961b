"""Pushed authorization requests (RFC 9126).

A client POSTs its authorization request's parameters to ``/oauth/par`` with its
client authentication and gets back a ``request_uri``; the browser then brings only
``client_id`` and ``request_uri`` to the authorization endpoint. The parameters never
travel through the browser, and every one of them was checked before the person saw
a page: a request that could not be answered at a registered redirect URI, or would
get an error there, is refused at the push with that error (section 2.3).

A pushed request is kept in the KeyValue (Redis; in process on the embedded default,
where this service is the one process that both takes the push and answers the
authorization request) under the SHA-256 of its reference, for
``pushed_authorization_request_ttl_seconds`` (60: section 2.2's "short", and the
issue's "at most 60 s" by default), and is taken at most once (GETDEL), by the
client that pushed it.

A push may come with a DPoP proof (RFC 9449 section 10.1), which the gateway has the
token service verify: its key's thumbprint then binds the authorization code as a
``dpop_jkt`` parameter would, and must be the key a ``dpop_jkt`` in the push names.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Final

from common.errors import ERRORS_BY_CODE, InvalidDpopProof, InvalidRequest
from common.kv import KeyValue, unavailable_as
from common.secrets import random_token, sha256_hex
from services.authorize.domain.authorization_request import (
    AuthorizationRequest,
    AuthorizationRequestValidator,
)
from services.authorize.domain.model import PresentedCredentials
from services.authorize.domain.ports import ClientAuthenticator
from services.authorize.domain.request_object import RequestObjects

#: RFC 9126 section 2.2: the request_uri's URN prefix.
REQUEST_URI_PREFIX: Final = "urn:ietf:params:oauth:request_uri:"
#: Where a pushed request is kept: the SHA-256 of its reference follows.
KEY_PREFIX: Final = "par:"
#: Redis away: the push, or the authorization request that brings one, is a 503.
UNAVAILABLE: Final = "Pushed authorization requests are unavailable; try again shortly"
UNKNOWN_REQUEST_URI: Final = (
    "The request_uri is unknown, expired or already used. Start again from the application."
)
OTHER_DPOP_KEY: Final = "The dpop_jkt parameter does not match the key of the DPoP proof"


@dataclass(frozen=True, slots=True)
class PushedRequest:
    """What the push answers (RFC 9126 section 2.2)."""

    request_uri: str
    expires_in: int


class PushedRequests:
    def __init__(
        self,
        validator: AuthorizationRequestValidator,
        authenticator: ClientAuthenticator,
        kv: KeyValue,
        *,
        ttl_seconds: int = 60,
        id_factory: Callable[[], str] = random_token,
        request_objects: RequestObjects | None = None,
    ) -> None:
        self._validator = validator
        self._request_objects = request_objects
        self._authenticator = authenticator
        self._kv = kv
        self._ttl = ttl_seconds
        self._new_id = id_factory

    async def push(
        self,
        credentials: PresentedCredentials,
        parameters: Iterable[tuple[str, str]],
        *,
        dpop_jkt: str = "",
    ) -> PushedRequest:
        """Authenticate the client, check the request as the authorization endpoint
        would, keep it. Raises the error the request would have met (RFC 9126
        section 2.3): invalid_client, invalid_request (also for a client or
        redirect URI the endpoint could not answer at), invalid_scope, ...

        ``dpop_jkt``: the thumbprint of the key of the push's verified DPoP proof
        ("" none); invalid_dpop_proof when the request names another key."""
        client_id = await self._authenticator.authenticate(credentials)
        kept = [(name, value) for name, value in parameters if value]
        request = AuthorizationRequest.from_query(kept)
        if request.request_uri:
            raise InvalidRequest("'request_uri' cannot be pushed (RFC 9126 section 2.1)")
        if request.client_id and request.client_id != client_id:
            raise InvalidRequest("'client_id' is not the authenticated client")
        if not request.client_id:
            kept.insert(0, ("client_id", client_id))
            request = replace(request, client_id=client_id)
        signed = bool(request.request) and self._request_objects is not None
        if signed and self._request_objects is not None:
            # RFC 9126 section 3: a signed request object, verified now; what is kept
            # is what it says.
            request = await self._request_objects.unpack(request)
            kept = parameters_of(request)
        if dpop_jkt:
            request, kept = _bound_to_proof(request, kept, dpop_jkt)
        validated = await self._validator.validate(request)
        if validated.error:
            error_class = ERRORS_BY_CODE.get(validated.error, InvalidRequest)
            raise error_class(validated.error_description)
        if validated.client.require_signed_request_object and not signed:
            raise InvalidRequest(
                "This client must sign its authorization requests (RFC 9101 request object)"
            )
        reference = self._new_id()
        record = json.dumps(
            {"client_id": client_id, "parameters": kept, "signed": signed}, separators=(",", ":")
        )
        with unavailable_as(UNAVAILABLE):
            await self._kv.set(KEY_PREFIX + sha256_hex(reference), record, ttl=self._ttl)
        return PushedRequest(REQUEST_URI_PREFIX + reference, self._ttl)

    async def take(self, request: AuthorizationRequest) -> tuple[AuthorizationRequest, bool]:
        """The pushed request ``request`` (``client_id`` + ``request_uri``) names,
        once, and whether it was pushed as a signed request object. InvalidRequest
        (the gateway shows a page: no redirect URI is trusted yet) for a request_uri
        that is not one, is unknown, expired, used, or was pushed by another client:
        a request_uri brought by the wrong client is spent all the same (it has
        leaked)."""
        for name in ("client_id", "request_uri"):
            if name in request.duplicated_parameters:
                raise InvalidRequest(f"Parameter '{name}' was given more than once")
        if not request.client_id:
            raise InvalidRequest("Missing 'client_id'")
        reference = request.request_uri.removeprefix(REQUEST_URI_PREFIX)
        if reference == request.request_uri or not reference:
            raise InvalidRequest(UNKNOWN_REQUEST_URI, detail="not a pushed request's URN")
        with unavailable_as(UNAVAILABLE):
            raw = await self._kv.take(KEY_PREFIX + sha256_hex(reference))
        if raw is None:
            raise InvalidRequest(UNKNOWN_REQUEST_URI)
        record = json.loads(raw)
        if record["client_id"] != request.client_id:
            raise InvalidRequest(
                "The request_uri was pushed by another client",
                detail=f"pushed by {record['client_id']!r}, brought by {request.client_id!r}",
            )
        pairs: Sequence[tuple[str, str]] = [tuple(pair) for pair in record["parameters"]]
        return AuthorizationRequest.from_query(pairs), bool(record.get("signed"))


def _bound_to_proof(
    request: AuthorizationRequest, kept: list[tuple[str, str]], proof_jkt: str
) -> tuple[AuthorizationRequest, list[tuple[str, str]]]:
    """RFC 9449 section 10.1: the request bound to the key of the push's DPoP proof.
    A dpop_jkt parameter (in the form or the signed request object) must name that
    key; without one, the proof's key becomes the request's dpop_jkt."""
    if request.dpop_jkt:
        if request.dpop_jkt != proof_jkt:
            raise InvalidDpopProof(
                OTHER_DPOP_KEY, detail=f"dpop_jkt {request.dpop_jkt!r}, proof {proof_jkt!r}"
            )
        return request, kept
    return replace(request, dpop_jkt=proof_jkt), [*kept, ("dpop_jkt", proof_jkt)]


def parameters_of(request: AuthorizationRequest) -> list[tuple[str, str]]:
    """The request's parameters as a query would carry them (the non-empty ones)."""
    return [
        (field.name, value)
        for field in dataclasses.fields(AuthorizationRequest)
        if field.name != "duplicated_parameters" and (value := getattr(request, field.name))
    ]
