"""redis_url's forms (common/redis_url.py) and the key prefix of a deployment."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid

import pytest
from pydantic import ValidationError

from common.kv import KeyValue, create_kv, follow_channel
from common.redis_url import parse_redis_url
from common.settings import CommonSettings
from common.tests.test_kv import gcra


def test_sentinel_url() -> None:
    target = parse_redis_url(
        "rediss+sentinel://app:s%40cret@10.0.0.1:26379,[::1]:26380,sentinel-3/main/2"
        "?sentinel_password=watch&ssl_cert_reqs=none"
    )
    assert target.topology == "sentinel" and target.tls
    assert target.nodes == (("10.0.0.1", 26379), ("::1", 26380), ("sentinel-3", 26379))
    assert target.service_name == "main"
    assert target.options["db"] == 2
    assert target.options["username"] == "app" and target.options["password"] == "s@cret"
    assert target.options["ssl"] is True and target.options["ssl_cert_reqs"] == "none"
    assert target.sentinel_options == {"password": "watch"}


def test_cluster_url() -> None:
    target = parse_redis_url("redis+cluster://:pw@node-a:7000,node-b")
    assert target.topology == "cluster" and not target.tls
    assert target.nodes == (("node-a", 7000), ("node-b", 6379))
    assert target.options["password"] == "pw" and "db" not in target.options


def test_single_urls_as_before() -> None:
    for url in ("redis://127.0.0.1:6379/0", "rediss://h:6380", "unix:///run/redis.sock"):
        assert parse_redis_url(url).topology == "single"
    assert parse_redis_url("rediss://h:6380").tls


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://redis:6379", "must be a redis://"),
        ("redis+sentinel://h:26379", "names its service"),
        ("redis+sentinel://h:26379/main/zero", "must be a number"),
        ("redis+cluster://h:7000/3", "database 0 only"),
        ("redis+cluster://h:70000", "does not end in a port"),
        ("redis+cluster://h:7000,,h2", "a host is missing"),
    ],
)
def test_bad_urls_say_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_redis_url(url)
    with pytest.raises(ValidationError, match=message):
        CommonSettings(redis_url=url)


def test_a_bad_url_stops_start_up_with_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from common.settings import CommonSettings, load_settings;"
         "load_settings(CommonSettings)"],
        env={"REDIS_URL": "redis+cluster://h:7000/3", "PATH": ""},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "redis_url" in lines[0] and "database 0 only" in lines[0]


def test_a_bad_url_with_a_password_does_not_show_it() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from common.settings import CommonSettings, load_settings;"
         "load_settings(CommonSettings)"],
        env={"REDIS_URL": "redis+sentinel://app:hunter2@h:26379", "PATH": ""},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "names its service" in result.stderr and "hunter2" not in result.stderr


def test_a_prefix_with_a_hash_tag_is_refused_on_cluster() -> None:
    with pytest.raises(ValidationError, match="must not contain"):
        CommonSettings(redis_url="redis+cluster://h:7000", redis_key_prefix="oauth2:{x}:")
    assert CommonSettings(redis_url="redis://h", redis_key_prefix="{x}:").redis_key_prefix


def test_the_default_prefix_is_the_deployments() -> None:
    one = CommonSettings(issuer="https://login.example.com")
    again = CommonSettings(issuer="https://login.example.com/")
    other = CommonSettings(issuer="https://login.example.org")
    assert one.redis_key_prefix == again.redis_key_prefix
    assert one.redis_key_prefix != other.redis_key_prefix
    assert one.redis_key_prefix.startswith("oauth2:") and one.redis_key_prefix.endswith(":")
    explicit = CommonSettings(issuer="https://login.example.com", redis_key_prefix="team-a:")
    assert explicit.redis_key_prefix == "team-a:"


async def test_two_deployments_on_one_redis_keep_apart(redis_url: str) -> None:
    """Two issuers, one Redis, the default prefixes: counters, keys and channels
    of one are not the other's."""
    suffix = uuid.uuid4().hex[:8]
    kvs: list[KeyValue] = [
        create_kv(CommonSettings(issuer=f"https://{name}-{suffix}.example", redis_url=redis_url))
        for name in ("a", "b")
    ]
    a, b = kvs
    heard: list[str] = []

    async def on_message(message: str) -> None:
        heard.append(message)

    async def on_gap() -> None:
        return None

    task = asyncio.create_task(follow_channel(b, "revocations", on_message, on_gap))
    try:
        # One request at most per hour: a's use of the limit leaves b's whole.
        assert (await gcra(a, "ratelimit:login:{x}", 1 / 3600, 1))[0]
        assert not (await gcra(a, "ratelimit:login:{x}", 1 / 3600, 1))[0]
        assert (await gcra(b, "ratelimit:login:{x}", 1 / 3600, 1))[0]
        assert await a.incr("login:attempts:x") == 1
        assert await b.incr("login:attempts:x") == 1
        await a.set("session:s", "a's")
        assert await b.get("session:s") is None
        for _ in range(100):  # until b's subscription is up
            await b.publish("revocations", "probe")
            await asyncio.sleep(0.02)
            if heard:
                break
        await a.publish("revocations", "from-a")
        await b.publish("revocations", "from-b")
        for _ in range(100):
            if "from-b" in heard:
                break
            await asyncio.sleep(0.02)
        assert "from-b" in heard and "from-a" not in heard
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        for kv in kvs:
            await kv.delete("ratelimit:login:{x}", "login:attempts:x", "session:s")
            await kv.close()
