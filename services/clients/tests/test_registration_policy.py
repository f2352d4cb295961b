"""RegistrationPolicy: RFC 8252 redirect URIs and the operator's limits (RFC 7591 section 2)."""

from __future__ import annotations

import pytest

from common.errors import InvalidClientMetadata, InvalidRedirectUri
from services.clients.domain.metadata import validate_metadata
from services.clients.domain.model import ClientMetadata
from services.clients.domain.registration_policy import (
    RegistrationPolicy,
    check_native_or_web_redirect_uri,
)
from services.clients.settings import ClientsSettings

POLICY = RegistrationPolicy.of(
    grant_types=["authorization_code", "refresh_token", "client_credentials"],
    scopes=["openid", "profile", "email", "offline_access"],
    auth_methods=["client_secret_basic", "client_secret_post", "none"],
)


def checked(metadata: ClientMetadata, policy: RegistrationPolicy = POLICY) -> ClientMetadata:
    return policy.check(validate_metadata(policy.prepare(metadata), client_id="c"))


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example.com/cb",  # a web app (or a claimed https URI, 7.2)
        "https://app.example.com:8443/cb?x=1",
        "http://127.0.0.1/cb",  # loopback, section 7.3
        "http://127.0.0.1:51004/oauth2redirect",
        "http://[::1]:8080/cb",
        "http://localhost:3000/cb",  # tolerated by section 8.3
        "HTTP://LOCALHOST/cb",
        "com.example.app:/oauth2redirect",  # private-use, section 7.1
        "com.example.app:/cb",
        "org.example.my-app+beta:/cb",
    ],
)
def test_allowed_redirect_uris(uri: str) -> None:
    check_native_or_web_redirect_uri(uri)
    assert checked(ClientMetadata(redirect_uris=(uri,))).redirect_uris == (uri,)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("http://app.example.com/cb", "loopback"),  # plain http on a real host
        ("http://127.0.0.1.evil.example/cb", "loopback"),
        ("http://localhost@evil.example/cb", "userinfo"),
        ("https://app.example.com@evil.example/cb", "userinfo"),
        ("https://user:pw@app.example.com/cb", "userinfo"),
        ("chrome://settings/cb", "not allowed"),
        ("view-source:https://app.example.com/cb", "not allowed"),
        ("jar:file:/tmp/x.jar!/cb", "not allowed"),
        ("javascript:alert(1)", "not allowed"),
        ("data:text/html,hi", "not allowed"),
        ("http://10.0.0.1/cb", "loopback"),
        ("https:///cb", "no host"),
        ("https://app.example.com/cb#frag", "fragment"),
        ("http://127.0.0.1/cb#", "fragment"),
        ("com.example.app:/cb#x", "fragment"),
        ("myapp:/cb", "reverse domain"),  # private-use scheme without a period
        ("ftp://files.example.com/cb", "reverse domain"),
        ("/relative/cb", "not absolute"),
        ("", "Invalid URI"),
        ("https://[::1/cb", "Invalid URI"),
    ],
)
def test_refused_redirect_uris(uri: str, message: str) -> None:
    with pytest.raises(InvalidRedirectUri, match=message) as caught:
        check_native_or_web_redirect_uri(uri)
    assert "'redirect_uris'" in caught.value.description
    with pytest.raises(InvalidRedirectUri):
        checked(ClientMetadata(redirect_uris=(uri,)))


def test_post_logout_redirect_uris_follow_the_same_rules() -> None:
    metadata = ClientMetadata(
        redirect_uris=("https://app.example.com/cb",),
        post_logout_redirect_uris=("http://app.example.com/bye",),
    )
    with pytest.raises(InvalidRedirectUri, match="'post_logout_redirect_uris'"):
        checked(metadata)


@pytest.mark.parametrize(
    ("metadata", "field"),
    [
        (ClientMetadata(grant_types=("client_credentials",), scope="admin"), "'scope' 'admin'"),
        (ClientMetadata(grant_types=("client_credentials",), scope="openid write"), "'scope'"),
        (
            ClientMetadata(
                redirect_uris=("https://a.example/cb",),
                grant_types=("urn:ietf:params:oauth:grant-type:device_code",),
            ),
            "'grant_types'",
        ),
        (
            ClientMetadata(grant_types=("password",)),
            "'grant_types'",
        ),
        (
            ClientMetadata(token_endpoint_auth_method="private_key_jwt"),
            "'token_endpoint_auth_method'",
        ),
        (ClientMetadata(require_pkce=False), "'require_pkce'"),
        (ClientMetadata(always_issue_refresh_token=True), "'always_issue_refresh_token'"),
    ],
)
def test_metadata_outside_policy(metadata: ClientMetadata, field: str) -> None:
    with pytest.raises(InvalidClientMetadata, match=field):
        checked(metadata)


