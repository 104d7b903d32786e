"""The caller's trace context, read from the exposed request and carried to the upstream calls
(issue 20, item 6: ``traces.propagation``), as the reference engine does.

The engine configures OpenTelemetry's propagators from ``traces.propagation``: ``w3c`` is
``traceparent``/``tracestate`` plus W3C ``baggage``; ``b3`` is B3 "multi" (``X-B3-TraceId``,
``X-B3-SpanId``, ``X-B3-Sampled`` written; the single ``b3`` header read as well). Its SDK makes
a span for every request even when no exporter sends it anywhere, so the upstream always sees the
caller's trace id with the engine's span as parent. Without a tracer this runtime does the same
with a span nothing records: a fresh span id in the caller's trace (``continued``).
"""

from __future__ import annotations

import random
from contextvars import ContextVar

from opentelemetry import trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.propagators.b3 import B3MultiFormat
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

PROPAGATORS: dict[str, TextMapPropagator] = {
    "w3c": CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()]),
    "b3": B3MultiFormat(),
}
"""By ``traces.propagation``; ``w3c`` is the schema's default."""

HEADERS = {name: frozenset(field.encode() for field in propagator.fields) for name, propagator in PROPAGATORS.items()}
"""The request headers each propagator reads (lower case, as ASGI gives them)."""
HEADERS["b3"] |= {B3MultiFormat.SINGLE_HEADER_KEY.encode()}

CALLER: ContextVar[bool] = ContextVar("naftiko_caller_context", default=False)
"""Whether the running request came with a caller's trace context, which ``Telemetry.continuing``
attached: the one way a context is current on the request path when this runtime records its own
spans or none. Asked up to three times a request; one C call where ``context.get_current()`` is two
Python frames (issue 22)."""


def continued(extracted: Context) -> Context:
    """``extracted`` with a span of this runtime under the caller's: same trace id and flags, a new
    span id, recorded nowhere. Unchanged when the caller sent no valid context."""
    caller = trace.get_current_span(extracted).get_span_context()
    if not caller.is_valid:
        return extracted
    ours = trace.SpanContext(
        caller.trace_id,
        random.getrandbits(64) or 1,
        is_remote=False,
        trace_flags=caller.trace_flags,
        trace_state=caller.trace_state,
    )
    return trace.set_span_in_context(trace.NonRecordingSpan(ours), extracted)
