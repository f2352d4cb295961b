"""A browser as an HTTP client: a cookie jar, redirects followed while they stay
on the gateway, forms found in the HTML and submitted with their hidden inputs."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
from bs4 import BeautifulSoup


@dataclass
class Arrival:
    """Where the browser was sent outside the gateway (the client's redirect URI)."""

    url: str
    params: dict[str, str]


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


class Browser:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, follow_redirects=False, timeout=15)
        self.last: httpx.Response | None = None

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _on_gateway(self, url: str) -> bool:
        return url.startswith(self.base_url) or url.startswith("/")

    def go(self, url: str) -> httpx.Response | Arrival:
        return self._follow(self.http.get(url))

    def _follow(self, resp: httpx.Response) -> httpx.Response | Arrival:
        for _ in range(10):
            self.last = resp
            if resp.status_code not in (301, 302, 303, 307, 308):
                return resp
            location = urljoin(str(resp.url), resp.headers["location"])
            if not self._on_gateway(location):
                query = parse_qs(urlsplit(location).query)
                return Arrival(location, {k: v[0] for k, v in query.items()})
            resp = self.http.get(location)
        raise AssertionError("redirect loop")

    def submit(
        self,
        page: httpx.Response,
        fields: dict[str, str] | None = None,
        button: str | None = None,
        drop: tuple[str, ...] = (),
    ) -> httpx.Response | Arrival:
        """Fill and submit the page's form, keeping its hidden inputs."""
        soup = BeautifulSoup(page.text, "html.parser")
        form = soup.find("form", attrs={"method": lambda m: (m or "").lower() == "post"})
        assert form is not None, f"no POST form on the page:\n{page.text[:2000]}"
        data: dict[str, str] = {}
        for field in form.find_all("input"):
            name = field.get("name")
            if name and field.get("type", "text") not in ("submit", "button"):
                data[name] = field.get("value", "")
        data.update(fields or {})
        if button is not None:
            name, _, value = button.partition("=")
            candidates = form.find_all("button", attrs={"name": name})
            assert any(b.get("value") == value for b in candidates), f"no button {button}"
            data[name] = value
        for name in drop:
            data.pop(name, None)
        action = urljoin(str(page.url), form.get("action") or str(page.url))
        return self._follow(self.http.post(action, data=data))


def page_text(resp: httpx.Response) -> str:
    return " ".join(BeautifulSoup(resp.text, "html.parser").get_text(" ").split())
