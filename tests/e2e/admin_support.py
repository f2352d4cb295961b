"""An operator's view: the bootstrapped admin client and an admin bearer token."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.e2e.conftest import RunningSystem, basic

CREDENTIALS_FILE = "oauth2ctl-credentials.json"


def admin_credentials(system: RunningSystem) -> dict[str, str]:
    path = system.data_dir / CREDENTIALS_FILE
    assert path.exists(), "the harness bootstraps the system: no credentials file"
    assert path.stat().st_mode & 0o077 == 0, "the credentials file must be private"
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def client_token(system: RunningSystem, client_id: str, secret: str, scope: str = "") -> str:
    form = {"grant_type": "client_credentials"}
    if scope:
        form["scope"] = scope
    with system.http() as http:
        resp = http.post(
            "/oauth/token", data=form, headers={"Authorization": basic(client_id, secret)}
        )
    assert resp.status_code == 200, resp.text
    return resp.json()["access_token"]  # type: ignore[no-any-return]


def admin_token(system: RunningSystem) -> str:
    creds = admin_credentials(system)
    return client_token(system, creds["client_id"], creds["client_secret"], "admin")


class AdminApi:
    """httpx with the admin bearer token, rooted at /admin/api."""

    def __init__(self, system: RunningSystem, token: str | None = None) -> None:
        self.http = httpx.Client(
            base_url=system.admin_url + "/admin/api",
            headers={"Authorization": f"Bearer {token or admin_token(system)}"},
            timeout=15,
        )

    def __enter__(self) -> AdminApi:
        return self

    def __exit__(self, *_: object) -> None:
        self.http.close()

    def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        resp = self.http.request(method, path, **kwargs)
        assert resp.status_code == status, f"{method} {path}: {resp.status_code} {resp.text}"
        return resp.json() if resp.content else None
