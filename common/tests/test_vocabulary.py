"""The vocabulary is the strings of the contracts: each enum lists what the proto
comments list, its members are those strings in every respect, and the services
that check these values check against it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from oauth2.v1 import common_pb2

from common.vocabulary import (
    CONFIDENTIAL_AUTH_METHODS,
    SECRET_AUTH_METHODS,
    TLS_AUTH_METHODS,
    AuditOutcome,
    ClientAuthMethod,
    ClientSecretSigningAlg,
    ClientSigningAlg,
    GrantType,
    SigningAlg,
)

PROTOS = Path(__file__).resolve().parents[2] / "protos" / "oauth2" / "v1"


def listed_in_proto(file: str, field: str) -> list[str]:
    """The values a ``// a | b | c`` comment lists right above ``field`` (on one
    line or on several, each a ``//`` line)."""
    text = (PROTOS / file).read_text()
    match = re.search(r"((?:[ \t]*//[\w| \t]+\n)+)\s*string " + field + r" =", text)
    assert match, f"no value list above {field} in {file}"
    listed = " ".join(line.strip().removeprefix("//") for line in match.group(1).splitlines())
    return [value.strip() for value in listed.split("|")]


def test_enums_mirror_the_contract_comments() -> None:
    assert list(ClientAuthMethod) == listed_in_proto("common.proto", "auth_method")
    assert list(AuditOutcome) == listed_in_proto("admin.proto", "outcome")


def test_members_are_the_wire_strings() -> None:
    method = ClientAuthMethod.CLIENT_SECRET_BASIC
    assert method == "client_secret_basic" and f"{method}" == "client_secret_basic"
    # A message quoting a default reads the same as one quoting what came from the wire.
    assert f"{GrantType.REFRESH_TOKEN!r}" == repr("refresh_token")
    assert json.dumps([AuditOutcome.DENIED]) == '["denied"]'
    credentials = common_pb2.ClientCredentials(auth_method=ClientAuthMethod.NONE)
    assert credentials.auth_method == "none" and type(credentials.auth_method) is str
    assert CONFIDENTIAL_AUTH_METHODS == (
        "client_secret_basic",
        "client_secret_post",
        "client_secret_jwt",
        "private_key_jwt",
        "tls_client_auth",
        "self_signed_tls_client_auth",
    )
    # RFC 8705 section 2: the certificate methods, confidential and secretless.
    assert TLS_AUTH_METHODS == ("tls_client_auth", "self_signed_tls_client_auth")
    assert not set(TLS_AUTH_METHODS) & set(SECRET_AUTH_METHODS)
    # client_secret_jwt's secret is issued (and rotated) like the other two's; it is
    # only ever the key of its assertions, never sent (the registry's method check).
    assert SECRET_AUTH_METHODS == (
        "client_secret_basic",
        "client_secret_post",
        "client_secret_jwt",
    )
    # RFC 7523 section 2.2: the MACs of client_secret_jwt, never a public-key alg.
    assert list(ClientSecretSigningAlg) == ["HS256", "HS384", "HS512"]
    assert not set(ClientSecretSigningAlg) & set(ClientSigningAlg)


def test_the_services_check_against_the_vocabulary() -> None:
    from services.admin.domain.model import OUTCOMES
    from services.clients.domain.model import AUTH_METHODS, GRANT_TYPES
    from services.token.domain.grants import GRANTS, PLANNED_GRANT_TYPES
    from services.token.domain.jwk import SUPPORTED_ALGS

    assert AUTH_METHODS == set(ClientAuthMethod) and GRANT_TYPES == set(GrantType)
    assert OUTCOMES == tuple(AuditOutcome) and SUPPORTED_ALGS == tuple(SigningAlg)
    # Every grant type is either implemented by the token endpoint or planned.
    assert set(GRANTS) | PLANNED_GRANT_TYPES == set(GrantType)
    assert set(GRANTS) & PLANNED_GRANT_TYPES == set()
