"""The authorize service's own Prometheus metrics (shared ones are in common.metrics)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from prometheus_client import Counter

from common.errors import AccessDenied, Overloaded, SlowDown

LOGINS = Counter(
    "oauth2_logins_total",
    "Password sign-ins by outcome: success, failure (wrong or unknown credentials), "
    "locked (refused by the failed-attempt throttle without checking) or overloaded "
    "(refused at once because the Argon2 queue was full; not counted as a failure).",
    ["outcome"],
)
for _outcome in ("success", "failure", "locked", "overloaded"):
    LOGINS.labels(_outcome)  # every outcome shows from the start, at 0

DEVICE_AUTHORIZATIONS = Counter(
    "oauth2_device_authorizations_total",
    "Device authorizations (RFC 8628) by what happened: started (codes handed out), "
    "approved or denied (on the verification page), redeemed (tokens issued), expired "
    "(polled after their lifetime).",
    ["outcome"],
)
for _outcome in ("started", "approved", "denied", "redeemed", "expired"):
    DEVICE_AUTHORIZATIONS.labels(_outcome)


def count_device_outcome(outcome: str) -> None:
    DEVICE_AUTHORIZATIONS.labels(outcome).inc()


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
    except Overloaded:
        LOGINS.labels("overloaded").inc()
        raise
    except AccessDenied:
        LOGINS.labels("failure").inc()
        raise
    if attempt.made:
        LOGINS.labels("success").inc()


PASSWORD_HASHING_REFUSED = Counter(
    "oauth2_password_hashing_refused_total",
    "Argon2id hashes and verifications refused at once because every worker was "
    "busy and the queue full (argon2_workers, argon2_queue).",
)
