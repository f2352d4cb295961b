"""The gateway's own Prometheus metrics (shared ones are in common.metrics).

``route`` is the route template (``/oauth/token``, ``/static/{path}``), never the
raw path, so that the number of series stays bounded; a request that matches no
route is ``route="unmatched"``.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

HTTP_LABELS = ("route", "method", "status")

HTTP_REQUESTS = Counter(
    "oauth2_http_requests_total",
    "HTTP requests answered by the gateway, by route template, method and status code.",
    HTTP_LABELS,
)
HTTP_REQUEST_DURATION = Histogram(
    "oauth2_http_request_duration_seconds",
    "Time the gateway took to answer an HTTP request, by route template, method and status.",
    HTTP_LABELS,
)

RATE_LIMITED = Counter(
    "oauth2_rate_limited_total",
    "Requests refused with 429 by a gateway rate limit, by limit (gateway/ratelimit.py).",
    ("limit",),
)
RATE_LIMIT_ERRORS = Counter(
    "oauth2_rate_limit_errors_total",
    "Requests admitted without a rate limit because Redis did not answer, by limit.",
    ("limit",),
)

SLOW_CLIENT_DROPS = Counter(
    "oauth2_http_slow_client_drops_total",
    "Connections the gateway closed because the client took longer than"
    " request_header_timeout_seconds over a request's headers or"
    " request_body_timeout_seconds over its body (gateway/http_timeouts.py), by phase.",
    ("phase",),
)
for _phase in ("headers", "body"):
    SLOW_CLIENT_DROPS.labels(_phase)  # both series exist from the start, at 0
