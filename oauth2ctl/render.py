"""How oauth2ctl shows clients: JSON for scripts, a short summary for people."""

from __future__ import annotations

from typing import Any

from oauth2.v1 import clients_pb2

from common.timeutil import from_timestamp

SECRET_WARNING = "The client secret is shown only once and stored only as a hash: keep it now."  # noqa: S105


def client_to_dict(client: clients_pb2.Client, client_secret: str = "") -> dict[str, Any]:
    """RFC 7591 section 2 metadata names; ``client_secret`` only when there is one."""
    body: dict[str, Any] = {"client_id": client.client_id}
    if client_secret:
        body["client_secret"] = client_secret
    body.update(
        {
            "client_name": client.client_name,
            "grant_types": list(client.grant_types),
            "redirect_uris": list(client.redirect_uris),
            "response_types": list(client.response_types),
            "scope": client.scope,
            "token_endpoint_auth_method": client.token_endpoint_auth_method,
            "require_pkce": client.require_pkce,
        }
    )
    for name in ("created_at", "updated_at"):
        when = from_timestamp(getattr(client, name)) if client.HasField(name) else None
        if when is not None:
            body[name] = when.isoformat()
    return body


def client_summary(client: clients_pb2.Client, client_secret: str = "") -> str:
    rows = [
        ("client_id", client.client_id),
        ("client_secret", client_secret),
        ("name", client.client_name),
        ("auth method", client.token_endpoint_auth_method),
        ("grant types", " ".join(client.grant_types)),
        ("redirect URIs", " ".join(client.redirect_uris)),
        ("scope", client.scope),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [f"{label.ljust(width)}  {value}" for label, value in rows if value]
    if client_secret:
        lines += ["", SECRET_WARNING]
    return "\n".join(lines)


def client_table(clients: list[clients_pb2.Client]) -> str:
    if not clients:
        return "no clients"
    header = ("CLIENT_ID", "NAME", "AUTH METHOD", "GRANT TYPES")
    rows = [
        (c.client_id, c.client_name, c.token_endpoint_auth_method, ",".join(c.grant_types))
        for c in clients
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )
