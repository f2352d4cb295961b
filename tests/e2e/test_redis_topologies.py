"""The whole system on Redis Sentinel and on Redis Cluster (REDIS_URL
redis+sentinel:// and redis+cluster://, each a private set of servers started
for this module), with the key prefix left to its default (derived from the
issuer): a browser sign-in (sessions) to tokens, introspection and revocation
(the denylist's MGET and its fan-out), a rate limit (gcra_all), and the
client-change channel that keeps the token service's client cache honest."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from common.settings import CommonSettings
from tests.e2e.browser import Browser, pkce_pair
from tests.e2e.conftest import RunningSystem, base_env, basic, postgres_env, start_system
from tests.e2e.test_sign_in import (
    PASSWORD,
    authorize_url,
    exchange,
    introspect,
    new_client,
    sign_in,
    unique,
)
from tests.redis_topologies import redis_cluster, sentinel_group

#: Minutes of the suite's time: make test-slow (and CI) runs it, make test does not.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

#: The revocation endpoint's limit per client in these systems: a burst of BURST.
BURST = 5


@pytest.fixture(scope="module", params=["sentinel", "cluster"])
def topology(request: pytest.FixtureRequest) -> Iterator[tuple[str, RunningSystem, Any]]:
    tmp = request.getfixturevalue("tmp_path_factory").mktemp(f"redis-{request.param}")
    starter = sentinel_group if request.param == "sentinel" else redis_cluster
    with starter(tmp / "redis") as servers:
        env = base_env(tmp)
        postgres_env(env, request.getfixturevalue("new_database")(), servers.url, "")
        del env["OAUTH2_REDIS_KEY_PREFIX"]  # the default: derived from the issuer
        env["OAUTH2_RATE_LIMIT_REVOKE_PER_CLIENT"] = f"1/min burst {BURST}"
        env["OAUTH2_CLIENT_AUTH_CACHE_SECONDS"] = "600"
        running = start_system(env, tmp, request.param, env["DATABASE_URL"])
        try:
            yield request.param, running, servers
        finally:
            running.system.stop_all()


def _raw_client(kind: str, servers: Any) -> redis.Redis | redis.RedisCluster:
    if kind == "cluster":
        return servers.client()  # type: ignore[no-any-return]
    host, port = servers.primary()
    return redis.Redis(host=host, port=port)


def _prefix(system: RunningSystem) -> str:
    return CommonSettings(issuer=system.base_url).redis_key_prefix


def test_sign_in_tokens_and_revocation(topology: tuple[str, RunningSystem, Any]) -> None:
    kind, system, servers = topology
    client = new_client(system, "client_secret_basic")
    username = unique("alice")
    system.create_user(username, PASSWORD, f"{username}@example.com")
    verifier, challenge = pkce_pair()
    with Browser(system.base_url) as browser:
        arrival = sign_in(browser, authorize_url(client["client_id"], challenge), username)
    # The signed-in session is in Redis, under the deployment's derived prefix.
    raw = _raw_client(kind, servers)
    sessions = list(raw.scan_iter(match=_prefix(system) + "session:*"))
    assert sessions, "no session stored in Redis"
    resp = exchange(system, client, arrival.params["code"], verifier)
    assert resp.status_code == 200, resp.text
    tokens = resp.json()
    assert introspect(system, tokens["access_token"])["active"] is True
    with system.http() as http:
        auth = basic(client["client_id"], client["client_secret"])
        revoked = http.post(
            "/oauth/revoke",
            data={"token": tokens["access_token"], "token_type_hint": "access_token"},
            headers={"Authorization": auth},
        )
    assert revoked.status_code == 200
    assert introspect(system, tokens["access_token"])["active"] is False
    keys = list(raw.scan_iter(match=_prefix(system) + "revoked:*"))
    assert keys, "the revocation is not in Redis"


def test_rate_limit_refuses_past_the_burst(topology: tuple[str, RunningSystem, Any]) -> None:
    _, system, _ = topology
    client = system.create_client("--name", unique("limited"), "--grant-type", "client_credentials")
    auth = (client["client_id"], client["client_secret"])
    with httpx.Client(base_url=system.base_url, timeout=10) as http:
        statuses = [
            http.post("/oauth/revoke", data={"token": f"not-a-token-{n}"}, auth=auth)
            for n in range(BURST + 1)
        ]
    assert [r.status_code for r in statuses] == [200] * BURST + [429]
    assert statuses[-1].json()["error"] == "slow_down"
    assert int(statuses[-1].headers["retry-after"]) >= 1


def test_a_rotated_secret_is_refused_at_once(topology: tuple[str, RunningSystem, Any]) -> None:
    """The clients service publishes the change; the token service, which served the
    client from its cache, hears it on the channel and refuses the old secret."""
    _, system, _ = topology
    client = system.create_client("--name", unique("rotated"), "--grant-type", "client_credentials")
    old = (client["client_id"], client["client_secret"])
    form = {"grant_type": "client_credentials"}
    with httpx.Client(base_url=system.base_url, timeout=10) as http:
        assert [http.post("/oauth/token", data=form, auth=old).status_code for _ in range(2)] == [
            200,
            200,
        ]
        out = system.ctl("client", "rotate-secret", client["client_id"], "--json").stdout
        new = (client["client_id"], json.loads(out)["client_secret"])
        refused = http.post("/oauth/token", data=form, auth=old)
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
        assert http.post("/oauth/token", data=form, auth=new).status_code == 200
