"""TokenService over gRPC: proto -> domain, one domain call, domain -> proto."""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf import empty_pb2
from oauth2.v1 import common_pb2, token_pb2, token_pb2_grpc

from common.errors import InvalidDpopProof
from common.grpc_types import Context
from common.timeutil import to_timestamp
from services.token.domain.backchannel_logout import BackchannelLogout
from services.token.domain.dpop import DpopProof, DpopVerifier
from services.token.domain.grant_admin import GrantAdministration
from services.token.domain.grants.base import TokenRequest
from services.token.domain.id_token import IdTokenHintDecoder
from services.token.domain.introspection import Introspection, IntrospectionResult
from services.token.domain.keys import KeyManager, SigningKey
from services.token.domain.ports import ClientCredentials, GrantFamily
from services.token.domain.revocation import Revocation
from services.token.domain.stats import TokenStats
from services.token.domain.token_endpoint import TokenEndpoint


@dataclass(frozen=True)
class TokenDomain:
    """Everything the servicer calls into."""

    token_endpoint: TokenEndpoint
    introspection: Introspection
    revocation: Revocation
    keys: KeyManager
    id_token_hints: IdTokenHintDecoder
    grants: GrantAdministration
    stats: TokenStats
    # OpenID Connect Back-Channel Logout 1.0 (EndSession).
    logout: BackchannelLogout
    # RFC 9449 (CheckDpopProof); None when DPoP is off.
    dpop: DpopVerifier | None = None


def credentials_from_proto(message: common_pb2.ClientCredentials) -> ClientCredentials:
    return ClientCredentials(
        client_id=message.client_id,
        client_secret=message.client_secret,
        auth_method=message.auth_method,
        client_assertion=message.client_assertion,
        client_certificate=message.client_certificate,
    )


def dpop_from_proto(message: token_pb2.DpopProof) -> DpopProof | None:
    """None when the request carried no DPoP header."""
    if not message.proof:
        return None
    return DpopProof(proof=message.proof, htm=message.htm, htu=message.htu)


def introspection_to_proto(result: IntrospectionResult) -> token_pb2.IntrospectResponse:
    if not result.active:
        return token_pb2.IntrospectResponse(active=False)
    return token_pb2.IntrospectResponse(
        active=True,
        scope=result.scope,
        client_id=result.client_id,
        token_type=result.token_type,
        exp=result.exp,
        iat=result.iat,
        sub=result.sub,
        aud=list(result.aud),
        iss=result.iss,
        jti=result.jti,
        auth_time=result.auth_time,
        cnf_jkt=result.cnf_jkt,
        cnf_x5t_s256=result.cnf_x5t_s256,
    )


def jwk_to_proto(jwk: dict[str, str]) -> token_pb2.JsonWebKey:
    fields = ("kty", "kid", "use", "alg", "crv", "x", "y", "n", "e")
    return token_pb2.JsonWebKey(**{name: jwk[name] for name in fields if name in jwk})


def signing_key_to_proto(key: SigningKey) -> token_pb2.SigningKey:
    return token_pb2.SigningKey(
        kid=key.kid,
        alg=key.alg,
        status=key.status,
        created_at=to_timestamp(key.created_at),
        retired_at=to_timestamp(key.retired_at),
        public_key=jwk_to_proto(key.public_jwk),
    )


def grant_to_proto(family: GrantFamily) -> token_pb2.Grant:
    return token_pb2.Grant(
        family_id=family.family_id,
        client_id=family.client_id,
        subject=family.subject,
        scope=" ".join(family.scope),
        created_at=to_timestamp(family.created_at),
        last_used_at=to_timestamp(family.last_used_at),
        expires_at=to_timestamp(family.expires_at),
    )


