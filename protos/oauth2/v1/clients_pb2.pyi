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

class Client(_message.Message):
    __slots__ = ("client_id", "client_name", "redirect_uris", "grant_types", "response_types", "scope", "token_endpoint_auth_method", "require_pkce", "post_logout_redirect_uris", "access_token_signing_alg", "always_issue_refresh_token", "contacts", "client_uri", "logo_uri", "created_at", "updated_at", "client_secret_expires_at", "dynamically_registered", "revision")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_NAME_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_URIS_FIELD_NUMBER: _ClassVar[int]
    GRANT_TYPES_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_TYPES_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ENDPOINT_AUTH_METHOD_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_PKCE_FIELD_NUMBER: _ClassVar[int]
    POST_LOGOUT_REDIRECT_URIS_FIELD_NUMBER: _ClassVar[int]
    ACCESS_TOKEN_SIGNING_ALG_FIELD_NUMBER: _ClassVar[int]
    ALWAYS_ISSUE_REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CONTACTS_FIELD_NUMBER: _ClassVar[int]
    CLIENT_URI_FIELD_NUMBER: _ClassVar[int]
    LOGO_URI_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    CLIENT_SECRET_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    DYNAMICALLY_REGISTERED_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    client_name: str
    redirect_uris: _containers.RepeatedScalarFieldContainer[str]
    grant_types: _containers.RepeatedScalarFieldContainer[str]
    response_types: _containers.RepeatedScalarFieldContainer[str]
    scope: str
    token_endpoint_auth_method: str
    require_pkce: bool
    post_logout_redirect_uris: _containers.RepeatedScalarFieldContainer[str]
    access_token_signing_alg: str
    always_issue_refresh_token: bool
    contacts: _containers.RepeatedScalarFieldContainer[str]
    client_uri: str
    logo_uri: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    client_secret_expires_at: _timestamp_pb2.Timestamp
    dynamically_registered: bool
    revision: int
    def __init__(self, client_id: _Optional[str] = ..., client_name: _Optional[str] = ..., redirect_uris: _Optional[_Iterable[str]] = ..., grant_types: _Optional[_Iterable[str]] = ..., response_types: _Optional[_Iterable[str]] = ..., scope: _Optional[str] = ..., token_endpoint_auth_method: _Optional[str] = ..., require_pkce: _Optional[bool] = ..., post_logout_redirect_uris: _Optional[_Iterable[str]] = ..., access_token_signing_alg: _Optional[str] = ..., always_issue_refresh_token: _Optional[bool] = ..., contacts: _Optional[_Iterable[str]] = ..., client_uri: _Optional[str] = ..., logo_uri: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., client_secret_expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., dynamically_registered: _Optional[bool] = ..., revision: _Optional[int] = ...) -> None: ...

class ClientMetadata(_message.Message):
    __slots__ = ("client_name", "redirect_uris", "grant_types", "response_types", "scope", "token_endpoint_auth_method", "require_pkce", "post_logout_redirect_uris", "access_token_signing_alg", "always_issue_refresh_token", "contacts", "client_uri", "logo_uri")
    CLIENT_NAME_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_URIS_FIELD_NUMBER: _ClassVar[int]
    GRANT_TYPES_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_TYPES_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ENDPOINT_AUTH_METHOD_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_PKCE_FIELD_NUMBER: _ClassVar[int]
    POST_LOGOUT_REDIRECT_URIS_FIELD_NUMBER: _ClassVar[int]
    ACCESS_TOKEN_SIGNING_ALG_FIELD_NUMBER: _ClassVar[int]
    ALWAYS_ISSUE_REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CONTACTS_FIELD_NUMBER: _ClassVar[int]
    CLIENT_URI_FIELD_NUMBER: _ClassVar[int]
    LOGO_URI_FIELD_NUMBER: _ClassVar[int]
    client_name: str
    redirect_uris: _containers.RepeatedScalarFieldContainer[str]
    grant_types: _containers.RepeatedScalarFieldContainer[str]
    response_types: _containers.RepeatedScalarFieldContainer[str]
    scope: str
    token_endpoint_auth_method: str
    require_pkce: bool
    post_logout_redirect_uris: _containers.RepeatedScalarFieldContainer[str]
    access_token_signing_alg: str
    always_issue_refresh_token: bool
    contacts: _containers.RepeatedScalarFieldContainer[str]
    client_uri: str
    logo_uri: str
    def __init__(self, client_name: _Optional[str] = ..., redirect_uris: _Optional[_Iterable[str]] = ..., grant_types: _Optional[_Iterable[str]] = ..., response_types: _Optional[_Iterable[str]] = ..., scope: _Optional[str] = ..., token_endpoint_auth_method: _Optional[str] = ..., require_pkce: _Optional[bool] = ..., post_logout_redirect_uris: _Optional[_Iterable[str]] = ..., access_token_signing_alg: _Optional[str] = ..., always_issue_refresh_token: _Optional[bool] = ..., contacts: _Optional[_Iterable[str]] = ..., client_uri: _Optional[str] = ..., logo_uri: _Optional[str] = ...) -> None: ...

class CreateClientRequest(_message.Message):
    __slots__ = ("metadata", "client_id", "client_secret", "actor")
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_SECRET_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    metadata: ClientMetadata
    client_id: str
    client_secret: str
    actor: _common_pb2.Actor
    def __init__(self, metadata: _Optional[_Union[ClientMetadata, _Mapping]] = ..., client_id: _Optional[str] = ..., client_secret: _Optional[str] = ..., actor: _Optional[_Union[_common_pb2.Actor, _Mapping]] = ...) -> None: ...

class CreateClientResponse(_message.Message):
    __slots__ = ("client", "client_secret")
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    CLIENT_SECRET_FIELD_NUMBER: _ClassVar[int]
    client: Client
    client_secret: str
    def __init__(self, client: _Optional[_Union[Client, _Mapping]] = ..., client_secret: _Optional[str] = ...) -> None: ...

class GetClientRequest(_message.Message):
    __slots__ = ("client_id",)
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    def __init__(self, client_id: _Optional[str] = ...) -> None: ...

class ListClientsRequest(_message.Message):
    __slots__ = ("page", "search")
    PAGE_FIELD_NUMBER: _ClassVar[int]
    SEARCH_FIELD_NUMBER: _ClassVar[int]
    page: _common_pb2.PageRequest
    search: str
    def __init__(self, page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ..., search: _Optional[str] = ...) -> None: ...

