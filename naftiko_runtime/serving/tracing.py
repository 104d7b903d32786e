"""The spans of exposed requests and upstream calls, made one of two ways (issue 22, D135).

- ``SdkTracing``: an embedding program installed an OpenTelemetry SDK ``TracerProvider`` (the
  tests' in-memory exporter, say). Its spans are the SDK's, through its processors and exporters.
- ``LeanTracing``: ``observability.exporters.otlp`` names an endpoint and nothing else was
  installed. A span is a few plain values; its name, kind and start attributes were encoded when
  the operation first ran (``otlp_wire.SpanShape``); ids, sampling (``ParentBased`` over
  ``TraceIdRatioBased``, as the SDK samples) and the trace context upstream follow the SDK's rules,
  and the thread of ``span_export`` sends them. The SDK's spans, attribute dicts, locks, span
  processor and per-span protobuf objects cost 35-45% of a pass-through's throughput.

Either way an upstream call's span is a child of its request's, the upstream receives the client
span's context (``traceparent`` or B3), and the exported spans carry the same names and attributes.
"""

from __future__ import annotations

from contextvars import ContextVar
from random import getrandbits
from typing import Protocol

from opentelemetry import context, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    StatusCode,
    TraceFlags,
    TraceState,
)

from ..adapters.control.model import Observability
from ..core.plans import UpstreamCall
from ..core.requests import Outgoing
from ..spec.model import Exposed
from . import otlp_wire
from .propagation import CALLER
from .span_export import LeanSpan, SpanExport

SCOPE = "naftiko"
"""The instrumentation scope of every span (``get_tracer("naftiko")``)."""


class Span(Protocol):
    trace_id: int

    def end(self, status: int) -> None:
        """The answer's status: an attribute, and an error status from 500 on."""


def tracing_for(observability: Observability) -> SdkTracing | LeanTracing | None:
    """The embedding program's SDK tracer provider if it set one, else the lean OTLP export when
    configured, else ``None`` (no spans at all)."""
    installed = trace.get_tracer_provider()
    if isinstance(installed, TracerProvider):
        return SdkTracing(installed.get_tracer(SCOPE))
    if observability.otlp_endpoint is None:
        return None
    resource = Resource.create().attributes  # what the SDK's provider reports: OTEL_SERVICE_NAME and the like
    export = SpanExport(observability.otlp_endpoint, otlp_wire.envelope(resource, SCOPE))
    return LeanTracing(export, observability.sampling, observability.propagation == "w3c")


class _SdkSpan:
    __slots__ = ("span", "token", "trace_id")

    def __init__(self, span: trace.Span, token: object | None):
        self.span, self.token = span, token
        self.trace_id = span.get_span_context().trace_id

    def end(self, status: int) -> None:
        self.span.set_attribute("http.response.status_code", status)
        if status >= 500:
            self.span.set_status(StatusCode.ERROR)
        if self.token is not None:
            context.detach(self.token)  # type: ignore[arg-type]
        self.span.end()


class SdkTracing:
    def __init__(self, tracer: trace.Tracer):
        self.tracer = tracer

    def server(self, exposed: Exposed) -> Span:
        """An exposed request starts: its span becomes the parent of the upstream calls it makes."""
        span = self.tracer.start_span(f"{exposed.adapter_kind} {exposed.key}", kind=SpanKind.SERVER)
        span.set_attribute("naftiko.adapter.type", exposed.adapter_kind)
        span.set_attribute("naftiko.operation.id", exposed.key)
        span.set_attribute("naftiko.namespace", exposed.namespace)
        return _SdkSpan(span, context.attach(trace.set_span_in_context(span)))

    def client(self, call: UpstreamCall, request: Outgoing, host: str, propagator: TextMapPropagator) -> Span:
        """An upstream call starts: ``request`` gets the context of its span (``propagator``)."""
        span = self.tracer.start_span(f"upstream {call.label}", kind=SpanKind.CLIENT)
        span.set_attribute("http.request.method", request.method)
        span.set_attribute("server.address", host)
        span.set_attribute("naftiko.namespace", call.namespace)
        carrier: dict[str, str] = {}
        propagator.inject(carrier, context=trace.set_span_in_context(span))
        request.headers.update(carrier)
        return _SdkSpan(span, None)


CURRENT_SPAN: ContextVar[LeanSpan | None] = ContextVar("naftiko_server_span", default=None)
"""The running request's span: the parent of the upstream calls it makes; reset by
``serving.telemetry`` when the request ends."""