class TokenServicer(token_pb2_grpc.TokenServiceServicer):
    """oauth2.v1.TokenService: RFC 6749 section 3.2, RFC 7662, RFC 7009, RFC 7517, RFC 6750,
    OpenID Connect RP-Initiated Logout 1.0 section 2."""

    def __init__(self, domain: TokenDomain) -> None:
        self._domain = domain

    async def Exchange(
        self, request: token_pb2.TokenRequest, context: Context
    ) -> token_pb2.TokenResponse:
        response = await self._domain.token_endpoint.exchange(
            TokenRequest(
                grant_type=request.grant_type,
                credentials=credentials_from_proto(request.credentials),
                scope=request.scope,
                code=request.code,
                redirect_uri=request.redirect_uri,
                code_verifier=request.code_verifier,
                refresh_token=request.refresh_token,
                resource=tuple(request.resource),
                device_code=request.device_code,
                subject_token=request.subject_token,
                subject_token_type=request.subject_token_type,
                actor_token=request.actor_token,
                actor_token_type=request.actor_token_type,
                requested_token_type=request.requested_token_type,
                audience=tuple(request.audience),
                dpop=dpop_from_proto(request.dpop),
            )
        )
        return token_pb2.TokenResponse(
            access_token=response.access_token,
            token_type=response.token_type,
            expires_in=response.expires_in,
            scope=response.scope,
            refresh_token=response.refresh_token,
            id_token=response.id_token,
            issued_token_type=response.issued_token_type,
            dpop_nonce=response.dpop_nonce,
        )

    async def Introspect(
        self, request: token_pb2.IntrospectRequest, context: Context
    ) -> token_pb2.IntrospectResponse:
        result = await self._domain.introspection.introspect(
            request.token, request.token_type_hint, credentials_from_proto(request.credentials)
        )
        return introspection_to_proto(result)

    async def Revoke(self, request: token_pb2.RevokeRequest, context: Context) -> empty_pb2.Empty:
        await self._domain.revocation.revoke(
            request.token, request.token_type_hint, credentials_from_proto(request.credentials)
        )
        return empty_pb2.Empty()

    async def VerifyAccessToken(
        self, request: token_pb2.VerifyAccessTokenRequest, context: Context
    ) -> token_pb2.IntrospectResponse:
        result = await self._domain.introspection.verify_bearer(
            request.token,
            tuple(request.required_scopes),
            request.audience,
            require_user=request.require_user,
            scheme=request.scheme or "Bearer",
            dpop=dpop_from_proto(request.dpop),
            client_certificate=request.client_certificate,
        )
        return introspection_to_proto(result)

    async def CheckDpopProof(
        self, request: token_pb2.DpopProof, context: Context
    ) -> token_pb2.DpopKey:
        proof = dpop_from_proto(request)
        if proof is None:
            raise InvalidDpopProof("Missing DPoP proof")
        if self._domain.dpop is None:
            raise InvalidDpopProof("DPoP is not enabled on this server")
        proven = await self._domain.dpop.verify(proof)
        return token_pb2.DpopKey(jkt=proven.jkt, nonce=proven.next_nonce)

    async def DecodeIdTokenHint(
        self, request: token_pb2.DecodeIdTokenHintRequest, context: Context
    ) -> token_pb2.IdTokenHint:
        hint = await self._domain.id_token_hints.decode(request.id_token_hint)
        return token_pb2.IdTokenHint(sub=hint.sub, client_id=hint.client_id)

    async def GetJwks(self, request: empty_pb2.Empty, context: Context) -> token_pb2.Jwks:
        jwks = await self._domain.keys.published_jwks()
        return token_pb2.Jwks(keys=[jwk_to_proto(jwk) for jwk in jwks])

    async def ListSigningKeys(
        self, request: empty_pb2.Empty, context: Context
    ) -> token_pb2.ListSigningKeysResponse:
        keys = await self._domain.keys.list_keys()
        return token_pb2.ListSigningKeysResponse(keys=[signing_key_to_proto(k) for k in keys])

    async def RotateSigningKey(
        self, request: token_pb2.RotateSigningKeyRequest, context: Context
    ) -> token_pb2.SigningKey:
        return signing_key_to_proto(await self._domain.keys.rotate(request.alg))

    async def RetireSigningKey(
        self, request: token_pb2.RetireSigningKeyRequest, context: Context
    ) -> token_pb2.SigningKey:
        return signing_key_to_proto(await self._domain.keys.retire(request.kid))

    async def ListGrants(
        self, request: token_pb2.ListGrantsRequest, context: Context
    ) -> token_pb2.ListGrantsResponse:
        page = await self._domain.grants.list(
            subject=request.subject,
            client_id=request.client_id,
            page_size_requested=request.page.page_size,
            page_token=request.page.page_token,
        )
        return token_pb2.ListGrantsResponse(
            grants=[grant_to_proto(family) for family in page.grants],
            page=common_pb2.PageResponse(
                next_page_token=page.next_page_token, total_size=page.total_size
            ),
        )

    async def RevokeGrants(
        self, request: token_pb2.RevokeGrantsRequest, context: Context
    ) -> token_pb2.RevokeGrantsResponse:
        revoked = await self._domain.grants.revoke(
            family_id=request.family_id,
            subject=request.subject,
            client_id=request.client_id,
            reason=request.reason,
        )
        return token_pb2.RevokeGrantsResponse(families_revoked=revoked)

    async def EndSession(
        self, request: token_pb2.EndSessionRequest, context: Context
    ) -> token_pb2.EndSessionResponse:
        revoked, queued = await self._domain.logout.end_session(request.sid, request.subject)
        return token_pb2.EndSessionResponse(families_revoked=revoked, logout_tokens_queued=queued)

    async def GetTokenStats(
        self, request: empty_pb2.Empty, context: Context
    ) -> token_pb2.TokenStats:
        stats = await self._domain.stats.read()
        return token_pb2.TokenStats(
            issued_by_grant_type=stats.issued_by_grant_type,
            active_grants=stats.active_grants,
            since=to_timestamp(stats.since),
        )
