"""What every admin API endpoint shares: the bearer check, the audit actor, the
JSON body read into its model, cursor paging, error rendering and the
operation's entry in ``GET /openapi.json``, all declared once by
:func:`admin_endpoint`.

Errors are ``{"error", "error_description"}`` (RFC 6749 section 5.2 shape) with
400, 401, 403, 404, 409, 413, 415 or 503; anything unexpected is a 500
``server_error`` with nothing leaked. A downstream 4xx outside that list (which
the contract does not produce) is answered as 400 with its error code, so the
API never answers a status it does not document.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar, overload

from oauth2.v1 import common_pb2
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from common.errors import InvalidRequest, OAuthError, ServerError
from gateway import forms
from gateway.admin.auth import Unauthorized, admin_client_id
from gateway.admin.bodies import MESSAGES, string_fault
from gateway.admin.denied import audit_denied
from gateway.downstream import Downstream
from gateway.errors import NO_STORE, error_body
from gateway.forms import JSON_MEDIA_TYPE, UnsupportedMediaType, parse_json_object, read_body
from gateway.models import BodyModel, Resource, parse_body
from gateway.openapi.prose import ADMIN, ADMIN_BEARER
from gateway.openapi.responses import REASONS, errors
from gateway.openapi.spec import JSON, Answer, Body, Endpoint, Param, operation
from gateway.state import actor_of, downstream_of, settings_of

if TYPE_CHECKING:
    from oauth2.v1.admin_pb2_grpc import AdminServiceAsyncStub

log = logging.getLogger(__name__)

MAX_PAGE_SIZE: Final = 500
#: Statuses an admin error may have; see the module docstring.
ERROR_STATUSES: Final = frozenset({400, 403, 404, 409, 413, 415, 503})

PAGING: Final = (
    Param(
        "page_size",
        "0 or absent: the server default",
        schema={"type": "integer", "minimum": 0, "maximum": MAX_PAGE_SIZE},
    ),
    Param("page_token", "next_page_token of the previous page"),
)
SEARCH: Final = Param("search", "Case-insensitive substring")

R = TypeVar("R", bound=Resource | None)
M = TypeVar("M", bound=Resource)
B = TypeVar("B", bound=BodyModel)


@dataclass(frozen=True)
class Success(Generic[R]):
    """The one 2xx answer of an operation: its status and body model (None: no body)."""

    status: int
    model: type[Resource] | None
    description: str


def ok(model: type[M]) -> Success[M]:
    return Success(200, model, REASONS[200])


def created(model: type[M]) -> Success[M]:
    return Success(201, model, REASONS[201])


NO_CONTENT: Final[Success[None]] = Success(204, None, "Done")


@dataclass(frozen=True)
class AdminCall:
    """One authorized admin API request: who makes it and where it goes."""

    request: Request
    actor: common_pb2.Actor

    @property
    def downstream(self) -> Downstream:
        return downstream_of(self.request)

    @property
    def admin(self) -> AdminServiceAsyncStub:
        """The AdminService methods: ``await call.admin.GetClient(...)``."""
        return self.downstream.admin.call

    def path(self, name: str) -> str:
        return str(self.request.path_params[name])

    def query(self, name: str) -> str:
        """A query parameter, "" when absent, held to the rule of body strings."""
        value = self.request.query_params.get(name) or ""
        fault = string_fault(value)
        if fault:
            raise InvalidRequest(MESSAGES[fault].format(field=name))
        return value

    def page(self) -> common_pb2.PageRequest:
        """``page_size`` (0 or absent: the server default) and ``page_token``."""
        raw = self.request.query_params.get("page_size", "").strip()
        size = 0
        if raw:
            if not raw.isdigit() or len(raw) > 6:
                raise InvalidRequest(f"'page_size' must be an integer from 0 to {MAX_PAGE_SIZE}")
            size = int(raw)
            if size > MAX_PAGE_SIZE:
                raise InvalidRequest(f"'page_size' must be between 0 and {MAX_PAGE_SIZE}")
        return common_pb2.PageRequest(page_size=size, page_token=self.query("page_token"))


Handler = Callable[[AdminCall], Awaitable[R]]
BodyHandler = Callable[[AdminCall, B], Awaitable[R]]


@overload
def admin_endpoint(
    operation_id: str,
    summary: str,
    answer: Success[R],
    *,
    parameters: Sequence[Param] = (),
    writes: bool = False,
) -> Callable[[Handler[R]], Endpoint]: ...


@overload
def admin_endpoint(
    operation_id: str,
    summary: str,
    answer: Success[R],
    *,
    body: type[B],
    body_required: bool = True,
    parameters: Sequence[Param] = (),
    writes: bool = False,
) -> Callable[[BodyHandler[B, R]], Endpoint]: ...


def admin_endpoint(
    operation_id: str,
    summary: str,
    answer: Success[Any],
    *,
    body: type[BodyModel] | None = None,
    body_required: bool = True,
    parameters: Sequence[Param] = (),
    writes: bool = False,
) -> Callable[[Callable[..., Awaitable[Resource | None]]], Endpoint]:
    """An admin operation: the bearer check first, then ``body`` read into its
    model (the handler gets it as its second argument), then the handler, whose
    model is answered with ``answer``'s status; every error rendered here.
    ``writes``: the operation may answer 409."""
    statuses = [400, 401, 403, 404, *([409] if writes else []), *([413, 415] if body else [])]
    success = Answer(answer.description, {JSON: answer.model} if answer.model else {})
    documents = operation(
        operation_id,
        summary,
        tags=ADMIN,
        responses={answer.status: success, **errors(*statuses, 500, 503)},
        body=Body(body, required=body_required) if body else None,
        parameters=parameters,
        security=ADMIN_BEARER,
    )

    def decorate(handler: Callable[..., Awaitable[Resource | None]]) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            try:
                call = AdminCall(request, actor_of(request, await admin_client_id(request)))
                if body is None:
                    result = await handler(call)
                else:
                    data = await read_json(request, required=body_required)
                    result = await handler(
                        call, parse_body(body, data, context=request.path_params)
                    )
            except Unauthorized as exc:
                await audit_denied(request, exc.response)
                return exc.response
            except OAuthError as exc:
                return admin_error(request, exc)
            if result is None:
                return Response(status_code=answer.status, headers=NO_STORE)
            return JSONResponse(result.body(), status_code=answer.status, headers=NO_STORE)

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return documents(endpoint)

    return decorate


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
