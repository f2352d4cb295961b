"""Extracting client credentials from a request (RFC 6749 section 2.3.1).

The gateway only finds out *which* method the client used and with what
values; whether they are right is the clients service's decision, asked by the
token service. Methods:

- ``client_secret_basic``: ``Authorization: Basic base64(urlencode(id):urlencode(secret))``,
  decoded strictly (RFC 6749 section 2.3.1, RFC 7617 section 2);
- ``client_secret_post``: ``client_id`` and ``client_secret`` in the body;
- ``private_key_jwt`` and ``client_secret_jwt``: ``client_assertion_type`` jwt-bearer
  and ``client_assertion`` in the body (RFC 7523 section 2.2, RFC 7521 section 4.2);
  the client is the assertion's ``sub`` and the method follows from its ``alg`` (an
  HMAC, HS256/HS384/HS512, is client_secret_jwt), both read here unverified only to
  name them (rate limits, CORS, the method): the clients service checks the method
  against the client's registered one, and verifies the signature and every claim;
- ``none``: only ``client_id`` in the body (public clients, RFC 6749 section 2.1).

A client must use exactly one method (RFC 6749 section 2.3), and a request with
more than one ``Authorization`` header is malformed (:func:`single_authorization`).
"""

from __future__ import annotations

import base64
import binascii
from typing import Final
from urllib.parse import unquote_plus

import jwt
from oauth2.v1 import common_pb2
from starlette.requests import Request

from common.errors import InvalidClient, InvalidRequest
from common.vocabulary import JWT_BEARER_ASSERTION_TYPE, ClientAuthMethod, ClientSecretSigningAlg
from gateway.client_certificate import presented_certificate
from gateway.forms import Form

#: The methods this chain tells apart, for discovery (RFC 8414 section 2).
SUPPORTED_AUTH_METHODS = tuple(ClientAuthMethod)
#: The longest client assertion taken (a JWT with a few claims is well under 2 KiB).
MAX_ASSERTION_LENGTH: Final = 8 * 1024


def single_authorization(request: Request) -> str | None:
    """The request's one ``Authorization`` header, or None. Two of them are a 400
    ``invalid_request``: RFC 9110 section 11.6.2 defines a single credential, and
    which one a proxy or a parser picks must not decide who the caller is
    (RFC 6749 section 3.2.1, RFC 6750 section 3.1)."""
    values = request.headers.getlist("authorization")
    if len(values) > 1:
        raise InvalidRequest("Send one Authorization header")
    return values[0] if values else None


def parse_basic_authorization(header: str) -> tuple[str, str]:
    """(client_id, client_secret) from a Basic header, or invalid_client."""
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise InvalidClient("Client authentication must use the HTTP Basic scheme")
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        # ValueError covers UnicodeDecodeError.
        raise InvalidClient("Malformed HTTP Basic authorization header") from None
    if ":" not in decoded:
        raise InvalidClient("Malformed HTTP Basic authorization header")
    raw_id, _, raw_secret = decoded.partition(":")
    try:
        client_id = unquote_plus(raw_id, errors="strict")
        client_secret = unquote_plus(raw_secret, errors="strict")
    except UnicodeDecodeError:
        raise InvalidClient("Malformed HTTP Basic authorization header") from None
    if not client_id or not client_secret:
        raise InvalidClient("Malformed HTTP Basic authorization header")
    return client_id, client_secret


def assertion_subject(assertion: str) -> str:
    """The ``sub`` of a client assertion, unverified (RFC 7523 section 3: the
    client_id); invalid_client when it is not a JWT with one."""
    if len(assertion) > MAX_ASSERTION_LENGTH:
        raise InvalidClient(f"The client assertion is longer than {MAX_ASSERTION_LENGTH} bytes")
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise InvalidClient("Malformed client assertion: not a signed JWT") from None
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise InvalidClient("The client assertion has no 'sub' (the client_id)")
    return subject


def assertion_method(assertion: str) -> ClientAuthMethod:
    """The method of a client assertion by its unverified ``alg``: an HMAC keyed by
    the client secret is ``client_secret_jwt``, anything else ``private_key_jwt``
    (whose allow-list, in the clients service, refuses what it is not)."""
    try:
        alg = jwt.get_unverified_header(assertion).get("alg")
    except jwt.PyJWTError:
        raise InvalidClient("Malformed client assertion: not a signed JWT") from None
    if alg in tuple(ClientSecretSigningAlg):
        return ClientAuthMethod.CLIENT_SECRET_JWT
    return ClientAuthMethod.PRIVATE_KEY_JWT


def assertion_credentials(form: Form, body_id: str | None) -> common_pb2.ClientCredentials:
    """RFC 7521 section 4.2: ``client_assertion_type`` and ``client_assertion``;
    a ``client_id`` beside them must name the same client."""
    assertion_type = form.get("client_assertion_type")
    assertion = form.get("client_assertion")
    if assertion_type != JWT_BEARER_ASSERTION_TYPE:
        raise InvalidClient(
            f"Unsupported 'client_assertion_type'; use {JWT_BEARER_ASSERTION_TYPE}"
            if assertion_type
            else "Missing 'client_assertion_type'"
        )
    if not assertion:
        raise InvalidClient("Missing 'client_assertion'")
    client_id = assertion_subject(assertion)
    if body_id and body_id != client_id:
        raise InvalidClient("'client_id' does not match the client assertion's 'sub'")
    return common_pb2.ClientCredentials(
        client_id=client_id,
        auth_method=assertion_method(assertion),
        client_assertion=assertion,
    )


def extract_client_credentials(request: Request, form: Form) -> common_pb2.ClientCredentials:
    """The credentials the client presented, with its TLS certificate when the
    request came with one (RFC 8705: it authenticates tls_client_auth clients, with
    only their client_id in the form, and binds tokens); invalid_client when there
    are none."""
    credentials = _form_credentials(request, form)
    credentials.client_certificate = presented_certificate(request)
    return credentials


def _form_credentials(request: Request, form: Form) -> common_pb2.ClientCredentials:
    header = single_authorization(request)
    body_id = form.get("client_id")
    body_secret = form.get("client_secret")
    if form.get("client_assertion") or form.get("client_assertion_type"):
        if header is not None or body_secret:
            raise InvalidRequest("Use only one client authentication method")
        return assertion_credentials(form, body_id)
    if header is not None:
        client_id, client_secret = parse_basic_authorization(header)
        if body_secret:
            raise InvalidRequest("Use only one client authentication method")
        if body_id and body_id != client_id:
            raise InvalidRequest("'client_id' does not match the Authorization header")
        return common_pb2.ClientCredentials(
            client_id=client_id,
            client_secret=client_secret,
            auth_method=ClientAuthMethod.CLIENT_SECRET_BASIC,
        )
    if body_secret and not body_id:
        raise InvalidRequest("Missing 'client_id'")
    if body_id and body_secret:
        return common_pb2.ClientCredentials(
            client_id=body_id,
            client_secret=body_secret,
            auth_method=ClientAuthMethod.CLIENT_SECRET_POST,
        )
    if body_id:
        return common_pb2.ClientCredentials(client_id=body_id, auth_method=ClientAuthMethod.NONE)
    raise InvalidClient("Client authentication required")
