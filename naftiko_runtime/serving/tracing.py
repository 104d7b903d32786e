"""The spans of exposed requests and upstream calls, made one of two ways (issue 22, D135).

- ``SdkTracing``: an embedding program installed an OpenTelemetry SDK ``TracerProvider`` (the
  tests' in-memory exporter, say). Its spans are the SDK's, through its processors and exporters.
- ``LeanTracing``: ``observability.exporters.otlp`` names an endpoint and nothing else was
  installed. A span is a few plain values; its name, kind and start attributes were encoded when
  the operation first ran (``otlp_wire.SpanShape``); ids, sampling (``ParentBased`` over
  ``TraceIdRatioBased``, as the SDK samples) and the trace context upstream follow the SDK's rules,
  and ``span_export`` sends them from the loop (D197). The SDK's spans, attribute dicts, locks, span
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
    SpanContext,
    SpanKind,
    StatusCode,
)

from ..adapters.control.model import Observability
from ..core.plans import UpstreamCall
from ..core.requests import Drawn, Outgoing
from ..spec.model import Exposed
from . import otlp_wire
from .propagation import CALLER
from .request_records import Record
from .span_export import SpanExport

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


CURRENT: ContextVar[Record | None] = ContextVar("naftiko_server_record", default=None)
"""The running request's record while an orchestrated or paged plan runs: the parent of the calls
its steps or pages make. A simple plan's call is handed its request's record by the executor instead (D174)."""

ZEROS = "0" * 16
"""In a drawn id string: an all-zero id (invalid) may be there, so the ids are drawn again."""


def draw(bits: int, digits: str) -> str:
    """``bits`` random bits as hexadecimal (``digits`` the format), none of its ids all zeros (a
    run of 16 zeros anywhere is drawn again: about once in 2**60 draws)."""
    drawn = format(getrandbits(bits), digits)
    while ZEROS in drawn:
        drawn = format(getrandbits(bits), digits)
    return drawn


_FLAGS = ("-00", "-01")
"""``traceparent``'s flags, by whether the span is sampled."""
_SAMPLED = ("0", "1")
"""``X-B3-Sampled``, by whether the span is sampled."""


class LeanTracing:
    def __init__(self, export: SpanExport, sampling: float, w3c: bool):
        self.export = export
        self.bound = TraceIdRatioBased.get_bound_for_rate(sampling)
        self.always = self.bound > TraceIdRatioBased.TRACE_ID_LIMIT
        """Every root is sampled (sampling 1.0): no trace id compared with the bound."""
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

    def open_under_caller(self, record: Record) -> None:
        """``record`` starts as an exposed request's under the caller's span (attached by
        ``continuing``): in its trace, sampled as it was. A root request's ids (one draw: its trace
        id, its span id and the span id of the call a simple plan makes, sampled as
        ``TraceIdRatioBased`` samples) are drawn by ``Telemetry.request`` in its own frame (D188)."""
        self._under(record, trace.get_current_span().get_span_context(), 128, "032x")
        record.spans = record.sampled
        record.drawn = ""

    def _under(self, record: Record, parent: SpanContext, bits: int, digits: str) -> None:
        """``record`` in ``parent``'s trace, sampled as it was, or a root when ``parent`` is invalid."""
        if parent.is_valid:
            record.hexids = format(parent.trace_id, "032x") + draw(bits, digits)
            record.parent, record.remote = format(parent.span_id, "016x"), parent.is_remote
            record.state = parent.trace_state.to_header() if parent.trace_state else ""
            record.sampled = parent.trace_flags.sampled
        else:
            self._root(record, bits + 128, f"0{len(digits) + 32}x")

    def _root(self, record: Record, bits: int, digits: str) -> None:
        record.hexids = hexids = draw(bits, digits)
        record.ids = bytes.fromhex(hexids)
        record.parent, record.remote, record.state = "", False, ""
        record.sampled = self.always or int(hexids[16:32], 16) < self.bound

    def open_client(self, record: Record, request: Outgoing, parent: Record | None) -> None:
        """``record``'s upstream call starts: a request's first call (its span id drawn with the
        request's), or a call alone, under ``parent`` (a request's next page), the running request
        of an orchestrated plan, the caller's span or none. ``request`` gets its context
        (``traceparent`` or B3), as the SDK's propagators write it: as its ``drawn`` lines, sent
        after its headers (D186); in its headers as ``Drawn`` values (D176) where a header of the
        same name was given (it is replaced where it stands) or where more follow it (a trace
        state, a caller's baggage)."""
        if record.route is not None:
            hexids = record.hexids
            span_id = hexids[48:]
            record.spans += record.sampled
        else:
            server = parent if parent is not None else CURRENT.get()
            if server is not None:
                record.hexids = server.hexids[:32] + draw(64, "016x")
                record.parent, record.remote = server.hexids[32:48], False
                record.state, record.sampled = server.state, server.sampled
            else:
                self._under(record, trace.get_current_span().get_span_context(), 64, "016x")
            record.spans = record.sampled
            hexids = record.hexids
            span_id = hexids[32:48]
        headers = request.headers
        if self.w3c:  # as TraceContextTextMapPropagator writes them, then the W3C baggage
            if not (record.state or "traceparent" in headers or CALLER.get()):
                request.drawn = f"traceparent: 00-{hexids[:32]}-{span_id}{_FLAGS[record.sampled]}\r\n"
                return
            headers["traceparent"] = Drawn(f"00-{hexids[:32]}-{span_id}{_FLAGS[record.sampled]}")
            if record.state:
                headers["tracestate"] = record.state
            if CALLER.get():  # a caller's context (and any baggage) was attached by ``continuing``
                _BAGGAGE.inject(headers)
            return
        # as B3MultiFormat writes them
        if not ("x-b3-traceid" in headers or "x-b3-spanid" in headers or "x-b3-sampled" in headers):
            sampled = _SAMPLED[record.sampled]
            request.drawn = f"x-b3-traceid: {hexids[:32]}\r\nx-b3-spanid: {span_id}\r\nx-b3-sampled: {sampled}\r\n"
            return
        headers["x-b3-traceid"] = Drawn(hexids[:32])
        headers["x-b3-spanid"] = Drawn(span_id)
        headers["x-b3-sampled"] = Drawn(_SAMPLED[record.sampled])


_BAGGAGE = W3CBaggagePropagator()
