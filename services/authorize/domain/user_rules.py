"""What makes a username, an email address and a display name acceptable."""

from __future__ import annotations

import re
import unicodedata
from typing import Final

from common.errors import InvalidRequest

MAX_USERNAME_LENGTH: Final = 64
MAX_EMAIL_LENGTH: Final = 254  # RFC 5321 section 4.5.3.1.3, as a path
MAX_NAME_LENGTH: Final = 200
# Basic shape only: something@domain.tld, no spaces; deliverability is the mail server's business.
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")


def normalize_username(username: str) -> str:
    """NFC, so that one name typed two ways is one account."""
    return unicodedata.normalize("NFC", username)


def username_key(username: str) -> str:
    """What makes usernames unique and what sign-in looks up: case-insensitive."""
    return normalize_username(username).lower()


def validate_username(username: str) -> str:
    username = normalize_username(username)
    if not 1 <= len(username) <= MAX_USERNAME_LENGTH or any(
        _is_space_or_control(ch) for ch in username
    ):
        raise InvalidRequest(
            f"'username' must be 1 to {MAX_USERNAME_LENGTH} characters, "
            "without spaces or control characters"
        )
    return username


def validate_email(email: str) -> str:
    if email and (len(email) > MAX_EMAIL_LENGTH or not _EMAIL.fullmatch(email)):
        raise InvalidRequest("'email' is not a valid email address")
    return email


def validate_name(value: str, parameter: str) -> str:
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidRequest(f"'{parameter}' must be at most {MAX_NAME_LENGTH} characters")
    if any(unicodedata.category(ch).startswith("C") for ch in value):
        raise InvalidRequest(f"Invalid character in '{parameter}'")
    return value.strip()


def _is_space_or_control(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch).startswith("C")
