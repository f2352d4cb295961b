"""URLs this server itself calls on a client's behalf: the ``jwks_uri`` it fetches
(RFC 7591 section 2) and the ``backchannel_logout_uri`` it POSTs logout tokens to
(OpenID Connect Back-Channel Logout 1.0 section 2.2).

Both point a server-side request at a place the client chose, so both follow one
rule: an absolute https URL with a host (a port, if any, in range), a query allowed,
no fragment, no spaces or control characters, at most :data:`MAX_OUTBOUND_URI_LENGTH`
characters. http only when the setting of the field (``jwks_uri_allow_http``,
``backchannel_logout_uri_allow_http``) allows it, for development.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit

from common.errors import InvalidClientMetadata

#: The longest URL the server calls.
MAX_OUTBOUND_URI_LENGTH: Final = 2048

_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")


def validate_outbound_uri(uri: str, field: str, *, allow_http: bool = False) -> str:
    """``uri`` as registered ("" for none), or InvalidClientMetadata naming ``field``."""
    if not uri:
        return ""
    schemes = {"https", "http"} if allow_http else {"https"}
    try:
        parts = urlsplit(uri)
        hostname, _ = parts.hostname, parts.port
    except ValueError:
        parts, hostname = None, None
    if (
        parts is None
        or parts.scheme not in schemes
        or not hostname
        or "#" in uri
        or len(uri) > MAX_OUTBOUND_URI_LENGTH
        or _CONTROL_OR_SPACE.search(uri)
    ):
        scheme = "http(s)" if allow_http else "https"
        raise InvalidClientMetadata(
            f"'{field}' must be an absolute {scheme} URL with a host and no fragment, "
            f"at most {MAX_OUTBOUND_URI_LENGTH} characters"
        )
    return uri