class ListClientsResponse(_message.Message):
    __slots__ = ("clients", "page")
    CLIENTS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    clients: _containers.RepeatedCompositeFieldContainer[Client]
    page: _common_pb2.PageResponse
    def __init__(self, clients: _Optional[_Iterable[_Union[Client, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class UpdateClientRequest(_message.Message):
    __slots__ = ("client_id", "metadata", "update_mask", "actor")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    metadata: ClientMetadata
    update_mask: _containers.RepeatedScalarFieldContainer[str]
    actor: _common_pb2.Actor
    def __init__(self, client_id: _Optional[str] = ..., metadata: _Optional[_Union[ClientMetadata, _Mapping]] = ..., update_mask: _Optional[_Iterable[str]] = ..., actor: _Optional[_Union[_common_pb2.Actor, _Mapping]] = ...) -> None: ...

class DeleteClientRequest(_message.Message):
    __slots__ = ("client_id", "actor")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    actor: _common_pb2.Actor
    def __init__(self, client_id: _Optional[str] = ..., actor: _Optional[_Union[_common_pb2.Actor, _Mapping]] = ...) -> None: ...

class RotateClientSecretRequest(_message.Message):
    __slots__ = ("client_id", "actor")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    actor: _common_pb2.Actor
    def __init__(self, client_id: _Optional[str] = ..., actor: _Optional[_Union[_common_pb2.Actor, _Mapping]] = ...) -> None: ...

class RotateClientSecretResponse(_message.Message):
    __slots__ = ("client", "client_secret")
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    CLIENT_SECRET_FIELD_NUMBER: _ClassVar[int]
    client: Client
    client_secret: str
    def __init__(self, client: _Optional[_Union[Client, _Mapping]] = ..., client_secret: _Optional[str] = ...) -> None: ...

class AuthenticateClientRequest(_message.Message):
    __slots__ = ("credentials",)
    CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    credentials: _common_pb2.ClientCredentials
    def __init__(self, credentials: _Optional[_Union[_common_pb2.ClientCredentials, _Mapping]] = ...) -> None: ...

class ValidateRedirectUriRequest(_message.Message):
    __slots__ = ("client_id", "redirect_uri", "kind")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_URI_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    redirect_uri: str
    kind: str
    def __init__(self, client_id: _Optional[str] = ..., redirect_uri: _Optional[str] = ..., kind: _Optional[str] = ...) -> None: ...

class ValidateRedirectUriResponse(_message.Message):
    __slots__ = ("valid", "client")
    VALID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    client: Client
    def __init__(self, valid: _Optional[bool] = ..., client: _Optional[_Union[Client, _Mapping]] = ...) -> None: ...

class RegisterClientRequest(_message.Message):
    __slots__ = ("metadata", "initial_access_token", "actor")
    METADATA_FIELD_NUMBER: _ClassVar[int]
    INITIAL_ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    metadata: ClientMetadata
    initial_access_token: str
    actor: _common_pb2.Actor
    def __init__(self, metadata: _Optional[_Union[ClientMetadata, _Mapping]] = ..., initial_access_token: _Optional[str] = ..., actor: _Optional[_Union[_common_pb2.Actor, _Mapping]] = ...) -> None: ...

class RegisterClientResponse(_message.Message):
    __slots__ = ("client", "client_secret", "registration_access_token", "client_id_issued_at")
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    CLIENT_SECRET_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_ISSUED_AT_FIELD_NUMBER: _ClassVar[int]
    client: Client
    client_secret: str
    registration_access_token: str
    client_id_issued_at: _timestamp_pb2.Timestamp
    def __init__(self, client: _Optional[_Union[Client, _Mapping]] = ..., client_secret: _Optional[str] = ..., registration_access_token: _Optional[str] = ..., client_id_issued_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RegistrationAccessRequest(_message.Message):
    __slots__ = ("client_id", "registration_access_token", "actor")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    registration_access_token: str
    actor: _common_pb2.Actor
    def __init__(self, client_id: _Optional[str] = ..., registration_access_token: _Optional[str] = ..., actor: _Optional[_Union[_common_pb2.Actor, _Mapping]] = ...) -> None: ...

class UpdateRegistrationRequest(_message.Message):
    __slots__ = ("client_id", "registration_access_token", "metadata", "client_secret", "actor")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CLIENT_SECRET_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    registration_access_token: str
    metadata: ClientMetadata
    client_secret: str
    actor: _common_pb2.Actor
    def __init__(self, client_id: _Optional[str] = ..., registration_access_token: _Optional[str] = ..., metadata: _Optional[_Union[ClientMetadata, _Mapping]] = ..., client_secret: _Optional[str] = ..., actor: _Optional[_Union[_common_pb2.Actor, _Mapping]] = ...) -> None: ...

class CreateInitialAccessTokenRequest(_message.Message):
    __slots__ = ("expires_in", "actor", "max_uses")
    EXPIRES_IN_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    MAX_USES_FIELD_NUMBER: _ClassVar[int]
    expires_in: int
    actor: _common_pb2.Actor
    max_uses: int
    def __init__(self, expires_in: _Optional[int] = ..., actor: _Optional[_Union[_common_pb2.Actor, _Mapping]] = ..., max_uses: _Optional[int] = ...) -> None: ...

class CreateInitialAccessTokenResponse(_message.Message):
    __slots__ = ("initial_access_token", "expires_at")
    INITIAL_ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    initial_access_token: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, initial_access_token: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
