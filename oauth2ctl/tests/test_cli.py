"""oauth2ctl's client commands through the gateway's admin API, how it finds its
credentials, and one-line errors with exit code 1."""

from __future__ import annotations

import asyncio
import json
import re
import stat
from pathlib import Path
from typing import Any

import jwt
import pytest

from common.settings import load_settings
from gateway.tests import fakes
from oauth2ctl.api import client_secret_assertion
from oauth2ctl.cli import build_parser, main, run
from oauth2ctl.settings import CtlSettings
from oauth2ctl.tests.conftest import GATEWAY_ADMIN, Ctl, GatewayTransport
from services.clients.domain.model import ClientMetadata
from services.clients.tests.keys import ec_jwk, key_set, okp_jwk, rsa_private_jwk

ACTOR = f"client:{fakes.ADMIN_CLIENT_ID}"


def saved_credentials(tmp_path: Path) -> dict[str, str]:
    return json.loads((tmp_path / "oauth2ctl-credentials.json").read_text())  # type: ignore[no-any-return]


def test_bootstrap_wrote_private_credentials(ctl: Ctl, tmp_path: Path) -> None:
    path = tmp_path / "oauth2ctl-credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = saved_credentials(tmp_path)
    # The admin client the service created, and the secret it authenticates with.
    registry = ctl.system().downstream.client_registry
    client = ctl.server.run(
        registry.authenticate(saved["client_id"], saved["client_secret"], "client_secret_basic")
    )
    assert client.scope == "admin" and client.grant_types == ("client_credentials",)
    method, request = ctl.admin.requests[-1]
    assert method == "Bootstrap" and request.actor.id == "cli"


def test_bootstrap_twice_is_a_conflict(ctl: Ctl) -> None:
    code, out, err = ctl("bootstrap")
    assert (code, out) == (1, "")
    assert err == "oauth2ctl: conflict: The system is already bootstrapped\n"
    # --if-needed leaves a bootstrapped system alone.
    code, out, _ = ctl("bootstrap", "--if-needed")
    assert code == 0 and "already bootstrapped" in out


def test_bootstrap_json(ctl: Ctl, tmp_path: Path) -> None:
    ctl.admin.reset()  # a system not bootstrapped yet
    code, out, _ = ctl("bootstrap", "--json")
    assert code == 0
    body = json.loads(out)
    assert body == {
        "client_id": body["client_id"],
        "client_secret": body["client_secret"],
        "url": GATEWAY_ADMIN,
        "credentials_file": str(tmp_path / "oauth2ctl-credentials.json"),
    }
    saved = saved_credentials(tmp_path)
    assert (saved["client_id"], saved["client_secret"]) == (
        body["client_id"],
        body["client_secret"],
    )


def test_create_json_through_the_admin_api(ctl: Ctl, tmp_path: Path) -> None:
    code, out, err = ctl(
        "client", "create", "--name", "svc",
        "--grant-type", "client_credentials", "--grant-type", "authorization_code",
        "--redirect-uri", "https://app.example/cb",
        "--scope", "a b", "--auth-method", "client_secret_post", "--no-require-pkce", "--json",
    )  # fmt: skip
    assert code == 0, err
    body = json.loads(out)
    assert len(body["client_secret"]) >= 43
    for name, value in {
        "client_name": "svc",
        "grant_types": ["client_credentials", "authorization_code"],
        "redirect_uris": ["https://app.example/cb"],
        "response_types": ["code"],
        "scope": "a b",
        "token_endpoint_auth_method": "client_secret_post",
        "require_pkce": False,
        "post_logout_redirect_uris": [],
        "always_issue_refresh_token": False,
    }.items():
        assert body[name] == value, name
    method, request = ctl.admin.requests[-1]
    assert method == "CreateClient"
    assert request.actor.id == ACTOR
    # The token came from the credentials file through client_credentials, scope admin.
    exchange = ctl.token.exchanges[-1]
    assert (exchange.grant_type, exchange.scope) == ("client_credentials", "admin")
    assert exchange.credentials.client_id == saved_credentials(tmp_path)["client_id"]


