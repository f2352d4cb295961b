"""Browser sessions held server-side (docs/signin.md, "Sessions and pages").

The cookie carries only a random 256-bit id; the session itself is JSON in the
gateway's KeyValue (Redis, or the in-process stand-in of the embedded default)
under ``session:<sha256(id)>``, so a leaked key dump names no usable cookie.
The TTL slides: every save starts the period again.

A session holds who is signed in (``user_id``, ``auth_time``, ``amr``) and the
``sid`` of that sign-in, the synchronizer CSRF token of its forms, the
``binding`` its interactions are tied to, and the page each waiting interaction
shows (at most :data:`MAX_PENDING`, the oldest dropped first; each lives
:data:`PENDING_TTL_SECONDS`). The authorization requests themselves live in the
authorize service.

Routes load and save explicitly (no middleware): a page that needs the
session calls :meth:`SessionStore.load` and, when it changed anything or wants
the TTL to slide, :meth:`SessionStore.save` on its response.

Nothing is stored for a browser that has nothing worth keeping: a
session is written only once someone signed in on it or an interaction waits
on it, and one that has neither any more is deleted. An error page or a bare
login form stores nothing; the bare form's CSRF token is a double-submit
cookie instead (:meth:`SessionStore.form_token`). A session nobody signed in
on lives ``pending_session_ttl_seconds`` (its interactions' lifetime), not the
full ``session_ttl_seconds``. Two tabs saving at
once can lose one tab's page (last write wins); that tab's sign-in then says
the request expired and the application starts again.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

from google.protobuf.message import DecodeError
from oauth2.v1 import authorize_pb2
from starlette.requests import Request
from starlette.responses import Response

from common.kv import KeyValue, unavailable_as
from common.secrets import constant_time_equals, random_token, sha256_hex
from gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

#: Interactions kept waiting per session; one more drops the oldest.
MAX_PENDING = 10
#: How long the page of an interaction is kept (the authorize service's
#: interaction_ttl_seconds decides when the interaction itself expires).
PENDING_TTL_SECONDS = 3600

_KEY_PREFIX = "session:"

#: The sid names the session in ID and logout tokens that clients keep and log;
#: 128 random bits make it unguessable. It is a name, not a credential, so it is
#: drawn on its own: never the cookie or the binding, nor derived from them.
SID_BYTES = 16


def new_sid() -> str:
    """The session id of a new sign-in (OpenID Connect Back-Channel Logout 1.0,
    the ``sid`` claim)."""
    return random_token(SID_BYTES)


Page: TypeAlias = authorize_pb2.LoginPage | authorize_pb2.ConsentPage
_PAGE_TYPES: Final[dict[str, type[Page]]] = {
    "login": authorize_pb2.LoginPage,
    "consent": authorize_pb2.ConsentPage,
}


@dataclass
class InteractionView:
    """What the gateway shows for an interaction the authorize service keeps
    (docs/signin.md): the page it was last told to show, as the service sent
    it, so that the GET after a 303 renders without another call."""

    kind: str  # "login" or "consent": the oneof case of Interaction.step
    page: Page
    created_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "page": base64.b64encode(self.page.SerializeToString()).decode("ascii"),
            "created_at": self.created_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InteractionView:
        kind = str(data["kind"])
        page_type = _PAGE_TYPES[kind]
        return cls(
            kind=kind,
            page=page_type.FromString(base64.b64decode(data["page"])),
            created_at=float(data["created_at"]),
        )

    @property
    def expired(self) -> bool:
        return time.time() - self.created_at > PENDING_TTL_SECONDS


@dataclass
class Session:
    """One browser's session. ``session_id`` is the cookie value and is never stored."""

    session_id: str
    csrf_token: str
    # Sent with every interaction call: the authorize service answers an
    # interaction only to the session that started it. Kept across sign-in.
    binding: str = field(default_factory=random_token)
    user_id: str = ""
    username: str = ""
    auth_time: int = 0
    amr: list[str] = field(default_factory=list)
    # The sign-in's session id (the ID tokens' ``sid``): new at each sign-in, ""
    # while nobody is signed in (and in sessions stored before there was one).
    sid: str = ""
    interactions: dict[str, InteractionView] = field(default_factory=dict)
    # The id the session was stored under before a rotation, deleted on save.
    replaced_id: str = ""
    # Whether the KeyValue holds it (loaded from there, or saved).
    stored: bool = False

    @property
    def signed_in(self) -> bool:
        return bool(self.user_id)

    @property
    def worth_keeping(self) -> bool:
        """Someone signed in, or an interaction waits on it: otherwise it is not stored."""
        return self.signed_in or bool(self.interactions)

    def csrf_valid(self, presented: str) -> bool:
        return bool(presented) and constant_time_equals(presented, self.csrf_token)

    def browser(self, signing_in: str = "") -> authorize_pb2.BrowserSession:
        """The session as the authorize service's interaction calls take it;
        ``signing_in``: the sid of the sign-in being completed (CompleteLogin may
        issue the code at once, before :meth:`sign_in` records it here)."""
        session = authorize_pb2.BrowserSession(
            binding=self.binding, subject=self.user_id, amr=self.amr, sid=signing_in or self.sid
        )
        if self.signed_in:
            session.auth_time.FromSeconds(self.auth_time)
        return session

    def show(
        self, interaction: authorize_pb2.Interaction, current: str = ""
    ) -> InteractionView | None:
        """Keeps the page an interaction waits on (the latest per id), dropping
        the oldest beyond the bound; forgets ``current`` once it finished."""
        self.drop_expired()
        kind = interaction.WhichOneof("step")
        if kind not in _PAGE_TYPES:
            self.interactions.pop(current, None)
            return None
        page: Page = interaction.login if kind == "login" else interaction.consent
        view = InteractionView(kind=kind, page=page, created_at=time.time())
        self.interactions[interaction.interaction_id] = view
        while len(self.interactions) > MAX_PENDING:
            oldest = min(self.interactions, key=lambda key: self.interactions[key].created_at)
            del self.interactions[oldest]
        return view

    def view(self, interaction_id: str) -> InteractionView | None:
        view = self.interactions.get(interaction_id) if interaction_id else None
        if view is None or view.expired:
            return None
        return view

    def drop_expired(self) -> None:
        for key in [key for key, value in self.interactions.items() if value.expired]:
            del self.interactions[key]

    def sign_in(
        self, user_id: str, username: str, auth_time: int, amr: list[str], *, sid: str
    ) -> None:
        """Records the login and replaces the session id and CSRF token, so an id
        planted before the login is worth nothing after it (session fixation).
        ``sid`` (from :func:`new_sid`) is this sign-in's: a new one each time."""
        self.replaced_id = self.replaced_id or self.session_id
        self.session_id = random_token()
        self.csrf_token = random_token()
        self.user_id = user_id
        self.username = username
        self.auth_time = auth_time
        self.amr = list(amr)
        self.sid = sid

    def to_json(self) -> str:
        return json.dumps(
            {
                "csrf_token": self.csrf_token,
                "binding": self.binding,
                "user_id": self.user_id,
                "username": self.username,
                "auth_time": self.auth_time,
                "amr": self.amr,
                "sid": self.sid,
                "interactions": {k: v.to_json() for k, v in self.interactions.items()},
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, session_id: str, raw: bytes) -> Session:
        data = json.loads(raw)
        return cls(
            session_id=session_id,
            csrf_token=str(data["csrf_token"]),
            binding=str(data.get("binding") or random_token()),
            user_id=str(data.get("user_id", "")),
            username=str(data.get("username", "")),
            auth_time=int(data.get("auth_time", 0)),
            amr=[str(value) for value in data.get("amr", [])],
            sid=str(data.get("sid", "")),
            interactions={
                key: InteractionView.from_json(value)
                for key, value in data.get("interactions", {}).items()
            },
            stored=True,
        )


SESSIONS_UNAVAILABLE: Final = "Sign-in is unavailable right now"


class SessionStore:
    """Loads, saves and ends sessions in the KeyValue, and sets their cookie."""

    def __init__(self, kv: KeyValue, settings: GatewaySettings) -> None:
        self._kv = kv
        self._ttl = settings.session_ttl_seconds
        self._pending_ttl = min(settings.pending_session_ttl_seconds, self._ttl)
        self._cookie = settings.session_cookie_name
        self._form_cookie = settings.session_cookie_name + "_form"
        self._secure = settings.secure_cookies

    @staticmethod
    def _key(session_id: str) -> str:
        return _KEY_PREFIX + sha256_hex(session_id)

    async def load(self, request: Request) -> Session | None:
        """The session the cookie names, or None (no cookie, unknown, expired, unreadable)."""
        session_id = request.cookies.get(self._cookie, "")
        if not session_id or len(session_id) > 128:
            return None
        with unavailable_as(SESSIONS_UNAVAILABLE):
            raw = await self._kv.get(self._key(session_id))
        if raw is None:
            return None
        try:
            return Session.from_json(session_id, raw)
        except (ValueError, KeyError, TypeError, binascii.Error, DecodeError):
            # ValueError covers JSON decoding errors.
            log.warning("discarding an unreadable session")
            return None

    async def load_or_create(self, request: Request) -> Session:
        """The cookie's session, or a new one that is stored only if
        :meth:`save` finds it worth keeping."""
        session = await self.load(request)
        if session is None:
            session = self.new()
        return session

    @staticmethod
    def new() -> Session:
        return Session(session_id=random_token(), csrf_token=random_token())

    async def save(self, session: Session, response: Response) -> None:
        """Stores the session for another TTL and (re)sends the cookie, when it
        is worth keeping; otherwise makes sure nothing of it is stored."""
        session.drop_expired()
        if session.replaced_id:
            with unavailable_as(SESSIONS_UNAVAILABLE):
                await self._kv.delete(self._key(session.replaced_id))
            session.replaced_id = ""
        if not session.worth_keeping:
            if session.stored:
                await self.end(session, response)
                session.stored = False
            return
        ttl = self._ttl if session.signed_in else self._pending_ttl
        with unavailable_as(SESSIONS_UNAVAILABLE):
            await self._kv.set(self._key(session.session_id), session.to_json(), ttl=ttl)
        session.stored = True
        # Re-sent every time so the browser's expiry slides with the server's.
        response.set_cookie(
            self._cookie,
            session.session_id,
            max_age=ttl,
            path="/",
            secure=self._secure,
            httponly=True,
            samesite="lax",
        )

    def form_token(self, request: Request) -> str:
        """The CSRF token of a form shown without a session (the bare login
        form): the double-submit cookie's value, or a new one. Send it with
        :meth:`set_form_token`."""
        token = request.cookies.get(self._form_cookie, "")
        return token if 32 <= len(token) <= 128 else random_token()

    def set_form_token(self, response: Response, token: str) -> None:
        response.set_cookie(
            self._form_cookie,
            token,
            max_age=self._pending_ttl,
            path="/",
            secure=self._secure,
            httponly=True,
            samesite="lax",
        )

    def form_token_valid(self, request: Request, presented: str) -> bool:
        """The form's token matches the double-submit cookie (OWASP CSRF cheat
        sheet): a cross-site page can make the browser send the cookie but can
        neither read it nor set it (HttpOnly; SameSite=Lax keeps it off
        cross-site POSTs)."""
        cookie = request.cookies.get(self._form_cookie, "")
        return bool(presented) and len(cookie) >= 32 and constant_time_equals(presented, cookie)

    def clear_form_token(self, response: Response) -> None:
        response.delete_cookie(
            self._form_cookie, path="/", secure=self._secure, httponly=True, samesite="lax"
        )

    async def end(self, session: Session | None, response: Response) -> None:
        """Deletes the session server-side and expires the cookie."""
        if session is not None:
            with unavailable_as(SESSIONS_UNAVAILABLE):
                await self._kv.delete(self._key(session.session_id))
        response.delete_cookie(
            self._cookie,
            path="/",
            secure=self._secure,
            httponly=True,
            samesite="lax",
        )
