"""The device authorization grant (RFC 8628; docs/signin.md, "Devices").

A device that cannot show a browser (a TV, a CLI) asks for a ``device_code`` and a
``user_code`` (section 3.1/3.2), shows the person the verification URI and the code,
and polls the token endpoint. The person opens the page on a phone or laptop, types
the code, signs in and approves on the consent page (the sign-in pipeline of
:mod:`services.authorize.domain.sign_in`, always asking: section 5.4); the next poll
gets the tokens, once.

- ``device_code``: 256 random bits; only its SHA-256 is stored (``device_key``),
  which also names the grant family of the tokens it is redeemed for.
- ``user_code``: 8 characters from 20 consonants (section 6.1: no vowels, so no
  words; no digits to confuse with letters), about 34.6 bits, shown ``XXXX-XXXX``
  and read back ignoring case, hyphens and spaces; stored as the SHA-256 of the
  normalised code. The gateway limits guesses per address (``POST /device``).
- Polling (section 3.5): ``authorization_pending`` until the person decides,
  ``slow_down`` for a poll sooner than ``interval`` after the last (and the
  interval grows by 5 seconds for good), ``access_denied``, ``expired_token``
  after ``device_code_ttl_seconds``; a redeemed code is ``invalid_grant``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from common.audit import AuditSink, NoAudit
from common.errors import (
    AuthorizationPending,
    Conflict,
    DeviceAccessDenied,
    ExpiredToken,
    InvalidGrant,
    InvalidRequest,
    NotFound,
    PollingTooFast,
    UnauthorizedClient,
)
from common.secrets import random_token, sha256_hex
from common.timeutil import utcnow
from common.vocabulary import AuditOutcome, GrantType
from services.authorize.domain.authorization_request import allowed_scopes
from services.authorize.domain.model import (
    ClientInfo,
    DeviceAuthorization,
    DeviceStatus,
    PresentedCredentials,
)
from services.authorize.domain.ports import (
    ClientAuthenticator,
    ClientDirectory,
    DeviceAuthorizationStore,
    UserStore,
)
from services.authorize.domain.purge import ExpiredPurge

#: RFC 8628 section 6.1: consonants only, upper case; 20**8 codes.
USER_CODE_ALPHABET: Final = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH: Final = 8
#: What the person may type around the code: case does not matter either.
_IGNORED: Final = str.maketrans("", "", "- \t")
#: Section 3.5: slow_down raises the interval by this many seconds.
SLOW_DOWN_STEP_SECONDS: Final = 5
#: The longest code a person may type (with hyphens and spaces).
MAX_ENTERED_CODE: Final = 32
#: Attempts at a user_code not yet taken before giving up (a collision in 20**8
#: among the codes alive is already rare).
_ATTEMPTS: Final = 5

UNKNOWN_USER_CODE: Final = "That code is not valid or has expired. Check the code on your device."
UNKNOWN_DEVICE_CODE: Final = "Unknown device_code"
OTHER_CLIENT: Final = "The device_code was issued to another client"
USED_DEVICE_CODE: Final = "The device_code was already used"
EXPIRED: Final = "The device_code has expired; start again on the device"
DENIED: Final = "The user denied the request"
PENDING: Final = "The user has not yet approved the request"
TOO_FAST: Final = "Polling too often: wait the interval between requests (raised by 5 seconds)"
#: Audit events (docs/operators.md): the person's decision on the verification page.
DEVICE_APPROVED: Final = "device_authorization.approved"
DEVICE_DENIED: Final = "device_authorization.denied"


def new_user_code() -> str:
    return "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))


def format_user_code(code: str) -> str:
    """As the person sees it: ``XXXX-XXXX``."""
    half = USER_CODE_LENGTH // 2
    return f"{code[:half]}-{code[half:]}"


def normalize_user_code(entered: str) -> str | None:
    """The code a person typed, upper case without hyphens or spaces; None when it
    cannot be one (wrong length, a character outside the alphabet)."""
    if len(entered) > MAX_ENTERED_CODE:
        return None
    code = entered.translate(_IGNORED).upper()
    if len(code) != USER_CODE_LENGTH or any(c not in USER_CODE_ALPHABET for c in code):
        return None
    return code


@dataclass(frozen=True, slots=True)
class StartedDeviceAuthorization:
    """What the device authorization endpoint answers (section 3.2), the URIs
    aside: the gateway knows its own address."""

    device_code: str
    user_code: str  # formatted
    expires_in: int
    interval: int


@dataclass(frozen=True, slots=True)
class PendingDevice:
    """A pending device authorization as the verification page continues it."""

    authorization: DeviceAuthorization
    client: ClientInfo


class DeviceAuthorizations:
    """StartDeviceAuthorization, the verification page's lookup and decision, and
    ConsumeDeviceCode."""

    def __init__(
        self,
        store: DeviceAuthorizationStore,
        authenticator: ClientAuthenticator,
        clients: ClientDirectory,
        users: UserStore,
        *,
        ttl_seconds: int = 600,
        interval_seconds: int = 5,
        clock: Callable[[], datetime] = utcnow,
        code_factory: Callable[[], str] = random_token,
        user_code_factory: Callable[[], str] = new_user_code,
        events: AuditSink | None = None,
        on_outcome: Callable[[str], None] = lambda _outcome: None,
    ) -> None:
        """``on_outcome`` counts what happens to them: started, approved, denied,
        redeemed, expired (polled after expiry)."""
        self._store = store
        self._authenticator = authenticator
        self._clients = clients
        self._users = users
        self._ttl = ttl_seconds
        self._interval = interval_seconds
        self._clock = clock
        self._new_code = code_factory
        self._new_user_code = user_code_factory
        self._events = events or NoAudit()
        self._count = on_outcome
        self._purge = ExpiredPurge(store.delete_expired, "expired device authorizations", clock)

    # --- the device authorization endpoint (section 3.1, 3.2) -----------------------

    async def start(
        self, credentials: PresentedCredentials, scope: str
    ) -> StartedDeviceAuthorization:
        """invalid_client for bad credentials, unauthorized_client for a client not
        allowed the grant, invalid_scope for a scope beyond the client's."""
        client_id = await self._authenticator.authenticate(credentials)
        client = await self._clients.get_client(client_id)
        if client is None:  # deleted between the two calls
            raise InvalidRequest("Unknown client_id")
        if GrantType.DEVICE_CODE not in client.grant_types:
            raise UnauthorizedClient(
                f"The client is not allowed to use grant_type '{GrantType.DEVICE_CODE}'"
            )
        scopes = allowed_scopes(client, scope)
        await self._purge()
        now = self._clock()
        device_code = self._new_code()
        for attempt in range(_ATTEMPTS):
            user_code = self._new_user_code()
            try:
                await self._store.create(
                    DeviceAuthorization(
                        device_key=sha256_hex(device_code),
                        user_code_key=sha256_hex(user_code),
                        client_id=client_id,
                        scopes=scopes,
                        interval=self._interval,
                        created_at=now,
                        expires_at=now + timedelta(seconds=self._ttl),
                    )
                )
            except Conflict:
                if attempt == _ATTEMPTS - 1:
                    raise
                continue
            break
        self._count("started")
        return StartedDeviceAuthorization(
            device_code=device_code,
            user_code=format_user_code(user_code),
            expires_in=self._ttl,
            interval=self._interval,
        )

    # --- the verification page (section 3.3) ----------------------------------------

    async def find_pending(self, entered: str) -> PendingDevice:
        """The pending, unexpired device authorization the code names; NotFound
        with one message whatever was wrong."""
        code = normalize_user_code(entered)
        if code is None:
            raise NotFound(UNKNOWN_USER_CODE, detail="not a user code")
        found = await self._store.get_by_user_code(sha256_hex(code))
        if (
            found is None
            or found.status != DeviceStatus.PENDING
            or found.expires_at <= self._clock()
        ):
            raise NotFound(UNKNOWN_USER_CODE)
        client = await self._clients.get_client(found.client_id)
        if client is None or GrantType.DEVICE_CODE not in client.grant_types:
            raise NotFound(UNKNOWN_USER_CODE, detail="the client is gone or lost the grant")
        return PendingDevice(found, client)

    async def decide(
        self,
        device_key: str,
        *,
        approved: bool,
        subject: str,
        auth_time: datetime | None,
        amr: tuple[str, ...],
        scopes: tuple[str, ...],
    ) -> bool:
        """The person's decision, once, while it is pending: False when it expired
        or was decided meanwhile. Approving needs the account still enabled."""
        if approved:
            user = await self._users.get(subject)
            if user is None or not user.enabled:
                raise DeviceAccessDenied("The user account is disabled")
        decided = await self._store.decide(
            device_key,
            approved=approved,
            subject=subject,
            auth_time=auth_time,
            amr=amr,
            scopes=scopes,
            now=self._clock(),
        )
        if decided:
            found = await self._store.get(device_key)
            self._count("approved" if approved else "denied")
            self._events.report(
                DEVICE_APPROVED if approved else DEVICE_DENIED,
                actor=f"user:{subject}",
                target=f"client:{found.client_id}" if found is not None else "",
                outcome=AuditOutcome.SUCCESS if approved else AuditOutcome.DENIED,
                details={"scope": " ".join(scopes), "grant": device_key},
            )
        return decided

    # --- the token request (section 3.4, 3.5) ---------------------------------------

    async def consume(self, device_code: str, client_id: str) -> DeviceAuthorization:
        """The approved authorization, once; else the error section 3.5 gives."""
        if not device_code:
            raise InvalidRequest("Missing 'device_code'")
        device_key = sha256_hex(device_code)
        found = await self._store.get(device_key)
        if found is None:
            raise InvalidGrant(UNKNOWN_DEVICE_CODE)
        if found.client_id != client_id:
            raise InvalidGrant(OTHER_CLIENT)
        if found.status == DeviceStatus.REDEEMED:
            raise InvalidGrant(USED_DEVICE_CODE, detail=f"device_key {device_key}")
        now = self._clock()
        if found.expires_at <= now:
            self._count("expired")
            raise ExpiredToken(EXPIRED)
        if found.status == DeviceStatus.DENIED:
            raise DeviceAccessDenied(DENIED)
        if found.status == DeviceStatus.APPROVED:
            if not await self._store.redeem(device_key):
                raise InvalidGrant(USED_DEVICE_CODE)
            self._count("redeemed")
            return found
        if found.next_poll_at is not None and now < found.next_poll_at:
            interval = found.interval + SLOW_DOWN_STEP_SECONDS
            await self._store.record_poll(
                device_key,
                seen=found.next_poll_at,
                interval=interval,
                next_poll_at=now + timedelta(seconds=interval),
            )
            raise PollingTooFast(TOO_FAST)
        recorded = await self._store.record_poll(
            device_key,
            seen=found.next_poll_at,
            interval=found.interval,
            next_poll_at=now + timedelta(seconds=found.interval),
        )
        if not recorded:
            # Another poll of the same code got there first: this one was too fast.
            raise PollingTooFast(TOO_FAST)
        raise AuthorizationPending(PENDING)
