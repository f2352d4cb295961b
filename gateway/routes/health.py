"""Liveness (the process answers) and readiness (every downstream service
answers the standard gRPC health check with SERVING, and the gateway's own
Redis answers a PING when it has one). Liveness never looks at a dependency:
Kubernetes would restart healthy pods through an outage."""

from __future__ import annotations

import asyncio
from typing import Literal

from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from common.kv import KeyValue
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
        description="The standard gRPC health status of each service, by name, and "
        "`redis` (the gateway's sessions and rate limits) when it has one: SERVING, "
        "UNAVAILABLE, or DEADLINE_EXCEEDED when it did not answer in time"
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
    settings = settings_of(request)
    timeout = settings.ready_timeout_seconds
    if settings.redis_url is None:
        services = await downstream_of(request).health(timeout)
    else:
        services, redis = await asyncio.gather(
            downstream_of(request).health(timeout), _redis_status(request, timeout)
        )
        services["redis"] = redis
    ready = all(status == "SERVING" for status in services.values())
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "services": services},
        status_code=200 if ready else 503,
        headers=NO_STORE,
    )


async def _redis_status(request: Request, timeout: float) -> str:
    kv: KeyValue = request.app.state.kv
    try:
        answered = await asyncio.wait_for(kv.ping(), timeout)
    except TimeoutError:
        return "DEADLINE_EXCEEDED"
    return "SERVING" if answered else "UNAVAILABLE"
