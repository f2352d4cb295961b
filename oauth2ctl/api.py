"""oauth2ctl's client of the gateway's admin API (``/admin/api``, docs/operators.md).

It finds its bearer token in this order: ``--token`` / ``OAUTH2_CTL_TOKEN``;
a client_credentials grant (RFC 6749 section 4.4, scope ``admin``) for
``ctl_client_id``/``ctl_client_secret``; the same for the client in the
credentials file ``oauth2ctl bootstrap`` wrote. Error answers come back as the
OAuthError class of their ``error`` code.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any
from urllib.parse import quote_plus

import httpx

from common.errors import ERRORS_BY_CODE, OAuthError, ServerError, TemporarilyUnavailable
from common.vocabulary import (
    JWT_BEARER_ASSERTION_TYPE,
    ClientAuthMethod,
    ClientSecretSigningAlg,
    GrantType,
)
from oauth2ctl.settings import CtlSettings

API_PREFIX = "/admin/api"
ADMIN_SCOPE = "admin"


class NoCredentials(OAuthError):
    """Nothing to authenticate to the admin API with."""

    error = "no_credentials"
    default_description = (
        "No admin credentials: run 'oauth2ctl bootstrap' once "
        "(or pass --token, or set ctl_client_id and ctl_client_secret)"
    )


def client_secret_assertion(client_id: str, client_secret: str, audience: str) -> str:
    """A client_secret_jwt client assertion (RFC 7523 section 2.2): HS256 keyed by the
    secret, for ``audience`` (the token endpoint), good for a minute and once."""
    import jwt  # here: only --get-token of such a client needs it, not every command

    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": now,
        "exp": now + 60,
        "jti": secrets.token_urlsafe(16),
    }
    return jwt.encode(claims, client_secret.encode(), algorithm=ClientSecretSigningAlg.HS256)


def basic_authorization(client_id: str, client_secret: str) -> str:
    """RFC 6749 section 2.3.1: each part form-urlencoded before Base64 (httpx's
    BasicAuth skips that step)."""
    raw = f"{quote_plus(client_id)}:{quote_plus(client_secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def error_from(response: httpx.Response) -> OAuthError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = str(body.get("error") or "")
    cls = ERRORS_BY_CODE.get(code)
    description = str(body.get("error_description") or "")
    if cls is None:
        if code:
            return _Foreign(code, description)
        return ServerError(f"the gateway answered HTTP {response.status_code}")
    return cls(description)


class _Foreign(OAuthError):
    """An error code the table does not know (kept as the gateway said it)."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.error = code  # type: ignore[misc]


class AdminApi:
    """``await api.get("/clients")`` and so on; paths are under ``/admin/api``."""

    def __init__(
        self,
        settings: CtlSettings,
        *,
        token: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.url = settings.api_url
        self._token = token or settings.ctl_token or ""
        self.http = httpx.AsyncClient(
            base_url=self.url, transport=transport, timeout=settings.ctl_timeout_seconds
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def send(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self.http.send(request)
        except httpx.HTTPError:
            raise TemporarilyUnavailable(
                f"the gateway at {request.url.scheme}://{request.url.netloc.decode()} did not"
                " answer; is the system running (make run)?"
            ) from None

    # --- tokens ----------------------------------------------------------------------

    def client_credentials(self) -> tuple[str, str] | None:
        if self.settings.ctl_client_id and self.settings.ctl_client_secret:
            return self.settings.ctl_client_id, self.settings.ctl_client_secret
        path = self.settings.credentials_file
        if not path.is_file():
            return None
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            return str(saved["client_id"]), str(saved["client_secret"])
        except (OSError, ValueError, KeyError, TypeError):
            raise NoCredentials(f"The credentials file {path} is unreadable") from None

    async def token_for(
        self, client_id: str, client_secret: str, scope: str = "", auth_method: str = ""
    ) -> dict[str, Any]:
        """A client_credentials grant at the gateway's token endpoint, the way the
        client itself would ask."""
        form: dict[str, str] = {"grant_type": GrantType.CLIENT_CREDENTIALS}
        if scope:
            form["scope"] = scope
        headers = {}
        if auth_method == ClientAuthMethod.CLIENT_SECRET_POST:
            form |= {"client_id": client_id, "client_secret": client_secret}
        elif auth_method == ClientAuthMethod.CLIENT_SECRET_JWT:
            form |= {
                "client_assertion_type": JWT_BEARER_ASSERTION_TYPE,
                "client_assertion": client_secret_assertion(
                    client_id, client_secret, self.settings.token_url
                ),
            }
        else:
            headers["Authorization"] = basic_authorization(client_id, client_secret)
        response = await self.send(
            self.http.build_request("POST", self.settings.token_url, data=form, headers=headers)
        )
        if response.status_code != 200:
            raise error_from(response)
        body: dict[str, Any] = response.json()
        return body

    async def bearer(self) -> str:
        if not self._token:
            credentials = self.client_credentials()
            if credentials is None:
                raise NoCredentials(
                    f"No admin credentials: no file {self.settings.credentials_file}; run "
                    "'oauth2ctl bootstrap' once, or 'oauth2ctl bootstrap --recover' if the "
                    "system was bootstrapped and the file is lost (or pass --token, or set "
                    "ctl_client_id and ctl_client_secret)"
                )
            answer = await self.token_for(*credentials, scope=ADMIN_SCOPE)
            self._token = str(answer["access_token"])
        return self._token

    # --- the admin API ---------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """The answer's JSON (None for 204); an error answer raises its OAuthError."""
        headers = {"Authorization": f"Bearer {await self.bearer()}"}
        query = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        request = self.http.build_request(
            method, API_PREFIX + path, json=json_body, params=query, headers=headers
        )
        response = await self.send(request)
        if response.status_code >= 400:
            raise error_from(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    async def get(self, path: str, **params: Any) -> Any:
        return await self.request("GET", path, params=params)

    async def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return await self.request("POST", path, json_body=body)

    async def patch(self, path: str, body: dict[str, Any]) -> Any:
        return await self.request("PATCH", path, json_body=body)

    async def delete(self, path: str, **params: Any) -> Any:
        return await self.request("DELETE", path, params=params)

    async def all_pages(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every item of a paged list, following ``next_page_token``."""
        items: list[dict[str, Any]] = []
        token = ""
        while True:
            page = await self.get(path, **params, page_size=200, page_token=token)
            items.extend(page["items"])
            token = page.get("next_page_token", "")
            if not token:
                return items
