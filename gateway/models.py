"""The gateway's API models: request bodies that validate themselves, with their
ValidationErrors turned into OAuth errors, and response bodies.

A body model (:class:`BodyModel`) is both the validator and the OpenAPI schema of
its body. Validation is strict (a JSON ``1`` is not a string, ``0`` is not
``false``) and answers with one RFC 6749 section 5.2 error, never pydantic's
own words: each API keeps its messages in an :class:`ErrorPolicy` keyed by the
pydantic error type (``string_type``, ``extra_forbidden``, ...), with the class
of error (``invalid_request``, or ``invalid_client_metadata`` of RFC 7591
section 3.2.2) per field.

When a body has several faults, the one reported is the one a reader checking
in order finds first: an unknown field, then a body that names another resource
than its path, then a missing field, then the others in the order the model
declares its fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, WithJsonSchema
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import ErrorDetails

from common.errors import InvalidRequest, OAuthError

#: The pydantic error types that come before every other fault of a body.
_FIRST = ("extra_forbidden", "path_mismatch", "missing")


@dataclass(frozen=True)
class ErrorPolicy:
    """How one API words its validation errors.

    ``messages`` maps a pydantic error type to a template that may use
    ``{field}`` and the error's context (``{ge}``, ``{le}``, ``{values}``).
    ``error`` is the class answered, unless ``by_field`` (a top-level field) or
    ``by_type`` (an error type) names another; ``by_type`` wins."""

    messages: Mapping[str, str]
    error: type[OAuthError] = InvalidRequest
    by_field: Mapping[str, type[OAuthError]] = field(default_factory=dict)
    by_type: Mapping[str, type[OAuthError]] = field(default_factory=dict)

    def render(self, model: type[BaseModel], details: ErrorDetails) -> OAuthError:
        context: dict[str, Any] = dict(details.get("ctx") or {})
        name = str(context.get("field") or (details["loc"][0] if details["loc"] else ""))
        context["field"] = printable(name)
        context.update(_bounds(model, name))
        template = self.messages.get(details["type"], "'{field}' is not valid")
        cls = self.by_type.get(details["type"]) or self.by_field.get(name, self.error)
        return cls(template.format_map(context))


def without_defaults(schema: dict[str, Any]) -> None:
    """Drop the ``default`` of every property: an absent field means "the server's
    default" or "unchanged", never the placeholder the model holds for it."""
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)


class BodyModel(BaseModel):
    """A JSON request body: strict types, unknown fields refused (the RFC 7591
    metadata relaxes that, as its section 2 requires)."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=without_defaults)
    error_policy: ClassVar[ErrorPolicy]


Body = TypeVar("Body", bound=BodyModel)


def parse_body(
    model: type[Body], data: dict[str, Any], *, context: Mapping[str, str] | None = None
) -> Body:
    """``data`` (a JSON object) as ``model``, or the policy's error for its first fault.
    ``context`` carries the path parameters a body must agree with."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise first_error(model, exc) from None


def first_error(model: type[BodyModel], exc: ValidationError) -> OAuthError:
    order = list(model.model_fields)
    errors = exc.errors()

    def rank(index: int) -> tuple[int, int, int]:
        details = errors[index]
        kind = details["type"]
        group = _FIRST.index(kind) if kind in _FIRST else len(_FIRST)
        loc = details["loc"]
        position = order.index(loc[0]) if loc and loc[0] in order else -1
        return group, position, index

    return model.error_policy.render(model, errors[min(range(len(errors)), key=rank)])


def printable(name: str) -> str:
    """A field name as it may appear inside an error_description (RFC 6749 section
    5.2: no quotes, no backslashes), at most 64 characters."""
    return "".join(c for c in name[:64] if c.isprintable() and c not in '"\\')


def _bounds(model: type[BaseModel], name: str) -> dict[str, object]:
    """The ``ge``/``le`` of a field, so a range error can name both ends."""
    info = model.model_fields.get(name)
    found: dict[str, object] = {}
    for constraint in info.metadata if info else ():
        for bound in ("ge", "le"):
            if hasattr(constraint, bound):
                found[bound] = getattr(constraint, bound)
    return found


#: A member that may be left out (``X | Omitted = None``): in a response body,
#: left out when it has no value.
Omitted = SkipJsonSchema[None]


class FormModel(BaseModel):
    """The schema of an ``application/x-www-form-urlencoded`` body. Forms are read
    by :mod:`gateway.forms`, whose steps answer the RFC 6749 section 3.2 errors
    (repeated parameters, empty values as omitted); the model documents them."""

    model_config = ConfigDict(json_schema_extra=without_defaults)


# --- response bodies -------------------------------------------------------------

#: RFC 3339 in UTC with a "Z" (:func:`gateway.admin.convert.rfc3339`).
DateTime = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]


class Resource(BaseModel):
    """A JSON response body. Its schema leaves ``additionalProperties`` open: a
    later release may add members."""

    model_config = ConfigDict(json_schema_extra=without_defaults)

    def body(self) -> dict[str, Any]:
        """The JSON object, without the members that have no value."""
        return self.model_dump(mode="json", exclude_none=True)
