"""Server-rendered pages: Jinja2 templates (autoescaped), the headers every page
sends, and the pages for errors that must not go back to a client.

Every HTML page and every redirect from the sign-in routes carries
:func:`page_headers` (docs/signin.md, "Sessions and pages"): it may not be
framed (``X-Frame-Options: DENY``, CSP ``frame-ancestors 'none'``), cached
(``Cache-Control: no-store``) or leak its URL (``Referrer-Policy: no-referrer``),
and its forms may post only to the gateway itself and to the origins it is about
to redirect to: browsers check ``form-action`` against every redirect that
follows a form submission, up to the client's redirect URI.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from gateway.state import settings_of

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

CSRF_FAILED = "The form expired or was not sent by this site. Go back and try again."
#: A page's answer when a service it needs does not answer.
UNAVAILABLE = "The service is temporarily unavailable. Try again in a moment."
#: Retry-After of a 503 that does not say how long (a dependency away for a moment).
DEFAULT_RETRY_AFTER_SECONDS: Final = 2
#: The paths a person's browser shows (HTML, never JSON), under the issuer's path.
PAGE_PATHS: Final = frozenset({"/oauth/authorize", "/login", "/consent", "/logout", "/device"})

_SCHEME = re.compile(r"[a-z][a-z0-9+.\-]*")
_HOST_PORT = re.compile(r"(?:[a-z0-9.\-]+|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?")


def csp_source(uri: str) -> str | None:
    """The CSP source expression allowing a redirect to ``uri``: its origin for
    http(s), its scheme for a native app's private-use scheme (RFC 8252 section 7.1).
    None when the URI has characters that do not belong in a header."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if not _SCHEME.fullmatch(scheme):
        return None
    if scheme in ("http", "https"):
        host_port = parts.netloc.rpartition("@")[2].lower()
        if not _HOST_PORT.fullmatch(host_port):
            return None
        return f"{scheme}://{host_port}"
    return f"{scheme}:"


def page_headers(form_targets: Iterable[str] = (), *, script: bool = False) -> dict[str, str]:
    """``script``: the page runs scripts from the gateway's own static files (the
    form_post page's auto-submit); no page runs an inline script."""
    sources = ["'self'"]
    for uri in form_targets:
        source = csp_source(uri) if uri else None
        if source and source not in sources:
            sources.append(source)
    scripts = "script-src 'self'; " if script else ""
    csp = (
        f"default-src 'none'; {scripts}style-src 'self'; img-src 'self' data:; "
        f"form-action {' '.join(sources)}; frame-ancestors 'none'; base-uri 'none'"
    )
    return {
        "Content-Security-Policy": csp,
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    form_targets: Iterable[str] = (),
    headers: dict[str, str] | None = None,
    script: bool = False,
) -> HTMLResponse:
    settings = settings_of(request)
    html = _env.get_template(template).render(
        root=settings.root_path, issuer=settings.issuer, **(context or {})
    )
    all_headers = {**page_headers(form_targets, script=script), **(headers or {})}
    if status_code == 503 and not any(name.lower() == "retry-after" for name in all_headers):
        # Whatever page says "unavailable" (the sign-in service, the session store,
        # a downstream deadline) says when to try again (RFC 9110 section 10.2.3).
        all_headers["Retry-After"] = str(DEFAULT_RETRY_AFTER_SECONDS)
    return HTMLResponse(
        html,
        status_code=status_code,
        headers=all_headers,
    )


def redirect(location: str) -> RedirectResponse:
    """303 See Other (RFC 9110 section 15.4.4): the browser follows with a GET,
    also after a POST, so credentials are never re-posted."""
    return RedirectResponse(location, status_code=303, headers=page_headers())


def error_page(
    request: Request,
    message: str,
    *,
    status_code: int = 400,
    title: str = "This request cannot be completed",
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """An error shown to the person, never sent to a client's redirect URI."""
    return render(
        request,
        "error.html",
        {"title": title, "message": message},
        status_code=status_code,
        headers=headers,
    )


def csrf_failed_page(request: Request) -> HTMLResponse:
    return error_page(request, CSRF_FAILED, status_code=403, title="The form has expired")


def gateway_url(request: Request, path: str) -> str:
    """A path of the gateway as the browser sees it (behind the issuer's path)."""
    return settings_of(request).root_path + path
