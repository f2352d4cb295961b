"""``GET /openapi.json``: the OpenAPI 3.1 document, generated from the routing table.

Each route's endpoint carries its operations (:mod:`gateway.openapi.spec`); the
paths are the routes' paths, their path parameters come from the templates,
and every pydantic model a body or an answer names becomes a component schema
exactly as ``model_json_schema`` gives it. Request models are read in
``validation`` mode, response models in ``serialization`` mode. Only the prose
(:mod:`gateway.openapi.prose`) is written by hand.

Tests keep it true: it validates against the OpenAPI 3.1 meta-schema, lists
exactly the app's routes, and schemathesis checks the running gateway's answers
against it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from gateway.openapi import prose
from gateway.openapi.responses import ok
from gateway.openapi.spec import STRING, Answer, Content, Operation, operation, operation_for
from gateway.state import settings_of

OPENAPI_VERSION: Final = "3.1.0"
REF_TEMPLATE: Final = "#/components/schemas/{model}"
#: The order of the methods in a path item.
METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE")
_PATH_PARAMETER = re.compile(r"{(\w+)(?::\w+)?}")

Mode = Literal["validation", "serialization"]


class Components:
    """The component schemas that the operations refer to, by model name."""

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def ref(self, model: type[BaseModel], mode: Mode) -> dict[str, str]:
        schema = model.model_json_schema(ref_template=REF_TEMPLATE, mode=mode)
        for name, nested in {**schema.pop("$defs", {}), model.__name__: schema}.items():
            if self.schemas.setdefault(name, nested) != nested:
                raise ValueError(f"two different schemas are named {name}")
        return {"$ref": REF_TEMPLATE.format(model=model.__name__)}

    def schema(self, content: Content, mode: Mode) -> Mapping[str, Any]:
        return self.ref(content, mode) if isinstance(content, type) else content


def _answer(answer: Answer, components: Components) -> dict[str, Any]:
    rendered: dict[str, Any] = {"description": answer.description}
    if answer.content:
        rendered["content"] = {
            media_type: {"schema": components.schema(content, "serialization")}
            for media_type, content in answer.content.items()
        }
    if answer.headers:
        rendered["headers"] = dict(answer.headers)
    return rendered


def _operation(declared: Operation, components: Components) -> dict[str, Any]:
    rendered: dict[str, Any] = {
        "operationId": declared.operation_id,
        "summary": declared.summary,
        "tags": list(declared.tags),
        "responses": {
            str(status): _answer(answer, components)
            for status, answer in sorted(declared.responses.items())
        },
    }
    if declared.parameters:
        rendered["parameters"] = [
            {
                "name": param.name,
                "in": "query",
                "required": param.required,
                "schema": dict(param.schema),
                **({"description": param.description} if param.description else {}),
            }
            for param in declared.parameters
        ]
    if declared.body is not None:
        body = declared.body
        rendered["requestBody"] = {
            "required": body.required,
            "content": {body.media_type: {"schema": components.ref(body.model, "validation")}},
        }
    if declared.security is not None:
        rendered["security"] = [dict(requirement) for requirement in declared.security]
    return rendered


def paths(routes: Sequence[BaseRoute], components: Components) -> dict[str, Any]:
    """One path item per route; a route without metadata is a mistake, not a gap."""
    found: dict[str, Any] = {}
    for route in routes:
        if isinstance(route, Mount):
            continue  # /static: files, not an API
        if not isinstance(route, Route):
            raise TypeError(f"cannot document {route!r}")
        item: dict[str, Any] = {}
        names = _PATH_PARAMETER.findall(route.path)
        if names:
            item["parameters"] = [
                {
                    "name": name,
                    "in": "path",
                    "required": True,
                    "schema": STRING,
                    "description": prose.PATH_PARAMETERS.get(name, name),
                }
                for name in names
            ]
        for method in METHODS:
            if method not in (route.methods or ()):
                continue
            declared = operation_for(route.endpoint, method)
            if declared is None:
                raise LookupError(f"{method} {route.path} declares no OpenAPI operation")
            item[method.lower()] = _operation(declared, components)
        found[template(route.path)] = item
    return found


def template(path: str) -> str:
    """A route's path as an OpenAPI path template: ``{name:path}`` is ``{name}``."""
    return _PATH_PARAMETER.sub(r"{\1}", path)


def build(routes: Sequence[BaseRoute]) -> dict[str, Any]:
    components = Components()
    generated = paths(routes, components)
    return {
        "openapi": OPENAPI_VERSION,
        "info": prose.INFO,
        "tags": prose.TAGS,
        "paths": generated,
        "components": {
            "schemas": dict(sorted(components.schemas.items())),
            "securitySchemes": prose.SECURITY_SCHEMES,
        },
    }


@functools.cache
def _template(listener: Literal["public", "admin"]) -> dict[str, Any]:
    # Late: the routing tables hold openapi_endpoint, so they import this module.
    from gateway.routes import ADMIN_ROUTES, ROUTES

    return build(ROUTES if listener == "public" else ADMIN_ROUTES)


def document(server_url: str, routes: Sequence[BaseRoute] | None = None) -> dict[str, Any]:
    """The document of ``routes`` (by default the public listener's), with
    ``server_url`` as the one server."""
    template = _template("public") if routes is None else build(routes)
    return {**template, "servers": [{"url": server_url}]}


def admin_document(server_url: str) -> dict[str, Any]:
    """The document of the admin listener: the admin API and /metrics."""
    return {**_template("admin"), "servers": [{"url": server_url}]}


@operation(
    "openapi",
    "This document",
    tags=prose.OPERATIONS,
    responses={200: ok({"type": "object"})},
)
async def openapi_endpoint(request: Request) -> Response:
    state = request.app.state
    # The routes of an app do not change: build its document once.
    template = getattr(state, "openapi_template", None)
    if template is None:
        template = state.openapi_template = build(request.app.routes)
    # The public document's server is the issuer; the admin listener's is where
    # it was asked for (it has no public name).
    server = str(request.base_url).rstrip("/") if state.admin_listener else None
    return JSONResponse(
        {**template, "servers": [{"url": server or settings_of(request).issuer}]},
        headers={"Cache-Control": "public, max-age=300"},
    )
