"""The OpenAPI operations of the sign-in pages (docs/signin.md), in one place:
the authorization endpoint, login, consent and logout.

They live here rather than beside their handlers so that the sign-in flow can
change without touching its documentation's machinery: when a page reads
another query parameter or form field, this module says so. The forms are read
by :mod:`gateway.forms`; the models only document them.
"""

from __future__ import annotations

from typing import Final

from gateway.models import FormModel, Omitted
from gateway.openapi.prose import OAUTH, PAGES
from gateway.openapi.responses import html, page_errors, redirect
from gateway.openapi.spec import FORM, Answer, Body, Operation, Param


class LoginForm(FormModel):
    username: str | Omitted = None
    password: str | Omitted = None
    interaction: str | Omitted = None
    csrf_token: str | Omitted = None


class ConsentForm(FormModel):
    decision: str | Omitted = None
    interaction: str | Omitted = None
    csrf_token: str | Omitted = None


class DeviceForm(FormModel):
    user_code: str | Omitted = None
    csrf_token: str | Omitted = None


class LogoutForm(FormModel):
    id_token_hint: str | Omitted = None
    post_logout_redirect_uri: str | Omitted = None
    client_id: str | Omitted = None
    state: str | Omitted = None
    csrf_token: str | Omitted = None


AUTHORIZATION_PARAMETERS: Final = (
    Param("response_type", "code", required=True),
    Param("client_id", required=True),
    Param("redirect_uri"),
    Param("scope"),
    Param("state"),
    Param("nonce"),
    Param("code_challenge", "RFC 7636 S256 challenge"),
    Param("code_challenge_method", "S256"),
    Param("prompt"),
    Param("max_age"),
    Param("response_mode", "query (the default) or form_post"),
    Param("login_hint"),
    Param("request", "RFC 9101: the request as a JWT signed with the client's key"),
    Param("resource", "RFC 8707: the resource server the tokens are for"),
)
PENDING: Final = (Param("interaction", "The interaction waiting for this page"),)
LOGOUT_PARAMETERS: Final = (
    Param("id_token_hint"),
    Param("post_logout_redirect_uri"),
    Param("client_id"),
    Param("state"),
)

#: What showing a page may answer, and what submitting its form may.
SHOWN: Final[dict[int, Answer]] = {200: html(), 303: redirect(), **page_errors(400, 429, 500, 503)}
SUBMITTED: Final[dict[int, Answer]] = {
    200: html(),
    303: redirect(),
    **page_errors(400, 401, 403, 413, 429, 500, 503),
}


def _show(operation_id: str, summary: str, parameters: tuple[Param, ...]) -> Operation:
    return Operation(operation_id, summary, PAGES, SHOWN, parameters=parameters)


def _submit(operation_id: str, summary: str, form: type[FormModel]) -> Operation:
    return Operation(operation_id, summary, PAGES, SUBMITTED, Body(form, FORM, required=False))


AUTHORIZE: Final = {
    "GET": Operation(
        "authorize",
        "Authorization request (RFC 6749 section 4.1.1, OpenID Connect Core 3.1.2)",
        OAUTH,
        {
            **SHOWN,
            302: redirect(302),
            303: redirect(303, "To sign-in, consent, or the client's redirect_uri"),
        },
        parameters=AUTHORIZATION_PARAMETERS,
    )
}
LOGIN: Final = {
    "GET": _show("showLogin", "The sign-in page", PENDING),
    "POST": _submit("submitLogin", "Submit the sign-in form", LoginForm),
}
CONSENT: Final = {
    "GET": _show("showConsent", "The consent page", PENDING),
    "POST": _submit("submitConsent", "Allow or deny", ConsentForm),
}
LOGOUT: Final = {
    "GET": _show(
        "showLogout",
        "RP-Initiated Logout (OpenID Connect RP-Initiated Logout 1.0 section 2)",
        LOGOUT_PARAMETERS,
    ),
    "POST": _submit("submitLogout", "Confirm signing out", LogoutForm),
}
DEVICE: Final = {
    "GET": _show(
        "showDeviceVerification",
        "The device verification page (RFC 8628 section 3.3): enter the code",
        (Param("user_code", "Prefills the code (verification_uri_complete)"),),
    ),
    "POST": _submit("submitDeviceVerification", "Submit the code a device shows", DeviceForm),
}