def test_defaults_are_checked_against_the_policy() -> None:
    # No grant_types and no redirect URIs defaults to client_credentials.
    policy = RegistrationPolicy.of(
        grant_types=["authorization_code", "refresh_token"],
        scopes=["openid"],
        auth_methods=["none"],
    )
    # The default method is client_secret_basic (RFC 7591 section 2).
    with pytest.raises(InvalidClientMetadata, match="'token_endpoint_auth_method'"):
        checked(ClientMetadata(redirect_uris=("https://a.example/cb",)), policy)
    narrower = RegistrationPolicy.of(
        grant_types=["authorization_code"], scopes=["openid"], auth_methods=["none"]
    )
    web = ClientMetadata(redirect_uris=("https://a.example/cb",), token_endpoint_auth_method="none")
    with pytest.raises(InvalidClientMetadata, match="'grant_types' 'refresh_token'"):
        checked(web, narrower)
    backend = RegistrationPolicy.of(
        grant_types=["authorization_code"], scopes=["openid"], auth_methods=["client_secret_post"]
    )
    with pytest.raises(InvalidClientMetadata, match="'grant_types' 'client_credentials'"):
        checked(ClientMetadata(token_endpoint_auth_method="client_secret_post"), backend)


def test_no_scope_gets_the_allowed_scopes() -> None:
    result = checked(ClientMetadata(grant_types=("client_credentials",)))
    assert result.scope == "openid profile email offline_access"
    assert checked(ClientMetadata(scope="openid email")).scope == "openid email"


def test_admin_is_never_allowed_even_if_configured() -> None:
    policy = RegistrationPolicy.of(
        grant_types=["client_credentials"], scopes=["admin", "read"], auth_methods=["none"]
    )
    assert policy.allowed_scopes == ("read",)
    with pytest.raises(ValueError, match="admin"):
        ClientsSettings(registration_allowed_scopes=["openid", "admin"])


def test_settings_defaults_and_mode() -> None:
    embedded = ClientsSettings(redis_url=None)
    assert embedded.registration_mode is None
    assert embedded.effective_registration_mode == "open"
    assert ClientsSettings(redis_url="redis://r:6379/0").effective_registration_mode == "token"
    assert ClientsSettings(registration_mode="closed").effective_registration_mode == "closed"
    assert embedded.initial_access_token_ttl_seconds == 86_400
    assert embedded.registration_allowed_auth_methods == [
        "client_secret_basic",
        "client_secret_post",
        "client_secret_jwt",
        "private_key_jwt",
        "tls_client_auth",
        "self_signed_tls_client_auth",
        "none",
    ]
    with pytest.raises(ValueError, match="password"):
        ClientsSettings(registration_allowed_grant_types=["password"])
    with pytest.raises(ValueError, match="attest_jwt_client_auth"):
        ClientsSettings(registration_allowed_auth_methods=["attest_jwt_client_auth"])


def test_token_exchange_is_for_operators_even_if_configured() -> None:
    # RFC 8693: the exchanging client is trusted with other clients' tokens.
    exchange = "urn:ietf:params:oauth:grant-type:token-exchange"
    policy = RegistrationPolicy.of(
        grant_types=["client_credentials", exchange],
        scopes=["read"],
        auth_methods=["client_secret_basic"],
    )
    assert policy.allowed_grant_types == frozenset({"client_credentials"})
    asking = ClientMetadata(grant_types=("client_credentials", exchange))
    with pytest.raises(InvalidClientMetadata, match="set by operators only") as caught:
        checked(asking, policy)
    assert exchange in caught.value.description
    with pytest.raises(InvalidClientMetadata, match="set by operators only"):
        checked(ClientMetadata(token_exchange_audiences=("billing",)), policy)
    # An RFC 7592 update of a client an operator gave it to may name it as read.
    kept = policy.check(
        validate_metadata(policy.prepare(asking, held=(exchange,)), client_id="c"),
        held=(exchange,),
    )
    assert kept.grant_types == ("client_credentials", exchange)
    with pytest.raises(ValueError, match="never be self-registered"):
        ClientsSettings(registration_allowed_grant_types=["client_credentials", exchange])
