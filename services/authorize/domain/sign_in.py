"""The authorization endpoint as one pipeline (RFC 6749 section 4.1, OpenID
Connect Core section 3.1.2, RFC 9207; docs/signin.md), in the shape of ORY
Hydra's login and consent challenges and node-oidc-provider's step table.

``start`` validates the request and decides; ``complete_login`` and
``complete_consent`` continue a pending one. Each answers with the next
:data:`Step`: the login page, the consent page, the finished response (a code
or an error at the validated redirect URI, with ``state`` and ``iss``), or
"expired". The decision, in order:

1. the request fails validation -> the error at the redirect URI;
2. nobody signed in, or ``prompt=login`` / ``max_age`` want a sign-in that has
   not happened for this request -> the login page (``prompt=none``:
   ``login_required``);
3. ``prompt=consent``, or the consent on record does not cover the scopes ->
   the consent page (``prompt=none``: ``consent_required``);
4. the code.

A request waiting for a page is an :class:`Interaction`, stored under the
SHA-256 of an unguessable id, bound to the browser session that started it,
living ``ttl``; finishing it (the code, a denial) succeeds once.

A device's request (RFC 8628 section 3.3, ``start_device``) goes the same way
from the code the person typed, with two differences: the consent page is always
shown (section 5.4: the person must see which client on which device asks), and
the end is a :class:`DeviceDone` page instead of a redirect.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

from common.errors import (
    AccessDenied,
    ConsentRequired,
    InvalidRequest,
    LoginRequired,
    OAuthError,
    Unimplemented,
    safe_description,
)
from common.secrets import constant_time_equals, random_token, sha256_hex
from common.timeutil import utcnow
from common.urls import with_query
from common.vocabulary import ResponseMode, StandardScope
from services.authorize.domain.authorization_code import AuthorizationCodes
from services.authorize.domain.authorization_request import (
    AuthorizationRequest,
    AuthorizationRequestValidator,
    ValidatedAuthorizationRequest,
)
from services.authorize.domain.consent import ConsentRegistry
from services.authorize.domain.device_authorization import DeviceAuthorizations
from services.authorize.domain.login import PasswordLogin
from services.authorize.domain.model import ClientInfo, CodeRequest, LoginResult
from services.authorize.domain.ports import InteractionStore, UserStore
from services.authorize.domain.purge import ExpiredPurge
from services.authorize.domain.pushed_requests import PushedRequests
from services.authorize.domain.request_object import RequestObjects

log = logging.getLogger(__name__)

#: Error codes an authorization response may carry (RFC 6749 section 4.1.2.1,
#: OpenID Connect Core section 3.1.2.6); anything else is sent as server_error.
AUTHORIZATION_ERRORS: Final = frozenset(
    {
        "invalid_request",
        "unauthorized_client",
        "access_denied",
        "unsupported_response_type",
        "invalid_scope",
        "server_error",
        "temporarily_unavailable",
        "interaction_required",
        "login_required",
        "account_selection_required",
        "consent_required",
        "request_not_supported",
        "request_uri_not_supported",
        "invalid_request_object",
        # RFC 8707 section 2.
        "invalid_target",
    }
)

#: What each scope lets the client see or do, in the words of the person asked.
SCOPE_DESCRIPTIONS: Final[dict[str, str]] = {
    StandardScope.OPENID: "Confirm your identity",
    StandardScope.PROFILE: "Your name and username",
    StandardScope.EMAIL: "Your email address",
    StandardScope.OFFLINE_ACCESS: "Stay signed in when you are not using the app",
}

MAX_INTERACTION_ID: Final = 128


def describe_scope(scope: str) -> str:
    return SCOPE_DESCRIPTIONS.get(scope, f"Access to \u201c{scope}\u201d")


@dataclass(frozen=True, slots=True)
class BrowserSession:
    """What the gateway's session says: its binding, and who is signed in."""

    binding: str
    subject: str = ""
    auth_time: datetime | None = None
    amr: tuple[str, ...] = ()
    # The sign-in's session id (OpenID Connect Back-Channel Logout 1.0, ``sid``),
    # recorded with the codes it approves. On complete_login: the one the gateway
    # gives the sign-in being completed, since its code may be issued at once.
    sid: str = ""


