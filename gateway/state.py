"""Typed access to what the app keeps on ``app.state``."""

from __future__ import annotations

from oauth2.v1 import common_pb2
from starlette.requests import Request

from common.audit import AuditSink
from gateway.client_address import client_address
from gateway.downstream import Downstream
from gateway.sessions import SessionStore
from gateway.settings import GatewaySettings


def settings_of(request: Request) -> GatewaySettings:
    settings: GatewaySettings = request.app.state.settings
    return settings


def downstream_of(request: Request) -> Downstream:
    downstream: Downstream = request.app.state.downstream
    return downstream


def actor_of(request: Request, client_id: str) -> common_pb2.Actor:
    """Who is calling, for the audit trail."""
    return common_pb2.Actor(
        id=f"client:{client_id}" if client_id else "",
        remote_addr=client_address(request.scope),
    )


def audit_of(request: Request) -> AuditSink:
    """Where the gateway reports security events (common.audit)."""
    audit: AuditSink = request.app.state.audit
    return audit


def sessions_of(request: Request) -> SessionStore:
    sessions: SessionStore = request.app.state.sessions
    return sessions


def remote_addr_of(request: Request) -> str:
    """The browser's address for login backoff: the one the trusted proxy chain
    gives (gateway/client_address.py), not merely the nearest proxy."""
    return client_address(request.scope)
