"""The authorize service's own Prometheus metrics (shared ones are in common.metrics)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from prometheus_client import Counter

from common.errors import AccessDenied, SlowDown

LOGINS = Counter(
    "oauth2_logins_total",
    "Password sign-ins by outcome: success, failure (wrong or unknown credentials) "
    "or locked (refused by the failed-attempt throttle without checking).",
    ["outcome"],
)
for _outcome in ("success", "failure", "locked"):
    LOGINS.labels(_outcome)  # every outcome shows from the start, at 0


class LoginAttempt:
    """Set ``made`` to False when no credentials were looked at after all (an
    expired interaction): nothing is counted then."""

    made = True


@contextlib.contextmanager
def counting_login() -> Iterator[LoginAttempt]:
    """Counts the sign-in attempt made inside by how it ended; other errors
    (an unreachable database) are no outcome of the attempt and are not counted."""
    attempt = LoginAttempt()
    try:
        yield attempt
    except SlowDown:
        LOGINS.labels("locked").inc()
        raise
    except AccessDenied:
        LOGINS.labels("failure").inc()
        raise
    if attempt.made:
        LOGINS.labels("success").inc()
