"""The token exchange grant (RFC 8693): a client that was shown a token trades it for
one meant for someone else (docs/signin.md, Token exchange).

Steps, each raising one error: ``subject_token`` and its type present ->
``actor_token`` and its type together or not at all -> ``requested_token_type``
one we issue (an access token) -> the subject token accepted
(services/token/domain/subject_tokens.py; invalid_request, section 2.2.2) -> the
actor token likewise -> at most one target, ``resource`` or ``audience``, and it in
the client's ``token_exchange_audiences`` (invalid_target) -> the scope no wider
than the subject token's (invalid_scope) -> the user still enabled -> issue.

The issued access token is never wider than the subject token: its scopes are a
subset of the subject's (a registered resource narrows them to its own), it expires
no later than an access or ID subject token does, it keeps the subject's grant
family (``grant_id``, so revoking the family or the user ends it too) and its
delegation chain. Without a target it stays for the subject token's audience.

Delegation (section 1.1): with an ``actor_token`` the token carries
``act: {"sub": <actor>, "client_id": <actor's client>}``, and the subject token's
own ``act`` nested inside it (section 4.1, a chain of delegation). Without one it is
impersonation: the token is the subject's, with the subject's chain if it had one.

No refresh token is issued (section 2.2.1: "MAY"): the client exchanges again.
Every exchange is audited, refusals included (``token.exchanged``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from common.errors import InvalidRequest, InvalidScope, InvalidTarget, OAuthError
from common.resources import ResourceInfo, scopes_for, single_resource
from common.scopes import format_scope, parse_scope
from common.vocabulary import CONFIDENTIAL_AUTH_METHODS, AuditOutcome, GrantType
from services.token.domain.grants.base import GrantServices, TokenRequest, TokenResponse
from services.token.domain.ports import AuthenticatedClient
from services.token.domain.subject_tokens import (
    ACTOR_TOKEN_TYPES,
    SUBJECT_TOKEN_TYPES,
    PresentedToken,
    SubjectTokens,
    TokenTypeUri,
)

# docs/operators.md, Audit events.
TOKEN_EXCHANGED = "token.exchanged"  # noqa: S105 - an event name


class TokenExchangeGrant:
    """RFC 8693 section 2: an access token for a subject token, narrowed."""

    GRANT_TYPE: ClassVar[str] = GrantType.TOKEN_EXCHANGE
    # Section 2.1.
    PARAMETERS: ClassVar[frozenset[str]] = frozenset(
        {
            "subject_token",
            "subject_token_type",
            "actor_token",
            "actor_token_type",
            "requested_token_type",
            "scope",
            "resource",
            "audience",
        }
    )
    # Section 5: the client is authenticated; exchanging is for confidential clients
    # (a public one cannot keep the trust a token exchange extends to it).
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[tuple[str, ...]] = CONFIDENTIAL_AUTH_METHODS

    def __init__(self, services: GrantServices) -> None:
        self._services = services

    async def create_token_response(
        self, client: AuthenticatedClient, request: TokenRequest
    ) -> TokenResponse:
        details: dict[str, str] = {
            "client_id": client.client_id,
            "subject_token_type": request.subject_token_type,
        }
        try:
            response = await self._exchange(client, request, details)
        except OAuthError as exc:
            self._services.audit.report(
                TOKEN_EXCHANGED,
                target=f"client:{client.client_id}",
                outcome=AuditOutcome.DENIED,
                details={**details, "error": exc.error, "reason": exc.description},
            )
            raise
        self._services.audit.report(
            TOKEN_EXCHANGED, target=f"client:{client.client_id}", details=details
        )
        return response

    async def _exchange(
        self, client: AuthenticatedClient, request: TokenRequest, details: dict[str, str]
    ) -> TokenResponse:
        tokens = self._subject_tokens()
        self.check_parameters(request)
        subject = await tokens.read(
            client, request.subject_token, request.subject_token_type, name="subject_token"
        )
        details["subject"] = subject.subject
        actor: PresentedToken | None = None
        if request.actor_token:
            actor = await tokens.read(
                client, request.actor_token, request.actor_token_type, name="actor_token"
            )
            details["actor"] = actor.subject
        target, audience = await self.resolve_target(client, subject, request)
        details["audience"] = audience if isinstance(audience, str) else " ".join(audience)
        scope = self.narrow_scope(subject, request.scope, target)
        if subject.carries_user:
            _claims, enabled = await self._services.users.claims(subject.subject, [])
            if not enabled:
                raise InvalidRequest("The subject token's user account is disabled")
        issued = self._services.access_tokens.issue(
            client_id=client.client_id,
            subject=subject.subject,
            scope=scope,
            alg=client.access_token_signing_alg,
            extra_claims=self.extra_claims(subject, actor),
            audience=audience,
            ttl_seconds=target.access_token_ttl_seconds if target is not None else 0,
            # Never outliving an access or ID subject token (0 for a refresh token).
            not_after=subject.expires_at,
            confirmation=request.confirmation,
        )
        details["scope"] = format_scope(scope)
        return TokenResponse(
            access_token=issued.token,
            token_type=issued.token_type,
            expires_in=issued.expires_in,
            scope=format_scope(scope),
            issued_token_type=TokenTypeUri.ACCESS_TOKEN,
        )

    def _subject_tokens(self) -> SubjectTokens:
        if self._services.subject_tokens is None:
            raise InvalidRequest("Token exchange is not configured on this server")
        return self._services.subject_tokens

    @staticmethod
    def check_parameters(request: TokenRequest) -> None:
        """Section 2.1: what must come, what must come together."""
        if not request.subject_token:
            raise InvalidRequest("Missing 'subject_token'")
        if not request.subject_token_type:
            raise InvalidRequest("Missing 'subject_token_type'")
        if request.subject_token_type not in SUBJECT_TOKEN_TYPES:
            raise InvalidRequest(f"Unsupported subject_token_type '{request.subject_token_type}'")
        if request.actor_token and not request.actor_token_type:
            raise InvalidRequest("'actor_token_type' is required with 'actor_token'")
        if request.actor_token_type and not request.actor_token:
            raise InvalidRequest("'actor_token_type' must not be sent without 'actor_token'")
        if request.actor_token and request.actor_token_type not in ACTOR_TOKEN_TYPES:
            raise InvalidRequest(f"Unsupported actor_token_type '{request.actor_token_type}'")
        requested = request.requested_token_type
        if requested and requested != TokenTypeUri.ACCESS_TOKEN:
            raise InvalidRequest(
                f"Unsupported requested_token_type '{requested}': only access tokens are issued"
            )

    async def resolve_target(
        self, client: AuthenticatedClient, subject: PresentedToken, request: TokenRequest
    ) -> tuple[ResourceInfo | None, str | list[str]]:
        """Section 2.1: the one ``resource`` or ``audience`` asked for, which the client's
        registration lets it exchange for (section 2.2.2: else invalid_target), as a
        registered resource when it is one; without either, the subject token's own
        audience (a refresh token's: its grant's resource, else the default)."""
        named = (*request.resource, *request.audience)
        if len(named) > 1:
            raise InvalidTarget("Name one resource or audience per token exchange")
        if not named:
            return await self.default_target(subject)
        if request.resource:
            single_resource(request.resource)  # an absolute URI without a fragment
        identifier = named[0]
        if identifier not in client.token_exchange_audiences:
            raise InvalidTarget(f"The client may not exchange tokens for {identifier[:100]!r}")
        resource = await self._registered(identifier)
        if resource is None and request.resource:
            raise InvalidTarget(f"Unknown resource {identifier[:100]!r}")
        return resource, identifier

    async def default_target(
        self, subject: PresentedToken
    ) -> tuple[ResourceInfo | None, str | list[str]]:
        if subject.token_type == TokenTypeUri.ACCESS_TOKEN:
            audience = list(subject.audience)
            return None, audience[0] if len(audience) == 1 else audience
        if not subject.resource:
            return None, ""
        resource = await self._registered(subject.resource)
        if resource is None:
            raise InvalidTarget("The resource of the subject token's grant is not registered")
        return resource, resource.identifier

    async def _registered(self, identifier: str) -> ResourceInfo | None:
        resources = self._services.resources
        return None if resources is None else await resources.get(identifier)

    @staticmethod
    def narrow_scope(
        subject: PresentedToken, requested: str, target: ResourceInfo | None
    ) -> list[str]:
        """The requested scopes, each held by the subject token (invalid_scope else), or
        all the subject's; a registered resource keeps only those it defines."""
        scope = parse_scope(requested)
        for token in scope:
            if token not in subject.scope:
                raise InvalidScope(f"Scope '{token}' is not held by the subject token")
        scope = scope or list(subject.scope)
        # A subject without scopes (an ID token) gives a token without scopes.
        return scopes_for(target, scope) if target is not None and scope else scope

    @staticmethod
    def extra_claims(subject: PresentedToken, actor: PresentedToken | None) -> dict[str, Any]:
        claims: dict[str, Any] = {}
        if subject.family_id:
            claims["grant_id"] = subject.family_id
        if subject.auth_time is not None:
            claims["auth_time"] = subject.auth_time
        if actor is not None:
            act: dict[str, Any] = {"sub": actor.subject, "client_id": actor.client_id}
            if subject.act:
                act["act"] = dict(subject.act)
            claims["act"] = act
        elif subject.act:
            claims["act"] = dict(subject.act)
        return claims
