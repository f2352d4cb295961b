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

class TokenRequest(_message.Message):
    __slots__ = ("grant_type", "credentials", "scope", "code", "redirect_uri", "code_verifier", "refresh_token", "resource")
    GRANT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_URI_FIELD_NUMBER: _ClassVar[int]
    CODE_VERIFIER_FIELD_NUMBER: _ClassVar[int]
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    grant_type: str
    credentials: _common_pb2.ClientCredentials
    scope: str
    code: str
    redirect_uri: str
    code_verifier: str
    refresh_token: str
    resource: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, grant_type: _Optional[str] = ..., credentials: _Optional[_Union[_common_pb2.ClientCredentials, _Mapping]] = ..., scope: _Optional[str] = ..., code: _Optional[str] = ..., redirect_uri: _Optional[str] = ..., code_verifier: _Optional[str] = ..., refresh_token: _Optional[str] = ..., resource: _Optional[_Iterable[str]] = ...) -> None: ...

class TokenResponse(_message.Message):
    __slots__ = ("access_token", "token_type", "expires_in", "scope", "refresh_token", "id_token")
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOKEN_TYPE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ID_TOKEN_FIELD_NUMBER: _ClassVar[int]
    access_token: str
    token_type: str
    expires_in: int
    scope: str
    refresh_token: str
    id_token: str
    def __init__(self, access_token: _Optional[str] = ..., token_type: _Optional[str] = ..., expires_in: _Optional[int] = ..., scope: _Optional[str] = ..., refresh_token: _Optional[str] = ..., id_token: _Optional[str] = ...) -> None: ...

class IntrospectRequest(_message.Message):
    __slots__ = ("token", "token_type_hint", "credentials")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOKEN_TYPE_HINT_FIELD_NUMBER: _ClassVar[int]
    CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    token: str
    token_type_hint: str
    credentials: _common_pb2.ClientCredentials
    def __init__(self, token: _Optional[str] = ..., token_type_hint: _Optional[str] = ..., credentials: _Optional[_Union[_common_pb2.ClientCredentials, _Mapping]] = ...) -> None: ...

class IntrospectResponse(_message.Message):
    __slots__ = ("active", "scope", "client_id", "username", "token_type", "exp", "iat", "nbf", "sub", "aud", "iss", "jti", "auth_time")
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    TOKEN_TYPE_FIELD_NUMBER: _ClassVar[int]
    EXP_FIELD_NUMBER: _ClassVar[int]
    IAT_FIELD_NUMBER: _ClassVar[int]
    NBF_FIELD_NUMBER: _ClassVar[int]
    SUB_FIELD_NUMBER: _ClassVar[int]
    AUD_FIELD_NUMBER: _ClassVar[int]
    ISS_FIELD_NUMBER: _ClassVar[int]
    JTI_FIELD_NUMBER: _ClassVar[int]
    AUTH_TIME_FIELD_NUMBER: _ClassVar[int]
    active: bool
    scope: str
    client_id: str
    username: str
    token_type: str
    exp: int
    iat: int
    nbf: int
    sub: str
    aud: _containers.RepeatedScalarFieldContainer[str]
    iss: str
    jti: str
    auth_time: int
    def __init__(self, active: _Optional[bool] = ..., scope: _Optional[str] = ..., client_id: _Optional[str] = ..., username: _Optional[str] = ..., token_type: _Optional[str] = ..., exp: _Optional[int] = ..., iat: _Optional[int] = ..., nbf: _Optional[int] = ..., sub: _Optional[str] = ..., aud: _Optional[_Iterable[str]] = ..., iss: _Optional[str] = ..., jti: _Optional[str] = ..., auth_time: _Optional[int] = ...) -> None: ...

class RevokeRequest(_message.Message):
    __slots__ = ("token", "token_type_hint", "credentials", "actor")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOKEN_TYPE_HINT_FIELD_NUMBER: _ClassVar[int]
    CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    token: str
    token_type_hint: str
    credentials: _common_pb2.ClientCredentials
    actor: _common_pb2.Actor
    def __init__(self, token: _Optional[str] = ..., token_type_hint: _Optional[str] = ..., credentials: _Optional[_Union[_common_pb2.ClientCredentials, _Mapping]] = ..., actor: _Optional[_Union[_common_pb2.Actor, _Mapping]] = ...) -> None: ...

class VerifyAccessTokenRequest(_message.Message):
    __slots__ = ("token", "required_scopes", "audience")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_SCOPES_FIELD_NUMBER: _ClassVar[int]
    AUDIENCE_FIELD_NUMBER: _ClassVar[int]
    token: str
    required_scopes: _containers.RepeatedScalarFieldContainer[str]
    audience: str
    def __init__(self, token: _Optional[str] = ..., required_scopes: _Optional[_Iterable[str]] = ..., audience: _Optional[str] = ...) -> None: ...

class DecodeIdTokenHintRequest(_message.Message):
    __slots__ = ("id_token_hint",)
    ID_TOKEN_HINT_FIELD_NUMBER: _ClassVar[int]
    id_token_hint: str
    def __init__(self, id_token_hint: _Optional[str] = ...) -> None: ...

