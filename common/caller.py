"""The process that made the gRPC call being served, as its client certificate proves.

Set by :class:`common.grpc_callers.CallerAllowListInterceptor` for each call (mTLS
on); read where a domain records who asked (the admin service's audit trail).
Free of gRPC, so domain code can read it.
"""

from __future__ import annotations

from contextvars import ContextVar

_CALLER: ContextVar[str | None] = ContextVar("grpc_caller", default=None)


def authenticated_caller() -> str | None:
    """The caller's process name, or None (no mTLS, or outside a call)."""
    return _CALLER.get()


def set_authenticated_caller(caller: str | None) -> None:
    # Each call runs in a task of its own: the value lasts for that call only.
    _CALLER.set(caller)
