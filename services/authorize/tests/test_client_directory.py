"""The ClientDirectory's reading of the clients service's Client message: every
field the authorization pipeline checks, the request-object ones included."""

from __future__ import annotations

from oauth2.v1 import clients_pb2

from services.authorize.domain.model import ClientInfo
from services.authorize.store.client_directory import client_info

KEYS = '{"keys":[{"crv":"P-256","kty":"EC","x":"AAAA","y":"AAAA"}]}'


def test_client_info_maps_every_field() -> None:
    message = clients_pb2.Client(
        client_id="web",
        client_name="Web",
        redirect_uris=["https://app.example.com/cb"],
        grant_types=["authorization_code", "refresh_token"],
        scope="openid profile",
        token_endpoint_auth_method="client_secret_basic",
        require_pkce=True,
        client_uri="https://app.example.com/",
        logo_uri="https://app.example.com/logo.png",
        require_pushed_authorization_requests=True,
        jwks=KEYS,
        require_signed_request_object=True,
        request_object_signing_alg="ES256",
    )
    assert client_info(message) == ClientInfo(
        client_id="web",
        client_name="Web",
        redirect_uris=("https://app.example.com/cb",),
        grant_types=("authorization_code", "refresh_token"),
        scope=("openid", "profile"),
        token_endpoint_auth_method="client_secret_basic",
        require_pkce=True,
        client_uri="https://app.example.com/",
        logo_uri="https://app.example.com/logo.png",
        require_pushed_authorization_requests=True,
        jwks=KEYS,
        jwks_uri="",
        require_signed_request_object=True,
        request_object_signing_alg="ES256",
    )
    by_uri = client_info(clients_pb2.Client(client_id="c", jwks_uri="https://a.example/jwks"))
    assert (by_uri.jwks, by_uri.jwks_uri) == ("", "https://a.example/jwks")


def test_a_client_without_keys_has_the_defaults() -> None:
    info = client_info(clients_pb2.Client(client_id="svc"))
    assert (info.jwks, info.jwks_uri) == ("", "")
    assert info.require_signed_request_object is False
    assert info.request_object_signing_alg == ""