def test_create_defaults_are_left_to_the_service(ctl: Ctl) -> None:
    code, out, _ = ctl("client", "create", "--name", "svc")
    assert code == 0
    request = ctl.admin.requests[-1][1]
    assert list(request.metadata.grant_types) == []
    assert request.metadata.token_endpoint_auth_method == ""
    assert not request.metadata.HasField("require_pkce")
    assert "\nclient_secret  " in out
    assert "shown only once" in out


def test_public_client_has_no_secret(ctl: Ctl) -> None:
    code, out, _ = ctl(
        "client", "create", "--name", "spa", "--auth-method", "none",
        "--redirect-uri", "https://spa.example/cb", "--json",
    )  # fmt: skip
    assert code == 0
    body = json.loads(out)
    assert "client_secret" not in body and body["token_endpoint_auth_method"] == "none"


def test_a_client_secret_jwt_client_gets_its_secret_once(ctl: Ctl) -> None:
    """RFC 7523 section 2.2: the secret keys the client's assertions; it is shown like
    any confidential client's, and long enough a key for HS512."""
    code, out, err = ctl(
        "client", "create", "--name", "hmac", "--auth-method", "client_secret_jwt", "--json",
    )  # fmt: skip
    assert code == 0, err
    body = json.loads(out)
    assert body["token_endpoint_auth_method"] == "client_secret_jwt"
    assert len(body["client_secret"].encode()) >= 64
    code, out, _ = ctl("client", "create", "--name", "hmac", "--auth-method", "client_secret_jwt")
    assert code == 0 and "\nclient_secret  " in out and "shown only once" in out
    code, out, _ = ctl("client", "show", body["client_id"], "--json")
    assert code == 0 and "client_secret" not in json.loads(out)


def test_the_assertion_get_token_sends_for_client_secret_jwt() -> None:
    assertion = client_secret_assertion("cid", "s" * 64, "https://as.example/oauth/token")
    assert jwt.get_unverified_header(assertion)["alg"] == "HS256"
    claims = jwt.decode(
        assertion, b"s" * 64, algorithms=["HS256"], audience="https://as.example/oauth/token"
    )
    assert (claims["iss"], claims["sub"]) == ("cid", "cid")
    assert claims["exp"] - claims["iat"] == 60 and claims["jti"]


def test_get_token_uses_the_gateway(ctl: Ctl) -> None:
    ctl.admin.fail.clear()
    code, out, err = ctl("client", "create", "--name", "x", "--json", "--get-token")
    assert code == 0, err
    body = json.loads(out)
    # The new client's own credentials, at the gateway's token endpoint.
    assert body["token_response"]["access_token"] == f"token-for-{body['client_id']}"
    assert ctl.token.exchanges[-1].credentials.client_id == body["client_id"]
    code, _, err = ctl(
        "client", "create", "--name", "spa", "--auth-method", "none",
        "--redirect-uri", "https://spa.example/cb", "--get-token",
    )  # fmt: skip
    assert (code, err) == (
        1,
        "oauth2ctl: invalid_request: --get-token needs a confidential client\n",
    )