@dataclass(frozen=True, slots=True)
class Interaction:
    """An authorization request waiting for the login or consent page."""

    interaction_key: str  # SHA-256 of the id; the id itself is never stored
    binding_key: str  # SHA-256 of the session binding
    validated: ValidatedAuthorizationRequest
    created_at: datetime
    expires_at: datetime
    # Who the request is for: the session's person at the start, or who signed
    # in on its login page ("" until then).
    subject: str = ""
    auth_time: datetime | None = None
    amr: tuple[str, ...] = ()
    # Signed in on this request's login page: satisfies prompt=login and max_age.
    fresh_login: bool = False
    finished_at: datetime | None = None
    # A device's request (RFC 8628): the SHA-256 of its device_code; "" otherwise.
    device_key: str = ""


@dataclass(frozen=True, slots=True)
class ShowLogin:
    interaction_id: str
    validated: ValidatedAuthorizationRequest


@dataclass(frozen=True, slots=True)
class ShowConsent:
    interaction_id: str
    validated: ValidatedAuthorizationRequest
    scopes: tuple[tuple[str, str], ...]  # (scope, description)
    # A device asks (RFC 8628): no redirect follows.
    device: bool = False


@dataclass(frozen=True, slots=True)
class Respond:
    """The authorization response (RFC 6749 section 4.1.2 / 4.1.2.1, RFC 9207) for
    ``redirect_uri``: in its query (``location``), or POSTed to it by a form
    (``form_post``: OAuth 2.0 Form Post Response Mode). Empty values are left out."""

    redirect_uri: str
    parameters: tuple[tuple[str, str], ...]
    form_post: bool = False

    @classmethod
    def to(cls, validated: ValidatedAuthorizationRequest, parameters: dict[str, str]) -> Respond:
        """As the request's response_mode says (query when it is not a valid one:
        its own error goes back the default way)."""
        return cls(
            validated.redirect_uri,
            tuple((name, value) for name, value in parameters.items() if value),
            form_post=validated.request.response_mode == ResponseMode.FORM_POST,
        )

    @property
    def location(self) -> str:
        """The redirect URI with the parameters in its query (response_mode=query)."""
        return with_query(self.redirect_uri, dict(self.parameters))


@dataclass(frozen=True, slots=True)
class Expired:
    """Finished, expired, or another session's: start again at the client."""

    client: ClientInfo | None = None


@dataclass(frozen=True, slots=True)
class DeviceDone:
    """A device's request is decided (RFC 8628 section 3.3): approved, denied by the
    person (``message`` empty), or refused for ``message``."""

    client: ClientInfo
    approved: bool
    message: str = ""


Step = ShowLogin | ShowConsent | Respond | Expired | DeviceDone


@dataclass(frozen=True, slots=True)
class LoginOutcome:
    signed_in: LoginResult | None
    next: Step


