"""What every admin API endpoint shares: the bearer check, the audit actor,
JSON bodies, cursor paging and error rendering.

Errors are ``{"error", "error_description"}`` (RFC 6749 section 5.2 shape) with
400, 401, 403, 404, 409, 413, 415 or 503; anything unexpected is a 500
``server_error`` with nothing leaked. A downstream 4xx outside that list (which
the contract does not produce) is answered as 400 with its error code, so the
API never answers a status it does not document.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from oauth2.v1 import common_pb2
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from common.errors import InvalidRequest, OAuthError, ServerError
from gateway import forms
from gateway.admin.auth import Unauthorized, admin_client_id
from gateway.admin.convert import integer, query_string
from gateway.downstream import Downstream
from gateway.errors import NO_STORE, error_body
from gateway.forms import JSON_MEDIA_TYPE, UnsupportedMediaType, parse_json_object, read_body
from gateway.state import actor_of, downstream_of, settings_of

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 500
#: Statuses an admin error may have; see the module docstring.
ERROR_STATUSES = frozenset({400, 403, 404, 409, 413, 415, 503})


@dataclass(frozen=True)
class AdminCall:
    """One authorized admin API request: who makes it and where it goes."""

    request: Request
    actor: common_pb2.Actor

    @property
    def downstream(self) -> Downstream:
        return downstream_of(self.request)

    @property
    def admin(self) -> Any:
        """The AdminService methods: ``await call.admin.GetClient(...)``."""
        return self.downstream.admin.call

    def path(self, name: str) -> str:
        return str(self.request.path_params[name])

    def query(self, name: str) -> str:
        return query_string(name, self.request.query_params.get(name))

    def page(self) -> common_pb2.PageRequest:
        """``page_size`` (0 or absent: the server default) and ``page_token``."""
        raw = self.request.query_params.get("page_size", "").strip()
        size = 0
        if raw:
            if not raw.isdigit() or len(raw) > 6:
                raise InvalidRequest(f"'page_size' must be an integer from 0 to {MAX_PAGE_SIZE}")
            size = integer("page_size", int(raw), minimum=0, maximum=MAX_PAGE_SIZE)
        return common_pb2.PageRequest(page_size=size, page_token=self.query("page_token"))

    async def json(self, *, required: bool = True) -> dict[str, Any]:
        return await read_json(self.request, required=required)


AdminHandler = Callable[[AdminCall], Awaitable[Response]]


def admin_endpoint(handler: AdminHandler) -> Callable[[Request], Awaitable[Response]]:
    """The bearer check first, then the handler; every error rendered here."""

    async def endpoint(request: Request) -> Response:
        try:
            client_id = await admin_client_id(request)
            return await handler(AdminCall(request, actor_of(request, client_id)))
        except Unauthorized as exc:
            return exc.response
        except OAuthError as exc:
            return admin_error(request, exc)

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


def admin_error(request: Request, error: OAuthError) -> Response:
    if error.status_code >= 500 and error.status_code != 503:
        log.warning(
            "%s %s failed: %s %s",
            request.method,
            request.url.path,
            error.error,
            error.detail or error.description,
        )
        error = ServerError()
    status = error.status_code if error.status_code in ERROR_STATUSES | {500} else 400
    return JSONResponse(error_body(error), status_code=status, headers=NO_STORE)


def json_response(body: Any, status_code: int = 200) -> Response:
    return JSONResponse(body, status_code=status_code, headers=NO_STORE)


def no_content() -> Response:
    return Response(status_code=204, headers=NO_STORE)


def page_body(items: list[dict[str, Any]], page: common_pb2.PageResponse) -> dict[str, Any]:
    """``{"items", "next_page_token"}``; the token is omitted on the last page."""
    body: dict[str, Any] = {"items": items}
    if page.next_page_token:
        body["next_page_token"] = page.next_page_token
    return body


def _is_json(media_type: str) -> bool:
    return media_type == JSON_MEDIA_TYPE or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def check_media_type(header: str | None) -> None:
    forms.check_media_type(header, _is_json, JSON_MEDIA_TYPE, UnsupportedMediaType)


async def read_json(request: Request, *, required: bool = True) -> dict[str, Any]:
    """A JSON object body (RFC 8259), at most ``max_body_bytes``. Without
    ``required`` an empty body means ``{}`` whatever its Content-Type."""
    if required:
        check_media_type(request.headers.get("content-type"))
    raw = await read_body(request, settings_of(request).max_body_bytes)
    if not raw.strip() and not required:
        return {}
    check_media_type(request.headers.get("content-type"))
    return parse_json_object(raw, InvalidRequest)
