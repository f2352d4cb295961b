"""The token service's own Prometheus metrics (shared ones are in common.metrics)."""

from __future__ import annotations

from prometheus_client import Counter

TOKENS_ISSUED = Counter(
    "oauth2_tokens_issued_total",
    "Successful token responses (RFC 6749 section 5.1), by grant_type.",
    ["grant_type"],
)
REFRESH_TOKEN_REUSE = Counter(
    "oauth2_refresh_token_reuse_detected_total",
    "Refresh tokens presented again after rotation; each revokes its grant family "
    "(RFC 9700 section 4.14.2).",
)
CLIENT_AUTH_CACHE_LOOKUPS = Counter(
    "oauth2_token_client_auth_cache_lookups_total",
    "Client authentications looked up in the token service's own cache, by result: "
    "hit (no call to the clients service), miss, or bypass (Redis did not answer, "
    "so the generation could not be checked and the clients service was asked).",
    ["result"],
)
CLIENT_AUTH_CACHE_HITS = CLIENT_AUTH_CACHE_LOOKUPS.labels("hit")
CLIENT_AUTH_CACHE_MISSES = CLIENT_AUTH_CACHE_LOOKUPS.labels("miss")
CLIENT_AUTH_CACHE_BYPASSES = CLIENT_AUTH_CACHE_LOOKUPS.labels("bypass")
CLIENT_AUTH_CACHE_INVALIDATIONS = Counter(
    "oauth2_token_client_auth_cache_invalidations_total",
    "Cached client authentications dropped, by reason: generation (the client changed), "
    "published (a change announced on the channel), expired (the TTL backstop).",
    ["reason"],
)
BACKCHANNEL_LOGOUT_DELIVERIES = Counter(
    "oauth2_backchannel_logout_deliveries_total",
    "Logout tokens sent to clients' backchannel_logout_uri (OpenID Connect Back-Channel "
    "Logout 1.0), by outcome: delivered, failed (refused, or every attempt unanswered), "
    "retried (one more attempt), dropped (too many pending).",
    ["outcome"],
)
DPOP_PROOFS = Counter(
    "oauth2_dpop_proofs_total",
    "DPoP proofs checked (RFC 9449 section 4.3), by outcome: accepted, refused "
    "(invalid_dpop_proof, replays included), nonce_required (use_dpop_nonce), "
    "unavailable (the replay cache did not answer).",
    ["outcome"],
)
