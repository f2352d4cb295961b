"""JSON <-> protobuf for the admin API, in one place.

Client objects use the RFC 7591 section 2 metadata names; users use the OpenID
Connect Core section 5.1 claim names; every time is RFC 3339 in UTC ("Z").
Request bodies are checked field by field here, so that a wrong type is a 400
naming the field and never reaches a service.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from oauth2.v1 import admin_pb2, authorize_pb2, clients_pb2, token_pb2

from common.errors import InvalidClientMetadata, InvalidRequest, OAuthError
from common.timeutil import from_timestamp

#: Longest string accepted in any field; longer values are refused, not cut.
MAX_STRING = 2048
#: Longest list accepted in any list field.
MAX_ITEMS = 100

#: ClientMetadata fields by JSON type (RFC 7591 section 2 names).
CLIENT_STRING_FIELDS = (
    "client_name",
    "scope",
    "token_endpoint_auth_method",
    "access_token_signing_alg",
    "client_uri",
    "logo_uri",
)
CLIENT_LIST_FIELDS = (
    "redirect_uris",
    "grant_types",
    "response_types",
    "post_logout_redirect_uris",
    "contacts",
)
CLIENT_BOOL_FIELDS = ("require_pkce", "always_issue_refresh_token")
CLIENT_METADATA_FIELDS = (*CLIENT_STRING_FIELDS, *CLIENT_LIST_FIELDS, *CLIENT_BOOL_FIELDS)
#: Fields of a client object that the server sets; a PATCH may echo them back.
CLIENT_READ_ONLY = (
    "client_id",
    "created_at",
    "updated_at",
    "client_secret_expires_at",
    "dynamically_registered",
    "revision",
)

USER_CREATE_FIELDS = ("username", "password", "email", "given_name", "family_name")
USER_UPDATE_STRING_FIELDS = ("email", "given_name", "family_name", "name")
USER_UPDATE_BOOL_FIELDS = ("email_verified", "enabled")
USER_READ_ONLY = ("user_id", "username", "created_at", "updated_at", "provider", "provider_user_id")

SIGNING_ALGS = ("ES256", "RS256")
OUTCOMES = ("success", "failure", "denied")


# --- times -------------------------------------------------------------------


def rfc3339(ts: Timestamp) -> str | None:
    """RFC 3339 in UTC with a "Z", or None for an unset Timestamp."""
    when = from_timestamp(ts)
    if when is None:
        return None
    return when.isoformat().replace("+00:00", "Z")


def parse_rfc3339(name: str, value: str) -> Timestamp:
    """An RFC 3339 date-time with an offset (section 5.6); anything else is a 400."""
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidRequest(f"'{name}' must be an RFC 3339 date-time") from None
    if when.tzinfo is None or "T" not in value.upper():
        raise InvalidRequest(f"'{name}' must be an RFC 3339 date-time with an offset")
    ts = Timestamp()
    ts.FromDatetime(when.astimezone(UTC))
    return ts


def _times(message: Any, *names: str) -> dict[str, str]:
    found = {}
    for name in names:
        if message.HasField(name):
            value = rfc3339(getattr(message, name))
            if value is not None:
                found[name] = value
    return found


# --- protobuf -> JSON ------------------------------------------------------------


def client_json(client: clients_pb2.Client, client_secret: str = "") -> dict[str, Any]:
    """A client in RFC 7591 section 2 names; ``client_secret`` only right after it
    was generated (RFC 7591 section 3.2.1: ``client_secret_expires_at`` 0 = never)."""
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
            "access_token_signing_alg": client.access_token_signing_alg,
            "contacts": list(client.contacts),
            "client_uri": client.client_uri,
            "logo_uri": client.logo_uri,
            "dynamically_registered": client.dynamically_registered,
            "revision": client.revision,
        }
    )
    expires = from_timestamp(client.client_secret_expires_at)
    body["client_secret_expires_at"] = int(expires.timestamp()) if expires else 0
    body.update(_times(client, "created_at", "updated_at"))
    return body


def user_json(user: authorize_pb2.User) -> dict[str, Any]:
    """Never a password hash: the contract does not carry one."""
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
    body.update(_times(user, "created_at", "updated_at"))
    return body


def key_json(key: token_pb2.SigningKey) -> dict[str, Any]:
    body: dict[str, Any] = {"kid": key.kid, "alg": key.alg, "status": key.status}
    body.update(_times(key, "created_at", "retired_at"))
    return body


def family_json(grant: token_pb2.Grant) -> dict[str, Any]:
    """A refresh-token family: one consented grant's chain of rotated tokens."""
    body: dict[str, Any] = {
        "family_id": grant.family_id,
        "client_id": grant.client_id,
        "user_id": grant.subject,
        "scope": grant.scope,
    }
    body.update(_times(grant, "created_at", "last_used_at", "expires_at"))
    return body


