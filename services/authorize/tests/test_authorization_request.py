"""The authorization request's parameters and checks (StartAuthorization's first
step): every rule of docs/signin.md step 1, in its order, and the split between
failing the call (an error page at the gateway) and an error to send to the
validated redirect URI."""

from __future__ import annotations

from dataclasses import replace

import pytest

from common.errors import InvalidRequest
from common.resources import ResourceInfo
from services.authorize.domain import AuthorizationRequestValidator
from services.authorize.domain.authorization_request import (
    MALFORMED_DPOP_JKT,
    AuthorizationRequest,
)
from services.authorize.tests.fakes import FakeClientDirectory, make_client_info

CB = "https://app.example.com/cb"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"  # RFC 7636 appendix B
JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"  # RFC 9449 section 10


def directory() -> FakeClientDirectory:
    return FakeClientDirectory(
        make_client_info("web"),
        make_client_info(
            "spa", client_name="SPA", token_endpoint_auth_method="none", require_pkce=False
        ),
        make_client_info("relaxed", require_pkce=False),
        make_client_info("multi", redirect_uris=(CB, "https://app.example.com/other")),
        make_client_info("backend", grant_types=("client_credentials",)),
        make_client_info("no-uris", redirect_uris=()),
    )


def request(**changes: object) -> AuthorizationRequest:
    base = AuthorizationRequest(
        response_type="code",
        client_id="web",
        redirect_uri=CB,
        scope="openid profile",
        state="xyz",
        code_challenge=CHALLENGE,
        code_challenge_method="S256",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def validator() -> AuthorizationRequestValidator:
    return AuthorizationRequestValidator(directory())


async def test_a_good_request(validator: AuthorizationRequestValidator) -> None:
    validated = await validator.validate(request(nonce="n-0S6_WzA2Mj", prompt="consent"))
    assert validated.error == "" and validated.error_description == ""
    assert validated.redirect_uri == CB and validated.redirect_uri_in_request
    assert validated.scopes == ("openid", "profile")
    assert validated.client.client_name == "Web App"
    assert validated.client.logo_uri == "https://app.example.com/logo.png"
    assert validated.code_challenge_method == "S256"
    assert validated.request.state == "xyz"


async def test_empty_scope_means_the_registered_scope(
    validator: AuthorizationRequestValidator,
) -> None:
    validated = await validator.validate(request(scope=""))
    assert validated.scopes == ("openid", "profile", "email", "offline_access")


async def test_the_only_registered_redirect_uri_is_used_when_omitted(
    validator: AuthorizationRequestValidator,
) -> None:
    validated = await validator.validate(request(redirect_uri=""))
    assert validated.redirect_uri == CB and not validated.redirect_uri_in_request
    assert validated.error == ""


@pytest.mark.parametrize(
    ("changes", "description"),
    [
        ({"client_id": ""}, "Missing 'client_id'"),
        ({"client_id": "nobody"}, "Unknown client_id"),
        ({"client_id": "multi", "redirect_uri": ""}, "Missing 'redirect_uri'"),
        (
            {"client_id": "no-uris", "redirect_uri": ""},
            "The client has no registered redirect_uri",
        ),
        ({"redirect_uri": "https://evil.example/cb"}, "redirect_uri is not registered"),
        ({"redirect_uri": CB + "/"}, "redirect_uri is not registered for this client"),
        ({"redirect_uri": CB + "?x=1"}, "redirect_uri is not registered for this client"),
        ({"redirect_uri": CB.upper()}, "redirect_uri is not registered for this client"),
        (
            {"redirect_uri": "https://APP.example.com/cb"},
            "redirect_uri is not registered for this client",
        ),
        ({"redirect_uri": CB + "#frag"}, "redirect_uri is not registered for this client"),
        (
            {"duplicated_parameters": ("redirect_uri",)},
            "Parameter 'redirect_uri' was given more than once",
        ),
        (
            {"duplicated_parameters": ("state", "client_id")},
            "Parameter 'client_id' was given more than once",
        ),
        # These would be redirect errors, but the redirect URI is not trusted yet.
        ({"redirect_uri": CB + "/", "response_type": "token"}, "redirect_uri is not registered"),
    ],
)
async def test_errors_before_the_redirect_uri_is_trusted_fail_the_call(
    validator: AuthorizationRequestValidator, changes: dict[str, object], description: str
) -> None:
    with pytest.raises(InvalidRequest) as info:
        await validator.validate(request(**changes))
    assert info.value.description.startswith(description)


@pytest.mark.parametrize(
    ("changes", "error", "description"),
    [
        (
            {"duplicated_parameters": ("scope",)},
            "invalid_request",
            "Parameter 'scope' was given more than once",
        ),
        ({"response_type": ""}, "invalid_request", "Missing 'response_type'"),
        (
            {"response_type": "token"},
            "unsupported_response_type",
            "Unsupported response_type 'token'; use 'code'",
        ),
        ({"response_type": "code id_token"}, "unsupported_response_type", None),
        (
            {"client_id": "backend"},
            "unauthorized_client",
            "The client is not allowed to use grant_type 'authorization_code'",
        ),
        (
            {"scope": "openid admin"},
            "invalid_scope",
            "Scope 'admin' is not allowed for this client",
        ),
        ({"scope": 'openid "quoted"'}, "invalid_scope", None),
        (
            {"code_challenge": "", "code_challenge_method": ""},
            "invalid_request",
            "code_challenge required",
        ),
        (
            {"client_id": "spa", "code_challenge": "", "code_challenge_method": ""},
            "invalid_request",
            "code_challenge required",
        ),
        (
            {"code_challenge_method": "plain"},
            "invalid_request",
            "code_challenge_method 'plain' is not allowed; use 'S256'",
        ),
        (
            {"code_challenge_method": ""},
            "invalid_request",
            "Missing 'code_challenge_method', which defaults to 'plain'",
        ),
        (
            {"code_challenge_method": "S512"},
            "invalid_request",
            "Unsupported code_challenge_method 'S512'; use 'S256'",
        ),
        ({"code_challenge": "short"}, "invalid_request", "'code_challenge' must be 43 to 128"),
        ({"code_challenge": "a" * 129}, "invalid_request", "'code_challenge' must be 43 to 128"),
        ({"code_challenge": "+" * 43}, "invalid_request", "'code_challenge' must be 43 to 128"),
        ({"prompt": "always"}, "invalid_request", "Unsupported prompt value 'always'"),
        (
            {"prompt": "none login"},
            "invalid_request",
            "prompt 'none' cannot be combined with other values",
        ),
        ({"max_age": "soon"}, "invalid_request", "'max_age' must be a non-negative integer"),
        (
            {"response_mode": "fragment"},
            "invalid_request",
            "Unsupported response_mode 'fragment'; use 'query' or 'form_post'",
        ),
        (
            {"dpop_jkt": JKT, "duplicated_parameters": ("dpop_jkt",)},
            "invalid_request",
            "Parameter 'dpop_jkt' was given more than once",
        ),
        ({"dpop_jkt": JKT[:42]}, "invalid_request", MALFORMED_DPOP_JKT),
        ({"dpop_jkt": JKT + "A"}, "invalid_request", MALFORMED_DPOP_JKT),
        ({"dpop_jkt": JKT[:42] + "="}, "invalid_request", MALFORMED_DPOP_JKT),
        ({"dpop_jkt": "+/" + JKT[2:]}, "invalid_request", MALFORMED_DPOP_JKT),  # not base64url
        ({"dpop_jkt": JKT[:42] + " "}, "invalid_request", MALFORMED_DPOP_JKT),
    ],
)
async def test_errors_after_the_redirect_uri_go_back_to_the_client(
    validator: AuthorizationRequestValidator,
    changes: dict[str, object],
    error: str,
    description: str | None,
) -> None:
    validated = await validator.validate(request(**changes))
    assert validated.error == error
    if description is not None:
        assert validated.error_description.startswith(description)
    assert validated.redirect_uri  # the gateway has somewhere to send it
    assert validated.scopes == ()


async def test_checks_run_in_the_documented_order(
    validator: AuthorizationRequestValidator,
) -> None:
    everything_wrong = request(
        duplicated_parameters=("state",),
        response_type="token",
        scope="admin",
        code_challenge="",
        prompt="bogus",
        max_age="-5",
        dpop_jkt="not-a-thumbprint",
    )
    expected = [
        ("duplicated_parameters", (), "invalid_request"),
        ("response_type", "code", "unsupported_response_type"),
        ("scope", "openid", "invalid_scope"),
        ("code_challenge", CHALLENGE, "invalid_request"),  # code_challenge required
        ("prompt", "", "invalid_request"),  # bad prompt
        ("max_age", "", "invalid_request"),  # bad max_age
        ("dpop_jkt", JKT, "invalid_request"),  # not a thumbprint
    ]
    current = everything_wrong
    for field, fixed, error in expected:
        validated = await validator.validate(current)
        assert validated.error == error, field
        current = replace(current, **{field: fixed})  # type: ignore[arg-type]
    assert (await validator.validate(current)).error == ""


async def test_pkce_for_confidential_clients_follows_their_setting(
    validator: AuthorizationRequestValidator,
) -> None:
    relaxed = await validator.validate(
        request(client_id="relaxed", code_challenge="", code_challenge_method="")
    )
    assert relaxed.error == "" and relaxed.code_challenge_method == ""
    # A public client needs PKCE whatever its require_pkce says.
    spa = await validator.validate(request(client_id="spa"))
    assert spa.error == "" and spa.code_challenge_method == "S256"
    bare_spa = await validator.validate(
        request(client_id="spa", code_challenge="", code_challenge_method="")
    )
    assert bare_spa.error_description == "code_challenge required"
    # A method without a challenge is refused even where PKCE is optional.
    lone_method = await validator.validate(
        request(client_id="relaxed", code_challenge="", code_challenge_method="S256")
    )
    assert lone_method.error_description == (
        "'code_challenge_method' was sent without 'code_challenge'"
    )


async def test_plain_only_when_configured() -> None:
    validator = AuthorizationRequestValidator(directory(), allow_plain_pkce=True)
    for method in ["plain", ""]:
        validated = await validator.validate(request(code_challenge_method=method))
        assert validated.error == "", method


async def test_openid_without_nonce_and_good_prompts(
    validator: AuthorizationRequestValidator,
) -> None:
    for prompt in ["", "none", "login", "consent", "login consent", "select_account"]:
        validated = await validator.validate(request(nonce="", prompt=prompt, max_age="0"))
        assert validated.error == "", prompt


async def test_a_dpop_jkt_is_kept_for_the_code(validator: AuthorizationRequestValidator) -> None:
    """RFC 9449 section 10: the thumbprint the code will be bound to."""
    parsed = AuthorizationRequest.from_query([("client_id", "web"), ("dpop_jkt", JKT)])
    assert parsed.dpop_jkt == JKT and parsed.duplicated_parameters == ()
    validated = await validator.validate(request(dpop_jkt=JKT))
    assert validated.error == "" and validated.request.dpop_jkt == JKT
    twice = AuthorizationRequest.from_query([("dpop_jkt", JKT), ("dpop_jkt", JKT)])
    assert twice.dpop_jkt == JKT and twice.duplicated_parameters == ("dpop_jkt",)


def test_parameters_are_read_from_the_query_as_it_came() -> None:
    parsed = AuthorizationRequest.from_query(
        [
            ("response_type", "code"),
            ("client_id", "c 1"),
            ("scope", "openid email"),
            ("state", ""),
            ("prompt", "login"),
            ("nonce", "n"),
            ("nonce", "m"),
            ("resource", "a"),
            ("max_age", "60"),
            ("client_id", "other"),
            ("unknown", "ignored"),
        ]
    )
    assert parsed.client_id == "c 1" and parsed.scope == "openid email"
    assert parsed.state == ""  # empty means omitted (RFC 6749 section 3.1)
    assert parsed.nonce == "n" and parsed.max_age_seconds == 60
    assert parsed.duplicated_parameters == ("nonce", "client_id")
    assert AuthorizationRequest.from_query([]).max_age_seconds is None
    assert AuthorizationRequest.from_query([("max_age", "9" * 20)]).max_age_seconds is None
    assert AuthorizationRequest.from_query([("max_age", "+5")]).max_age_seconds is None


@pytest.mark.parametrize(
    "query",
    [
        [("state", "x" * 4097)],
        [(f"p{i}", "v") for i in range(65)],
        # Each value within bounds, but what would be kept adds up to more than 16 KiB.
        [(name, "x" * 4096) for name in ("state", "nonce", "login_hint", "scope", "prompt")],
    ],
)
def test_an_oversized_query_fails_before_anything_else(query: list[tuple[str, str]]) -> None:
    with pytest.raises(InvalidRequest, match="too large"):
        AuthorizationRequest.from_query(query)


async def test_request_objects_are_refused_at_the_redirect_uri(
    validator: AuthorizationRequestValidator,
) -> None:
    by_value = await validator.validate(request(request="eyJhbGciOiJub25lIn0.e30."))
    assert by_value.error == "request_not_supported"
    by_reference = await validator.validate(request(request_uri="urn:example:1"))
    assert by_reference.error == "request_uri_not_supported"


class Resources:
    """A ResourceDirectory of two resource servers (RFC 8707)."""

    def __init__(self) -> None:
        self.found = {
            "https://api.example.com/": ResourceInfo("https://api.example.com/", ("profile",)),
            "https://other.example.com/": ResourceInfo("https://other.example.com/", ("admin",)),
        }

    async def get(self, identifier: str) -> ResourceInfo | None:
        return self.found.get(identifier)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"resource": "https://unknown.example.com/"}, "Unknown resource"),
        ({"resource": "https://other.example.com/"}, "may not use the resource"),
        ({"resource": "relative/path"}, "absolute URI"),
        (
            {"resource": "https://api.example.com/", "duplicated_parameters": ("resource",)},
            "one resource at a time",
        ),
    ],
)
async def test_a_resource_must_be_registered_and_the_clients(
    changes: dict[str, object], message: str
) -> None:
    validator = AuthorizationRequestValidator(directory(), resources=Resources())
    validated = await validator.validate(request(**changes))
    assert validated.error == "invalid_target", validated
    assert message in validated.error_description


async def test_a_usable_resource_passes_and_none_is_needed() -> None:
    validator = AuthorizationRequestValidator(directory(), resources=Resources())
    validated = await validator.validate(request(resource="https://api.example.com/"))
    assert validated.error == "" and validated.request.resource == "https://api.example.com/"
    assert (await validator.validate(request())).error == ""
    # Without a registry, a resource cannot be honoured.
    bare = await AuthorizationRequestValidator(directory()).validate(
        request(resource="https://api.example.com/")
    )
    assert bare.error == "invalid_target"
