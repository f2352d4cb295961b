"""Liveness (the process answers) and readiness (every downstream service
answers the standard gRPC health check with SERVING)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.errors import NO_STORE
from gateway.models import Resource
from gateway.openapi.prose import OPERATIONS
from gateway.openapi.responses import ok
from gateway.openapi.spec import operation
from gateway.state import downstream_of, settings_of


class Health(Resource):
    status: str = Field(description="ok")


class Readiness(Resource):
    status: Literal["ok", "unavailable"]
    services: dict[str, str] = Field(
        description="The standard gRPC health status of each service, by name"
    )


@operation(
    "liveness",
    "Liveness: the process answers",
    tags=OPERATIONS,
    responses={200: ok(Health)},
)
async def liveness(request: Request) -> Response:
    return JSONResponse({"status": "ok"}, headers=NO_STORE)


@operation(
    "readiness",
    "Readiness: every downstream service is SERVING",
    tags=OPERATIONS,
    responses={200: ok(Readiness), 503: ok(Readiness, "A dependency is not ready")},
)
async def readiness(request: Request) -> Response:
    services = await downstream_of(request).health(settings_of(request).ready_timeout_seconds)
    ready = all(status == "SERVING" for status in services.values())
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "services": services},
        status_code=200 if ready else 503,
        headers=NO_STORE,
    )