class LeanTracing:
    def __init__(self, export: SpanExport, sampling: float, w3c: bool):
        self.export = export
        self.bound = TraceIdRatioBased.get_bound_for_rate(sampling)
        self.w3c = w3c
        """``traceparent`` and ``tracestate`` are written here, without a context object per call."""
        self.servers: dict[tuple[str, str, str], otlp_wire.SpanShape] = {}
        self.clients: dict[tuple[str, str, str, str], otlp_wire.SpanShape] = {}
        """By consumed namespace, operation, method and host."""

    def server_shape(self, exposed: Exposed) -> otlp_wire.SpanShape:
        key = (exposed.adapter_kind, exposed.key, exposed.namespace)
        shape = self.servers.get(key)
        if shape is None:
            static = {"naftiko.adapter.type": key[0], "naftiko.operation.id": key[1], "naftiko.namespace": key[2]}
            shape = self.servers[key] = otlp_wire.span_shape(f"{key[0]} {key[1]}", otlp_wire.SERVER, static)
        return shape

    def client_shape(self, call: UpstreamCall, method: str, host: str) -> otlp_wire.SpanShape:
        key = (call.namespace, call.operation, method, host)
        shape = self.clients.get(key)
        if shape is None:
            static = {"http.request.method": method, "server.address": host, "naftiko.namespace": call.namespace}
            shape = self.clients[key] = otlp_wire.span_shape(f"upstream {call.label}", otlp_wire.CLIENT, static)
        return shape

    def open_server(self, span: LeanSpan) -> None:
        """``span`` starts as an exposed request's: under the caller's span (attached by
        ``continuing``), else a root sampled by its trace id as ``TraceIdRatioBased`` samples; it is
        the parent of the upstream calls the request makes until ``ended``."""
        if CALLER.get():
            self._under(span, trace.get_current_span().get_span_context())
        else:
            self._root(span)
        span.span_id = (getrandbits(64) or 1).to_bytes(8, "big")
        span.token = CURRENT_SPAN.set(span)

    def _under(self, span: LeanSpan, parent: SpanContext) -> None:
        """``span`` in ``parent``'s trace, sampled as it was, or a root when ``parent`` is invalid."""
        if parent.is_valid:
            span.trace_id, span.parent_id = parent.trace_id.to_bytes(16, "big"), parent.span_id.to_bytes(8, "big")
            span.parent_remote = parent.is_remote
            span.trace_state = parent.trace_state.to_header() if parent.trace_state else ""
            span.sampled = parent.trace_flags.sampled
        else:
            self._root(span)

    def _root(self, span: LeanSpan) -> None:
        trace_id = getrandbits(128) or 1
        span.trace_id = trace_id.to_bytes(16, "big")
        span.parent_id, span.parent_remote, span.trace_state = b"", False, ""
        span.sampled = trace_id & TraceIdRatioBased.TRACE_ID_LIMIT < self.bound

    def open_client(self, span: LeanSpan, headers: dict[str, str], propagator: TextMapPropagator) -> None:
        """``span`` starts as an upstream call's, under the running request's span; ``headers`` get
        its context (``traceparent`` or B3), as the SDK's propagators write it."""
        server = CURRENT_SPAN.get()
        if server is not None:
            span.trace_id, span.parent_id, span.parent_remote = server.trace_id, server.span_id, False
            span.trace_state, span.sampled = server.trace_state, server.sampled
        else:
            self._under(span, trace.get_current_span().get_span_context())
        span.span_id = span_id = (getrandbits(64) or 1).to_bytes(8, "big")
        span.token = None
        if self.w3c:  # as TraceContextTextMapPropagator writes them, then the W3C baggage
            headers["traceparent"] = f"00-{span.trace_id.hex()}-{span_id.hex()}-{'01' if span.sampled else '00'}"
            if span.trace_state:
                headers["tracestate"] = span.trace_state
            if CALLER.get():  # a caller's context (and any baggage) was attached by ``continuing``
                _BAGGAGE.inject(headers)
            return
        flags = TraceFlags(TraceFlags.SAMPLED if span.sampled else TraceFlags.DEFAULT)
        state = TraceState.from_header([span.trace_state]) if span.trace_state else None
        ours = SpanContext(int.from_bytes(span.trace_id, "big"), int.from_bytes(span_id, "big"), False, flags, state)
        propagator.inject(headers, context=trace.set_span_in_context(NonRecordingSpan(ours)))


_BAGGAGE = W3CBaggagePropagator()
