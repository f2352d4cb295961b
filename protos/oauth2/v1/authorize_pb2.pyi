import datetime

from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from oauth2.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
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

class AuthorizationRequest(_message.Message):
    __slots__ = ("response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge", "code_challenge_method", "prompt", "max_age", "response_mode", "login_hint", "duplicated_parameters")
    RESPONSE_TYPE_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_URI_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    CODE_CHALLENGE_FIELD_NUMBER: _ClassVar[int]
    CODE_CHALLENGE_METHOD_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    MAX_AGE_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_MODE_FIELD_NUMBER: _ClassVar[int]
    LOGIN_HINT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATED_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    response_type: str
    client_id: str
    redirect_uri: str
    scope: str
    state: str
    nonce: str
    code_challenge: str
    code_challenge_method: str
    prompt: str
    max_age: int
    response_mode: str
    login_hint: str
    duplicated_parameters: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, response_type: _Optional[str] = ..., client_id: _Optional[str] = ..., redirect_uri: _Optional[str] = ..., scope: _Optional[str] = ..., state: _Optional[str] = ..., nonce: _Optional[str] = ..., code_challenge: _Optional[str] = ..., code_challenge_method: _Optional[str] = ..., prompt: _Optional[str] = ..., max_age: _Optional[int] = ..., response_mode: _Optional[str] = ..., login_hint: _Optional[str] = ..., duplicated_parameters: _Optional[_Iterable[str]] = ...) -> None: ...

class ValidatedAuthorizationRequest(_message.Message):
    __slots__ = ("request", "redirect_uri", "client_name", "scopes", "require_pkce", "error", "error_description", "redirect_uri_in_request", "client_uri", "logo_uri")
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_URI_FIELD_NUMBER: _ClassVar[int]
    CLIENT_NAME_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_PKCE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ERROR_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_URI_IN_REQUEST_FIELD_NUMBER: _ClassVar[int]
    CLIENT_URI_FIELD_NUMBER: _ClassVar[int]
    LOGO_URI_FIELD_NUMBER: _ClassVar[int]
    request: AuthorizationRequest
    redirect_uri: str
    client_name: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    require_pkce: bool
    error: str
    error_description: str
    redirect_uri_in_request: bool
    client_uri: str
    logo_uri: str
    def __init__(self, request: _Optional[_Union[AuthorizationRequest, _Mapping]] = ..., redirect_uri: _Optional[str] = ..., client_name: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ..., require_pkce: _Optional[bool] = ..., error: _Optional[str] = ..., error_description: _Optional[str] = ..., redirect_uri_in_request: _Optional[bool] = ..., client_uri: _Optional[str] = ..., logo_uri: _Optional[str] = ...) -> None: ...

class Consent(_message.Message):
    __slots__ = ("client_id", "user_id", "scopes", "granted_at", "exists")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    GRANTED_AT_FIELD_NUMBER: _ClassVar[int]
    EXISTS_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    user_id: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    granted_at: _timestamp_pb2.Timestamp
    exists: bool
    def __init__(self, client_id: _Optional[str] = ..., user_id: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ..., granted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., exists: _Optional[bool] = ...) -> None: ...

class GetConsentRequest(_message.Message):
    __slots__ = ("client_id", "user_id")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    user_id: str
    def __init__(self, client_id: _Optional[str] = ..., user_id: _Optional[str] = ...) -> None: ...

class GrantConsentRequest(_message.Message):
    __slots__ = ("client_id", "user_id", "scopes")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    user_id: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, client_id: _Optional[str] = ..., user_id: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ...) -> None: ...

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

class IssueAuthorizationCodeRequest(_message.Message):
    __slots__ = ("client_id", "user_id", "redirect_uri", "scopes", "code_challenge", "code_challenge_method", "nonce", "auth_time", "redirect_uri_in_request", "amr")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_URI_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    CODE_CHALLENGE_FIELD_NUMBER: _ClassVar[int]
    CODE_CHALLENGE_METHOD_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    AUTH_TIME_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_URI_IN_REQUEST_FIELD_NUMBER: _ClassVar[int]
    AMR_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    user_id: str
    redirect_uri: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    code_challenge: str
    code_challenge_method: str
    nonce: str
    auth_time: _timestamp_pb2.Timestamp
    redirect_uri_in_request: bool
    amr: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, client_id: _Optional[str] = ..., user_id: _Optional[str] = ..., redirect_uri: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ..., code_challenge: _Optional[str] = ..., code_challenge_method: _Optional[str] = ..., nonce: _Optional[str] = ..., auth_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., redirect_uri_in_request: _Optional[bool] = ..., amr: _Optional[_Iterable[str]] = ...) -> None: ...

class IssueAuthorizationCodeResponse(_message.Message):
    __slots__ = ("code", "expires_at")
    CODE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    code: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, code: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

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
