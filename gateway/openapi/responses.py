"""The answers operations share: RFC 6749 section 5.2 errors, pages, redirects.

Descriptions are the one thing here only prose can say; an operation lists the
statuses it may answer and takes these.
"""

from __future__ import annotations

from typing import Final

from gateway.models import Omitted, Resource
from gateway.openapi.spec import HTML, JSON, STRING, Answer, Content


class OAuthError(Resource):
    """RFC 6749 section 5.2 error response"""

    error: str
    error_description: str | Omitted = None
    error_uri: str | Omitted = None


REASONS: Final = {
    200: "OK",
    201: "Created",
    204: "No content",
    302: "Found: a redirect",
    303: "See other: a redirect",
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type: the body must be application/json",
    429: "Too many requests",
    500: "server_error: unexpected failure, nothing disclosed",
    501: "Not implemented in this release",
    503: "temporarily_unavailable: a service this request needs did not answer",
}
CHALLENGE: Final = {
    "WWW-Authenticate": {"schema": STRING, "description": "RFC 6750 section 3 challenge"}
}


def ok(schema: Content, description: str = "") -> Answer:
    return Answer(description or REASONS[200], {JSON: schema})


def created(schema: Content) -> Answer:
    return Answer(REASONS[201], {JSON: schema})


def error(status: int, description: str = "", *, challenge: bool = False) -> Answer:
    return Answer(
        description or REASONS[status], {JSON: OAuthError}, CHALLENGE if challenge else {}
    )


def errors(*statuses: int) -> dict[int, Answer]:
    """The JSON error of each status; 401 and 403 carry their challenge."""
    return {status: error(status, challenge=status in (401, 403)) for status in statuses}


def html(status: int = 200) -> Answer:
    return Answer(REASONS[status], {HTML: STRING})


def redirect(status: int = 303, description: str = "") -> Answer:
    return Answer(
        description or REASONS[status], headers={"Location": {"schema": STRING, "required": True}}
    )


def page_errors(*statuses: int) -> dict[int, Answer]:
    """A page answers its errors as HTML; a body it cannot read at all may get
    the JSON error of the gateway's error handler."""
    return {
        status: Answer(REASONS[status], {HTML: STRING, JSON: OAuthError}) for status in statuses
    }
