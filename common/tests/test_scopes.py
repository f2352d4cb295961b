from __future__ import annotations

import pytest

from common.errors import InvalidClientMetadata, InvalidScope
from common.scopes import format_scope, parse_scope


def test_parse_keeps_order_and_drops_repeats() -> None:
    assert parse_scope("b a  b") == ["b", "a"]
    assert format_scope(parse_scope("")) == ""


@pytest.mark.parametrize("bad", ['a"b', "a\\b", "read\n", "caf\u00e9", "tab\there"])
def test_forbidden_characters(bad: str) -> None:
    with pytest.raises(InvalidScope):
        parse_scope(bad)
    with pytest.raises(InvalidClientMetadata):
        parse_scope(bad, InvalidClientMetadata)
