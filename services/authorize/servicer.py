"""AuthorizeService over gRPC: proto -> domain, one domain call, domain -> proto."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TypeAlias

from google.protobuf import empty_pb2
from grpc.aio import ServicerContext
from oauth2.v1 import authorize_pb2, authorize_pb2_grpc, common_pb2

from common.timeutil import from_timestamp, to_timestamp
from services.authorize.domain import (
    AuthorizationCodes,
    AuthorizationRequestValidator,
    ConsentRegistry,
    PasswordLogin,
    UserDirectory,
)
from services.authorize.domain.model import (
    AuthorizationCode,
    AuthorizationRequest,
    CodeRequest,
    Consent,
    NewUser,
    User,
    UserChanges,
    ValidatedAuthorizationRequest,
)
from services.authorize.metrics import counting_login

Context: TypeAlias = ServicerContext[Any, Any]


@dataclass(frozen=True, slots=True)
class AuthorizeDomain:
    """The domain objects the servicer calls, wired by app.py (or a test)."""

    users: UserDirectory
    login: PasswordLogin
    authorization_requests: AuthorizationRequestValidator
    consents: ConsentRegistry
    codes: AuthorizationCodes


def user_to_proto(user: User) -> authorize_pb2.User:
    """The user as the contract shows it; the password hash stays inside."""
    return authorize_pb2.User(
        user_id=user.user_id,
        username=user.username,
        email=user.email,
        email_verified=user.email_verified,
        enabled=user.enabled,
        given_name=user.given_name,
        family_name=user.family_name,
        name=user.name,
        created_at=to_timestamp(user.created_at),
        updated_at=to_timestamp(user.updated_at),
        provider=user.provider,
        provider_user_id=user.provider_user_id,
    )


def request_from_proto(message: authorize_pb2.AuthorizationRequest) -> AuthorizationRequest:
    return AuthorizationRequest(
        response_type=message.response_type,
        client_id=message.client_id,
        redirect_uri=message.redirect_uri,
        scope=message.scope,
        state=message.state,
        nonce=message.nonce,
        code_challenge=message.code_challenge,
        code_challenge_method=message.code_challenge_method,
        prompt=message.prompt,
        max_age=message.max_age,
        response_mode=message.response_mode,
        login_hint=message.login_hint,
        duplicated_parameters=tuple(message.duplicated_parameters),
    )


def validated_to_proto(
    validated: ValidatedAuthorizationRequest, request: authorize_pb2.AuthorizationRequest
) -> authorize_pb2.ValidatedAuthorizationRequest:
    return authorize_pb2.ValidatedAuthorizationRequest(
        request=request,
        redirect_uri=validated.redirect_uri,
        client_name=validated.client.client_name,
        scopes=validated.scopes,
        require_pkce=validated.require_pkce,
        error=validated.error,
        error_description=validated.error_description,
        redirect_uri_in_request=validated.redirect_uri_in_request,
        client_uri=validated.client.client_uri,
        logo_uri=validated.client.logo_uri,
    )


def consent_to_proto(consent: Consent) -> authorize_pb2.Consent:
    return authorize_pb2.Consent(
        client_id=consent.client_id,
        user_id=consent.user_id,
        scopes=consent.scopes,
        granted_at=to_timestamp(consent.granted_at),
        exists=True,
    )


def grant_to_proto(code: AuthorizationCode) -> authorize_pb2.AuthorizationCodeGrant:
    return authorize_pb2.AuthorizationCodeGrant(
        client_id=code.client_id,
        user_id=code.user_id,
        redirect_uri=code.redirect_uri,
        redirect_uri_in_request=code.redirect_uri_in_request,
        scopes=code.scopes,
        code_challenge=code.code_challenge,
        code_challenge_method=code.code_challenge_method,
        nonce=code.nonce,
        auth_time=to_timestamp(code.auth_time),
        code_id=code.code_id,
        amr=code.amr,
    )


def _page(next_page_token: str, total_size: int) -> common_pb2.PageResponse:
    return common_pb2.PageResponse(next_page_token=next_page_token, total_size=total_size)


class AuthorizeServicer(authorize_pb2_grpc.AuthorizeServiceServicer):
    """oauth2.v1.AuthorizeService (RFC 6749 section 4.1, RFC 7636, OpenID Connect Core 3.1)."""

    def __init__(self, domain: AuthorizeDomain) -> None:
        self._domain = domain

    # --- users ---

    async def CreateUser(
        self, request: authorize_pb2.CreateUserRequest, context: Context
    ) -> authorize_pb2.User:
        user = await self._domain.users.create(
            NewUser(
                username=request.username,
                password=request.password,
                email=request.email,
                given_name=request.given_name,
                family_name=request.family_name,
            )
        )
        return user_to_proto(user)

    async def GetUser(
        self, request: authorize_pb2.GetUserRequest, context: Context
    ) -> authorize_pb2.User:
        user = await self._domain.users.find(user_id=request.user_id, username=request.username)
        return user_to_proto(user)

    async def ListUsers(
        self, request: authorize_pb2.ListUsersRequest, context: Context
    ) -> authorize_pb2.ListUsersResponse:
        page = await self._domain.users.list(
            page_size_requested=request.page.page_size,
            page_token=request.page.page_token,
            search=request.search,
        )
        return authorize_pb2.ListUsersResponse(
            users=[user_to_proto(user) for user in page.users],
            page=_page(page.next_page_token, page.total_size),
        )

    async def UpdateUser(
        self, request: authorize_pb2.UpdateUserRequest, context: Context
    ) -> authorize_pb2.User:
        given = request.user
        changes = UserChanges(
            enabled=given.enabled,
            email=given.email,
            email_verified=given.email_verified,
            given_name=given.given_name,
            family_name=given.family_name,
            name=given.name,
        )
        user = await self._domain.users.update(request.user_id, changes, request.update_mask)
        return user_to_proto(user)

    async def SetPassword(
        self, request: authorize_pb2.SetPasswordRequest, context: Context
    ) -> empty_pb2.Empty:
        await self._domain.users.set_password(request.user_id, request.password)
        return empty_pb2.Empty()

    async def DeleteUser(
        self, request: authorize_pb2.DeleteUserRequest, context: Context
    ) -> empty_pb2.Empty:
        await self._domain.users.delete(request.user_id)
        return empty_pb2.Empty()

    async def Login(
        self, request: authorize_pb2.LoginRequest, context: Context
    ) -> authorize_pb2.LoginResponse:
        with counting_login():
            result = await self._domain.login.login(
                request.username, request.password, request.remote_addr
            )
        return authorize_pb2.LoginResponse(
            user=user_to_proto(result.user),
            auth_time=to_timestamp(result.auth_time),
            amr=result.amr,
        )

    # --- authorization requests ---

    async def ValidateAuthorizationRequest(
        self, request: authorize_pb2.AuthorizationRequest, context: Context
    ) -> authorize_pb2.ValidatedAuthorizationRequest:
        validated = await self._domain.authorization_requests.validate(request_from_proto(request))
        return validated_to_proto(validated, request)

    # --- consent ---

    async def GetConsent(
        self, request: authorize_pb2.GetConsentRequest, context: Context
    ) -> authorize_pb2.Consent:
        consent = await self._domain.consents.get(request.client_id, request.user_id)
        if consent is None:
            return authorize_pb2.Consent(
                client_id=request.client_id, user_id=request.user_id, exists=False
            )
        return consent_to_proto(consent)

    async def GrantConsent(
        self, request: authorize_pb2.GrantConsentRequest, context: Context
    ) -> authorize_pb2.Consent:
        consent = await self._domain.consents.grant(
            request.client_id, request.user_id, request.scopes
        )
        return consent_to_proto(consent)

    async def ListConsents(
        self, request: authorize_pb2.ListConsentsRequest, context: Context
    ) -> authorize_pb2.ListConsentsResponse:
        page = await self._domain.consents.list(
            user_id=request.user_id,
            client_id=request.client_id,
            page_size_requested=request.page.page_size,
            page_token=request.page.page_token,
        )
        return authorize_pb2.ListConsentsResponse(
            consents=[consent_to_proto(consent) for consent in page.consents],
            page=_page(page.next_page_token, page.total_size),
        )

    async def RevokeConsent(
        self, request: authorize_pb2.RevokeConsentRequest, context: Context
    ) -> empty_pb2.Empty:
        await self._domain.consents.revoke(request.client_id, request.user_id)
        return empty_pb2.Empty()

    # --- authorization codes ---

    async def IssueAuthorizationCode(
        self, request: authorize_pb2.IssueAuthorizationCodeRequest, context: Context
    ) -> authorize_pb2.IssueAuthorizationCodeResponse:
        issued = await self._domain.codes.issue(
            CodeRequest(
                client_id=request.client_id,
                user_id=request.user_id,
                redirect_uri=request.redirect_uri,
                redirect_uri_in_request=request.redirect_uri_in_request,
                scopes=tuple(request.scopes),
                code_challenge=request.code_challenge,
                code_challenge_method=request.code_challenge_method,
                nonce=request.nonce,
                auth_time=from_timestamp(request.auth_time)
                if request.HasField("auth_time")
                else None,
                amr=tuple(request.amr),
            )
        )
        return authorize_pb2.IssueAuthorizationCodeResponse(
            code=issued.code, expires_at=to_timestamp(issued.expires_at)
        )

    async def ConsumeAuthorizationCode(
        self, request: authorize_pb2.ConsumeAuthorizationCodeRequest, context: Context
    ) -> authorize_pb2.AuthorizationCodeGrant:
        code = await self._domain.codes.consume(request.code, request.client_id)
        return grant_to_proto(code)

    # --- claims ---

    async def GetUserClaims(
        self, request: authorize_pb2.GetUserClaimsRequest, context: Context
    ) -> authorize_pb2.UserClaims:
        claims = await self._domain.users.claims(request.user_id, request.scopes)
        return authorize_pb2.UserClaims(
            sub=claims.sub,
            claims_json=json.dumps(claims.claims, ensure_ascii=False, separators=(",", ":")),
            enabled=claims.enabled,
        )
