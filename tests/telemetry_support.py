"""Installing common.telemetry inside a test process, and looking at what it recorded.

OpenTelemetry lets a process set its global tracer provider once; a test that
needs its own (``installed_telemetry``) resets that guard before and after, the
way opentelemetry-test-utils does. Servers, channels, engines and Redis clients
take their tracer when they are built: build them inside the block.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once

from common.settings import CommonSettings
from common.telemetry import Telemetry, setup_telemetry


def _reset_global_tracer_provider() -> None:
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None


@contextlib.contextmanager
def installed_telemetry(
    settings: CommonSettings, exporters: Sequence[SpanExporter] = ()
) -> Iterator[Telemetry]:
    previous_textmap = propagate.get_global_textmap()
    _reset_global_tracer_provider()
    telemetry = setup_telemetry(settings, exporters=exporters)
    try:
        yield telemetry
    finally:
        telemetry.shutdown()
        _reset_global_tracer_provider()
        propagate.set_global_textmap(previous_textmap)


@contextlib.contextmanager
def recorded_spans(settings: CommonSettings) -> Iterator[InMemorySpanExporter]:
    """``installed_telemetry`` with an in-memory exporter (after sanitizing)."""
    exporter = InMemorySpanExporter()
    with installed_telemetry(settings, [exporter]):
        yield exporter


def span_strings(span: ReadableSpan) -> list[str]:
    """Every string a finished span carries (name, attributes, events, status)."""
    found = [span.name, span.status.description or ""]
    for attributes in [span.attributes, *(event.attributes for event in span.events)]:
        for key, value in (attributes or {}).items():
            found.append(key)
            found.extend(_strings(value))
    found.extend(event.name for event in span.events)
    return found


def _strings(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [text for item in value for text in _strings(item)]
    return [value if isinstance(value, str) else repr(value)]


def assert_no_secret(spans: Sequence[ReadableSpan], secrets: Sequence[str]) -> None:
    for span in spans:
        for text in span_strings(span):
            for secret in secrets:
                assert secret not in text, f"span {span.name!r} carries a secret: {text!r}"
