"""OAuth errors across the gRPC boundary: google.rpc.Status with an ErrorInfo.

Server side, :func:`to_status` builds the status an interceptor aborts with.
Client side, :func:`from_rpc_error` rebuilds the OAuthError subclass from the
ErrorInfo reason through the fixed table in :mod:`common.errors`; a call that
failed without one (connection refused, deadline) maps by gRPC code, so an
unreachable service is ``temporarily_unavailable``.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from common.errors import (
    ERROR_DOMAIN,
    ERRORS_BY_CODE,
    ERRORS_BY_GRPC_CODE,
    OAuthError,
    ServerError,
)


def to_status(error: OAuthError) -> grpc.Status:
    metadata = {"description": error.public_description} if error.public_description else {}
    if error.dpop_nonce:
        metadata["dpop_nonce"] = error.dpop_nonce
    info = error_details_pb2.ErrorInfo(
        reason=error.reason or error.error, domain=ERROR_DOMAIN, metadata=metadata
    )
    detail = any_pb2.Any()
    detail.Pack(info)
    details = [detail]
    if error.retry_after is not None:
        retry = any_pb2.Any()
        retry.Pack(error_details_pb2.RetryInfo(retry_delay={"seconds": error.retry_after}))
        details.append(retry)
    status = status_pb2.Status(
        code=getattr(code_pb2, error.grpc_code.name, code_pb2.UNKNOWN),
        message=error.public_description or error.error,
        details=details,
    )
    converted: grpc.Status = rpc_status.to_status(status)
    return converted


def from_rpc_error(exc: grpc.aio.AioRpcError | grpc.RpcError) -> OAuthError:
    """The OAuthError a failed call carries, or one chosen by its gRPC code."""
    status = None
    try:
        status = rpc_status.from_call(exc)
    except ValueError:
        status = None  # the status and trailers disagree: treat as a bare code
    if status is not None:
        retry_after = _retry_after(status)
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                if info.domain == ERROR_DOMAIN:
                    cls = ERRORS_BY_CODE.get(info.reason, ServerError)
                    return cls(
                        info.metadata.get("description", ""),
                        retry_after=retry_after,
                        dpop_nonce=info.metadata.get("dpop_nonce", ""),
                    )
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    cls = ERRORS_BY_GRPC_CODE.get(code, ServerError)
    return cls("", detail=f"gRPC {code.name}: {exc.details() if hasattr(exc, 'details') else ''}")


def _retry_after(status: status_pb2.Status) -> int | None:
    """The whole seconds of a google.rpc.RetryInfo detail, at least 1."""
    for detail in status.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            delay = retry.retry_delay
            return max(1, int(delay.seconds) + (1 if delay.nanos else 0))
    return None
