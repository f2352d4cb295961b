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