class SignIn:
    """StartAuthorization, CompleteLogin and CompleteConsent."""

    def __init__(
        self,
        validator: AuthorizationRequestValidator,
        interactions: InteractionStore,
        login: PasswordLogin,
        consents: ConsentRegistry,
        codes: AuthorizationCodes,
        *,
        issuer: str,
        ttl_seconds: int = 1800,
        max_per_session: int = 10,
        clock: Callable[[], datetime] = utcnow,
        id_factory: Callable[[], str] = random_token,
        users: UserStore | None = None,
        pushed: PushedRequests | None = None,
        require_pushed_requests: bool = False,
        devices: DeviceAuthorizations | None = None,
        request_objects: RequestObjects | None = None,
    ) -> None:
        self._validator = validator
        self._request_objects = request_objects
        self._devices = devices
        self._pushed = pushed
        self._require_pushed = require_pushed_requests
        self._users = users
        self._store = interactions
        self._login = login
        self._consents = consents
        self._codes = codes
        self._issuer = issuer
        self._ttl = timedelta(seconds=ttl_seconds)
        self._max_per_session = max_per_session
        self._clock = clock
        self._new_id = id_factory
        self._purge = ExpiredPurge(
            interactions.delete_expired, "finished or expired interactions", clock
        )

    async def start(self, parameters: Iterable[tuple[str, str]], session: BrowserSession) -> Step:
        """A new authorization request. InvalidRequest when it cannot be answered
        at a redirect URI the client registered (the gateway shows a page)."""
        if not session.binding:
            raise InvalidRequest("Missing the browser session's binding")
        request = AuthorizationRequest.from_query(parameters)
        pushed = signed = False
        if request.request_uri and self._pushed is not None:
            if request.request:
                raise InvalidRequest("Give 'request' or 'request_uri', not both")
            # RFC 9126 section 4: the pushed parameters are the request, once.
            request, signed = await self._pushed.take(request)
            pushed = True
        elif request.request and self._request_objects is not None:
            # RFC 9101 section 6.3: the signed object's parameters are the request.
            request = await self._request_objects.unpack(request)
            signed = True
        validated = await self._validator.validate(request)
        if validated.error:
            return self._error(validated, validated.error, validated.error_description)
        if validated.client.require_signed_request_object and not signed:
            return self._error(
                validated,
                InvalidRequest.error,
                "This client must sign its authorization requests (RFC 9101 request object)",
            )
        must_push = self._require_pushed or validated.client.require_pushed_authorization_requests
        if must_push and not pushed:
            return self._error(
                validated,
                InvalidRequest.error,
                "Push the authorization request first (RFC 9126): this server requires it",
            )
        return await self._begin(validated, session)

    async def start_device(self, user_code: str, session: BrowserSession) -> Step:
        """The code the person typed on the verification page (RFC 8628 section 3.3):
        the sign-in for the device authorization it names. NotFound for a code that
        is unknown, expired or already decided."""
        if self._devices is None:
            raise Unimplemented("The device authorization grant is not enabled")
        if not session.binding:
            raise InvalidRequest("Missing the browser session's binding")
        pending = await self._devices.find_pending(user_code)
        found = pending.authorization
        validated = ValidatedAuthorizationRequest(
            request=AuthorizationRequest(
                client_id=found.client_id, scope=" ".join(found.scopes), prompt="consent"
            ),
            redirect_uri="",
            redirect_uri_in_request=False,
            client=pending.client,
            scopes=found.scopes,
        )
        return await self._begin(
            validated, session, device_key=found.device_key, expires_at=found.expires_at
        )

    async def _begin(
        self,
        validated: ValidatedAuthorizationRequest,
        session: BrowserSession,
        *,
        device_key: str = "",
        expires_at: datetime | None = None,
    ) -> Step:
        """The first step of a validated request for the session's person (nobody
        when their sign-in predates a password change); it lives ``ttl``, or less
        when what it decides ends sooner (``expires_at``)."""
        await self._purge()
        if session.subject and not await self._still_signed_in(session.subject, session.auth_time):
            session = BrowserSession(binding=session.binding)
        now = self._clock()
        ends = now + self._ttl
        pending = Interaction(
            interaction_key="",
            binding_key=sha256_hex(session.binding),
            validated=validated,
            created_at=now,
            expires_at=ends if expires_at is None else min(ends, expires_at),
            subject=session.subject,
            auth_time=session.auth_time,
            amr=session.amr,
            device_key=device_key,
        )
        return await self._next(pending, interaction_id="", sid=session.sid)

    async def complete_login(
        self,
        interaction_id: str,
        session: BrowserSession,
        username: str,
        password: str,
        remote_addr: str = "",
    ) -> LoginOutcome:
        """The credentials of the login page (PasswordLogin's rules: AccessDenied
        with one message, SlowDown while locked out), then the next step."""
        found = await self._pending(interaction_id, session)
        if isinstance(found, Expired):
            return LoginOutcome(signed_in=None, next=found)
        result = await self._login.login(username, password, remote_addr)
        signed_in = replace(
            found,
            subject=result.user.user_id,
            auth_time=result.auth_time,
            amr=result.amr,
            fresh_login=True,
        )
        if not await self._store.record_login(
            found.interaction_key, signed_in.subject, result.auth_time, result.amr
        ):
            return LoginOutcome(signed_in=result, next=Expired(found.validated.client))
        following = await self._next(signed_in, interaction_id, sid=session.sid)
        return LoginOutcome(signed_in=result, next=following)

    async def complete_consent(
        self,
        interaction_id: str,
        session: BrowserSession,
        *,
        approve: bool,
        scopes: Iterable[str] = (),
    ) -> Step:
        """The person's decision on the consent page; ``scopes`` narrows what is
        allowed (empty: everything asked for)."""
        found = await self._pending(interaction_id, session)
        if isinstance(found, Expired):
            return found
        validated = found.validated
        if (
            not found.subject
            or found.subject != session.subject
            or self._login_needed(found)
            or not await self._still_signed_in(found.subject, found.auth_time)
        ):
            # Signed out or someone else signed in since, a forced login is still
            # owed, or the password changed: the consent page cannot stand in for it.
            return ShowLogin(interaction_id, validated)
        if not approve:
            if not await self._store.finish(found.interaction_key, self._clock()):
                return Expired(validated.client)
            if found.device_key:
                return await self._decide_device(found, approved=False)
            return self._error(validated, AccessDenied.error, "The user denied the request")
        allowed = tuple(scopes)
        if allowed:
            if not set(allowed) <= set(validated.scopes):
                raise InvalidRequest("Consent can only allow scopes the client asked for")
            validated = replace(
                validated, scopes=tuple(s for s in validated.scopes if s in allowed)
            )
        return await self._issue(
            replace(found, validated=validated), interaction_id, grant=True, sid=session.sid
        )

    # --- the decision -------------------------------------------------------------

    async def _next(self, interaction: Interaction, interaction_id: str, *, sid: str) -> Step:
        """The next step; a code records ``sid``, the session approving it now (not
        the one that started the request)."""
        validated = interaction.validated
        prompts = validated.request.prompts
        if self._login_needed(interaction):
            if "none" in prompts:
                return self._error(validated, LoginRequired.error, "Sign-in required")
            return ShowLogin(await self._keep(interaction, interaction_id), validated)
        consent = await self._consents.get(validated.client.client_id, interaction.subject)
        covered = consent is not None and set(validated.scopes) <= set(consent.scopes)
        if "consent" in prompts or not covered or interaction.device_key:
            if "none" in prompts:
                return self._error(validated, ConsentRequired.error, "Consent required")
            return ShowConsent(
                await self._keep(interaction, interaction_id),
                validated,
                tuple((scope, describe_scope(scope)) for scope in validated.scopes),
                device=bool(interaction.device_key),
            )
        return await self._issue(interaction, interaction_id, grant=False, sid=sid)

    async def _still_signed_in(self, subject: str, auth_time: datetime | None) -> bool:
        """False for a sign-in made before the user's password was last set: a
        password change or reset ends every session the old password opened.
        Sessions carry whole seconds, so the change is compared at that precision."""
        if self._users is None:
            return True
        user = await self._users.get(subject)
        changed = user.password_changed_at if user is not None else None
        if changed is None:
            return True
        return auth_time is not None and auth_time >= changed.replace(microsecond=0)

    def _login_needed(self, interaction: Interaction) -> bool:
        """Nobody signed in, or ``prompt=login`` / ``max_age`` ask for a sign-in
        that has not happened for this request (OpenID Connect Core 3.1.2.1)."""
        if not interaction.subject:
            return True
        if interaction.fresh_login:
            return False
        request = interaction.validated.request
        if "login" in request.prompts:
            return True
        max_age = request.max_age_seconds
        if max_age is None:
            return False
        # max_age=0 means "authenticate now", like prompt=login.
        auth_time = interaction.auth_time
        return (
            max_age == 0
            or auth_time is None
            or self._clock() - auth_time > timedelta(seconds=max_age)
        )

    async def _keep(self, interaction: Interaction, interaction_id: str) -> str:
        """The id of the stored interaction; a new one is stored on first need."""
        if interaction_id:
            return interaction_id
        new_id = self._new_id()
        await self._store.create(
            replace(interaction, interaction_key=sha256_hex(new_id)), self._max_per_session
        )
        return new_id

    async def _issue(
        self, interaction: Interaction, interaction_id: str, *, grant: bool, sid: str
    ) -> Step:
        """Finish the interaction (once), remember the consent, answer with the code."""
        validated = interaction.validated
        if interaction_id and not await self._store.finish(
            interaction.interaction_key, self._clock()
        ):
            return Expired(validated.client)
        if interaction.device_key:
            return await self._decide_device(interaction, approved=True, grant=grant)
        request = validated.request
        try:
            if grant:
                await self._consents.grant(
                    validated.client.client_id, interaction.subject, validated.scopes
                )
            issued = await self._codes.issue(
                CodeRequest(
                    client_id=validated.client.client_id,
                    user_id=interaction.subject,
                    redirect_uri=validated.redirect_uri,
                    redirect_uri_in_request=validated.redirect_uri_in_request,
                    scopes=validated.scopes,
                    code_challenge=request.code_challenge,
                    code_challenge_method=validated.code_challenge_method,
                    nonce=request.nonce,
                    auth_time=interaction.auth_time,
                    amr=interaction.amr,
                    resource=request.resource,
                    sid=sid,
                    dpop_jkt=request.dpop_jkt,
                )
            )
        except OAuthError as exc:
            return self._error(validated, exc.error, exc.public_description)
        except Exception:
            # The interaction is finished: the client hears of the failure.
            log.exception("issuing an authorization code failed")
            return self._error(validated, "server_error", "")
        return Respond.to(
            validated, {"code": issued.code, "state": request.state, "iss": self._issuer}
        )

    async def _decide_device(
        self, interaction: Interaction, *, approved: bool, grant: bool = False
    ) -> DeviceDone:
        """The end of a device's request: the decision recorded once (and the
        consent remembered, as for a code), or why it could not be."""
        assert self._devices is not None  # an interaction with a device_key came from it
        validated = interaction.validated
        client = validated.client
        try:
            decided = await self._devices.decide(
                interaction.device_key,
                approved=approved,
                subject=interaction.subject,
                auth_time=interaction.auth_time,
                amr=interaction.amr,
                scopes=validated.scopes,
            )
            if decided and approved and grant:
                await self._consents.grant(client.client_id, interaction.subject, validated.scopes)
        except OAuthError as exc:
            return DeviceDone(client, approved=False, message=exc.public_description)
        if not decided:
            return DeviceDone(
                client, approved=False, message="The request expired or was already answered."
            )
        return DeviceDone(client, approved=approved)

    def _error(
        self, validated: ValidatedAuthorizationRequest, error: str, description: str
    ) -> Respond:
        """The error response (RFC 6749 section 4.1.2.1, RFC 9207)."""
        if error not in AUTHORIZATION_ERRORS:
            error, description = "server_error", ""
        return Respond.to(
            validated,
            {
                "error": error,
                "error_description": safe_description(description),
                "state": validated.request.state,
                "iss": self._issuer,
            },
        )

    # --- the store ------------------------------------------------------------------

    async def _pending(self, interaction_id: str, session: BrowserSession) -> Interaction | Expired:
        """The interaction, if it is still waiting and this session's."""
        if not interaction_id or len(interaction_id) > MAX_INTERACTION_ID:
            return Expired()
        found = await self._store.get(sha256_hex(interaction_id))
        if found is None:
            return Expired()
        usable = (
            found.finished_at is None
            and found.expires_at > self._clock()
            and bool(session.binding)
            and constant_time_equals(found.binding_key, sha256_hex(session.binding))
        )
        return found if usable else Expired(found.validated.client)
