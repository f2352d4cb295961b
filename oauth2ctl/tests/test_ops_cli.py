"""oauth2ctl's grant, key, audit, stats and registration-token commands."""

from __future__ import annotations

import json
import re

from gateway.tests.admin_fake import FAMILIES, GRANT_USER
from oauth2ctl.tests.conftest import Ctl


def test_grants(ctl: Ctl) -> None:
    code, out, _ = ctl("grant", "list", "--user", GRANT_USER, "--json")
    grants = json.loads(out)
    assert [f["family_id"] for f in grants["items"]] == list(FAMILIES)
    assert grants["consents"][0]["user_id"] == GRANT_USER
    code, out, _ = ctl("grant", "list", "--client", "photo-book")
    assert out.splitlines()[0].split()[0] == "CLIENT_ID"
    assert FAMILIES[0] in out

    code, out, _ = ctl("grant", "revoke", FAMILIES[0])
    assert (code, out) == (0, f"revoked grant {FAMILIES[0]}\n")
    code, out, _ = ctl("grant", "revoke", "--user", GRANT_USER)
    assert out == f"revoked 2 grant(s) of user {GRANT_USER}\n"
    code, out, _ = ctl("grant", "revoke", FAMILIES[0])  # again: nothing more to do
    assert (code, out) == (0, f"revoked grant {FAMILIES[0]}\n")
    code, _, err = ctl("grant", "revoke", "nope")
    assert (code, err) == (1, "oauth2ctl: not_found: Grant 'nope' not found\n")
    code, _, err = ctl("grant", "revoke", "--user", "u", "--client", "c")
    assert err == (
        "oauth2ctl: invalid_request: Give exactly one of FAMILY_ID, --user and --client\n"
    )


def test_keys(ctl: Ctl) -> None:
    code, out, _ = ctl("key", "list", "--json")
    keys = json.loads(out)
    assert [(k["alg"], k["status"]) for k in keys] == [("ES256", "active"), ("RS256", "active")]
    old_rs256 = keys[1]["kid"]
    code, out, _ = ctl("key", "rotate", "--alg", "RS256", "--json")
    new = json.loads(out)
    assert (new["alg"], new["status"]) == ("RS256", "active") and new["kid"] != old_rs256
    assert ctl.admin.requests[-1][1].actor.id == "client:admin-cli"
    code, out, _ = ctl("key", "rotate")
    assert code == 0 and "alg         ES256" in out
    _, out, _ = ctl("key", "list")
    assert f"{old_rs256}  RS256  previous" in out
    _, out, _ = ctl("key", "retire", old_rs256, "--json")
    assert json.loads(out)["status"] == "retired"


def test_audit_and_stats(ctl: Ctl) -> None:
    ctl("client", "create", "--name", "svc")
    code, out, _ = ctl(
        "audit", "list", "--action", "client.created", "--actor", "client:admin-cli",
        "--since", "2020-01-01T00:00:00Z", "--json",
    )  # fmt: skip
    events = json.loads(out)
    assert [e["action"] for e in events] == ["client.created"]
    request = ctl.admin.requests[-1][1]
    assert (request.action, request.actor_id, request.since.seconds) == (
        "client.created",
        "client:admin-cli",
        1577836800,
    )
    code, out, _ = ctl("audit", "list", "--limit", "1")
    assert out.splitlines()[0].split() == [
        "TIME", "ACTION", "ACTOR", "TARGET", "OUTCOME", "TRACE_ID"
    ]  # fmt: skip
    assert ctl.admin.requests[-1][1].page.page_size == 1
    code, _, err = ctl("audit", "list", "--since", "yesterday")
    assert code == 1
    assert err == "oauth2ctl: invalid_request: 'since' must be an RFC 3339 date-time\n"

    _, out, _ = ctl("stats", "--json")
    assert json.loads(out)["clients"] == 2
    _, out, _ = ctl("stats")
    # The columns line up on the longest label (the device grant's URN).
    assert re.search(r"^tokens \(client_credentials\) +0$", out, re.MULTILINE), out


def test_registration_token(ctl: Ctl) -> None:
    code, out, _ = ctl("registration-token", "create", "--expires-in", "600", "--max-uses", "2")
    assert code == 0 and "initial_access_token  " in out
    request = ctl.admin.requests[-1][1]
    assert (request.expires_in, request.max_uses) == (600, 2)
    code, out, _ = ctl("registration-token", "create", "--json")
    assert len(json.loads(out)["initial_access_token"]) >= 43
