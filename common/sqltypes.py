"""Column types that mean the same on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class JsonStringList(TypeDecorator[tuple[str, ...]]):
    """A list of strings as JSON text: one column definition for both databases."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str:
        return json.dumps(list(value or ()))

    def process_result_value(self, value: Any, dialect: Dialect) -> tuple[str, ...]:
        return tuple(json.loads(value)) if value else ()


class JsonStringMap(TypeDecorator[dict[str, str]]):
    """A string-to-string mapping as JSON text (e.g. audit event details)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str:
        return json.dumps(dict(value or {}), sort_keys=True)

    def process_result_value(self, value: Any, dialect: Dialect) -> dict[str, str]:
        return dict(json.loads(value)) if value else {}
