"""The device authorization grant at the gateway (RFC 8628).

- ``POST /oauth/device_authorization`` (section 3.1, 3.2): the client authenticates
  as at the token endpoint (public clients with their client_id alone) and gets a
  ``device_code``, a ``user_code``, the verification URIs, ``expires_in`` and
  ``interval``. Limited per client (``device_authorization_per_client``).
- ``GET /device`` (section 3.3): the page where a person types the code;
  ``?user_code=`` (``verification_uri_complete``) prefills it, and the person
  still presses Continue (section 5.4: no request is approved by following a link).
- ``POST /device``: CSRF first; the code goes to
  ``AuthorizeService.StartDeviceVerification``, whose sign-in the gateway follows
  like an authorization request's (login, consent), ending at the "decided" page.
  Guesses are limited per address (``device_verification_per_address``): 20**8
  codes against a few per minute.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlencode

from oauth2.v1 import authorize_pb2
from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from common.errors import NotFound, OAuthError
from gateway.authorization import follow, request_failed_page
from gateway.client_auth import extract_client_credentials
from gateway.cors import require_allowed_origin
from gateway.errors import NO_STORE
from gateway.forms import read_form
from gateway.models import FormModel, Omitted, Resource
from gateway.openapi.prose import CLIENT_AUTH, OAUTH
from gateway.openapi.responses import error, errors, ok
from gateway.openapi.spec import FORM, Body, operation
from gateway.pages import csrf_failed_page, render
from gateway.ratelimit import DEVICE_AUTHORIZATION_PER_CLIENT, limit_client
from gateway.routes.login import form_of
from gateway.state import downstream_of, sessions_of, settings_of

#: The verification page, under the issuer's path (RFC 8628 section 3.2).
VERIFICATION_PATH: Final = "/device"
#: The longest code the page passes on (the service normalises and checks it).
MAX_USER_CODE: Final = 32


class DeviceAuthorizationRequest(FormModel):
    """RFC 8628 section 3.1"""

    client_id: str | Omitted = None
    client_secret: str | Omitted = None
    scope: str | Omitted = None


class DeviceAuthorizationResponse(Resource):
    """RFC 8628 section 3.2"""

    device_code: str
    user_code: str = Field(description="XXXX-XXXX")
    verification_uri: str
    verification_uri_complete: str
    expires_in: int
    interval: int


def verification_uri(request: Request) -> str:
    """Absolute: the device shows it to a person, who types it elsewhere."""
    return settings_of(request).issuer + VERIFICATION_PATH


@operation(
    "deviceAuthorization",
    "Device authorization request (RFC 8628)",
    tags=OAUTH,
    body=Body(DeviceAuthorizationRequest, FORM),
    responses={
        200: ok(DeviceAuthorizationResponse),
        **errors(400, 413, 429, 500, 501, 503),
        401: error(401, "invalid_client (WWW-Authenticate: Basic)", challenge=True),
    },
    security=CLIENT_AUTH,
)
async def device_authorization_endpoint(request: Request) -> Response:
    form = await read_form(request, settings_of(request).max_body_bytes)
    if (refused := await limit_client(request, DEVICE_AUTHORIZATION_PER_CLIENT, form)) is not None:
        return refused
    credentials = extract_client_credentials(request, form)
    downstream = downstream_of(request)
    await require_allowed_origin(request, downstream, credentials.client_id)
    started = await downstream.authorize.call.StartDeviceAuthorization(
        authorize_pb2.StartDeviceAuthorizationRequest(
            credentials=credentials, scope=form.get("scope")
        )
    )
    uri = verification_uri(request)
    body = {
        "device_code": started.device_code,
        "user_code": started.user_code,
        "verification_uri": uri,
        "verification_uri_complete": f"{uri}?{urlencode({'user_code': started.user_code})}",
        "expires_in": started.expires_in,
        "interval": started.interval,
    }
    return JSONResponse(body, headers=NO_STORE)


def code_page(
    request: Request,
    csrf_token: str,
    *,
    user_code: str = "",
    error: str = "",
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "device.html",
        {"csrf_token": csrf_token, "user_code": user_code, "error": error},
        status_code=status_code,
    )


async def show_device(request: Request) -> Response:
    """The code form; nothing is stored for a visitor without a session (the CSRF
    token is then the double-submit cookie, as on the plain login form)."""
    store = sessions_of(request)
    session = await store.load(request)
    user_code = request.query_params.get("user_code", "")[:MAX_USER_CODE]
    if session is None:
        token = store.form_token(request)
        response = code_page(request, token, user_code=user_code)
        store.set_form_token(response, token)
        return response
    response = code_page(request, session.csrf_token, user_code=user_code)
    await store.save(session, response)
    return response


async def submit_device(request: Request) -> Response:
    store = sessions_of(request)
    loaded = await store.load(request)
    form = await form_of(request)
    if form is None:
        return csrf_failed_page(request)
    presented = form.get("csrf_token")
    valid = (
        loaded.csrf_valid(presented)
        if loaded is not None
        else store.form_token_valid(request, presented)
    )
    if not valid:
        return csrf_failed_page(request)
    session = loaded or store.new()
    user_code = form.get("user_code")[:MAX_USER_CODE]
    try:
        interaction = await downstream_of(request).authorize.call.StartDeviceVerification(
            authorize_pb2.StartDeviceVerificationRequest(
                user_code=user_code, session=session.browser()
            )
        )
    except NotFound as exc:
        csrf_token = session.csrf_token if loaded is not None else presented
        return code_page(
            request,
            csrf_token,
            user_code=user_code,
            error=exc.public_description,
            status_code=400,
        )
    except OAuthError as exc:
        return request_failed_page(request, exc)
    response = follow(request, session, interaction)
    if loaded is None:
        store.clear_form_token(response)
    await store.save(session, response)
    return response
