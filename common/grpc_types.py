"""Type names shared by every gRPC servicer and interceptor (one place, as
Starlette keeps its aliases)."""

from __future__ import annotations

from typing import Any, TypeAlias, TypeVar

from grpc.aio import ServicerContext

#: The request and response messages of an RPC, for what is generic over them.
Req = TypeVar("Req")
Resp = TypeVar("Resp")

#: The context a grpc.aio servicer method is given.
Context: TypeAlias = ServicerContext[Any, Any]