def consent_json(consent: authorize_pb2.Consent) -> dict[str, Any]:
    body: dict[str, Any] = {
        "client_id": consent.client_id,
        "user_id": consent.user_id,
        "scopes": list(consent.scopes),
    }
    body.update(_times(consent, "granted_at"))
    return body


def event_json(event: admin_pb2.AuditEvent) -> dict[str, Any]:
    """``actor`` is the actor's id (``client:<id>``, ``cli``, ``system``,
    ``user:<id>``), the value the ``actor`` filter takes."""
    body: dict[str, Any] = {
        "event_id": event.event_id,
        "action": event.action,
        "actor": event.actor.id,
        "remote_addr": event.actor.remote_addr,
        "target": event.target,
        "outcome": event.outcome,
        "trace_id": event.trace_id,
        "source": event.source,
        "details": dict(event.details),
    }
    body.update(_times(event, "time"))
    return body


def stats_json(stats: admin_pb2.Stats) -> dict[str, Any]:
    body: dict[str, Any] = {
        "clients": stats.clients,
        "users": stats.users,
        "active_grants": stats.active_grants,
        "tokens_issued_by_grant_type": dict(stats.tokens_issued_by_grant_type),
    }
    body.update(_times(stats, "since"))
    return body


# --- JSON -> protobuf --------------------------------------------------------------


