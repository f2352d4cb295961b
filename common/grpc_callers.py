"""Who may call whom: one table for every service, checked by a server interceptor.

The table follows the call graph (docs/DESIGN.md): each service accepts only the
processes that call it, and its operator-only methods only from the admin service
(which audits them) — so a compromised gateway cannot rotate a signing key or set a
password behind the audit trail's back. ``RecordEvent`` is the one admin method every
service calls (their security events); ``Bootstrap`` is oauth2ctl's (``ctl``, or the
admin service's certificate when oauth2ctl runs inside its container).

The caller is the CN of its verified client certificate (:func:`common.grpc_tls.caller_of`).
No certificate: UNAUTHENTICATED; a caller not in the table: PERMISSION_DENIED. The gRPC
health service and reflection are open to every certificate from the CA (the gateway's
/ready and probes). The table is enforced only with mTLS on: without certificates there
is no identity to check.

A new call between services needs its row here; its test is common/tests/test_grpc_mtls.py.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import grpc
from grpc_health.v1 import health
from grpc_reflection.v1alpha import reflection

from common.caller import set_authenticated_caller
from common.grpc_tls import caller_of
from common.grpc_types import Req, Resp
from common.services import ADMIN_SERVICE, AUTHORIZE_SERVICE, CLIENTS_SERVICE, TOKEN_SERVICE

log = logging.getLogger(__name__)

GATEWAY: Final = "gateway"
AUTHORIZE: Final = "authorize"
TOKEN: Final = "token"  # noqa: S105 - a process name
CLIENTS: Final = "clients"
ADMIN: Final = "admin"
CTL: Final = "ctl"
#: Every process name a certificate may carry.
PROCESS_NAMES: Final = frozenset({GATEWAY, AUTHORIZE, TOKEN, CLIENTS, ADMIN, CTL})


@dataclass(frozen=True, slots=True)
class ServicePolicy:
    """The callers of one gRPC service: ``callers`` for any method, unless the
    method has its own set in ``methods``."""

    callers: frozenset[str]
    methods: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def allows(self, method: str, caller: str) -> bool:
        return caller in self.methods.get(method, self.callers)


def _only(*names: str) -> frozenset[str]:
    return frozenset(names)


_ADMIN_ONLY = _only(ADMIN)

#: service name -> its policy. Derived from the *_client(...) uses of each process.
CALLERS: Final[Mapping[str, ServicePolicy]] = {
    CLIENTS_SERVICE: ServicePolicy(
        # gateway: registration (RFC 7591/7592), redirect URI checks; authorize: the
        # client of a sign-in; token: client authentication; admin: everything.
        callers=_only(GATEWAY, AUTHORIZE, TOKEN, ADMIN),
        methods={
            name: _ADMIN_ONLY
            for name in (
                "CreateClient",
                "UpdateClient",
                "DeleteClient",
                "RotateClientSecret",
                "CreateInitialAccessToken",
                "CreateResource",
                "UpdateResource",
                "DeleteResource",
                "ListResources",
            )
        }
        # The gateway's CORS preflights learn every client's origins from it
        # (gateway/cors.py); it reads what GetClient already shows the gateway.
        | {"ListClients": _only(GATEWAY, ADMIN)},
    ),
    AUTHORIZE_SERVICE: ServicePolicy(
        # gateway: the sign-in pipeline and userinfo; token: codes and claims.
        callers=_only(GATEWAY, TOKEN, ADMIN),
        methods={
            name: _ADMIN_ONLY
            for name in ("CreateUser", "UpdateUser", "DeleteUser", "ListUsers", "SetPassword")
        },
    ),
    TOKEN_SERVICE: ServicePolicy(
        # gateway: the token, introspection, revocation, JWKS and userinfo endpoints.
        callers=_only(GATEWAY, ADMIN),
        methods={
            name: _ADMIN_ONLY
            for name in (
                "RotateSigningKey",
                "RetireSigningKey",
                "ListSigningKeys",
                "ListGrants",
                "RevokeGrants",
                "GetTokenStats",
            )
        },
    ),
    ADMIN_SERVICE: ServicePolicy(
        # The admin API is the gateway's; the audit trail takes every service's events.
        callers=_only(GATEWAY),
        methods={
            "RecordEvent": _only(GATEWAY, AUTHORIZE, TOKEN, CLIENTS),
            # oauth2ctl, also run inside the admin container (with its certificate).
            "Bootstrap": _only(CTL, ADMIN),
        },
    ),
}

#: Open to any caller with a certificate from the CA.
OPEN_SERVICES: Final = frozenset({health.SERVICE_NAME, reflection.SERVICE_NAME})


def split_method(full_method: str) -> tuple[str, str]:
    """ "/oauth2.v1.TokenService/Exchange" -> ("oauth2.v1.TokenService", "Exchange")."""
    service, _, method = full_method.lstrip("/").partition("/")
    return service, method


def refusal(
    full_method: str, caller: str | None, table: Mapping[str, ServicePolicy] = CALLERS
) -> tuple[grpc.StatusCode, str] | None:
    """Why ``caller`` may not call ``full_method``, or None when it may."""
    if caller is None:
        return grpc.StatusCode.UNAUTHENTICATED, "a client certificate is required"
    service, method = split_method(full_method)
    if service in OPEN_SERVICES:
        return None
    policy = table.get(service)
    if policy is not None and policy.allows(method, caller):
        return None
    return grpc.StatusCode.PERMISSION_DENIED, f"'{caller}' may not call {full_method}"


class CallerAllowListInterceptor(grpc.aio.ServerInterceptor):
    """Refuses calls from callers the table does not name for the method."""

    def __init__(self, table: Mapping[str, ServicePolicy] = CALLERS) -> None:
        self._table = table

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Req, Resp] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Req, Resp] | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        if split_method(handler_call_details.method)[0] in OPEN_SERVICES:
            # The TLS handshake has checked the certificate already; nothing to add
            # to the health watch streams that every channel keeps open.
            return handler
        # The peer's certificate is on the call's context only, so each kind of
        # handler is wrapped to check it before the servicer runs.
        method = handler_call_details.method
        table = self._table

        async def check(context: grpc.aio.ServicerContext[Any, Any]) -> None:
            caller = caller_of(context)
            why = refusal(method, caller, table)
            if why is not None:
                log.warning("refused %s from %s: %s", method, caller or "(no certificate)", why[1])
                await context.abort(*why)
            set_authenticated_caller(caller)

        kinds: dict[str, Any] = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary is not None:
            unary_unary: Callable[..., Any] = handler.unary_unary

            async def guarded_uu(request: Any, context: Any) -> Any:
                await check(context)
                return await _maybe_await(unary_unary(request, context))

            return grpc.unary_unary_rpc_method_handler(guarded_uu, **kinds)
        if handler.unary_stream is not None:
            unary_stream: Callable[..., Any] = handler.unary_stream

            async def guarded_us(request: Any, context: Any) -> AsyncIterator[Any]:
                await check(context)
                async for item in _aiter(unary_stream(request, context)):
                    yield item

            return grpc.unary_stream_rpc_method_handler(guarded_us, **kinds)
        if handler.stream_unary is not None:
            stream_unary: Callable[..., Any] = handler.stream_unary

            async def guarded_su(requests: Any, context: Any) -> Any:
                await check(context)
                return await _maybe_await(stream_unary(requests, context))

            return grpc.stream_unary_rpc_method_handler(guarded_su, **kinds)
        if handler.stream_stream is None:
            return handler
        stream_stream: Callable[..., Any] = handler.stream_stream

        async def guarded_ss(requests: Any, context: Any) -> AsyncIterator[Any]:
            await check(context)
            async for item in _aiter(stream_stream(requests, context)):
                yield item

        return grpc.stream_stream_rpc_method_handler(guarded_ss, **kinds)


async def _maybe_await(result: Any) -> Any:
    return await result if inspect.isawaitable(result) else result


async def _aiter(result: Any) -> AsyncIterator[Any]:
    """A streaming servicer method is an async generator, or a coroutine that
    writes with context.write() and returns None."""
    if hasattr(result, "__aiter__"):
        async for item in result:
            yield item
    else:
        await result
