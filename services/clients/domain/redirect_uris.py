"""The one redirect URI policy of the registry, for every way a client is made or
changed: the admin API (operators), RFC 7591 registration and RFC 7592 updates.

A redirect URI (or post-logout redirect URI) is, exactly as sent (requests are
compared by exact string match, OAuth 2.1 section 2.3.1):

* absolute, without a fragment (RFC 6749 section 3.1.2), spaces or control
  characters, at most ``MAX_URI_LENGTH`` characters;
* never a scheme a browser runs or reads locally instead of navigating to it
  (``javascript:``, ``data:``, ``chrome:``, ``view-source:``, ``jar:``, ...;
  OAuth 2.0 Security BCP section 4.1, RFC 6819 section 5.2.3.5);
* never with userinfo in the authority (``https://good.example@evil.example/``
  reads as one host and goes to another);
* ``https`` with a host (RFC 8252 section 7.2), ``http`` only on a loopback host
  (section 7.3, and 8.3 which tolerates ``localhost``), or a private-use scheme
  that is a reverse domain name, i.e. holds a period (section 7.1).

Every refusal is ``invalid_redirect_uri`` naming the field.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit

from common.errors import InvalidRedirectUri

MAX_URI_LENGTH: Final = 2000
#: RFC 8252 section 7.3 (and 8.3, which tolerates ``localhost``).
LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "::1", "localhost"})
#: Schemes that run or read something in the browser rather than navigate.
FORBIDDEN_SCHEMES: Final = frozenset(
    {
        "javascript",
        "data",
        "vbscript",
        "file",
        "about",
        "blob",
        "chrome",
        "chrome-extension",
        "view-source",
        "jar",
        "filesystem",
        "ws",
        "wss",
    }
)

# RFC 3986 section 3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")


def check_redirect_uri(uri: str, field: str = "redirect_uris") -> None:
    """InvalidRedirectUri unless ``uri`` is one of the forms in the module docstring."""
    shown = uri[:100]
    if not uri or len(uri) > MAX_URI_LENGTH or _CONTROL_OR_SPACE.search(uri):
        raise InvalidRedirectUri(f"Invalid URI {shown!r} in '{field}'")
    if "#" in uri:
        raise InvalidRedirectUri(f"URI {shown!r} in '{field}' has a fragment")
    try:
        parts = urlsplit(uri)
        hostname = parts.hostname
    except ValueError:
        raise InvalidRedirectUri(f"Invalid URI {shown!r} in '{field}'") from None
    scheme = parts.scheme.lower()
    if not scheme:
        raise InvalidRedirectUri(
            f"URI {shown!r} in '{field}' is not absolute: it must be https, http on a "
            "loopback host, or a private-use scheme that is a reverse domain name"
        )
    # A scheme as a whole word also refuses "view-source:https://..." and "jar:file:...".
    if scheme in FORBIDDEN_SCHEMES:
        raise InvalidRedirectUri(f"URI scheme {parts.scheme!r} is not allowed in '{field}'")
    if "@" in parts.netloc:
        raise InvalidRedirectUri(
            f"URI {shown!r} in '{field}' has userinfo in its authority; it is not allowed"
        )
    if scheme == "https":
        if not hostname:
            raise InvalidRedirectUri(f"URI {shown!r} in '{field}' has no host")
        return
    if scheme == "http":
        if hostname not in LOOPBACK_HOSTS:
            raise InvalidRedirectUri(
                f"URI {shown!r} in '{field}': http is only allowed on a loopback host "
                "(127.0.0.1, [::1], localhost); use https"
            )
        return
    if _SCHEME.fullmatch(scheme) and "." in scheme:
        # A private-use scheme: the app's reverse domain name (RFC 8252 section 7.1).
        return
    raise InvalidRedirectUri(
        f"URI {shown!r} in '{field}' must be https, http on a loopback host, or a "
        "private-use scheme that is a reverse domain name (e.g. com.example.app:/cb)"
    )
