"""The body models of the admin API and of dynamic registration (RFC 7591/7592):
a body with several faults is answered with the one a reader checking in order
finds first, in the exact words the API has always used."""

from __future__ import annotations

from typing import Any

import pytest

from common.errors import OAuthError
from gateway.admin import bodies
from gateway.models import BodyModel, parse_body
from gateway.rfc7591 import ClientRegistrationRequest, ClientRegistrationUpdate

CASES: list[tuple[type[BodyModel], dict[str, str], dict[str, Any], str, str]] = [
    # An unknown field first, whatever else is wrong; its name made printable.
    (
        bodies.ClientCreate,
        {},
        {"scope": 3, 'zz\x00"q\\': 1, "redirect_uris": None},
        "invalid_client_metadata",
        "Unknown field 'zzq'",
    ),
    (
        bodies.UserCreate,
        {},
        {"password": {}, "x" * 100: 1},
        "invalid_request",
        f"Unknown field '{'x' * 64}'",
    ),
    # Then an id that is not the path's, ahead of the fields.
    (
        bodies.ClientUpdate,
        {"client_id": "c1"},
        {"scope": True, "client_id": "c2", "always_issue_refresh_token": "no"},
        "invalid_request",
        "'client_id' does not match the path",
    ),
    (
        bodies.ClientUpdate,
        {"client_id": "c1"},
        {"client_id": 1, "redirect_uris": [1]},
        "invalid_request",
        "'client_id' does not match the path",
    ),
    (
        bodies.UserUpdate,
        {"user_id": "u1"},
        {"username": "a\x00b", "user_id": None},
        "invalid_request",
        "'user_id' does not match the path",
    ),
    # Then a missing field (an empty one counts), ahead of a wrong type.
    (
        bodies.UserCreate,
        {},
        {"username": "\ud800\x00", "given_name": ""},
        "invalid_request",
        "Missing 'password'",
    ),
    (
        bodies.UserCreate,
        {},
        {"username": 5, "password": ""},
        "invalid_request",
        "Missing 'password'",
    ),
    # Then the fields in the order the model declares them.
    (
        bodies.ClientUpdate,
        {"client_id": "c1"},
        {"client_uri": {}, "token_endpoint_auth_method": {}},
        "invalid_client_metadata",
        "'token_endpoint_auth_method' must be a string",
    ),
    (
        bodies.UserUpdate,
        {"user_id": "u1"},
        {"name": True, "enabled": False, "given_name": True},
        "invalid_request",
        "'given_name' must be a string",
    ),
    # Within a string: length, then NUL, then lone surrogates.
    (
        bodies.ClientCreate,
        {},
        {"client_name": "x" * 3000 + "\ud800"},
        "invalid_client_metadata",
        "'client_name' is too long",
    ),
    (
        bodies.ClientCreate,
        {},
        {"logo_uri": "\ud800\x00"},
        "invalid_client_metadata",
        "'logo_uri' must not contain NUL characters",
    ),
    (
        bodies.ClientCreate,
        {},
        {"client_id": "x" * 256},
        "invalid_request",
        "'client_id' is too long",
    ),
    # Within a list: its length, then each item in turn.
    (
        bodies.ClientCreate,
        {},
        {"contacts": ["x"] * 100 + [1]},
        "invalid_client_metadata",
        "'contacts' has too many items",
    ),
    (
        bodies.ClientCreate,
        {},
        {"contacts": ["a\x00", 1]},
        "invalid_client_metadata",
        "'contacts' must not contain NUL characters",
    ),
    (
        bodies.RegistrationTokenRequest,
        {},
        {"expires_in": None, "max_uses": -1},
        "invalid_request",
        "'expires_in' must be an integer",
    ),
    (
        bodies.RegistrationTokenRequest,
        {},
        {"max_uses": 10**40},
        "invalid_request",
        "'max_uses' must be between 0 and 1000000",
    ),
    (bodies.KeyRotation, {}, {"alg": 3}, "invalid_request", "'alg' must be a string"),
    # RFC 7591: unknown members ignored; every item's type before any item's characters.
    (
        ClientRegistrationRequest,
        {},
        {"colour": 1, "grant_types": [None], "redirect_uris": ["\ud800"]},
        "invalid_redirect_uri",
        "Invalid characters in 'redirect_uris'",
    ),
    (
        ClientRegistrationRequest,
        {},
        {"contacts": ["\ud800", 2]},
        "invalid_client_metadata",
        "'contacts' must be an array of strings",
    ),
    # RFC 7592 section 2.2: the client_id, then the server's members, then the rest.
    (
        ClientRegistrationUpdate,
        {"client_id": "dyn-1"},
        {"response_types": "x", "registration_client_uri": 3},
        "invalid_client_metadata",
        "'client_id' must be present and match the URL",
    ),
    (
        ClientRegistrationUpdate,
        {"client_id": "dyn-1"},
        {"client_id": "dyn-1", "client_name": 3, "client_id_issued_at": 1},
        "invalid_client_metadata",
        "'client_id_issued_at' is set by the server; leave it out",
    ),
    (
        ClientRegistrationUpdate,
        {"client_id": "dyn-1"},
        {"client_id": "dyn-1", "client_secret": 1, "scope": 2},
        "invalid_client_metadata",
        "'scope' must be a string",
    ),
]


@pytest.mark.parametrize(("model", "path", "body", "error", "description"), CASES)
def test_the_first_fault_is_reported(
    model: type[BodyModel], path: dict[str, str], body: dict[str, Any], error: str, description: str
) -> None:
    with pytest.raises(OAuthError) as raised:
        parse_body(model, body, context=path)
    assert (raised.value.error, raised.value.description) == (error, description)


def test_read_only_fields_are_accepted_and_left_out_of_the_mask() -> None:
    update = parse_body(
        bodies.UserUpdate,
        {"enabled": False, "username": "x", "created_at": 1, "user_id": "u1", "given_name": "E"},
        context={"user_id": "u1"},
    )
    assert update.replaced() == ["given_name", "enabled"]


def test_registration_ignores_what_it_does_not_keep() -> None:
    """RFC 7591 section 2, which is why these models alone do not refuse unknown fields."""
    metadata = parse_body(ClientRegistrationRequest, {"require_pkce": "no", "logo_uri": None})
    assert metadata.metadata() == ClientRegistrationRequest().metadata()
