"""Authorization codes (RFC 6749 section 4.1.2 and 10.5, RFC 7636 section 4.4,
docs/signin.md "Authorization codes").

A code is 256 random bits handed out once; the store keeps only its SHA-256
(``code_id``), which also names the grant family of the tokens issued from it.
It is bound to the client, the redirect URI, the PKCE challenge, the user, the
scopes, the nonce, the authentication time, the browser session (``sid``) and, when
the request named one, a DPoP key (``dpop_jkt``, RFC 9449 section 10: the token
service checks the proof against it), lives ``authorization_code_ttl_seconds`` and
can be consumed once: the consuming UPDATE only matches a row whose ``used_at`` is
still NULL.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

from common.errors import AccessDenied, InvalidGrant, InvalidRequest, NotFound
from common.scopes import parse_scope
from common.secrets import random_token, sha256_hex
from common.timeutil import utcnow
from services.authorize.domain.model import AuthorizationCode, CodeRequest, IssuedCode
from services.authorize.domain.ports import AuthorizationCodeStore, UserStore
from services.authorize.domain.purge import ExpiredPurge

log = logging.getLogger(__name__)

UNKNOWN_CODE: Final = "Unknown authorization code"
USED_CODE: Final = "The authorization code was already used"
EXPIRED_CODE: Final = "The authorization code has expired"
OTHER_CLIENT: Final = "The authorization code was issued to another client"


class AuthorizationCodes:
    def __init__(
        self,
        store: AuthorizationCodeStore,
        users: UserStore,
        *,
        ttl_seconds: int = 60,
        clock: Callable[[], datetime] = utcnow,
        code_factory: Callable[[], str] = random_token,
    ) -> None:
        self._store = store
        self._users = users
        self._ttl = timedelta(seconds=ttl_seconds)
        self._clock = clock
        self._new_code = code_factory
        self._purge = ExpiredPurge(store.delete_expired, "expired authorization codes", clock)

    async def issue(self, request: CodeRequest) -> IssuedCode:
        """A new code for a validated, consented authorization request (the sign-in
        pipeline checked PKCE and normalised the method); the plain code is
        returned here once and never stored."""
        for name in ("client_id", "user_id", "redirect_uri"):
            if not getattr(request, name):
                raise InvalidRequest(f"Missing '{name}'")
        scopes = tuple(parse_scope(" ".join(request.scopes), InvalidRequest))
        user = await self._users.get(request.user_id)
        if user is None:
            raise NotFound(f"User {request.user_id!r} not found")
        if not user.enabled:
            raise AccessDenied("The user account is disabled")

        now = self._clock()
        await self._purge()
        code = self._new_code()
        stored = AuthorizationCode(
            code_id=sha256_hex(code),
            client_id=request.client_id,
            user_id=request.user_id,
            redirect_uri=request.redirect_uri,
            redirect_uri_in_request=request.redirect_uri_in_request,
            scopes=scopes,
            code_challenge=request.code_challenge,
            code_challenge_method=request.code_challenge_method,
            nonce=request.nonce,
            auth_time=request.auth_time or now,
            amr=request.amr,
            resource=request.resource,
            sid=request.sid,
            dpop_jkt=request.dpop_jkt,
            created_at=now,
            expires_at=now + self._ttl,
        )
        await self._store.create(stored)
        return IssuedCode(code=code, expires_at=stored.expires_at)

    async def consume(self, code: str, client_id: str) -> AuthorizationCode:
        """Mark the code used and return what it was bound to.

        invalid_grant when it is unknown, already used, expired, or issued to
        another client; in the last two cases it is burnt as well, so that a
        code that leaked to the wrong client is worth nothing to the right one.
        """
        if not code:
            raise InvalidRequest("Missing 'code'")
        if not client_id:
            raise InvalidRequest("Missing 'client_id'")
        now = self._clock()
        code_id = sha256_hex(code)
        stored, first_use = await self._store.consume(code_id, now)
        if stored is None:
            raise InvalidGrant(UNKNOWN_CODE)
        if not first_use:
            log.warning("authorization code %s replayed by client %s", code_id[:12], client_id)
            raise InvalidGrant(USED_CODE, detail=f"code_id {code_id}")
        if stored.client_id != client_id:
            log.warning(
                "authorization code %s of client %s presented by client %s",
                code_id[:12],
                stored.client_id,
                client_id,
            )
            raise InvalidGrant(OTHER_CLIENT)
        if stored.expires_at <= now:
            raise InvalidGrant(EXPIRED_CODE)
        return stored