class IdTokenHint(_message.Message):
    __slots__ = ("sub", "client_id")
    SUB_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    sub: str
    client_id: str
    def __init__(self, sub: _Optional[str] = ..., client_id: _Optional[str] = ...) -> None: ...

class JsonWebKey(_message.Message):
    __slots__ = ("kty", "kid", "use", "alg", "crv", "x", "y", "n", "e")
    KTY_FIELD_NUMBER: _ClassVar[int]
    KID_FIELD_NUMBER: _ClassVar[int]
    USE_FIELD_NUMBER: _ClassVar[int]
    ALG_FIELD_NUMBER: _ClassVar[int]
    CRV_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    N_FIELD_NUMBER: _ClassVar[int]
    E_FIELD_NUMBER: _ClassVar[int]
    kty: str
    kid: str
    use: str
    alg: str
    crv: str
    x: str
    y: str
    n: str
    e: str
    def __init__(self, kty: _Optional[str] = ..., kid: _Optional[str] = ..., use: _Optional[str] = ..., alg: _Optional[str] = ..., crv: _Optional[str] = ..., x: _Optional[str] = ..., y: _Optional[str] = ..., n: _Optional[str] = ..., e: _Optional[str] = ...) -> None: ...

class Jwks(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[JsonWebKey]
    def __init__(self, keys: _Optional[_Iterable[_Union[JsonWebKey, _Mapping]]] = ...) -> None: ...

class SigningKey(_message.Message):
    __slots__ = ("kid", "alg", "status", "created_at", "retired_at", "public_key")
    KID_FIELD_NUMBER: _ClassVar[int]
    ALG_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    RETIRED_AT_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    kid: str
    alg: str
    status: str
    created_at: _timestamp_pb2.Timestamp
    retired_at: _timestamp_pb2.Timestamp
    public_key: JsonWebKey
    def __init__(self, kid: _Optional[str] = ..., alg: _Optional[str] = ..., status: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., retired_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., public_key: _Optional[_Union[JsonWebKey, _Mapping]] = ...) -> None: ...

class ListSigningKeysResponse(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[SigningKey]
    def __init__(self, keys: _Optional[_Iterable[_Union[SigningKey, _Mapping]]] = ...) -> None: ...

class RotateSigningKeyRequest(_message.Message):
    __slots__ = ("alg", "actor")
    ALG_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    alg: str
    actor: _common_pb2.Actor
    def __init__(self, alg: _Optional[str] = ..., actor: _Optional[_Union[_common_pb2.Actor, _Mapping]] = ...) -> None: ...

class RetireSigningKeyRequest(_message.Message):
    __slots__ = ("kid", "actor")
    KID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    kid: str
    actor: _common_pb2.Actor
    def __init__(self, kid: _Optional[str] = ..., actor: _Optional[_Union[_common_pb2.Actor, _Mapping]] = ...) -> None: ...

class Grant(_message.Message):
    __slots__ = ("family_id", "client_id", "subject", "scope", "created_at", "last_used_at", "expires_at")
    FAMILY_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_USED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    family_id: str
    client_id: str
    subject: str
    scope: str
    created_at: _timestamp_pb2.Timestamp
    last_used_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, family_id: _Optional[str] = ..., client_id: _Optional[str] = ..., subject: _Optional[str] = ..., scope: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_used_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListGrantsRequest(_message.Message):
    __slots__ = ("subject", "client_id", "page")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    subject: str
    client_id: str
    page: _common_pb2.PageRequest
    def __init__(self, subject: _Optional[str] = ..., client_id: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListGrantsResponse(_message.Message):
    __slots__ = ("grants", "page")
    GRANTS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    grants: _containers.RepeatedCompositeFieldContainer[Grant]
    page: _common_pb2.PageResponse
    def __init__(self, grants: _Optional[_Iterable[_Union[Grant, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class RevokeGrantsRequest(_message.Message):
    __slots__ = ("family_id", "subject", "client_id", "reason", "actor")
    FAMILY_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    family_id: str
    subject: str
    client_id: str
    reason: str
    actor: _common_pb2.Actor
    def __init__(self, family_id: _Optional[str] = ..., subject: _Optional[str] = ..., client_id: _Optional[str] = ..., reason: _Optional[str] = ..., actor: _Optional[_Union[_common_pb2.Actor, _Mapping]] = ...) -> None: ...

class RevokeGrantsResponse(_message.Message):
    __slots__ = ("families_revoked",)
    FAMILIES_REVOKED_FIELD_NUMBER: _ClassVar[int]
    families_revoked: int
    def __init__(self, families_revoked: _Optional[int] = ...) -> None: ...

class TokenStats(_message.Message):
    __slots__ = ("issued_by_grant_type", "active_grants", "since")
    class IssuedByGrantTypeEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    ISSUED_BY_GRANT_TYPE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_GRANTS_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    issued_by_grant_type: _containers.ScalarMap[str, int]
    active_grants: int
    since: _timestamp_pb2.Timestamp
    def __init__(self, issued_by_grant_type: _Optional[_Mapping[str, int]] = ..., active_grants: _Optional[int] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
