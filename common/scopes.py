"""Scope strings (RFC 6749 section 3.3): space-delimited, case-sensitive scope-tokens."""

from __future__ import annotations

import re

from common.errors import InvalidScope

# scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


def parse_scope(scope: str, error: type[Exception] = InvalidScope) -> list[str]:
    """Split a scope string, keeping first-seen order and dropping repeats.

    Raises ``error`` (invalid_scope by default) for characters RFC 6749 forbids.
    """
    tokens: list[str] = []
    for token in scope.split(" "):
        if token == "":
            continue
        if not _SCOPE_TOKEN.fullmatch(token):
            raise error(f"Invalid scope token {token!r}")
        if token not in tokens:
            tokens.append(token)
    return tokens


def format_scope(tokens: list[str] | tuple[str, ...]) -> str:
    return " ".join(tokens)
