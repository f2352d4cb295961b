"""What a browser does with the gateway's pages, for tests: read the forms and
labels in the HTML (stdlib parser), submit a form with its hidden inputs,
follow redirects while they stay on the gateway."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx

from gateway.tests.fakes import CLIENT_ID, REDIRECT_URI

CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def authorize_url(**params: str | None) -> str:
    """An authorization request for the fake client; ``None`` leaves a parameter out."""
    query: dict[str, str | None] = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile email",
        "state": "st-1",
        "nonce": "n-1",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
    }
    query |= params
    return "/oauth/authorize?" + urlencode({k: v for k, v in query.items() if v is not None})


@dataclass
class Form:
    method: str
    action: str
    inputs: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class Page:
    """The parts of an HTML page the tests look at."""

    forms: list[Form] = field(default_factory=list)
    # id -> type of every visible input
    visible_inputs: dict[str, str] = field(default_factory=dict)
    label_targets: list[str] = field(default_factory=list)
    h1_count: int = 0
    html_lang: str = ""
    stylesheets: list[str] = field(default_factory=list)
    scripts: int = 0
    text: str = ""


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._button: tuple[str, str] | None = None
        self._button_text = ""
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {name: value or "" for name, value in attrs}
        forms = self.page.forms
        if tag == "html":
            self.page.html_lang = a.get("lang", "")
        elif tag == "h1":
            self.page.h1_count += 1
        elif tag == "script":
            self.page.scripts += 1
        elif tag == "link" and a.get("rel") == "stylesheet":
            self.page.stylesheets.append(a.get("href", ""))
        elif tag == "form":
            forms.append(Form(a.get("method", "get").lower(), a.get("action", "")))
        elif tag == "label" and "for" in a:
            self.page.label_targets.append(a["for"])
        elif tag == "input":
            kind = a.get("type", "text")
            if kind == "hidden":
                if forms and "name" in a:
                    forms[-1].inputs[a["name"]] = a.get("value", "")
                return
            self.page.visible_inputs[a.get("id", "")] = kind
            if forms and "name" in a:
                forms[-1].inputs[a["name"]] = a.get("value", "")
        elif tag == "button":
            self._button = (a.get("name", ""), a.get("value", ""))
            self._button_text = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "button" and self._button is not None:
            name, value = self._button
            if self.page.forms:
                self.page.forms[-1].buttons.append((name, value, self._button_text.strip()))
            self._button = None

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button_text += data
        self._text.append(data)

    def close(self) -> None:
        super().close()
        self.page.text = " ".join(" ".join(self._text).split())


def parse_page(html: str) -> Page:
    parser = _Parser()
    parser.feed(html)
    parser.close()
    return parser.page


@dataclass
class Arrival:
    """Where the browser was sent off the gateway (the client's redirect URI)."""

    url: str
    params: dict[str, list[str]]

    def param(self, name: str) -> str:
        values = self.params[name]
        assert len(values) == 1, values
        return values[0]


async def follow(client: httpx.AsyncClient, response: httpx.Response) -> httpx.Response | Arrival:
    for _ in range(10):
        if response.status_code not in (301, 302, 303, 307, 308):
            return response
        assert response.status_code == 303, "the sign-in pages redirect with 303"
        location = urljoin(str(response.url), response.headers["location"])
        if not location.startswith(str(client.base_url)):
            return Arrival(location, parse_qs(urlsplit(location).query))
        response = await client.get(location)
    raise AssertionError("redirect loop")


async def go(client: httpx.AsyncClient, url: str) -> httpx.Response | Arrival:
    return await follow(client, await client.get(url))


async def submit(
    client: httpx.AsyncClient,
    page: httpx.Response,
    fields: dict[str, str] | None = None,
    *,
    button: str | None = None,
    drop: tuple[str, ...] = (),
    follow_redirects: bool = True,
) -> httpx.Response | Arrival:
    """Submits the page's first POST form with its hidden inputs, like a browser."""
    forms = [form for form in parse_page(page.text).forms if form.method == "post"]
    assert forms, f"no POST form on the page:\n{page.text}"
    form = forms[0]
    data = {**form.inputs, **(fields or {})}
    if button is not None:
        name, _, value = button.partition("=")
        assert (name, value) in [(n, v) for n, v, _ in form.buttons], form.buttons
        data[name] = value
    for name in drop:
        data.pop(name, None)
    response = await client.post(urljoin(str(page.url), form.action), data=data)
    return await follow(client, response) if follow_redirects else response


def page_of(result: httpx.Response | Arrival) -> httpx.Response:
    assert isinstance(result, httpx.Response), f"expected a page, went to {result}"
    return result


def arrival_of(result: httpx.Response | Arrival) -> Arrival:
    assert isinstance(result, Arrival), f"expected a redirect to the client, got {result}"
    return result
