"""What a route says about itself in ``GET /openapi.json``, declared beside its
handler: one :class:`Operation` (OpenAPI 3.1 section 4.8.10) per HTTP method.

``@operation(...)`` attaches it to the endpoint; an endpoint that serves several
methods through one route (:func:`by_method`) carries the operations of the
handlers it dispatches to. :mod:`gateway.openapi.document` walks the routing
table and reads them back with :func:`operations_of`. Bodies are pydantic
models, which become the document's component schemas.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

JSON: Final = "application/json"
FORM: Final = "application/x-www-form-urlencoded"
HTML: Final = "text/html"
TEXT: Final = "text/plain"
#: The key of an operation that serves whatever method its route allows.
ANY_METHOD: Final = "*"

#: An inline JSON Schema (a model is a component instead).
Schema = Mapping[str, Any]
Content = type[BaseModel] | Schema
Security = tuple[Mapping[str, Sequence[str]], ...]
Endpoint = Callable[[Request], Awaitable[Response]]
E = TypeVar("E", bound=Callable[..., Awaitable[Response]])

STRING: Final[Schema] = {"type": "string"}
_ATTRIBUTE: Final = "openapi_operations"


@dataclass(frozen=True)
class Answer:
    """A Response Object: its description, body schema by media type, headers
    (name -> Header Object)."""

    description: str
    content: Mapping[str, Content] = field(default_factory=dict)
    headers: Mapping[str, Schema] = field(default_factory=dict)


@dataclass(frozen=True)
class Body:
    """A Request Body Object whose schema is ``model``."""

    model: type[BaseModel]
    media_type: str = JSON
    required: bool = True


@dataclass(frozen=True)
class Param:
    """A query parameter (path parameters come from the route's path)."""

    name: str
    description: str = ""
    required: bool = False
    schema: Schema = field(default_factory=lambda: STRING)


@dataclass(frozen=True)
class Operation:
    operation_id: str
    summary: str
    tags: tuple[str, ...]
    responses: Mapping[int, Answer]
    body: Body | None = None
    parameters: tuple[Param, ...] = ()
    #: None: the operation names no security requirement.
    security: Security | None = None


def operation(
    operation_id: str,
    summary: str,
    *,
    tags: tuple[str, ...],
    responses: Mapping[int, Answer],
    body: Body | None = None,
    parameters: Sequence[Param] = (),
    security: Security | None = None,
    method: str = ANY_METHOD,
) -> Callable[[E], E]:
    """Attach an :class:`Operation` for ``method`` to the endpoint it decorates."""
    declared = Operation(operation_id, summary, tags, responses, body, tuple(parameters), security)

    def attach(endpoint: E) -> E:
        return documented(endpoint, {**operations_of(endpoint), method: declared})

    return attach


def documented(endpoint: E, operations: Mapping[str, Operation]) -> E:
    """``endpoint``, carrying ``operations`` (by HTTP method)."""
    setattr(endpoint, _ATTRIBUTE, dict(operations))
    return endpoint


def operations_of(endpoint: object) -> Mapping[str, Operation]:
    found = getattr(endpoint, _ATTRIBUTE, None)
    return found if isinstance(found, dict) else {}


def operation_for(endpoint: object, method: str) -> Operation | None:
    operations = operations_of(endpoint)
    return operations.get(method) or operations.get(ANY_METHOD)


def by_method(endpoints: Mapping[str, Endpoint], fallback: str | None = None) -> Endpoint:
    """One endpoint for one route that serves ``endpoints`` by HTTP method, so
    that a 405 names every method the path allows; it carries their
    operations. ``fallback`` serves the methods not named (HEAD for a page)."""

    async def endpoint(request: Request) -> Response:
        handler = endpoints.get(request.method) or endpoints[fallback or request.method]
        return await handler(request)

    operations: dict[str, Operation] = {}
    for method, handler in endpoints.items():
        found = operation_for(handler, method)
        if found is not None:
            operations[method] = found
    return documented(endpoint, operations)
