"""OpenID Connect Back-Channel Logout 1.0: telling the clients of a session that it ended.

A session ends at the gateway (``/logout``: TokenService.EndSession) or because an
operator disabled the user, set their password or deleted them (RevokeGrants by
subject). The grant families it touched name the clients that took part and the
session (``sid``, the claim of their ID tokens); each such client that registered a
``backchannel_logout_uri`` is sent a logout token (section 2.4) over the network in
the background (:class:`LogoutSender`: timeout, retries), so that nobody waits for
a client's server. One token per client and session; a client that requires the
``sid`` (``backchannel_logout_session_required``) hears only of sessions that have
one. On EndSession the session's grants without ``offline_access`` are revoked
(section 2.7: refresh tokens with offline access survive a logout).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import jwt

from common.secrets import random_token
from common.vocabulary import StandardScope
from services.token.domain.grant_families import GrantFamilies
from services.token.domain.keys import KeyManager
from services.token.domain.ports import GrantFamily

#: Section 2.4: the ``events`` member of a logout token.
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
#: Section 2.4: the explicit type of a logout token (RFC 8725 section 3.11).
LOGOUT_TOKEN_TYPE = "logout+jwt"  # noqa: S105 - a media type
#: A logout token is for now, not for later (section 2.6: recipients check ``iat``).
LOGOUT_TOKEN_TTL_SECONDS = 120
SESSION_ENDED_REASON = "session ended"


@dataclass(frozen=True)
class LogoutReceiver:
    """What a client registered for back-channel logout (section 2.2)."""

    client_id: str
    uri: str
    session_required: bool = False


@dataclass(frozen=True)
class LogoutDelivery:
    """One logout token on its way to one client."""

    client_id: str
    uri: str
    logout_token: str = field(repr=False)


class LogoutReceivers(Protocol):
    async def receiver(self, client_id: str) -> LogoutReceiver | None:
        """The client's back-channel logout registration; None when it has none
        (or is gone)."""
        ...


class LogoutSender(Protocol):
    def send(self, deliveries: Sequence[LogoutDelivery]) -> None:
        """Starts delivering in the background and returns at once."""
        ...


class NoReceivers:
    """No client hears of logouts (a domain wired without the clients service)."""

    async def receiver(self, client_id: str) -> LogoutReceiver | None:
        return None


class NoSender:
    def send(self, deliveries: Sequence[LogoutDelivery]) -> None:
        return None


class LogoutTokenIssuer:
    """Signs logout tokens (section 2.4) with the ID tokens' key."""

    def __init__(
        self,
        keys: KeyManager,
        issuer: str,
        alg: str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._alg = alg
        self._clock = clock

    def issue(self, *, client_id: str, subject: str, sid: str) -> str:
        """``sub``, ``sid`` or both (section 2.4: at least one); never a ``nonce``."""
        key = self._keys.signing_key(self._alg)
        iat = int(self._clock())
        claims: dict[str, object] = {
            "iss": self._issuer,
            "aud": client_id,
            "iat": iat,
            "exp": iat + LOGOUT_TOKEN_TTL_SECONDS,
            "jti": random_token(16),
            "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
        }
        if subject:
            claims["sub"] = subject
        if sid:
            claims["sid"] = sid
        return jwt.encode(
            claims,
            key.private_key,
            algorithm=self._alg,
            headers={"kid": key.kid, "typ": LOGOUT_TOKEN_TYPE},
        )


class BackchannelLogout:
    """Turns ended grant families into logout tokens for the clients that want them."""

    def __init__(
        self,
        tokens: LogoutTokenIssuer,
        receivers: LogoutReceivers,
        sender: LogoutSender,
        families: GrantFamilies,
    ) -> None:
        self._tokens = tokens
        self._receivers = receivers
        self._sender = sender
        self._families = families

    async def end_session(self, sid: str, subject: str) -> tuple[int, int]:
        """The gateway ended the browser session ``sid`` of ``subject``: its grants
        without offline access are revoked, its clients told. Returns (families
        revoked, logout tokens queued)."""
        if not sid:
            return 0, 0
        families = [
            family for family in await self._families.of_session(sid) if family.subject == subject
        ]
        revoked = 0
        for family in families:
            if StandardScope.OFFLINE_ACCESS not in family.scope:
                revoked += int(await self._families.revoke(family.family_id, SESSION_ENDED_REASON))
        return revoked, await self.notify(families)

    async def notify(self, families: Iterable[GrantFamily]) -> int:
        """Queues one logout token per client and session of ``families``; returns how
        many."""
        receivers: dict[str, LogoutReceiver | None] = {}
        seen: set[tuple[str, str, str]] = set()
        deliveries: list[LogoutDelivery] = []
        for family in families:
            key = (family.client_id, family.subject, family.sid)
            if key in seen:
                continue
            seen.add(key)
            if family.client_id not in receivers:
                receivers[family.client_id] = await self._receivers.receiver(family.client_id)
            receiver = receivers[family.client_id]
            if receiver is None or not receiver.uri:
                continue
            if receiver.session_required and not family.sid:
                continue  # section 2.2: it would refuse a token without a sid
            deliveries.append(
                LogoutDelivery(
                    client_id=receiver.client_id,
                    uri=receiver.uri,
                    logout_token=self._tokens.issue(
                        client_id=receiver.client_id, subject=family.subject, sid=family.sid
                    ),
                )
            )
        if deliveries:
            self._sender.send(deliveries)
        return len(deliveries)
