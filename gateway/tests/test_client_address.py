"""The real client address (gateway/client_address.py): the peer unless it is a
trusted proxy, then the forwarding header walked from the right."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from gateway.client_address import (
    client_address,
    forwarded_hops,
    parse_address,
    real_client,
)
from gateway.settings import GatewaySettings
from oauth2ctl.devrun import free_port

LOOPBACK = [ipaddress.ip_network("127.0.0.1/32")]
PROXIES = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8")]


@pytest.mark.parametrize(
    ("hop", "expected"),
    [
        ("198.51.100.7", "198.51.100.7"),
        (" 198.51.100.7:4711 ", "198.51.100.7"),
        ("2001:db8::1", "2001:db8::1"),
        ('"[2001:db8::1]:4711"', "2001:db8::1"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("unknown", None),
        ("_hidden", None),
        ("[2001:db8::1", None),
        ("", None),
        ("1.2.3.4.5", None),
    ],
)
def test_parse_address(hop: str, expected: str | None) -> None:
    parsed = parse_address(hop)
    assert (str(parsed) if parsed is not None else None) == expected


def test_an_untrusted_peer_is_the_client_whatever_it_forwards() -> None:
    assert real_client("203.0.113.5", ["198.51.100.7"], PROXIES) == "203.0.113.5"
    assert real_client("203.0.113.5", ["198.51.100.7"], []) == "203.0.113.5"


def test_a_trusted_peer_gives_the_first_untrusted_hop_from_the_right() -> None:
    # The client wrote "1.1.1.1" itself; the ingress (10.0.0.2) appended the real peer.
    hops = ["1.1.1.1", "198.51.100.7", "10.0.0.2"]
    assert real_client("10.0.0.1", hops, PROXIES) == "198.51.100.7"
    assert real_client("fd00::1", ["2001:db8::7"], PROXIES) == "2001:db8::7"


def test_all_hops_trusted_gives_the_leftmost_and_no_header_the_peer() -> None:
    assert real_client("10.0.0.1", ["10.0.0.9", "10.0.0.2"], PROXIES) == "10.0.0.9"
    assert real_client("10.0.0.1", None, PROXIES) == "10.0.0.1"
    assert real_client("10.0.0.1", [], PROXIES) == "10.0.0.1"


def test_a_malformed_hop_falls_back_to_the_peer() -> None:
    assert real_client("10.0.0.1", ["198.51.100.7", "garbage"], PROXIES) == "10.0.0.1"
    assert real_client("10.0.0.1", ["198.51.100.7", "unknown"], PROXIES) == "10.0.0.1"
    # Garbage to the left of the client's address is the client's own and never read.
    assert real_client("10.0.0.1", ["garbage", "198.51.100.7"], PROXIES) == "198.51.100.7"


def _scope(peer: str, headers: list[tuple[bytes, bytes]], **settings: Any) -> dict[str, Any]:
    class App:
        class state:
            pass

    App.state.settings = GatewaySettings(**settings)  # type: ignore[attr-defined]
    return {"type": "http", "client": (peer, 1234), "headers": headers, "app": App}


def test_forwarded_rfc7239_and_repeated_headers() -> None:
    scope = _scope(
        "127.0.0.1",
        [
            (b"forwarded", b'for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8::9]:80"'),
            (b"forwarded", b"for=198.51.100.7"),
        ],
    )
    assert forwarded_hops(scope, "forwarded") == [
        "192.0.2.60",
        '"[2001:db8::9]:80"',
        "198.51.100.7",
    ]
    xff = _scope(
        "127.0.0.1", [(b"x-forwarded-for", b"1.1.1.1, 2.2.2.2"), (b"x-forwarded-for", b"3.3.3.3")]
    )
    assert forwarded_hops(xff, "x-forwarded-for") == ["1.1.1.1", " 2.2.2.2", "3.3.3.3"]
    assert forwarded_hops(xff, "forwarded") is None


def test_client_address_reads_only_the_configured_header_and_caches() -> None:
    headers = [(b"x-forwarded-for", b"198.51.100.7"), (b"forwarded", b"for=192.0.2.1")]
    scope = _scope("127.0.0.1", headers, trusted_proxies=["127.0.0.1/32"])
    assert client_address(scope) == "198.51.100.7"
    assert scope["state"]["client_address"] == "198.51.100.7"
    rfc = _scope(
        "127.0.0.1",
        headers,
        trusted_proxies=["127.0.0.1/32"],
        trusted_proxy_header="forwarded",
    )
    assert client_address(rfc) == "192.0.2.1"
    # Without trusted proxies nothing forwarded is read.
    assert client_address(_scope("127.0.0.1", headers)) == "127.0.0.1"


class _NoTelemetry:
    def shutdown(self) -> None:
        return None


def test_uvicorn_never_rewrites_the_client_from_proxy_headers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, redis_url: str
) -> None:
    """gateway/client_address.py is the one place that reads forwarding headers:
    uvicorn's own (on by default for 127.0.0.1) would decide before it."""
    import gateway.__main__ as entry
    from gateway.listeners import uvicorn_config

    # One worker: the public and the admin server are made from uvicorn_config.
    for admin in (False, True):
        assert uvicorn_config(object(), GatewaySettings(), admin=admin).proxy_headers is False
    # Several workers: uvicorn.run.
    seen: dict[str, Any] = {}
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: seen.update(kwargs))
    # What main() sets up for a real process stays out of the test process.
    monkeypatch.setattr("gateway.__main__.configure_logging", lambda settings: None)
    monkeypatch.setattr("gateway.__main__.setup_telemetry", lambda settings: _NoTelemetry())
    monkeypatch.setenv("OAUTH2_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("OAUTH2_WORKERS", "2")
    monkeypatch.setenv("OAUTH2_ADMIN_PORT", "0")  # no admin listener process
    # Workers need a Redis, which main() waits for: a real one, nothing is written.
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("OAUTH2_PORT", str(free_port()))
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    entry.main([])
    assert seen["workers"] == 2 and seen["proxy_headers"] is False


def test_the_settings_read_cidrs_and_rates(monkeypatch: pytest.MonkeyPatch) -> None:
    from common.settings import load_settings
    from gateway.settings import Rate

    monkeypatch.setenv("OAUTH2_TRUSTED_PROXIES", "10.0.0.0/8, fd00::/8")
    monkeypatch.setenv("OAUTH2_RATE_LIMIT_LOGIN_PER_USER", "5/min burst 3")
    settings = load_settings(GatewaySettings)
    assert settings.trusted_proxies == [
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("fd00::/8"),
    ]
    assert settings.rate_limit_login_per_user == Rate(5, "min", 3)
    assert settings.rate_limit_login_per_user.per_second == pytest.approx(5 / 60)
    assert str(GatewaySettings().rate_limit_login_per_address) == "1/s burst 60"
    assert GatewaySettings.model_validate(
        {"trusted_proxies": '["192.0.2.0/24"]'}
    ).trusted_proxies == [ipaddress.ip_network("192.0.2.0/24")]
    assert GatewaySettings.model_validate({"trusted_proxies": ""}).trusted_proxies == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OAUTH2_TRUSTED_PROXIES", "10.0.0.0/33"),
        ("OAUTH2_TRUSTED_PROXIES", "not-a-network"),
        ("OAUTH2_RATE_LIMIT_TOKEN_PER_CLIENT", "100 per second"),
        ("OAUTH2_RATE_LIMIT_TOKEN_PER_CLIENT", "0/s burst 10"),
        ("OAUTH2_RATE_LIMIT_TOKEN_PER_CLIENT", "10/s burst 0"),
        ("OAUTH2_RATE_LIMIT_TOKEN_PER_CLIENT", "10/day burst 1"),
        ("OAUTH2_TRUSTED_PROXY_HEADER", "x-real-ip"),
    ],
)
def test_a_bad_setting_stops_start_up_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str, value: str
) -> None:
    from common.settings import load_settings

    monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as stopped:
        load_settings(GatewaySettings)
    assert stopped.value.code == 2
    assert name.removeprefix("OAUTH2_").lower() in capsys.readouterr().err
