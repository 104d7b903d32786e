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

import random
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

from opentelemetry import context, trace
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, StatusCode, TraceFlags, TraceState

from ..adapters.control.model import Observability
from ..core.plans import UpstreamCall
from ..core.requests import Outgoing
from ..spec.model import Exposed
from . import otlp_wire
from .span_export import SpanExport

SCOPE = "naftiko"
"""The instrumentation scope of every span (``get_tracer("naftiko")``)."""


class Span(Protocol):
    trace_id: int

    def end(self, status: int) -> None:
        """The answer's status: an attribute, and an error status from 500 on."""


class Tracing(Protocol):
    def server(self, exposed: Exposed) -> Span:
        """An exposed request starts: its span becomes the parent of the upstream calls it makes."""

    def client(self, call: UpstreamCall, request: Outgoing, host: str, propagator: TextMapPropagator) -> Span:
        """An upstream call starts: ``request`` gets the context of its span (``propagator``)."""


def tracing_for(observability: Observability) -> Tracing | None:
    """The embedding program's SDK tracer provider if it set one, else the lean OTLP export when
    configured, else ``None`` (no spans at all)."""
    installed = trace.get_tracer_provider()
    if isinstance(installed, TracerProvider):
        return SdkTracing(installed.get_tracer(SCOPE))
    if observability.otlp_endpoint is None:
        return None
    resource = Resource.create().attributes  # what the SDK's provider reports: OTEL_SERVICE_NAME and the like
    export = SpanExport(observability.otlp_endpoint, otlp_wire.envelope(resource, SCOPE))
    return LeanTracing(export, observability.sampling)


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
        span = self.tracer.start_span(f"{exposed.adapter_kind} {exposed.key}", kind=SpanKind.SERVER)
        span.set_attribute("naftiko.adapter.type", exposed.adapter_kind)
        span.set_attribute("naftiko.operation.id", exposed.key)
        span.set_attribute("naftiko.namespace", exposed.namespace)
        return _SdkSpan(span, context.attach(trace.set_span_in_context(span)))

    def client(self, call: UpstreamCall, request: Outgoing, host: str, propagator: TextMapPropagator) -> Span:
        span = self.tracer.start_span(f"upstream {call.label}", kind=SpanKind.CLIENT)
        span.set_attribute("http.request.method", request.method)
        span.set_attribute("server.address", host)
        span.set_attribute("naftiko.namespace", call.namespace)
        carrier: dict[str, str] = {}
        propagator.inject(carrier, context=trace.set_span_in_context(span))
        request.headers.update(carrier)
        return _SdkSpan(span, None)


@dataclass(slots=True)
class _LeanSpan:
    tracing: LeanTracing
    shape: otlp_wire.SpanShape
    trace_id: int
    span_id: int
    parent_id: int
    parent_remote: bool
    trace_state: TraceState
    sampled: bool
    start_ns: int
    token: object | None = None

    def end(self, status: int) -> None:
        if self.token is not None:
            _CURRENT.reset(self.token)  # type: ignore[arg-type]
        if not self.sampled:
            return
        state = ",".join(f"{key}={value}" for key, value in self.trace_state.items()) if self.trace_state else ""
        self.tracing.export.add(
            otlp_wire.FinishedSpan(
                self.shape,
                self.trace_id,
                self.span_id,
                self.parent_id,
                self.parent_remote,
                state,
                self.start_ns,
                time.time_ns(),
                status,
                status >= 500,
            )
        )


_CURRENT: ContextVar[_LeanSpan | None] = ContextVar("naftiko_server_span", default=None)
"""The running request's span: the parent of the upstream calls it makes."""

_NO_STATE = TraceState()


class LeanTracing:
    def __init__(self, export: SpanExport, sampling: float):
        self.export = export
        self.bound = TraceIdRatioBased.get_bound_for_rate(sampling)
        self.servers: dict[tuple[str, str, str], otlp_wire.SpanShape] = {}
        self.clients: dict[tuple[str, str, str, str], otlp_wire.SpanShape] = {}

    def _span(self, shape: otlp_wire.SpanShape, parent: SpanContext) -> _LeanSpan:
        """A span under ``parent`` (sampled as its parent was), else a root sampled by trace id."""
        if parent.is_valid:
            state, sampled = parent.trace_state, parent.trace_flags.sampled
            return self._child(shape, parent.trace_id, parent.span_id, parent.is_remote, state, sampled)
        trace_id = random.getrandbits(128) or 1
        sampled = trace_id & TraceIdRatioBased.TRACE_ID_LIMIT < self.bound
        return self._child(shape, trace_id, 0, False, _NO_STATE, sampled)

    def _child(
        self, shape: otlp_wire.SpanShape, trace_id: int, parent_id: int, remote: bool, state: TraceState, sampled: bool
    ) -> _LeanSpan:
        span_id = random.getrandbits(64) or 1
        return _LeanSpan(self, shape, trace_id, span_id, parent_id, remote, state, sampled, time.time_ns())

    def server(self, exposed: Exposed) -> Span:
        key = (exposed.adapter_kind, exposed.key, exposed.namespace)
        shape = self.servers.get(key)
        if shape is None:
            static = {"naftiko.adapter.type": key[0], "naftiko.operation.id": key[1], "naftiko.namespace": key[2]}
            shape = self.servers[key] = otlp_wire.span_shape(f"{key[0]} {key[1]}", otlp_wire.SERVER, static)
        span = self._span(shape, trace.get_current_span().get_span_context())  # the caller's (``continuing``)
        span.token = _CURRENT.set(span)
        return span

    def client(self, call: UpstreamCall, request: Outgoing, host: str, propagator: TextMapPropagator) -> Span:
        key = (call.label, request.method, host, call.namespace)
        shape = self.clients.get(key)
        if shape is None:
            static = {"http.request.method": key[1], "server.address": host, "naftiko.namespace": key[3]}
            shape = self.clients[key] = otlp_wire.span_shape(f"upstream {key[0]}", otlp_wire.CLIENT, static)
        server = _CURRENT.get()
        if server is not None:
            span = self._child(shape, server.trace_id, server.span_id, False, server.trace_state, server.sampled)
        else:
            span = self._span(shape, trace.get_current_span().get_span_context())
        flags = TraceFlags(TraceFlags.SAMPLED if span.sampled else TraceFlags.DEFAULT)
        ours = SpanContext(span.trace_id, span.span_id, False, flags, span.trace_state)
        carrier: dict[str, str] = {}
        propagator.inject(carrier, context=trace.set_span_in_context(NonRecordingSpan(ours)))
        request.headers.update(carrier)
        return span