def _string(
    name: str, value: Any, error: type[OAuthError] = InvalidRequest, *, max_length: int = MAX_STRING
) -> str:
    if not isinstance(value, str):
        raise error(f"'{name}' must be a string")
    if len(value) > max_length:
        raise error(f"'{name}' is too long")
    if "\x00" in value:
        raise error(f"'{name}' must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise error(f"'{name}' is not valid Unicode") from None
    return value


def _string_list(name: str, value: Any, error: type[OAuthError]) -> list[str]:
    if not isinstance(value, list):
        raise error(f"'{name}' must be an array of strings")
    if len(value) > MAX_ITEMS:
        raise error(f"'{name}' has too many items")
    return [_string(name, item, error) for item in value]


def _bool(name: str, value: Any, error: type[OAuthError] = InvalidRequest) -> bool:
    if not isinstance(value, bool):
        raise error(f"'{name}' must be true or false")
    return value


def integer(name: str, value: Any, *, minimum: int, maximum: int) -> int:
    # bool is an int subclass; JSON true is not a number.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(f"'{name}' must be an integer")
    if not minimum <= value <= maximum:
        raise InvalidRequest(f"'{name}' must be between {minimum} and {maximum}")
    return value


def _unknown(body: dict[str, Any], known: tuple[str, ...], error: type[OAuthError]) -> None:
    for name in body:
        if name not in known:
            raise error(f"Unknown field '{_printable(name)}'")


def _printable(name: str) -> str:
    return "".join(c for c in name[:64] if c.isprintable() and c not in '"\\')


def client_metadata(body: dict[str, Any]) -> tuple[clients_pb2.ClientMetadata, list[str]]:
    """The ClientMetadata a body describes and the paths it sets (an update mask)."""
    metadata = clients_pb2.ClientMetadata()
    paths: list[str] = []
    error = InvalidClientMetadata
    for name in CLIENT_STRING_FIELDS:
        if name in body:
            setattr(metadata, name, _string(name, body[name], error))
            paths.append(name)
    for name in CLIENT_LIST_FIELDS:
        if name in body:
            getattr(metadata, name).extend(_string_list(name, body[name], error))
            paths.append(name)
    for name in CLIENT_BOOL_FIELDS:
        if name in body:
            setattr(metadata, name, _bool(name, body[name], error))
            paths.append(name)
    return metadata, paths


def create_client_request(body: dict[str, Any]) -> clients_pb2.CreateClientRequest:
    """Client metadata, plus optionally an operator-chosen ``client_id`` and an
    imported ``client_secret``."""
    _unknown(body, (*CLIENT_METADATA_FIELDS, "client_id", "client_secret"), InvalidClientMetadata)
    metadata, _ = client_metadata(body)
    return clients_pb2.CreateClientRequest(
        metadata=metadata,
        client_id=_string("client_id", body.get("client_id", ""), max_length=255),
        client_secret=_string("client_secret", body.get("client_secret", ""), max_length=512),
    )


def update_client_request(client_id: str, body: dict[str, Any]) -> clients_pb2.UpdateClientRequest:
    """A PATCH replaces the fields it names, and only those (never an empty mask,
    which the contract reads as "replace everything")."""
    _unknown(body, (*CLIENT_METADATA_FIELDS, *CLIENT_READ_ONLY), InvalidClientMetadata)
    if "client_id" in body and body["client_id"] != client_id:
        raise InvalidRequest("'client_id' does not match the path")
    metadata, paths = client_metadata(body)
    if not paths:
        raise InvalidRequest("No client metadata to update")
    return clients_pb2.UpdateClientRequest(
        client_id=client_id, metadata=metadata, update_mask=paths
    )


def create_user_request(body: dict[str, Any]) -> authorize_pb2.CreateUserRequest:
    _unknown(body, USER_CREATE_FIELDS, InvalidRequest)
    for name in ("username", "password"):
        if not body.get(name):
            raise InvalidRequest(f"Missing '{name}'")
    values = {name: _string(name, body[name]) for name in USER_CREATE_FIELDS if name in body}
    return authorize_pb2.CreateUserRequest(**values)


def update_user_request(user_id: str, body: dict[str, Any]) -> authorize_pb2.UpdateUserRequest:
    _unknown(
        body,
        (*USER_UPDATE_STRING_FIELDS, *USER_UPDATE_BOOL_FIELDS, *USER_READ_ONLY),
        InvalidRequest,
    )
    if "user_id" in body and body["user_id"] != user_id:
        raise InvalidRequest("'user_id' does not match the path")
    user = authorize_pb2.User()
    paths: list[str] = []
    for name in USER_UPDATE_STRING_FIELDS:
        if name in body:
            setattr(user, name, _string(name, body[name]))
            paths.append(name)
    for name in USER_UPDATE_BOOL_FIELDS:
        if name in body:
            setattr(user, name, _bool(name, body[name]))
            paths.append(name)
    if not paths:
        raise InvalidRequest("No user fields to update")
    return authorize_pb2.UpdateUserRequest(user_id=user_id, user=user, update_mask=paths)


def password_of(body: dict[str, Any]) -> str:
    _unknown(body, ("password",), InvalidRequest)
    if not body.get("password"):
        raise InvalidRequest("Missing 'password'")
    return _string("password", body["password"])


def rotate_key_request(body: dict[str, Any]) -> token_pb2.RotateSigningKeyRequest:
    _unknown(body, ("alg",), InvalidRequest)
    alg = _string("alg", body.get("alg", ""))
    if alg and alg not in SIGNING_ALGS:
        raise InvalidRequest(f"'alg' must be one of {', '.join(SIGNING_ALGS)}")
    return token_pb2.RotateSigningKeyRequest(alg=alg)


def initial_access_token_request(
    body: dict[str, Any],
) -> clients_pb2.CreateInitialAccessTokenRequest:
    """``expires_in`` seconds (0: the server default) and ``max_uses`` (0: one)."""
    _unknown(body, ("expires_in", "max_uses"), InvalidRequest)
    return clients_pb2.CreateInitialAccessTokenRequest(
        expires_in=integer("expires_in", body.get("expires_in", 0), minimum=0, maximum=31_536_000),
        max_uses=integer("max_uses", body.get("max_uses", 0), minimum=0, maximum=1_000_000),
    )


def query_string(name: str, value: str | None) -> str:
    return "" if value is None else _string(name, value)
