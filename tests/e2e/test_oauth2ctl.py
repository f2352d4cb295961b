"""The installed oauth2ctl against a real system (PostgreSQL, Redis, mTLS gRPC, the
gateway), run as an operator would: from any directory, with ``--output json``,
users named by username, stats it does not disturb, and ``bootstrap --recover``
once the credentials file is lost.

The system is this module's own: ``bootstrap --recover`` rotates the admin
client's secret, which the shared systems' other tests rely on.
"""

from __future__ import annotations

import json
import stat
import subprocess
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.admin_support import CREDENTIALS_FILE, AdminApi, admin_credentials, client_token
from tests.e2e.conftest import OAUTH2CTL, RunningSystem, basic, start_replicated

ROOT_DIRECTORY = "/"


#: Minutes of the suite's time: make test-slow (and CI) runs it, make test does not.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def own(request: pytest.FixtureRequest) -> Iterator[RunningSystem]:
    running = start_replicated(request, "ctl", 1)
    yield running
    running.system.stop_all()


def ctl(
    system: RunningSystem,
    *args: str,
    cwd: str | Path = ROOT_DIRECTORY,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """The installed console script, in ``cwd`` (the root directory unless told)."""
    return subprocess.run(
        [OAUTH2CTL, *args],
        cwd=cwd,
        env=system.system.common_env() if env is None else env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def ok_json(system: RunningSystem, *args: str, **kwargs: Any) -> Any:
    """Run oauth2ctl; it must succeed and print exactly one JSON document."""
    result = ctl(system, *args, **kwargs)
    assert result.returncode == 0, f"oauth2ctl {' '.join(args)}: {result.stderr}"
    return json.loads(result.stdout)


def failed_line(result: subprocess.CompletedProcess[str]) -> str:
    """A failure: exit code 1, nothing on stdout, one line on stderr, no traceback."""
    assert result.returncode == 1, result
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    return result.stderr


def without_data_dir(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k != "OAUTH2_DATA_DIR"}


def test_works_from_the_root_directory(own: RunningSystem, tmp_path: Path) -> None:
    env = own.system.common_env()
    assert Path(env["OAUTH2_DATA_DIR"]).is_absolute()
    clients = ok_json(own, "--output", "json", "client", "list")
    admin_id = admin_credentials(own)["client_id"]
    assert admin_id in [c["client_id"] for c in clients]
    # The global flag after the command, and the old per-command --json, say the same.
    assert ok_json(own, "client", "list", "--output", "json") == clients
    assert ok_json(own, "client", "list", "--json") == clients
    assert ok_json(own, "-o", "json", "client", "show", admin_id)["scope"] == "admin"
    assert "active" in [k["status"] for k in ok_json(own, "-o", "json", "key", "list")]
    assert isinstance(ok_json(own, "-o", "json", "user", "list"), list)
    assert set(ok_json(own, "-o", "json", "stats")) >= {"clients", "users", "active_grants"}
    events = ok_json(own, "-o", "json", "audit", "list", "--limit", "1")
    assert len(events) == 1 and events[0]["action"] and events[0]["time"]
    table = ctl(own, "client", "list")
    assert table.returncode == 0 and table.stdout.split()[0] == "CLIENT_ID"

    # A relative OAUTH2_DATA_DIR is resolved against the working directory.
    relative = {**env, "OAUTH2_DATA_DIR": own.data_dir.name}
    assert ok_json(own, "-o", "json", "client", "list", cwd=own.data_dir.parent, env=relative)

    # The data directory named in a TOML file given by OAUTH2_CONFIG.
    config = tmp_path / "oauth2.toml"
    config.write_text(f"data_dir = {json.dumps(str(own.data_dir))}\n")
    from_toml = {**without_data_dir(env), "OAUTH2_CONFIG": str(config)}
    assert ok_json(own, "-o", "json", "client", "list", env=from_toml) == clients
    # ... or by --config.
    toml_flag = ok_json(own, "--config", str(config), "-o", "json", "client", "list", env=from_toml)
    assert toml_flag == clients


def test_version(own: RunningSystem) -> None:
    package = metadata.version("oauth2-server")
    api_version = httpx.get(own.admin_url + "/openapi.json").json()["info"]["version"]
    result = ctl(own, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"oauth2ctl {package}",
        f"admin API {api_version} ({own.admin_url})",
    ]
    assert ok_json(own, "--output", "json", "--version") == {
        "oauth2ctl": package,
        "admin_api": api_version,
        "url": own.admin_url,
    }
    # With no gateway there, the version is still printed.
    gone = ctl(own, "--url", "http://127.0.0.1:9", "--version")
    assert gone.returncode == 0
    assert gone.stdout.splitlines()[1] == "admin API did not answer (http://127.0.0.1:9)"


def test_usernames_wherever_user_ids_are_accepted(own: RunningSystem) -> None:
    created = ok_json(
        own, "-o", "json", "user", "create", "--username", "ctl-alice", "--password", "pw-123456"
    )
    user_id = created["user_id"]
    with AdminApi(own) as api:
        by_name = api.ok("GET", "/users", params={"username": "CTL-Alice"})
        assert [u["user_id"] for u in by_name["items"]] == [user_id]
        assert api.ok("GET", "/users", params={"username": "ctl-nobody"})["items"] == []

    assert ok_json(own, "-o", "json", "user", "show", "ctl-alice")["user_id"] == user_id
    assert ok_json(own, "-o", "json", "user", "show", "CTL-ALICE")["user_id"] == user_id
    assert ok_json(own, "-o", "json", "user", "show", user_id)["username"] == "ctl-alice"
    updated = ok_json(own, "-o", "json", "user", "update", "ctl-alice", "--given-name", "Alice")
    assert (updated["user_id"], updated["given_name"]) == (user_id, "Alice")
    assert ok_json(own, "-o", "json", "user", "disable", "ctl-alice")["enabled"] is False
    assert ok_json(own, "-o", "json", "user", "enable", "ctl-alice")["enabled"] is True
    assert ok_json(
        own,
        "-o",
        "json",
        "user",
        "set-password",
        "ctl-alice",
        "--password-stdin",
        stdin="pw-654321\n",
    ) == {"user_id": user_id, "username": "ctl-alice", "password_set": True}
    assert ok_json(own, "-o", "json", "grant", "list", "--user", "ctl-alice") == {
        "consents": [],
        "items": [],
    }
    assert ok_json(own, "-o", "json", "grant", "revoke", "--user", "ctl-alice") == {
        "user_id": user_id,
        "revoked": 0,
    }
    events = ok_json(own, "-o", "json", "audit", "list", "--target", "user:ctl-alice")
    assert {e["target"] for e in events} == {f"user:{user_id}"}
    actions = {e["action"] for e in events}
    assert {"user.created", "user.updated", "user.disabled", "user.enabled"} <= actions
    assert "user.password_set" in actions

    assert ok_json(own, "-o", "json", "user", "delete", "ctl-alice") == {
        "user_id": user_id,
        "username": "ctl-alice",
        "deleted": True,
    }
    gone = failed_line(ctl(own, "user", "show", "ctl-alice"))
    assert gone == "oauth2ctl: not_found: No user 'ctl-alice'\n"
    # The deleted user's events are still found by its user_id.
    after = ok_json(own, "-o", "json", "audit", "list", "--target", f"user:{user_id}")
    assert "user.deleted" in {e["action"] for e in after}


def issued(stats: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = stats["tokens_issued_by_grant_type"]
    return counts


def test_stats_do_not_count_oauth2ctl_tokens(own: RunningSystem) -> None:
    before = issued(ok_json(own, "-o", "json", "stats"))
    # Each oauth2ctl run gets an admin token of its own (client_credentials, scope admin).
    for command in (["client", "list"], ["user", "list"], ["key", "list"], ["stats"]):
        ok_json(own, "-o", "json", *command)
    assert issued(ok_json(own, "-o", "json", "stats")) == before

    # A real client's token counts.
    app = ok_json(
        own, "-o", "json", "client", "create", "--name", "ctl-app",
        "--grant-type", "client_credentials",
    )  # fmt: skip
    client_token(own, app["client_id"], app["client_secret"])
    client_token(own, app["client_id"], app["client_secret"])
    after = issued(ok_json(own, "-o", "json", "stats"))
    assert after == {**before, "client_credentials": before["client_credentials"] + 2}


def test_bootstrap_recover(own: RunningSystem, tmp_path: Path) -> None:
    env = own.system.common_env()
    path = own.data_dir / CREDENTIALS_FILE
    old = admin_credentials(own)
    path.unlink()
    lost = failed_line(ctl(own, "client", "list"))
    assert lost.startswith(f"oauth2ctl: no_credentials: No admin credentials: no file {path};")
    assert "bootstrap --recover" in lost
    assert failed_line(ctl(own, "bootstrap")) == (
        "oauth2ctl: conflict: The system is already bootstrapped\n"
    )

    # The gateway's certificate may not call Bootstrap: only oauth2ctl's (or the admin's).
    certificates = own.system.certificates()
    assert certificates is not None, "the e2e systems run with mTLS"
    as_gateway = {**env, **certificates["gateway"].env()}
    refused = failed_line(ctl(own, "bootstrap", "--recover", env=as_gateway))
    assert refused.startswith(
        f"oauth2ctl: access_denied: the admin service at {env['OAUTH2_ADMIN_TARGET']} refused"
        " the call (PERMISSION_DENIED: 'gateway' may not call"
    ), refused
    assert not path.exists()

    recovered = ok_json(own, "-o", "json", "bootstrap", "--recover")
    assert recovered["recovered"] is True
    assert recovered["credentials_file"] == str(path)
    assert recovered["client_id"] == old["client_id"]  # the same client, a new secret
    assert recovered["client_secret"] != old["client_secret"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert admin_credentials(own)["client_secret"] == recovered["client_secret"]

    # The lost secret no longer works; the new one does, and oauth2ctl with it.
    with own.http() as http:
        answer = http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "scope": "admin"},
            headers={"Authorization": basic(old["client_id"], old["client_secret"])},
        )
    assert (answer.status_code, answer.json()["error"]) == (401, "invalid_client")
    assert old["client_id"] in [
        c["client_id"] for c in ok_json(own, "-o", "json", "client", "list")
    ]

    events = ok_json(own, "-o", "json", "audit", "list", "--action", "admin.recovered")
    assert [(e["actor"], e["target"], e["outcome"]) for e in events] == [
        ("cli", f"client:{old['client_id']}", "success")
    ]
    assert events[0]["details"]["how"] == "secret_rotated"

    # With no data directory in the settings, from the root directory: the user's
    # configuration directory ($XDG_CONFIG_HOME/oauth2ctl).
    xdg = {**without_data_dir(env), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    again = ok_json(own, "-o", "json", "bootstrap", "--recover", env=xdg)
    in_config = tmp_path / "config" / "oauth2ctl" / "credentials.json"
    assert again["credentials_file"] == str(in_config)
    assert stat.S_IMODE(in_config.stat().st_mode) == 0o600
    assert json.loads(in_config.read_text())["client_secret"] == again["client_secret"]
    assert ok_json(own, "-o", "json", "client", "show", old["client_id"], env=xdg)["scope"] == (
        "admin"
    )
    # The data directory's file holds the secret rotated away now.
    assert failed_line(ctl(own, "client", "list")).startswith("oauth2ctl: invalid_client:")
    path.write_text(in_config.read_text())
    assert ok_json(own, "-o", "json", "client", "list")
