"""What ``/oauth/authorize``, ``/device``, ``/login`` and ``/consent`` share: the HTTP side
of the authorize service's sign-in pipeline (docs/signin.md).

The service decides; the gateway parses the query, keeps the session, and does
what each :class:`Interaction` says: a page to show (kept in the session and
reached by a 303, so that a reload never re-posts a form), a response to send
the browser to, or "expired".
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from oauth2.v1 import authorize_pb2
from starlette.requests import Request
from starlette.responses import Response

from common.errors import InvalidRequest, OAuthError
from gateway.pages import UNAVAILABLE, error_page, gateway_url, redirect, render
from gateway.sessions import Session

#: The query parameter (and hidden form field) naming the interaction.
INTERACTION = "interaction"

EXPIRED = "This sign-in has expired or was already completed. Start again from the application."


def query_parameters(query_string: bytes) -> list[authorize_pb2.QueryParameter]:
    """The query as it came, in order and with repeats (RFC 6749 section 3.1:
    the authorize service reads, counts and checks them). UTF-8 strict."""
    try:
        pairs = parse_qsl(
            query_string.decode("utf-8"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
        )
    except UnicodeDecodeError:
        raise InvalidRequest("The authorization request is not valid UTF-8") from None
    return [authorize_pb2.QueryParameter(name=name, value=value) for name, value in pairs]


def page_location(request: Request, kind: str, interaction_id: str) -> str:
    return gateway_url(request, f"/{kind}?{urlencode({INTERACTION: interaction_id})}")


def follow(
    request: Request,
    session: Session,
    interaction: authorize_pb2.Interaction,
    current: str = "",
) -> Response:
    """Do what the interaction says; ``current`` is the interaction the request
    continued, whose page goes when it finished. The caller saves the session."""
    view = session.show(interaction, current)
    kind = interaction.WhichOneof("step")
    if view is not None:
        return redirect(page_location(request, view.kind, interaction.interaction_id))
    if kind == "response":
        if interaction.response.HasField("form_post"):
            return form_post_page(request, interaction.response.form_post)
        return redirect(interaction.response.location)
    if kind == "device":
        return device_decided_page(request, interaction.device)
    return expired_page(request, interaction.expired.client)


def device_decided_page(request: Request, decision: authorize_pb2.DeviceDecision) -> Response:
    """The end of a device's sign-in (RFC 8628 section 3.3): back to the device."""
    client = decision.client
    return render(
        request,
        "device_done.html",
        {
            "client_name": client.client_name or client.client_id,
            "approved": decision.approved,
            "message": decision.message,
        },
        status_code=200 if decision.approved or not decision.message else 400,
    )


def form_post_page(request: Request, form_post: authorize_pb2.FormPost) -> Response:
    """OAuth 2.0 Form Post Response Mode section 2: an HTML form of hidden fields that
    POSTs the response to the redirect URI, submitted by a script once it loads (the
    page's one script, from the gateway itself) or by its button without JavaScript.
    Not cached, and its CSP lets the form post only to the redirect URI's origin."""
    return render(
        request,
        "form_post.html",
        {
            "action": form_post.action,
            "parameters": [(p.name, p.value) for p in form_post.parameters],
        },
        form_targets=[form_post.action],
        script=True,
    )


def expired_page(request: Request, client: authorize_pb2.ClientDisplay | None = None) -> Response:
    """A finished, expired or foreign interaction: start again, with a link back
    to the client when the service named it."""
    return render(
        request,
        "expired.html",
        {
            "message": EXPIRED,
            "client_name": (client.client_name or client.client_id) if client else "",
            "client_uri": client.client_uri if client else "",
        },
        status_code=400,
    )


def request_failed_page(request: Request, exc: OAuthError) -> Response:
    """The request cannot be answered at a redirect URI we trust: say so here."""
    if exc.status_code >= 500:
        return error_page(request, UNAVAILABLE, status_code=exc.status_code)
    message = exc.public_description or "The authorization request is not valid."
    return error_page(request, message, status_code=400)