def test_list_follows_pages(ctl: Ctl, tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        assert ctl("client", "create", "--name", name)[0] == 0
    registry = ctl.system().downstream.client_registry

    async def create_many() -> None:
        for index in range(250):
            await registry.create(ClientMetadata(), client_id=f"z{index:03}")

    ctl.server.run(create_many())
    code, out, _ = ctl("client", "list", "--json")
    assert code == 0
    assert len(json.loads(out)) == 254  # three, the admin client and 250 more
    code, out, _ = ctl("client", "list", "--search", "oauth2ctl")  # the admin client's name
    assert out.splitlines()[0].split() == ["CLIENT_ID", "NAME", "AUTH", "METHOD", "GRANT", "TYPES"]
    assert out.splitlines()[1].startswith(saved_credentials(tmp_path)["client_id"] + " ")


def test_show_update_rotate_delete(ctl: Ctl) -> None:
    created = json.loads(ctl("client", "create", "--name", "svc", "--json")[1])
    client_id = created["client_id"]
    code, out, _ = ctl("client", "show", client_id, "--json")
    assert json.loads(out)["client_name"] == "svc"
    code, out, _ = ctl(
        "client", "update", client_id, "--name", "renamed", "--redirect-uri",
        "https://x.example/cb", "--no-require-pkce", "--json",
    )  # fmt: skip
    assert code == 0 and json.loads(out)["client_name"] == "renamed"
    request = ctl.admin.requests[-1][1]
    assert list(request.update_mask) == ["client_name", "redirect_uris", "require_pkce"]
    code, out, _ = ctl("client", "rotate-secret", client_id, "--json")
    assert json.loads(out)["client_secret"] not in ("", created["client_secret"])
    code, out, _ = ctl("client", "delete", client_id)
    assert (code, out) == (0, f"deleted client {client_id}\n")
    code, out, err = ctl("client", "show", client_id)
    assert (code, err) == (1, f"oauth2ctl: not_found: Client {client_id!r} not found\n")
    code, _, err = ctl("client", "update", client_id)
    assert err == "oauth2ctl: invalid_request: Nothing to update: give at least one option\n"


def test_ids_stay_one_path_segment(ctl: Ctl) -> None:
    code, _, err = ctl("client", "show", "a?b#c")
    assert (code, err) == (1, "oauth2ctl: not_found: Client 'a?b#c' not found\n")
    assert ctl.admin.requests[-1][1].client_id == "a?b#c"


def test_token_flag_and_env_come_first(ctl: Ctl, monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = ctl("--token", "nope", "stats")
    assert (code, err) == (1, "oauth2ctl: invalid_token: The access token expired\n")
    monkeypatch.setenv("OAUTH2_CTL_TOKEN", fakes.ADMIN_TOKEN)
    ctl.token.exchanges.clear()
    assert ctl("stats")[0] == 0
    assert ctl.token.exchanges == []
    monkeypatch.setenv("OAUTH2_CTL_TOKEN", fakes.GOOD_TOKEN)
    code, _, err = ctl("stats")
    assert err == "oauth2ctl: insufficient_scope: The access token lacks the 'admin' scope\n"


def test_client_settings_come_before_the_file(ctl: Ctl, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTH2_CTL_CLIENT_ID", fakes.ADMIN_CLIENT_ID)
    monkeypatch.setenv("OAUTH2_CTL_CLIENT_SECRET", "wrong")
    code, _, err = ctl("stats")
    assert (code, err) == (1, "oauth2ctl: invalid_client: Client authentication failed\n")


def test_no_credentials_hints_at_bootstrap(ctl: Ctl, tmp_path: Path) -> None:
    (tmp_path / "oauth2ctl-credentials.json").unlink()
    code, out, err = ctl("client", "list")
    assert (code, out) == (1, "")
    assert err.startswith(
        "oauth2ctl: no_credentials: No admin credentials: no file "
        f"{tmp_path / 'oauth2ctl-credentials.json'}; run 'oauth2ctl bootstrap' once, or "
        "'oauth2ctl bootstrap --recover' if the system was bootstrapped"
    )
    assert err.count("\n") == 1


def test_nothing_running(ctl: Ctl, capsys: pytest.CaptureFixture[str]) -> None:
    from oauth2ctl.devrun import free_port

    port = free_port()
    code = main(["--url", f"http://127.0.0.1:{port}", "--token", "t", "client", "list"])
    err = capsys.readouterr().err
    assert code == 1
    assert err == (
        f"oauth2ctl: temporarily_unavailable: the gateway at http://127.0.0.1:{port}"
        " did not answer; is the system running (make run)?\n"
    )


def test_bootstrap_with_nothing_running(
    ctl: Ctl, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from oauth2ctl.devrun import free_port

    monkeypatch.setenv("OAUTH2_ADMIN_TARGET", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("OAUTH2_GRPC_DEADLINE_SECONDS", "0.5")
    code = main(["bootstrap"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("oauth2ctl: temporarily_unavailable: the admin service at 127.0.0.1:")


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["client"],
        ["client", "create"],
        ["client", "create", "--name", "x", "--auth-method", "bogus"],
        ["grant", "list"],
        ["grant", "list", "--user", "u", "--client", "c"],
        ["key", "rotate", "--alg", "HS256"],
        ["audit", "list", "--outcome", "maybe"],
        ["--output", "yaml", "stats"],
        ["stats", "--output", "xml"],
        ["bootstrap", "--recover", "--if-needed"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


def test_admin_calls_go_to_the_admin_listener_and_tokens_to_the_public_one(ctl: Ctl) -> None:
    code, _, err = ctl("client", "list")
    assert code == 0, err
    assert ctl.last is not None
    sent = [(r.method, str(r.url).split("?")[0]) for r in ctl.last.requests]
    assert sent == [
        ("POST", "http://gateway.test/oauth/token"),
        ("GET", f"{GATEWAY_ADMIN}/admin/api/clients"),
    ]


def test_introspection_cors_origins_enable_disable(ctl: Ctl) -> None:
    code, out, err = ctl(
        "client", "create", "--name", "rs", "--introspection",
        "--cors-origin", "https://spa.example.com", "--cors-origin", "http://localhost:3000",
        "--json",
    )  # fmt: skip
    assert code == 0, err
    created = json.loads(out)
    assert created["introspection"] is True
    assert created["allowed_cors_origins"] == ["https://spa.example.com", "http://localhost:3000"]
    assert created["enabled"] is True
    request = ctl.admin.requests[-1][1]
    assert request.metadata.introspection is True
    client_id = created["client_id"]
    code, out, _ = ctl(
        "client", "update", client_id, "--no-introspection", "--no-cors-origins", "--json"
    )
    updated = json.loads(out)
    assert (updated["introspection"], updated["allowed_cors_origins"]) == (False, [])
    assert list(ctl.admin.requests[-1][1].update_mask) == ["allowed_cors_origins", "introspection"]
    code, out, _ = ctl("client", "disable", client_id)
    assert (code, out) == (0, f"disabled client {client_id}; its tokens are revoked\n")
    assert json.loads(ctl("client", "show", client_id, "--json")[1])["enabled"] is False
    code, out, _ = ctl("client", "enable", client_id)
    assert (code, out) == (0, f"enabled client {client_id}\n")
    assert json.loads(ctl("client", "show", client_id, "--json")[1])["enabled"] is True
    code, _, err = ctl("client", "create", "--name", "bad", "--cors-origin", "https://*.example")
    assert code == 1 and "invalid_client_metadata" in err and "allowed_cors_origins" in err


def test_plain_clients_cannot_introspect_by_default(ctl: Ctl) -> None:
    created = json.loads(ctl("client", "create", "--name", "svc", "--json")[1])
    assert created["introspection"] is False
    assert created["allowed_cors_origins"] == []


def summary_rows(out: str) -> dict[str, str]:
    """A client summary's rows, label -> value (the secret warning left out)."""
    rows = (
        re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in out.split("\n\n")[0].splitlines()
    )
    return {row[0]: row[1] for row in rows}


def write_json(path: Path, value: object) -> str:
    path.write_text(json.dumps(value, indent=2), encoding="utf-8")
    return str(path)


def test_client_keys_and_request_object_settings(ctl: Ctl, tmp_path: Path) -> None:
    keys = key_set(ec_jwk(), okp_jwk())
    code, out, err = ctl(
        "client", "create", "--name", "jar", "--redirect-uri", "https://app.example/cb",
        "--jwks-file", write_json(tmp_path / "jwks.json", keys),
        "--require-signed-request-object", "--request-object-signing-alg", "EdDSA",
    )  # fmt: skip
    assert code == 0, err
    assert summary_rows(out)["jwks"] == "2 keys" and "jwks_uri" not in summary_rows(out)
    request = ctl.admin.requests[-1][1]
    assert json.loads(request.metadata.jwks) == keys  # the file's object, sent as is
    assert request.metadata.require_signed_request_object is True
    assert request.metadata.request_object_signing_alg == "EdDSA"
    created = json.loads(ctl("client", "list", "--search", "jar", "--json")[1])[0]
    client_id = created["client_id"]
    assert created["jwks"] == keys and created["request_object_signing_alg"] == "EdDSA"

    # Setting one source of keys drops the other (they never go together).
    uri = "https://app.example/jwks.json"
    code, out, err = ctl("client", "update", client_id, "--jwks-uri", uri)
    assert code == 0, err
    assert summary_rows(out)["jwks_uri"] == uri and "jwks" not in summary_rows(out)
    request = ctl.admin.requests[-1][1]
    assert list(request.update_mask) == ["jwks", "jwks_uri"]
    assert (request.metadata.jwks, request.metadata.jwks_uri) == ("", uri)

    code, out, err = ctl(
        "client", "update", client_id, "--jwks-file", write_json(tmp_path / "one.json",
        key_set(ec_jwk())), "--no-require-signed-request-object",
        "--request-object-signing-alg", "ES256", "--json",
    )  # fmt: skip
    assert code == 0, err
    updated = json.loads(out)
    assert updated["jwks"] == key_set(ec_jwk()) and updated["jwks_uri"] == ""
    assert updated["require_signed_request_object"] is False
    assert updated["request_object_signing_alg"] == "ES256"
    assert list(ctl.admin.requests[-1][1].update_mask) == [
        "jwks",
        "jwks_uri",
        "require_signed_request_object",
        "request_object_signing_alg",
    ]

    code, out, err = ctl("client", "update", client_id, "--no-jwks", "--json")
    assert code == 0, err
    cleared = json.loads(out)
    assert "jwks" not in cleared and cleared["jwks_uri"] == ""
    assert list(ctl.admin.requests[-1][1].update_mask) == ["jwks", "jwks_uri"]

    code, _, err = ctl("client", "create", "--name", "bad", "--jwks-uri", "http://app.example/k")
    assert code == 1 and err.startswith("oauth2ctl: invalid_client_metadata: 'jwks_uri' must be")


def test_a_jwks_file_that_is_not_a_key_set_is_a_one_line_error(ctl: Ctl, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("-----BEGIN PUBLIC KEY-----\nMFkw...\n", encoding="utf-8")
    sent = len(ctl.admin.requests)
    code, out, err = ctl("client", "create", "--name", "x", "--jwks-file", str(bad))
    assert (code, out) == (1, "")
    assert err.startswith(f"oauth2ctl: invalid_request: --jwks-file {bad}: not JSON (")
    assert err.count("\n") == 1
    code, _, err = ctl("client", "create", "--name", "x", "--jwks-file", str(tmp_path / "none"))
    assert err == (
        f"oauth2ctl: invalid_request: --jwks-file {tmp_path / 'none'}: No such file or directory\n"
    )
    code, _, err = ctl(
        "client", "create", "--name", "x", "--jwks-file", write_json(bad, [ec_jwk()])
    )
    assert err == (
        f"oauth2ctl: invalid_request: --jwks-file {bad}: not a JWK Set "
        "(a JSON object with a 'keys' array)\n"
    )
    code, _, err = ctl(
        "client", "create", "--name", "x",
        "--jwks-file", write_json(bad, key_set(rsa_private_jwk())),
    )  # fmt: skip
    assert code == 1
    assert err.startswith("oauth2ctl: invalid_client_metadata: 'jwks' keys[0] holds private key")
    assert err.count("\n") == 1
    assert [m for m, _ in ctl.admin.requests[sent:]].count("CreateClient") == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["client", "create", "--name", "x", "--jwks-file", "f", "--jwks-uri", "https://a/k"],
        ["client", "create", "--name", "x", "--request-object-signing-alg", "none"],
        ["client", "update", "c", "--jwks-uri", "https://a/k", "--no-jwks"],
        ["client", "update", "c", "--request-object-signing-alg", "HS256"],
    ],
)
def test_key_flag_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


def test_summary_counts_keys() -> None:
    from oauth2ctl.render import client_summary, key_count

    assert (key_count({"keys": [{}]}), key_count({"keys": [{}, {}]})) == ("1 key", "2 keys")
    assert key_count(None) == key_count({"keys": "x"}) == ""
    assert "jwks" not in client_summary({"client_id": "c", "jwks_uri": ""})


def test_backchannel_logout_and_token_exchange_flags(ctl: Ctl) -> None:
    exchange = "urn:ietf:params:oauth:grant-type:token-exchange"
    uri = "https://svc.example/logout/backchannel"
    code, out, err = ctl(
        "client", "create", "--name", "bcl", "--grant-type", "client_credentials",
        "--grant-type", exchange, "--backchannel-logout-uri", uri,
        "--backchannel-logout-session-required",
        "--token-exchange-audience", "billing", "--token-exchange-audience", "https://api.example",
    )  # fmt: skip
    assert code == 0, err
    rows = summary_rows(out)
    assert rows["backchannel logout"] == f"{uri} (sid required)"
    assert rows["exchange audiences"] == "billing https://api.example"
    request = ctl.admin.requests[-1][1]
    assert request.metadata.backchannel_logout_uri == uri
    assert request.metadata.backchannel_logout_session_required is True
    assert list(request.metadata.token_exchange_audiences) == ["billing", "https://api.example"]
    created = json.loads(ctl("client", "list", "--search", "bcl", "--json")[1])[0]
    client_id = created["client_id"]
    assert created["token_exchange_audiences"] == ["billing", "https://api.example"]
    code, out, err = ctl("client", "show", client_id)
    assert code == 0, err
    assert summary_rows(out)["backchannel logout"] == f"{uri} (sid required)"

    code, out, err = ctl(
        "client", "update", client_id, "--no-backchannel-logout-session-required",
        "--token-exchange-audience", "inventory", "--json",
    )  # fmt: skip
    assert code == 0, err
    updated = json.loads(out)
    assert updated["backchannel_logout_session_required"] is False
    assert updated["token_exchange_audiences"] == ["inventory"]
    assert list(ctl.admin.requests[-1][1].update_mask) == [
        "backchannel_logout_session_required",
        "token_exchange_audiences",
    ]
    code, out, err = ctl("client", "update", client_id, "--backchannel-logout-session-required")
    assert code == 0, err
    # Clearing the uri turns the sid requirement off with it (it needs a uri).
    code, out, err = ctl(
        "client", "update", client_id, "--backchannel-logout-uri", "",
        "--no-token-exchange-audiences", "--json",
    )  # fmt: skip
    assert code == 0, err
    cleared = json.loads(out)
    assert cleared["backchannel_logout_uri"] == ""
    assert cleared["backchannel_logout_session_required"] is False
    assert cleared["token_exchange_audiences"] == []
    assert "backchannel logout" not in summary_rows(ctl("client", "show", client_id)[1])

    code, _, err = ctl("client", "update", client_id, "--backchannel-logout-uri", "http://svc/x")
    assert code == 1
    assert err.startswith("oauth2ctl: invalid_client_metadata: 'backchannel_logout_uri' must be")
    code, _, err = ctl("client", "create", "--name", "x", "--token-exchange-audience", "billing")
    assert code == 1 and "'token_exchange_audiences' needs" in err
    code, _, err = ctl(
        "client", "update", client_id, "--token-exchange-audience", "a",
        "--no-token-exchange-audiences",
    )  # fmt: skip
    assert code == 1 and "not both" in err


def with_flags(ctl: Ctl, argv: list[str], **flags: Any) -> Any:
    """Run a ``client`` command whose parsed arguments also hold ``flags``; its JSON."""
    args = build_parser().parse_args([*argv, "--json"])
    for name, value in flags.items():
        setattr(args, name, value)
    settings = load_settings(CtlSettings, args.config)
    asyncio.run(run(args, settings, GatewayTransport(ctl.settings)))
    return json.loads(ctl.capsys.readouterr().out)


def test_dpop_bound_access_tokens(ctl: Ctl) -> None:
    """RFC 9449 section 5.2: ``create`` sends it only when set, ``update`` turns it on
    or off and names it in the mask, or leaves it alone."""
    created = with_flags(ctl, ["client", "create", "--name", "dpop"], dpop_bound_access_tokens=True)
    assert created["dpop_bound_access_tokens"] is True
    assert ctl.admin.requests[-1][1].metadata.dpop_bound_access_tokens is True
    client_id = created["client_id"]
    plain = json.loads(ctl("client", "create", "--name", "plain", "--json")[1])
    assert plain["dpop_bound_access_tokens"] is False

    updated = with_flags(ctl, ["client", "update", client_id], dpop_bound_access_tokens=False)
    assert updated["dpop_bound_access_tokens"] is False
    assert list(ctl.admin.requests[-1][1].update_mask) == ["dpop_bound_access_tokens"]
    updated = with_flags(ctl, ["client", "update", client_id], dpop_bound_access_tokens=True)
    assert updated["dpop_bound_access_tokens"] is True
    code, out, err = ctl("client", "update", client_id, "--scope", "a", "--json")
    assert code == 0, err
    assert json.loads(out)["dpop_bound_access_tokens"] is True
    assert list(ctl.admin.requests[-1][1].update_mask) == ["scope"]


def test_tls_client_auth_flags(ctl: Ctl) -> None:
    """RFC 8705: ``create`` registers a tls_client_auth client with one subject
    attribute (no secret) and certificate-bound tokens; ``update`` replaces the
    attribute (clearing the others in the mask) and switches the binding off."""
    code, out, err = ctl(
        "client",
        "create",
        "--name",
        "mtls",
        "--auth-method",
        "tls_client_auth",
        "--tls-subject-dn",
        "CN=svc.example.com,O=Example",
        "--tls-client-certificate-bound-access-tokens",
        "--json",
    )
    assert code == 0, err
    created = json.loads(out)
    assert "client_secret" not in created
    assert created["token_endpoint_auth_method"] == "tls_client_auth"
    assert created["tls_client_auth_subject_dn"] == "CN=svc.example.com,O=Example"
    assert created["tls_client_certificate_bound_access_tokens"] is True
    metadata = ctl.admin.requests[-1][1].metadata
    assert metadata.tls_client_auth_subject_dn == "CN=svc.example.com,O=Example"
    client_id = created["client_id"]

    code, out, err = ctl("client", "show", client_id)
    assert code == 0, err
    assert "TLS subject" in out and "DN CN=svc.example.com,O=Example" in out

    code, out, err = ctl(
        "client",
        "update",
        client_id,
        "--tls-san-ip",
        "192.0.2.10",
        "--no-tls-client-certificate-bound-access-tokens",
        "--json",
    )
    assert code == 0, err
    updated = json.loads(out)
    assert (updated["tls_client_auth_san_ip"], updated["tls_client_auth_subject_dn"]) == (
        "192.0.2.10",
        "",
    )
    assert updated["tls_client_certificate_bound_access_tokens"] is False
    assert set(ctl.admin.requests[-1][1].update_mask) == {
        "tls_client_auth_subject_dn",
        "tls_client_auth_san_dns",
        "tls_client_auth_san_uri",
        "tls_client_auth_san_ip",
        "tls_client_auth_san_email",
        "tls_client_certificate_bound_access_tokens",
    }
    for flag, value in [
        ("--tls-san-dns", "svc.example.com"),
        ("--tls-san-uri", "spiffe://example.org/svc"),
        ("--tls-san-email", "svc@example.com"),
    ]:
        code, out, err = ctl("client", "update", client_id, flag, value, "--json")
        assert code == 0, err
    # Back to a secret method: the subject attribute goes with it.
    code, out, err = ctl(
        "client", "update", client_id, "--auth-method", "client_secret_basic", "--json"
    )
    assert code == 0, err
    back = json.loads(out)
    assert back["token_endpoint_auth_method"] == "client_secret_basic"
    assert back["tls_client_auth_san_email"] == ""

    # One subject attribute at a time.
    with pytest.raises(SystemExit):
        ctl("client", "create", "--name", "x", "--tls-san-dns", "a.example", "--tls-san-ip", "::1")
    assert "not allowed with argument --tls-san-dns" in ctl.capsys.readouterr().err


def test_self_signed_tls_client_auth_flag(ctl: Ctl) -> None:
    code, out, err = ctl(
        "client",
        "create",
        "--name",
        "self-signed",
        "--auth-method",
        "self_signed_tls_client_auth",
        "--jwks-uri",
        "https://svc.example.com/jwks",
        "--json",
    )
    assert code == 0, err
    created = json.loads(out)
    assert created["token_endpoint_auth_method"] == "self_signed_tls_client_auth"
    assert "client_secret" not in created
    code, out, err = ctl(
        "client", "create", "--name", "keyless", "--auth-method", "self_signed_tls_client_auth"
    )
    assert code != 0 and "register 'jwks' or 'jwks_uri'" in err
