import datetime

from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from oauth2.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class User(_message.Message):
    __slots__ = ("user_id", "username", "email", "email_verified", "enabled", "given_name", "family_name", "name", "created_at", "updated_at", "provider", "provider_user_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    EMAIL_VERIFIED_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    GIVEN_NAME_FIELD_NUMBER: _ClassVar[int]
    FAMILY_NAME_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    username: str
    email: str
    email_verified: bool
    enabled: bool
    given_name: str
    family_name: str
    name: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    provider: str
    provider_user_id: str
    def __init__(self, user_id: _Optional[str] = ..., username: _Optional[str] = ..., email: _Optional[str] = ..., email_verified: _Optional[bool] = ..., enabled: _Optional[bool] = ..., given_name: _Optional[str] = ..., family_name: _Optional[str] = ..., name: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., provider: _Optional[str] = ..., provider_user_id: _Optional[str] = ...) -> None: ...

class CreateUserRequest(_message.Message):
    __slots__ = ("username", "password", "email", "given_name", "family_name", "actor")
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    GIVEN_NAME_FIELD_NUMBER: _ClassVar[int]
    FAMILY_NAME_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    username: str
    password: str
    email: str
    given_name: str
    family_name: str
    actor: _common_pb2.Actor
    def __init__(self, username: _Optional[str] = ..., password: _Optional[str] = ..., email: _Optional[str] = ..., given_name: _Optional[str] = ..., family_name: _Optional[str] = ..., actor: _Optional[_Union[_common_pb2.Actor, _Mapping]] = ...) -> None: ...

class GetUserRequest(_message.Message):
    __slots__ = ("user_id", "username")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    username: str
    def __init__(self, user_id: _Optional[str] = ..., username: _Optional[str] = ...) -> None: ...

class ListUsersRequest(_message.Message):
    __slots__ = ("page", "search")
    PAGE_FIELD_NUMBER: _ClassVar[int]
    SEARCH_FIELD_NUMBER: _ClassVar[int]
    page: _common_pb2.PageRequest
    search: str
    def __init__(self, page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ..., search: _Optional[str] = ...) -> None: ...

class ListUsersResponse(_message.Message):
    __slots__ = ("users", "page")
    USERS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    users: _containers.RepeatedCompositeFieldContainer[User]
    page: _common_pb2.PageResponse
    def __init__(self, users: _Optional[_Iterable[_Union[User, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class UpdateUserRequest(_message.Message):
    __slots__ = ("user_id", "user", "update_mask", "actor")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    user: User
    update_mask: _containers.RepeatedScalarFieldContainer[str]
    actor: _common_pb2.Actor
    def __init__(self, user_id: _Optional[str] = ..., user: _Optional[_Union[User, _Mapping]] = ..., update_mask: _Optional[_Iterable[str]] = ..., actor: _Optional[_Union[_common_pb2.Actor, _Mapping]] = ...) -> None: ...

class SetPasswordRequest(_message.Message):
    __slots__ = ("user_id", "password", "actor")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    password: str
    actor: _common_pb2.Actor
    def __init__(self, user_id: _Optional[str] = ..., password: _Optional[str] = ..., actor: _Optional[_Union[_common_pb2.Actor, _Mapping]] = ...) -> None: ...

class DeleteUserRequest(_message.Message):
    __slots__ = ("user_id", "actor")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    actor: _common_pb2.Actor
    def __init__(self, user_id: _Optional[str] = ..., actor: _Optional[_Union[_common_pb2.Actor, _Mapping]] = ...) -> None: ...

class LoginRequest(_message.Message):
    __slots__ = ("username", "password", "remote_addr")
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    REMOTE_ADDR_FIELD_NUMBER: _ClassVar[int]
    username: str
    password: str
    remote_addr: str
    def __init__(self, username: _Optional[str] = ..., password: _Optional[str] = ..., remote_addr: _Optional[str] = ...) -> None: ...

class LoginResponse(_message.Message):
    __slots__ = ("user", "auth_time", "amr")
    USER_FIELD_NUMBER: _ClassVar[int]
    AUTH_TIME_FIELD_NUMBER: _ClassVar[int]
    AMR_FIELD_NUMBER: _ClassVar[int]
    user: User
    auth_time: _timestamp_pb2.Timestamp
    amr: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, user: _Optional[_Union[User, _Mapping]] = ..., auth_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., amr: _Optional[_Iterable[str]] = ...) -> None: ...

class QueryParameter(_message.Message):
    __slots__ = ("name", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class BrowserSession(_message.Message):
    __slots__ = ("binding", "subject", "auth_time", "amr")
    BINDING_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    AUTH_TIME_FIELD_NUMBER: _ClassVar[int]
    AMR_FIELD_NUMBER: _ClassVar[int]
    binding: str
    subject: str
    auth_time: _timestamp_pb2.Timestamp
    amr: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, binding: _Optional[str] = ..., subject: _Optional[str] = ..., auth_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., amr: _Optional[_Iterable[str]] = ...) -> None: ...

class StartAuthorizationRequest(_message.Message):
    __slots__ = ("parameters", "session")
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    parameters: _containers.RepeatedCompositeFieldContainer[QueryParameter]
    session: BrowserSession
    def __init__(self, parameters: _Optional[_Iterable[_Union[QueryParameter, _Mapping]]] = ..., session: _Optional[_Union[BrowserSession, _Mapping]] = ...) -> None: ...

class CompleteLoginRequest(_message.Message):
    __slots__ = ("interaction_id", "session", "username", "password", "remote_addr")
    INTERACTION_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    REMOTE_ADDR_FIELD_NUMBER: _ClassVar[int]
    interaction_id: str
    session: BrowserSession
    username: str
    password: str
    remote_addr: str
    def __init__(self, interaction_id: _Optional[str] = ..., session: _Optional[_Union[BrowserSession, _Mapping]] = ..., username: _Optional[str] = ..., password: _Optional[str] = ..., remote_addr: _Optional[str] = ...) -> None: ...

class LoginOutcome(_message.Message):
    __slots__ = ("signed_in", "next")
    SIGNED_IN_FIELD_NUMBER: _ClassVar[int]
    NEXT_FIELD_NUMBER: _ClassVar[int]
    signed_in: LoginResponse
    next: Interaction
    def __init__(self, signed_in: _Optional[_Union[LoginResponse, _Mapping]] = ..., next: _Optional[_Union[Interaction, _Mapping]] = ...) -> None: ...

class CompleteConsentRequest(_message.Message):
    __slots__ = ("interaction_id", "session", "decision", "scopes")
    class Decision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        DECISION_UNSPECIFIED: _ClassVar[CompleteConsentRequest.Decision]
        APPROVE: _ClassVar[CompleteConsentRequest.Decision]
        DENY: _ClassVar[CompleteConsentRequest.Decision]
    DECISION_UNSPECIFIED: CompleteConsentRequest.Decision
    APPROVE: CompleteConsentRequest.Decision
    DENY: CompleteConsentRequest.Decision
    INTERACTION_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    interaction_id: str
    session: BrowserSession
    decision: CompleteConsentRequest.Decision
    scopes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, interaction_id: _Optional[str] = ..., session: _Optional[_Union[BrowserSession, _Mapping]] = ..., decision: _Optional[_Union[CompleteConsentRequest.Decision, str]] = ..., scopes: _Optional[_Iterable[str]] = ...) -> None: ...

class Interaction(_message.Message):
    __slots__ = ("interaction_id", "login", "consent", "response", "expired")
    INTERACTION_ID_FIELD_NUMBER: _ClassVar[int]
    LOGIN_FIELD_NUMBER: _ClassVar[int]
    CONSENT_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    EXPIRED_FIELD_NUMBER: _ClassVar[int]
    interaction_id: str
    login: LoginPage
    consent: ConsentPage
    response: AuthorizationResponse
    expired: ExpiredPage
    def __init__(self, interaction_id: _Optional[str] = ..., login: _Optional[_Union[LoginPage, _Mapping]] = ..., consent: _Optional[_Union[ConsentPage, _Mapping]] = ..., response: _Optional[_Union[AuthorizationResponse, _Mapping]] = ..., expired: _Optional[_Union[ExpiredPage, _Mapping]] = ...) -> None: ...

class ClientDisplay(_message.Message):
    __slots__ = ("client_id", "client_name", "client_uri", "logo_uri")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_NAME_FIELD_NUMBER: _ClassVar[int]
    CLIENT_URI_FIELD_NUMBER: _ClassVar[int]
    LOGO_URI_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    client_name: str
    client_uri: str
    logo_uri: str
    def __init__(self, client_id: _Optional[str] = ..., client_name: _Optional[str] = ..., client_uri: _Optional[str] = ..., logo_uri: _Optional[str] = ...) -> None: ...

class LoginPage(_message.Message):
    __slots__ = ("client", "redirect_uri", "login_hint")
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_URI_FIELD_NUMBER: _ClassVar[int]
    LOGIN_HINT_FIELD_NUMBER: _ClassVar[int]
    client: ClientDisplay
    redirect_uri: str
    login_hint: str
    def __init__(self, client: _Optional[_Union[ClientDisplay, _Mapping]] = ..., redirect_uri: _Optional[str] = ..., login_hint: _Optional[str] = ...) -> None: ...

class ScopeDescription(_message.Message):
    __slots__ = ("scope", "description")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    scope: str
    description: str
    def __init__(self, scope: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class ConsentPage(_message.Message):
    __slots__ = ("client", "redirect_uri", "scopes")
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_URI_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    client: ClientDisplay
    redirect_uri: str
    scopes: _containers.RepeatedCompositeFieldContainer[ScopeDescription]
    def __init__(self, client: _Optional[_Union[ClientDisplay, _Mapping]] = ..., redirect_uri: _Optional[str] = ..., scopes: _Optional[_Iterable[_Union[ScopeDescription, _Mapping]]] = ...) -> None: ...

class AuthorizationResponse(_message.Message):
    __slots__ = ("location",)
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    location: str
    def __init__(self, location: _Optional[str] = ...) -> None: ...

class ExpiredPage(_message.Message):
    __slots__ = ("client",)
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    client: ClientDisplay
    def __init__(self, client: _Optional[_Union[ClientDisplay, _Mapping]] = ...) -> None: ...

class Consent(_message.Message):
    __slots__ = ("client_id", "user_id", "scopes", "granted_at")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    GRANTED_AT_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    user_id: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    granted_at: _timestamp_pb2.Timestamp
    def __init__(self, client_id: _Optional[str] = ..., user_id: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ..., granted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListConsentsRequest(_message.Message):
    __slots__ = ("user_id", "client_id", "page")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    client_id: str
    page: _common_pb2.PageRequest
    def __init__(self, user_id: _Optional[str] = ..., client_id: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListConsentsResponse(_message.Message):
    __slots__ = ("consents", "page")
    CONSENTS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    consents: _containers.RepeatedCompositeFieldContainer[Consent]
    page: _common_pb2.PageResponse
    def __init__(self, consents: _Optional[_Iterable[_Union[Consent, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class RevokeConsentRequest(_message.Message):
    __slots__ = ("client_id", "user_id", "actor")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    user_id: str
    actor: _common_pb2.Actor
    def __init__(self, client_id: _Optional[str] = ..., user_id: _Optional[str] = ..., actor: _Optional[_Union[_common_pb2.Actor, _Mapping]] = ...) -> None: ...

class RevokeConsentsRequest(_message.Message):
    __slots__ = ("client_id", "user_id", "actor")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    user_id: str
    actor: _common_pb2.Actor
    def __init__(self, client_id: _Optional[str] = ..., user_id: _Optional[str] = ..., actor: _Optional[_Union[_common_pb2.Actor, _Mapping]] = ...) -> None: ...

class RevokeConsentsResponse(_message.Message):
    __slots__ = ("consents_revoked",)
    CONSENTS_REVOKED_FIELD_NUMBER: _ClassVar[int]
    consents_revoked: int
    def __init__(self, consents_revoked: _Optional[int] = ...) -> None: ...

class ConsumeAuthorizationCodeRequest(_message.Message):
    __slots__ = ("code", "client_id")
    CODE_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    code: str
    client_id: str
    def __init__(self, code: _Optional[str] = ..., client_id: _Optional[str] = ...) -> None: ...

class AuthorizationCodeGrant(_message.Message):
    __slots__ = ("client_id", "user_id", "redirect_uri", "redirect_uri_in_request", "scopes", "code_challenge", "code_challenge_method", "nonce", "auth_time", "code_id", "amr")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_URI_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_URI_IN_REQUEST_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    CODE_CHALLENGE_FIELD_NUMBER: _ClassVar[int]
    CODE_CHALLENGE_METHOD_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    AUTH_TIME_FIELD_NUMBER: _ClassVar[int]
    CODE_ID_FIELD_NUMBER: _ClassVar[int]
    AMR_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    user_id: str
    redirect_uri: str
    redirect_uri_in_request: bool
    scopes: _containers.RepeatedScalarFieldContainer[str]
    code_challenge: str
    code_challenge_method: str
    nonce: str
    auth_time: _timestamp_pb2.Timestamp
    code_id: str
    amr: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, client_id: _Optional[str] = ..., user_id: _Optional[str] = ..., redirect_uri: _Optional[str] = ..., redirect_uri_in_request: _Optional[bool] = ..., scopes: _Optional[_Iterable[str]] = ..., code_challenge: _Optional[str] = ..., code_challenge_method: _Optional[str] = ..., nonce: _Optional[str] = ..., auth_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., code_id: _Optional[str] = ..., amr: _Optional[_Iterable[str]] = ...) -> None: ...

class GetUserClaimsRequest(_message.Message):
    __slots__ = ("user_id", "scopes")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, user_id: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ...) -> None: ...

class UserClaims(_message.Message):
    __slots__ = ("sub", "claims_json", "enabled")
    SUB_FIELD_NUMBER: _ClassVar[int]
    CLAIMS_JSON_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    sub: str
    claims_json: str
    enabled: bool
    def __init__(self, sub: _Optional[str] = ..., claims_json: _Optional[str] = ..., enabled: _Optional[bool] = ...) -> None: ...
