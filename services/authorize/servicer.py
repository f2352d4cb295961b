"""AuthorizeService over gRPC: proto -> domain, one domain call, domain -> proto."""

from __future__ import annotations

import json
from dataclasses import dataclass

from google.protobuf import empty_pb2
from oauth2.v1 import authorize_pb2, authorize_pb2_grpc, common_pb2

from common.errors import InvalidRequest, Unimplemented
from common.grpc_types import Context
from common.timeutil import from_timestamp, to_timestamp
from services.authorize.domain import (
    AuthorizationCodes,
    ConsentRegistry,
    PasswordLogin,
    SignIn,
    UserDirectory,
)
from services.authorize.domain.authorization_request import (
    AuthorizationRequest,
    ValidatedAuthorizationRequest,
)
from services.authorize.domain.device_authorization import DeviceAuthorizations
from services.authorize.domain.model import (
    AuthorizationCode,
    ClientInfo,
    Consent,
    DeviceAuthorization,
    LoginResult,
    NewUser,
    PresentedCredentials,
    User,
    UserChanges,
)
from services.authorize.domain.pushed_requests import PushedRequests
from services.authorize.domain.sign_in import (
    BrowserSession,
    DeviceDone,
    Expired,
    Respond,
    ShowConsent,
    ShowLogin,
    Step,
)
from services.authorize.metrics import counting_login


@dataclass(frozen=True, slots=True)
class AuthorizeDomain:
    """The domain objects the servicer calls, wired by app.py (or a test)."""

    users: UserDirectory
    login: PasswordLogin
    sign_in: SignIn
    consents: ConsentRegistry
    codes: AuthorizationCodes
    #: RFC 9126; None where a test wires no KeyValue (the call is then unimplemented).
    pushed: PushedRequests | None = None
    #: RFC 8628; None where a test wires no client authentication (unimplemented).
    devices: DeviceAuthorizations | None = None


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


def login_to_proto(result: LoginResult) -> authorize_pb2.LoginResponse:
    return authorize_pb2.LoginResponse(
        user=user_to_proto(result.user),
        auth_time=to_timestamp(result.auth_time),
        amr=result.amr,
    )


def session_from_proto(message: authorize_pb2.BrowserSession) -> BrowserSession:
    return BrowserSession(
        binding=message.binding,
        subject=message.subject,
        auth_time=from_timestamp(message.auth_time) if message.HasField("auth_time") else None,
        amr=tuple(message.amr),
        sid=message.sid,
    )


def presented_credentials(message: common_pb2.ClientCredentials) -> PresentedCredentials:
    return PresentedCredentials(
        client_id=message.client_id,
        client_secret=message.client_secret,
        auth_method=message.auth_method,
        client_assertion=message.client_assertion,
    )


def client_display(client: ClientInfo) -> authorize_pb2.ClientDisplay:
    return authorize_pb2.ClientDisplay(
        client_id=client.client_id,
        client_name=client.client_name,
        # Pages link to it: nothing but https.
        client_uri=client.client_uri if client.client_uri.startswith("https://") else "",
        logo_uri=client.logo_uri,
    )


_REQUEST_PARAMETERS = frozenset(AuthorizationRequest.__dataclass_fields__)


def page_to_proto(
    page: authorize_pb2.LoginPage | authorize_pb2.ConsentPage,
    validated: ValidatedAuthorizationRequest,
) -> None:
    """The client and redirect URI, and every page field named like a request
    parameter filled with that parameter (docs/signin.md, "Adding a parameter")."""
    page.client.CopyFrom(client_display(validated.client))
    page.redirect_uri = validated.redirect_uri
    for field in page.DESCRIPTOR.fields:
        if field.name in _REQUEST_PARAMETERS:
            setattr(page, field.name, getattr(validated.request, field.name))


def step_to_proto(step: Step) -> authorize_pb2.Interaction:
    interaction = authorize_pb2.Interaction()
    match step:
        case ShowLogin():
            interaction.interaction_id = step.interaction_id
            page_to_proto(interaction.login, step.validated)
        case ShowConsent():
            interaction.interaction_id = step.interaction_id
            page_to_proto(interaction.consent, step.validated)
            interaction.consent.scopes.extend(
                authorize_pb2.ScopeDescription(scope=scope, description=description)
                for scope, description in step.scopes
            )
            interaction.consent.device = step.device
        case Respond(form_post=True):
            interaction.response.form_post.action = step.redirect_uri
            interaction.response.form_post.parameters.extend(
                authorize_pb2.QueryParameter(name=name, value=value)
                for name, value in step.parameters
            )
        case Respond():
            interaction.response.location = step.location
        case DeviceDone():
            interaction.device.client.CopyFrom(client_display(step.client))
            interaction.device.approved = step.approved
            interaction.device.message = step.message
        case Expired():
            interaction.expired.SetInParent()
            if step.client is not None:
                interaction.expired.client.CopyFrom(client_display(step.client))
    return interaction


def consent_to_proto(consent: Consent) -> authorize_pb2.Consent:
    return authorize_pb2.Consent(
        client_id=consent.client_id,
        user_id=consent.user_id,
        scopes=consent.scopes,
        granted_at=to_timestamp(consent.granted_at),
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
        resource=code.resource,
        sid=code.sid,
        dpop_jkt=code.dpop_jkt,
    )


def device_grant_to_proto(found: DeviceAuthorization) -> authorize_pb2.AuthorizationCodeGrant:
    """A redeemed device authorization as the token service takes a person's grant:
    no redirect URI, no PKCE, no nonce; ``code_id`` names the grant family."""
    return authorize_pb2.AuthorizationCodeGrant(
        client_id=found.client_id,
        user_id=found.subject,
        scopes=found.scopes,
        auth_time=to_timestamp(found.auth_time),
        code_id=found.device_key,
        amr=found.amr,
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
        return login_to_proto(result)

    # --- the authorization endpoint (docs/signin.md) ---

    async def StartAuthorization(
        self, request: authorize_pb2.StartAuthorizationRequest, context: Context
    ) -> authorize_pb2.Interaction:
        step = await self._domain.sign_in.start(
            [(parameter.name, parameter.value) for parameter in request.parameters],
            session_from_proto(request.session),
        )
        return step_to_proto(step)

    async def PushAuthorizationRequest(
        self, request: authorize_pb2.PushAuthorizationRequestRequest, context: Context
    ) -> authorize_pb2.PushedAuthorizationRequest:
        if self._domain.pushed is None:
            raise Unimplemented("Pushed authorization requests are not configured")
        pushed = await self._domain.pushed.push(
            presented_credentials(request.credentials),
            [(parameter.name, parameter.value) for parameter in request.parameters],
            dpop_jkt=request.dpop_jkt,
        )
        return authorize_pb2.PushedAuthorizationRequest(
            request_uri=pushed.request_uri, expires_in=pushed.expires_in
        )

    async def CompleteLogin(
        self, request: authorize_pb2.CompleteLoginRequest, context: Context
    ) -> authorize_pb2.LoginOutcome:
        with counting_login() as attempt:
            outcome = await self._domain.sign_in.complete_login(
                request.interaction_id,
                session_from_proto(request.session),
                request.username,
                request.password,
                request.remote_addr,
            )
            attempt.made = outcome.signed_in is not None
        answer = authorize_pb2.LoginOutcome(next=step_to_proto(outcome.next))
        if outcome.signed_in is not None:
            answer.signed_in.CopyFrom(login_to_proto(outcome.signed_in))
        return answer

    async def CompleteConsent(
        self, request: authorize_pb2.CompleteConsentRequest, context: Context
    ) -> authorize_pb2.Interaction:
        decision = authorize_pb2.CompleteConsentRequest.Decision
        if request.decision not in (decision.APPROVE, decision.DENY):
            raise InvalidRequest("Missing 'decision': APPROVE or DENY")
        step = await self._domain.sign_in.complete_consent(
            request.interaction_id,
            session_from_proto(request.session),
            approve=request.decision == decision.APPROVE,
            scopes=request.scopes,
        )
        return step_to_proto(step)

    # --- consent ---

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

    async def RevokeConsents(
        self, request: authorize_pb2.RevokeConsentsRequest, context: Context
    ) -> authorize_pb2.RevokeConsentsResponse:
        revoked = await self._domain.consents.revoke_all(
            client_id=request.client_id, user_id=request.user_id
        )
        return authorize_pb2.RevokeConsentsResponse(consents_revoked=revoked)

    # --- authorization codes ---

    async def ConsumeAuthorizationCode(
        self, request: authorize_pb2.ConsumeAuthorizationCodeRequest, context: Context
    ) -> authorize_pb2.AuthorizationCodeGrant:
        code = await self._domain.codes.consume(request.code, request.client_id)
        return grant_to_proto(code)

    # --- the device authorization grant (RFC 8628) ---

    def _devices(self) -> DeviceAuthorizations:
        if self._domain.devices is None:
            raise Unimplemented("The device authorization grant is not configured")
        return self._domain.devices

    async def StartDeviceAuthorization(
        self, request: authorize_pb2.StartDeviceAuthorizationRequest, context: Context
    ) -> authorize_pb2.DeviceAuthorization:
        started = await self._devices().start(
            presented_credentials(request.credentials),
            request.scope,
        )
        return authorize_pb2.DeviceAuthorization(
            device_code=started.device_code,
            user_code=started.user_code,
            expires_in=started.expires_in,
            interval=started.interval,
        )

    async def StartDeviceVerification(
        self, request: authorize_pb2.StartDeviceVerificationRequest, context: Context
    ) -> authorize_pb2.Interaction:
        step = await self._domain.sign_in.start_device(
            request.user_code, session_from_proto(request.session)
        )
        return step_to_proto(step)

    async def ConsumeDeviceCode(
        self, request: authorize_pb2.ConsumeDeviceCodeRequest, context: Context
    ) -> authorize_pb2.AuthorizationCodeGrant:
        found = await self._devices().consume(request.device_code, request.client_id)
        return device_grant_to_proto(found)

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
