"""Admin API models <-> protobuf, in one place.

Request bodies arrive validated (:mod:`gateway.admin.bodies`); this module only
moves their fields into the AdminService's requests, and the service's answers
into the response models of :mod:`gateway.admin.resources`. Every time is
RFC 3339 in UTC ("Z").
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from oauth2.v1 import admin_pb2, authorize_pb2, clients_pb2, token_pb2

from common.errors import InvalidRequest
from common.timeutil import from_timestamp
from common.vocabulary import AuditOutcome
from gateway.admin import bodies, resources

OUTCOMES = tuple(AuditOutcome)


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


def _time(message: Message, name: str) -> str | None:
    return rfc3339(getattr(message, name)) if message.HasField(name) else None


# --- protobuf -> resources -----------------------------------------------------------


def client_of(client: clients_pb2.Client, client_secret: str = "") -> resources.ClientWithSecret:
    """``client_secret`` only right after it was generated (RFC 7591 section
    3.2.1: ``client_secret_expires_at`` 0 = never)."""
    expires = from_timestamp(client.client_secret_expires_at)
    return resources.ClientWithSecret(
        client_id=client.client_id,
        client_secret=client_secret or None,
        client_name=client.client_name,
        grant_types=list(client.grant_types),
        redirect_uris=list(client.redirect_uris),
        response_types=list(client.response_types),
        scope=client.scope,
        token_endpoint_auth_method=client.token_endpoint_auth_method,
        require_pkce=client.require_pkce,
        post_logout_redirect_uris=list(client.post_logout_redirect_uris),
        always_issue_refresh_token=client.always_issue_refresh_token,
        access_token_signing_alg=client.access_token_signing_alg,
        contacts=list(client.contacts),
        client_uri=client.client_uri,
        logo_uri=client.logo_uri,
        dynamically_registered=client.dynamically_registered,
        revision=client.revision,
        allowed_cors_origins=list(client.allowed_cors_origins),
        introspection=client.introspection,
        enabled=client.enabled,
        require_pushed_authorization_requests=client.require_pushed_authorization_requests,
        jwks=json.loads(client.jwks) if client.jwks else None,
        jwks_uri=client.jwks_uri,
        require_signed_request_object=client.require_signed_request_object,
        request_object_signing_alg=client.request_object_signing_alg,
        backchannel_logout_uri=client.backchannel_logout_uri,
        backchannel_logout_session_required=client.backchannel_logout_session_required,
        token_exchange_audiences=list(client.token_exchange_audiences),
        dpop_bound_access_tokens=client.dpop_bound_access_tokens,
        tls_client_auth_subject_dn=client.tls_client_auth_subject_dn,
        tls_client_auth_san_dns=client.tls_client_auth_san_dns,
        tls_client_auth_san_uri=client.tls_client_auth_san_uri,
        tls_client_auth_san_ip=client.tls_client_auth_san_ip,
        tls_client_auth_san_email=client.tls_client_auth_san_email,
        tls_client_certificate_bound_access_tokens=client.tls_client_certificate_bound_access_tokens,
        client_secret_expires_at=int(expires.timestamp()) if expires else 0,
        created_at=_time(client, "created_at"),
        updated_at=_time(client, "updated_at"),
    )


def resource_of(resource: clients_pb2.Resource) -> resources.ResourceServer:
    return resources.ResourceServer(
        identifier=resource.identifier,
        name=resource.name,
        scopes=list(resource.scopes),
        access_token_ttl_seconds=resource.access_token_ttl_seconds,
        introspection_client_id=resource.introspection_client_id,
        created_at=_time(resource, "created_at"),
        updated_at=_time(resource, "updated_at"),
    )


def user_of(user: authorize_pb2.User) -> resources.User:
    """Never a password hash: the contract does not carry one."""
    return resources.User(
        user_id=user.user_id,
        username=user.username,
        email=user.email,
        email_verified=user.email_verified,
        enabled=user.enabled,
        given_name=user.given_name,
        family_name=user.family_name,
        name=user.name,
        provider=user.provider or None,
        provider_user_id=user.provider_user_id if user.provider else None,
        created_at=_time(user, "created_at"),
        updated_at=_time(user, "updated_at"),
    )


def key_of(key: token_pb2.SigningKey) -> resources.Key:
    return resources.Key(
        kid=key.kid,
        alg=key.alg,
        status=key.status,
        created_at=_time(key, "created_at"),
        retired_at=_time(key, "retired_at"),
    )


def family_of(grant: token_pb2.Grant) -> resources.Family:
    """A refresh-token family: one consented grant's chain of rotated tokens."""
    return resources.Family(
        family_id=grant.family_id,
        client_id=grant.client_id,
        user_id=grant.subject,
        scope=grant.scope,
        created_at=_time(grant, "created_at"),
        last_used_at=_time(grant, "last_used_at"),
        expires_at=_time(grant, "expires_at"),
    )


