"""How oauth2ctl shows clients and users: JSON for scripts, a short summary for people."""

from __future__ import annotations

from typing import Any

from oauth2.v1 import authorize_pb2, clients_pb2

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
            "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
            "always_issue_refresh_token": client.always_issue_refresh_token,
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


def user_to_dict(user: authorize_pb2.User) -> dict[str, Any]:
    """OpenID Connect Core section 5.1 names where there is one; never a password hash
    (the contract does not carry it)."""
    body: dict[str, Any] = {
        "user_id": user.user_id,
        "username": user.username,
        "email": user.email,
        "email_verified": user.email_verified,
        "enabled": user.enabled,
        "given_name": user.given_name,
        "family_name": user.family_name,
        "name": user.name,
    }
    if user.provider:
        body["provider"] = user.provider
        body["provider_user_id"] = user.provider_user_id
    for name in ("created_at", "updated_at"):
        when = from_timestamp(getattr(user, name)) if user.HasField(name) else None
        if when is not None:
            body[name] = when.isoformat()
    return body


def user_summary(user: authorize_pb2.User) -> str:
    rows = [
        ("user_id", user.user_id),
        ("username", user.username),
        ("email", f"{user.email} ({'verified' if user.email_verified else 'not verified'})"
         if user.email else ""),
        ("name", user.name),
        ("enabled", "yes" if user.enabled else "no"),
    ]  # fmt: skip
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label.ljust(width)}  {value}" for label, value in rows if value)


def user_table(users: list[authorize_pb2.User]) -> str:
    if not users:
        return "no users"
    header = ("USER_ID", "USERNAME", "EMAIL", "ENABLED")
    rows = [(u.user_id, u.username, u.email, "yes" if u.enabled else "no") for u in users]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )
