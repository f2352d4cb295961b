"""How oauth2ctl shows what the admin API answers: JSON for scripts (the API's
own objects), a short summary or table for people."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

SECRET_WARNING = "The client secret is shown only once and stored only as a hash: keep it now."  # noqa: S105


def summary(rows: Sequence[tuple[str, Any]]) -> str:
    shown = [(label, str(value)) for label, value in rows if value not in (None, "", [])]
    width = max((len(label) for label, _ in shown), default=0)
    return "\n".join(f"{label.ljust(width)}  {value}" for label, value in shown)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], empty: str) -> str:
    if not rows:
        return empty
    cells = [[str(cell) for cell in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


def client_summary(client: dict[str, Any]) -> str:
    secret = client.get("client_secret", "")
    text = summary(
        [
            ("client_id", client.get("client_id")),
            ("client_secret", secret),
            ("name", client.get("client_name")),
            ("auth method", client.get("token_endpoint_auth_method")),
            ("grant types", " ".join(client.get("grant_types", []))),
            ("redirect URIs", " ".join(client.get("redirect_uris", []))),
            ("scope", client.get("scope")),
            ("jwks", key_count(client.get("jwks"))),
            ("jwks_uri", client.get("jwks_uri")),
            ("TLS subject", tls_subject(client)),
            ("backchannel logout", backchannel_logout(client)),
            ("exchange audiences", " ".join(client.get("token_exchange_audiences", []))),
        ]
    )
    return text + ("\n\n" + SECRET_WARNING if secret else "")


#: RFC 8705 section 2.1.2: how the summary names each subject attribute.
TLS_SUBJECT_LABELS = (
    ("tls_client_auth_subject_dn", "DN"),
    ("tls_client_auth_san_dns", "DNS"),
    ("tls_client_auth_san_uri", "URI"),
    ("tls_client_auth_san_ip", "IP"),
    ("tls_client_auth_san_email", "email"),
)


def tls_subject(client: dict[str, Any]) -> str:
    """The subject attribute a tls_client_auth client's certificate must carry
    ("DNS app.example.com"), "" for other clients."""
    for name, label in TLS_SUBJECT_LABELS:
        if client.get(name):
            return f"{label} {client[name]}"
    return ""


def backchannel_logout(client: dict[str, Any]) -> str:
    """The backchannel_logout_uri, "(sid required)" after it when its logout tokens
    must carry the session (Back-Channel Logout 1.0 section 2.2); "" for none."""
    uri = str(client.get("backchannel_logout_uri") or "")
    if uri and client.get("backchannel_logout_session_required"):
        uri += " (sid required)"
    return uri


def key_count(jwks: Any) -> str:
    """ "2 keys" for a JWK Set, "" for none."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list):
        return ""
    return f"{len(keys)} key" + ("" if len(keys) == 1 else "s")


def client_table(clients: list[dict[str, Any]]) -> str:
    return table(
        ("CLIENT_ID", "NAME", "AUTH METHOD", "GRANT TYPES"),
        [
            (
                c["client_id"],
                c.get("client_name", ""),
                c.get("token_endpoint_auth_method", ""),
                ",".join(c.get("grant_types", [])),
            )
            for c in clients
        ],
        "no clients",
    )


def user_summary(user: dict[str, Any]) -> str:
    email = user.get("email", "")
    if email:
        email += " (verified)" if user.get("email_verified") else " (not verified)"
    return summary(
        [
            ("user_id", user.get("user_id")),
            ("username", user.get("username")),
            ("email", email),
            ("name", user.get("name")),
            ("enabled", "yes" if user.get("enabled") else "no"),
        ]
    )


def user_table(users: list[dict[str, Any]]) -> str:
    return table(
        ("USER_ID", "USERNAME", "EMAIL", "ENABLED"),
        [
            (u["user_id"], u["username"], u.get("email", ""), "yes" if u.get("enabled") else "no")
            for u in users
        ],
        "no users",
    )


def grants_text(grants: dict[str, Any]) -> str:
    consents = table(
        ("CLIENT_ID", "USER_ID", "SCOPES", "GRANTED_AT"),
        [
            (c["client_id"], c["user_id"], " ".join(c["scopes"]), c.get("granted_at", ""))
            for c in grants["consents"]
        ],
        "no consents",
    )
    families = table(
        ("FAMILY_ID", "CLIENT_ID", "USER_ID", "SCOPE", "LAST_USED_AT"),
        [
            (
                f["family_id"],
                f["client_id"],
                f.get("user_id", ""),
                f.get("scope", ""),
                f.get("last_used_at", ""),
            )
            for f in grants["items"]
        ],
        "no refresh-token families",
    )
    return f"{consents}\n\n{families}"


def key_table(keys: list[dict[str, Any]]) -> str:
    return table(
        ("KID", "ALG", "STATUS", "CREATED_AT", "RETIRED_AT"),
        [
            (k["kid"], k["alg"], k["status"], k.get("created_at", ""), k.get("retired_at", ""))
            for k in keys
        ],
        "no keys",
    )


def key_summary(key: dict[str, Any]) -> str:
    return summary([(name, key.get(name)) for name in ("kid", "alg", "status", "created_at")])


def event_table(events: list[dict[str, Any]]) -> str:
    return table(
        ("TIME", "ACTION", "ACTOR", "TARGET", "OUTCOME", "TRACE_ID"),
        [
            (
                e.get("time", ""),
                e["action"],
                e.get("actor", ""),
                e.get("target", ""),
                e.get("outcome", ""),
                e.get("trace_id", ""),
            )
            for e in events
        ],
        "no events",
    )


def stats_text(stats: dict[str, Any]) -> str:
    rows: list[tuple[str, Any]] = [
        ("clients", stats["clients"]),
        ("users", stats["users"]),
        ("active grants", stats["active_grants"]),
    ]
    for grant_type, count in sorted(stats.get("tokens_issued_by_grant_type", {}).items()):
        rows.append((f"tokens ({grant_type})", count))
    rows.append(("since", stats.get("since", "")))
    return summary([(label, str(value)) for label, value in rows])


def ttl_text(seconds: Any) -> str:
    return f"{seconds} s" if seconds else "server default"


def resource_summary(resource: dict[str, Any]) -> str:
    return summary(
        [
            ("identifier", resource.get("identifier")),
            ("name", resource.get("name")),
            ("scopes", " ".join(resource.get("scopes", []))),
            ("access token TTL", ttl_text(resource.get("access_token_ttl_seconds"))),
            ("introspection client", resource.get("introspection_client_id")),
            ("created_at", resource.get("created_at")),
            ("updated_at", resource.get("updated_at")),
        ]
    )


def resource_table(resources: list[dict[str, Any]]) -> str:
    return table(
        ("IDENTIFIER", "NAME", "SCOPES", "TOKEN TTL", "INTROSPECTION CLIENT"),
        [
            (
                r["identifier"],
                r.get("name", ""),
                " ".join(r.get("scopes", [])),
                ttl_text(r.get("access_token_ttl_seconds")),
                r.get("introspection_client_id", ""),
            )
            for r in resources
        ],
        "no resources",
    )