def consent_of(consent: authorize_pb2.Consent) -> resources.Consent:
    return resources.Consent(
        client_id=consent.client_id,
        user_id=consent.user_id,
        scopes=list(consent.scopes),
        granted_at=_time(consent, "granted_at"),
    )


def event_of(event: admin_pb2.AuditEvent) -> resources.AuditEvent:
    """``actor`` is the actor's id (``client:<id>``, ``cli``, ``system``,
    ``user:<id>``), the value the ``actor`` filter takes."""
    return resources.AuditEvent(
        event_id=event.event_id,
        action=event.action,
        actor=event.actor.id,
        remote_addr=event.actor.remote_addr,
        target=event.target,
        outcome=event.outcome,
        trace_id=event.trace_id,
        source=event.source,
        details=dict(event.details),
        time=_time(event, "time"),
    )


def stats_of(stats: admin_pb2.Stats) -> resources.Stats:
    return resources.Stats(
        clients=stats.clients,
        users=stats.users,
        active_grants=stats.active_grants,
        tokens_issued_by_grant_type=dict(stats.tokens_issued_by_grant_type),
        since=_time(stats, "since"),
    )


# --- bodies -> protobuf --------------------------------------------------------------


def client_metadata(body: bodies.ClientMetadata) -> tuple[clients_pb2.ClientMetadata, list[str]]:
    """The ClientMetadata a body describes and the paths it sets (an update mask).
    Only the fields sent are set, so an explicit ``require_pkce: false`` differs
    from an absent one."""
    paths = body.metadata_set()
    metadata = clients_pb2.ClientMetadata(
        client_name=body.client_name,
        scope=body.scope,
        token_endpoint_auth_method=body.token_endpoint_auth_method,
        access_token_signing_alg=body.access_token_signing_alg,
        client_uri=body.client_uri,
        logo_uri=body.logo_uri,
        redirect_uris=body.redirect_uris,
        grant_types=body.grant_types,
        response_types=body.response_types,
        post_logout_redirect_uris=body.post_logout_redirect_uris,
        contacts=body.contacts,
        require_pkce=body.require_pkce if "require_pkce" in paths else None,
        always_issue_refresh_token=body.always_issue_refresh_token,
        allowed_cors_origins=body.allowed_cors_origins,
        introspection=body.introspection,
        enabled=body.enabled if "enabled" in paths else None,
        require_pushed_authorization_requests=body.require_pushed_authorization_requests,
        # JSON text; the clients service validates it and keeps it canonical. null: none.
        jwks=json_text(body.jwks) if body.jwks is not None else "",
        jwks_uri=body.jwks_uri,
        require_signed_request_object=body.require_signed_request_object,
        request_object_signing_alg=body.request_object_signing_alg,
        backchannel_logout_uri=body.backchannel_logout_uri,
        backchannel_logout_session_required=body.backchannel_logout_session_required,
        token_exchange_audiences=body.token_exchange_audiences,
        dpop_bound_access_tokens=body.dpop_bound_access_tokens,
        tls_client_auth_subject_dn=body.tls_client_auth_subject_dn,
        tls_client_auth_san_dns=body.tls_client_auth_san_dns,
        tls_client_auth_san_uri=body.tls_client_auth_san_uri,
        tls_client_auth_san_ip=body.tls_client_auth_san_ip,
        tls_client_auth_san_email=body.tls_client_auth_san_email,
        tls_client_certificate_bound_access_tokens=body.tls_client_certificate_bound_access_tokens,
    )
    return metadata, paths


