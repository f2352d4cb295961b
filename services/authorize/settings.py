"""Settings of the authorize process (TOML table ``[authorize]``, env ``OAUTH2_<KEY>``)."""

from __future__ import annotations

from typing import ClassVar, Final

from pydantic import Field, ValidationInfo, field_validator

from common.settings import ServiceSettings
from services.authorize.domain.passwords import default_workers

#: OWASP Password Storage Cheat Sheet, Argon2id: the least memory (KiB) for a number
#: of passes, each pair as strong as the others (m=19 MiB t=2 p=1 is the one it
#: names first). A cost at or above one pair meets the minimum; the defaults
#: below (64 MiB, 3 passes) are above all of them. More lanes do not lower the
#: cost of an attack, so parallelism is not part of the comparison.
OWASP_ARGON2ID_MINIMUMS: Final[tuple[tuple[int, int], ...]] = (
    (47_104, 1),  # 46 MiB, t=1
    (19_456, 2),  # 19 MiB, t=2
    (12_288, 3),  # 12 MiB, t=3
    (9_216, 4),  # 9 MiB, t=4
    (7_168, 5),  # 7 MiB, t=5
)


def argon2_meets_owasp(memory_cost_kib: int, time_cost: int) -> bool:
    """Whether an Argon2id cost is at least one of OWASP's minimum configurations."""
    return any(
        memory_cost_kib >= memory and time_cost >= passes
        for memory, passes in OWASP_ARGON2ID_MINIMUMS
    )


class AuthorizeSettings(ServiceSettings):
    """The authorize service: users, login, consent and authorization codes
    (RFC 6749 section 4.1, RFC 7636, OpenID Connect Core section 3.1).
    Each key is documented beside its default."""

    PROCESS: ClassVar[str] = "authorize"

    # Port of the AuthorizeService gRPC server (authorize_target of the other processes).
    grpc_port: int = Field(default=50051, ge=0, le=65535)

    # Lifetime of an authorization code. RFC 6749 section 4.1.2 recommends at most
    # ten minutes; the code is exchanged at once, so a minute is plenty.
    authorization_code_ttl_seconds: int = Field(default=60, ge=1, le=600)
    # How long an authorization request may wait for the login and consent pages
    # (ORY Hydra's login/consent request lifespan); then the person starts again
    # at the application.
    interaction_ttl_seconds: int = Field(default=1800, ge=60, le=86_400)
    # How long a pushed authorization request (RFC 9126, POST /oauth/par) waits for
    # the browser to bring its request_uri; used once.
    pushed_authorization_request_ttl_seconds: int = Field(default=60, ge=1, le=60)
    # How long a device authorization (RFC 8628: device_code and user_code) waits
    # for the person to enter the code and decide; then the device starts again.
    device_code_ttl_seconds: int = Field(default=600, ge=1, le=1800)
    # Seconds a device waits between polls of the token endpoint (RFC 8628 section
    # 3.2 "interval"); a poll sooner is slow_down, which adds 5 for that device.
    device_code_interval_seconds: int = Field(default=5, ge=1, le=60)
    # How many authorization requests one browser session may keep waiting; a
    # new one beyond them ends the oldest (it then answers "expired"). The
    # gateway keeps the pages of as many (gateway.sessions.MAX_PENDING).
    max_interactions_per_session: int = Field(default=10, ge=1, le=100)
    # Accept code_challenge_method=plain (RFC 7636 section 4.2). Unsafe: a leaked
    # authorization request then leaks the verifier too. Only S256 by default.
    allow_plain_pkce: bool = False

    # Failed sign-ins for one username within the window before it is locked.
    # Lockouts are per username only: an address is slowed by the gateway's
    # per-address rate limit, never locked out (docs/signin.md, "Login backoff").
    login_max_failures_per_user: int = Field(default=5, ge=1, le=1000)
    # Failures are counted in a window this long, starting at the first failure.
    login_failure_window_seconds: int = Field(default=900, ge=1, le=86_400)
    # First lockout; each further failure doubles it, up to login_max_backoff_seconds.
    login_backoff_seconds: int = Field(default=30, ge=1, le=86_400)
    # The longest lockout the doubling reaches.
    login_max_backoff_seconds: int = Field(default=900, ge=1, le=86_400)
    # After this many lockouts in a row the username stays locked until an
    # administrator sets a new password (Keycloak's permanent lockout); 0: never.
    login_permanent_lockout_after: int = Field(default=0, ge=0, le=1000)

    # Argon2id cost of user password hashes (RFC 9106 section 4; argon2-cffi's
    # defaults: 3 passes over 64 MiB with 4 lanes). Raising them rehashes each
    # password at its next successful sign-in. A cost below OWASP's minimums
    # (OWASP_ARGON2ID_MINIMUMS) is accepted, for tests, with a warning at start-up.
    # What a sign-in costs at these figures: docs/sizing.md.
    argon2_time_cost: int = Field(default=3, ge=1, le=100)
    # Lanes (threads) per hash.
    argon2_parallelism: int = Field(default=4, ge=1, le=64)
    # Memory in KiB; at least 8 per lane.
    argon2_memory_cost: int = Field(default=65_536, ge=8, le=4_194_304)

    # Threads that compute Argon2id hashes; default: one per CPU of the machine.
    argon2_workers: int = Field(default_factory=default_workers, ge=1, le=1024)
    # Hashes that may wait for a worker; when workers and queue are full a sign-in
    # is refused at once (503 with Retry-After) instead of waiting for its
    # deadline. Default (unset): four per worker.
    argon2_queue: int | None = Field(default=None, ge=0, le=100_000)

    @field_validator("argon2_memory_cost")
    @classmethod
    def _argon2_memory_per_lane(cls, value: int, info: ValidationInfo) -> int:
        lanes = info.data.get("argon2_parallelism", 1)
        if value < 8 * lanes:
            raise ValueError(f"must be at least 8 KiB per lane ({8 * lanes} for {lanes} lanes)")
        return value
