"""The clients service's own Prometheus metrics (shared ones are in common.metrics)."""

from __future__ import annotations

from prometheus_client import Counter

CLIENT_CACHE_LOOKUPS = Counter(
    "oauth2_client_cache_lookups_total",
    "Client lookups by client_id in the cache in front of the database, by result "
    "(hit or miss; an unreadable cache counts as a miss).",
    ["result"],
)
CLIENT_CACHE_HITS = CLIENT_CACHE_LOOKUPS.labels("hit")
CLIENT_CACHE_MISSES = CLIENT_CACHE_LOOKUPS.labels("miss")
CLIENT_ASSERTIONS = Counter(
    "oauth2_client_assertions_total",
    "private_key_jwt and client_secret_jwt client assertions (RFC 7523) by outcome: "
    "accepted, refused (any rule broken), replayed (a jti seen before) or unavailable "
    "(the replay cache could not answer).",
    ["outcome"],
)
CLIENT_CERTIFICATE_AUTHENTICATIONS = Counter(
    "oauth2_client_certificate_authentications_total",
    "tls_client_auth and self_signed_tls_client_auth client authentications (RFC 8705) "
    "by outcome: accepted, refused (no, an unusable or a non-matching certificate) or "
    "unavailable (the client's jwks_uri did not answer a usable key set).",
    ["outcome"],
)
