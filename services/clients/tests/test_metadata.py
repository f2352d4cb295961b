"""Metadata validation and defaults (RFC 7591 section 2, RFC 6749 section 3.1.2)."""

from __future__ import annotations

import pytest

from common.errors import InvalidClientMetadata, InvalidRedirectUri, InvalidRequest, OAuthError
from services.clients.domain.metadata import validate_client_id, validate_metadata
from services.clients.domain.model import ClientMetadata

APP = "https://app.example.com/callback"


def validate(**fields: object) -> ClientMetadata:
    return validate_metadata(ClientMetadata(**fields), client_id="cid")  # type: ignore[arg-type]


def test_backend_defaults() -> None:
    metadata = validate()
    assert metadata.client_name == "cid"
    assert metadata.grant_types == ("client_credentials",)
    assert metadata.response_types == ()
    assert metadata.token_endpoint_auth_method == "client_secret_basic"
    assert metadata.require_pkce is True


def test_web_app_defaults() -> None:
    metadata = validate(client_name=" Web ", redirect_uris=(APP,))
    assert metadata.client_name == "Web"
    assert metadata.grant_types == ("authorization_code", "refresh_token")
    assert metadata.response_types == ("code",)


def test_explicit_values_are_kept_and_deduplicated() -> None:
    metadata = validate(
        redirect_uris=(APP, APP, "com.example.app:/cb", "http://127.0.0.1:8400/cb"),
        grant_types=("authorization_code", "authorization_code", "client_credentials"),
        scope="read  write read",
        require_pkce=False,
        access_token_signing_alg="RS256",
        contacts=(" ops@example.com ",),
        client_uri="https://example.com",
    )
    assert metadata.redirect_uris == (APP, "com.example.app:/cb", "http://127.0.0.1:8400/cb")
    assert metadata.grant_types == ("authorization_code", "client_credentials")
    assert metadata.scope == "read write"
    assert metadata.require_pkce is False
    assert metadata.contacts == ("ops@example.com",)


def test_public_device_client_is_fine() -> None:
    metadata = validate(
        token_endpoint_auth_method="none",
        grant_types=("urn:ietf:params:oauth:grant-type:device_code", "refresh_token"),
    )
    assert metadata.response_types == ()


@pytest.mark.parametrize(
    ("fields", "error", "quoted"),
    [
        (
            {"token_endpoint_auth_method": "private_key_jwt"},
            InvalidClientMetadata,
            "token_endpoint_auth_method",
        ),
        ({"grant_types": ("password",)}, InvalidClientMetadata, "grant_types"),
        ({"grant_types": ("implicit",)}, InvalidClientMetadata, "grant_types"),
        ({"grant_types": ("authorization_code",)}, InvalidRedirectUri, "redirect_uris"),
        (
            {"redirect_uris": (APP,), "response_types": ("token",)},
            InvalidClientMetadata,
            "response_types",
        ),
        ({"response_types": ("code",)}, InvalidClientMetadata, "grant_types"),
        ({"token_endpoint_auth_method": "none"}, InvalidClientMetadata, "client_credentials"),
        (
            {"token_endpoint_auth_method": "none", "grant_types": ("client_credentials",)},
            InvalidClientMetadata,
            "client_credentials",
        ),
        ({"redirect_uris": ("/relative",)}, InvalidRedirectUri, "redirect_uris"),
        ({"redirect_uris": ("https://a.example/cb#frag",)}, InvalidRedirectUri, "fragment"),
        ({"redirect_uris": ("https://a.example/cb#",)}, InvalidRedirectUri, "fragment"),
        ({"redirect_uris": ("javascript:alert(1)",)}, InvalidRedirectUri, "redirect_uris"),
        ({"redirect_uris": ("https:///nohost",)}, InvalidRedirectUri, "host"),
        ({"redirect_uris": ("https://a.example/c b",)}, InvalidRedirectUri, "redirect_uris"),
        ({"redirect_uris": ("",)}, InvalidRedirectUri, "redirect_uris"),
        (
            {"post_logout_redirect_uris": ("logout",)},
            InvalidRedirectUri,
            "post_logout_redirect_uris",
        ),
        ({"scope": 'read "write"'}, InvalidClientMetadata, "scope"),
        ({"scope": "read\n"}, InvalidClientMetadata, "scope"),
        ({"access_token_signing_alg": "HS256"}, InvalidClientMetadata, "access_token_signing_alg"),
        ({"access_token_signing_alg": "none"}, InvalidClientMetadata, "access_token_signing_alg"),
        ({"client_uri": "ftp://example.com"}, InvalidClientMetadata, "client_uri"),
        ({"logo_uri": "not a url"}, InvalidClientMetadata, "logo_uri"),
        ({"client_name": "x" * 201}, InvalidClientMetadata, "client_name"),
        ({"client_name": "bad\nname"}, InvalidClientMetadata, "client_name"),
        ({"contacts": ("",)}, InvalidClientMetadata, "contacts"),
    ],
)
def test_rejections_name_the_field(
    fields: dict[str, object], error: type[OAuthError], quoted: str
) -> None:
    with pytest.raises(error) as caught:
        validate(**fields)
    assert type(caught.value) is error
    assert quoted in caught.value.description


@pytest.mark.parametrize("client_id", ["a", "svc-1", "x" * 128, "with space", "~!@#$%^&*()"])
def test_client_ids_of_vschar_are_accepted(client_id: str) -> None:
    assert validate_client_id(client_id) == client_id


@pytest.mark.parametrize("client_id", ["x" * 129, "tab\there", "caf\u00e9", "nl\n"])
def test_client_ids_outside_vschar_are_refused(client_id: str) -> None:
    with pytest.raises(InvalidRequest, match="client_id"):
        validate_client_id(client_id)


EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


def test_exchange_audiences_need_the_exchange_grant() -> None:
    # RFC 8693: the audiences mean nothing to a client that cannot exchange tokens.
    with pytest.raises(InvalidClientMetadata, match="needs urn:ietf:params:oauth:grant-type"):
        validate(token_exchange_audiences=("billing",))
    metadata = validate(
        grant_types=("client_credentials", EXCHANGE), token_exchange_audiences=("billing",)
    )
    assert metadata.grant_types == ("client_credentials", EXCHANGE)
    # The grant alone is fine: an exchange for the subject token's own audience.
    assert validate(grant_types=(EXCHANGE,)).token_exchange_audiences == ()
    with pytest.raises(InvalidClientMetadata, match="requires a confidential client"):
        validate(grant_types=(EXCHANGE,), token_endpoint_auth_method="none")


@pytest.mark.parametrize(
    "uri",
    [
        "https://rp.example.com:99999/bcl",  # a port out of range
        "https://[::1/bcl",
        "ftp://rp.example.com/bcl",
        "https://rp.example.com/bcl\n",
    ],
)
def test_backchannel_logout_uri_follows_the_outbound_rule(uri: str) -> None:
    # The same rule as jwks_uri (services/clients/domain/outbound_uris.py): the
    # token service POSTs there.
    with pytest.raises(InvalidClientMetadata) as caught:
        validate(backchannel_logout_uri=uri)
    assert caught.value.description == (
        "'backchannel_logout_uri' must be an absolute https URL with a host and no "
        "fragment, at most 2048 characters"
    )
