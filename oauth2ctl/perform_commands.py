"""``oauth2ctl perform``: play a client against the gateway's public endpoints, to
try a deployment from a terminal (ORY Hydra's ``hydra perform``).

``perform device-code`` is a device (RFC 8628): it asks
``/oauth/device_authorization`` for codes, prints where a person should go and the
code to type there (stderr), polls ``/oauth/token`` as section 3.5 says (the
interval, 5 seconds more after each ``slow_down``, until ``expires_in``), and
prints the token response (stdout) once the person approves. A denial, an expiry
or any other error is the usual one-line failure.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

import httpx

from common.errors import AuthorizationPending, OAuthError, PollingTooFast
from common.vocabulary import GrantType
from oauth2ctl.api import basic_authorization, error_from
from oauth2ctl.commands import emit
from oauth2ctl.render import summary
from oauth2ctl.settings import CtlSettings

#: RFC 8628 section 3.5: slow_down adds this many seconds to the interval.
SLOW_DOWN_SECONDS = 5
#: The interval when the server names none (section 3.2's default).
DEFAULT_INTERVAL = 5
#: Token-endpoint errors that mean "keep polling" (section 3.5), in this client's
#: terms: ``slow_down`` and ``access_denied`` share codes with other errors.
_POLLING_ERRORS = {"authorization_pending": AuthorizationPending, "slow_down": PollingTooFast}


def add_perform_commands(groups: Any) -> None:
    perform = groups.add_parser(
        "perform", help="act as a client against the public endpoints (try a deployment)"
    )
    actions = perform.add_subparsers(dest="action", required=True)
    device = actions.add_parser(
        "device-code",
        help="sign a device in (RFC 8628): print the code to enter, wait, print the tokens",
    )
    device.add_argument("--client-id", required=True)
    device.add_argument(
        "--client-secret", help="a confidential client's secret (client_secret_basic)"
    )
    device.add_argument("--scope", default="", help='space-separated: "openid offline_access"')
    device.set_defaults(command=None, perform=device_code)


def _client_auth(args: argparse.Namespace, form: dict[str, str]) -> dict[str, str]:
    if args.client_secret:
        return {"Authorization": basic_authorization(args.client_id, args.client_secret)}
    form["client_id"] = args.client_id
    return {}


def _polling_error(response: httpx.Response) -> OAuthError:
    try:
        code = str(response.json().get("error", ""))
    except (ValueError, AttributeError):
        code = ""
    cls = _POLLING_ERRORS.get(code) if response.status_code == 400 else None
    return cls() if cls is not None else error_from(response)


async def device_code(
    args: argparse.Namespace,
    settings: CtlSettings,
    transport: httpx.AsyncBaseTransport | None = None,
) -> None:
    base = settings.public_url
    async with httpx.AsyncClient(timeout=settings.ctl_timeout_seconds, transport=transport) as http:
        form = {"scope": args.scope} if args.scope else {}
        headers = _client_auth(args, form)
        started = await http.post(f"{base}/oauth/device_authorization", data=form, headers=headers)
        if started.status_code != 200:
            raise error_from(started)
        codes = started.json()
        print(
            f"To sign in, open {codes['verification_uri']} and enter the code "
            f"{codes['user_code']}\n(or open {codes['verification_uri_complete']})",
            file=sys.stderr,
            flush=True,
        )
        interval = int(codes.get("interval") or DEFAULT_INTERVAL)
        deadline = time.monotonic() + int(codes["expires_in"])
        poll = {"grant_type": GrantType.DEVICE_CODE, "device_code": codes["device_code"]}
        headers = _client_auth(args, poll)
        while True:
            await asyncio.sleep(interval)
            answer = await http.post(f"{base}/oauth/token", data=poll, headers=headers)
            if answer.status_code == 200:
                tokens = answer.json()
                emit(tokens, args, summary(list(tokens.items())))
                return
            error = _polling_error(answer)
            if isinstance(error, PollingTooFast):
                interval += SLOW_DOWN_SECONDS
            elif not isinstance(error, AuthorizationPending):
                raise error
            if time.monotonic() > deadline:
                raise error_from(answer)