def json_text(value: Any) -> str:
    """A JSON value as compact text (a client's jwks on the wire)."""
    return json.dumps(value, separators=(",", ":"))


def create_client_request(body: bodies.ClientCreate) -> clients_pb2.CreateClientRequest:
    """Client metadata, plus optionally an operator-chosen ``client_id`` and an
    imported ``client_secret``."""
    metadata, _ = client_metadata(body)
    return clients_pb2.CreateClientRequest(
        metadata=metadata, client_id=body.client_id, client_secret=body.client_secret
    )


def update_client_request(
    client_id: str, body: bodies.ClientUpdate
) -> clients_pb2.UpdateClientRequest:
    """A PATCH replaces the fields it names, and only those (never an empty mask,
    which the contract reads as "replace everything")."""
    metadata, paths = client_metadata(body)
    if not paths:
        raise InvalidRequest("No client metadata to update")
    return clients_pb2.UpdateClientRequest(
        client_id=client_id, metadata=metadata, update_mask=paths
    )


def resource_message(identifier: str, body: bodies.ResourceFields) -> clients_pb2.Resource:
    return clients_pb2.Resource(
        identifier=identifier,
        name=body.name,
        scopes=body.scopes,
        access_token_ttl_seconds=body.access_token_ttl_seconds,
        introspection_client_id=body.introspection_client_id,
    )


def create_resource_request(body: bodies.ResourceCreate) -> clients_pb2.CreateResourceRequest:
    return clients_pb2.CreateResourceRequest(resource=resource_message(body.identifier, body))


def update_resource_request(
    identifier: str, body: bodies.ResourceUpdate
) -> clients_pb2.UpdateResourceRequest:
    """A PATCH replaces the fields it names, and only those (never an empty mask,
    which the contract reads as "replace everything")."""
    paths = body.fields_set()
    if not paths:
        raise InvalidRequest("No resource fields to update")
    return clients_pb2.UpdateResourceRequest(
        resource=resource_message(identifier, body), update_mask=paths
    )


def create_user_request(body: bodies.UserCreate) -> authorize_pb2.CreateUserRequest:
    return authorize_pb2.CreateUserRequest(
        username=body.username,
        password=body.password,
        email=body.email,
        given_name=body.given_name,
        family_name=body.family_name,
    )


def update_user_request(user_id: str, body: bodies.UserUpdate) -> authorize_pb2.UpdateUserRequest:
    paths = body.replaced()
    if not paths:
        raise InvalidRequest("No user fields to update")
    # The mask says which fields count; the others hold their empty defaults.
    user = authorize_pb2.User(
        email=body.email,
        given_name=body.given_name,
        family_name=body.family_name,
        name=body.name,
        email_verified=body.email_verified,
        enabled=body.enabled,
    )
    return authorize_pb2.UpdateUserRequest(user_id=user_id, user=user, update_mask=paths)


def rotate_key_request(body: bodies.KeyRotation) -> token_pb2.RotateSigningKeyRequest:
    return token_pb2.RotateSigningKeyRequest(alg=body.alg)


def initial_access_token_request(
    body: bodies.RegistrationTokenRequest,
) -> clients_pb2.CreateInitialAccessTokenRequest:
    """``expires_in`` seconds (0: the server default) and ``max_uses`` (0: one)."""
    return clients_pb2.CreateInitialAccessTokenRequest(
        expires_in=body.expires_in, max_uses=body.max_uses
    )
