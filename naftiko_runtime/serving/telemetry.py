"""Metrics, traces and upstream health of the exposed calls: the ``core.observe.Observer`` a
``control`` adapter switches on (issue 13, item 5).

Prometheus (own registry, so two runtimes in one process never mix):
``naftiko_requests_total`` and ``naftiko_request_duration_seconds`` by adapter, operation and
status; ``naftiko_requests_in_flight`` by adapter; ``naftiko_upstream_errors_total`` (an upstream
status >= 500, or the gateway's own 502/504 for an unreachable or slow one) by namespace,
operation and status; ``naftiko_circuit_breaker_state`` (1 for the current of closed, open and
half-open) and ``naftiko_circuit_breaker_opened_total`` by namespace, for namespaces with a breaker
(``--config``, D91), read from the breakers when scraped; and the process collector (CPU, memory,
open files).

Traces (OpenTelemetry): a server span per exposed request, a client span per upstream call, and
W3C ``traceparent`` on the upstream request. They are recorded only when something receives them:
the OTLP exporter named by ``observability.exporters.otlp``, or the tracer provider an embedding
program installed (the tests' in-memory exporter). None by default.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from opentelemetry import context, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Receive, Scope, Send

from ..adapters.control.model import Observability
from ..core.plans import OperationPlan, UpstreamCall
from ..core.requests import Outgoing
from ..core.resilience import Breaker

log = logging.getLogger("naftiko.requests")
PROPAGATOR = TraceContextTextMapPropagator()
TRACE_HEADERS = frozenset({b"traceparent", b"tracestate"})


def tracer_for(observability: Observability) -> trace.Tracer | None:
    """The embedding program's SDK tracer provider if it set one, else one exporting over OTLP when
    configured, else ``None`` (no spans at all)."""
    installed = trace.get_tracer_provider()
    if isinstance(installed, TracerProvider):
        return installed.get_tracer("naftiko")
    if observability.otlp_endpoint is None:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(observability.sampling)))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=observability.otlp_endpoint)))
    return provider.get_tracer("naftiko")


@dataclass
class _Series:
    """One operation's metric children, looked up once: ``labels()`` per request costs more than
    the counting itself."""

    requests: Counter
    labels: tuple[str, str]
    latency: Histogram
    in_flight: Gauge
    by_status: dict[int, Counter] = field(default_factory=dict)

    def answered(self, status: int) -> Counter:
        child = self.by_status.get(status)
        if child is None:
            child = self.by_status[status] = self.requests.labels(*self.labels, str(status))
        return child


@dataclass
class _Request:
    telemetry: Telemetry
    plan: OperationPlan
    started: float
    span: trace.Span | None
    token: object | None
    series: _Series | None

    def finish(self, status: int) -> None:
        exposed, metrics = self.plan.exposed, self.telemetry
        duration = time.perf_counter() - self.started
        if self.series is not None:
            self.series.answered(status).inc()
            self.series.latency.observe(duration)
            self.series.in_flight.dec()
        if metrics.request_log:
            fields: dict[str, object] = {
                "adapter": exposed.namespace,
                "operation": exposed.key,
                "status": status,
                "duration_ms": round(duration * 1000, 3),
            }
            if self.span is not None:
                fields["trace_id"] = format(self.span.get_span_context().trace_id, "032x")
            log.info("%s %s answered %d", exposed.namespace, exposed.key, status, extra=fields)
        if self.span is not None:
            self.span.set_attribute("http.response.status_code", status)
            if status >= 500:
                self.span.set_status(trace.StatusCode.ERROR)
            context.detach(self.token)  # type: ignore[arg-type]
            self.span.end()


@dataclass
class _Upstream:
    telemetry: Telemetry
    call: UpstreamCall
    span: trace.Span | None

    def finish(self, status: int) -> None:
        failing = status >= 500
        self.telemetry.failing[self.call.namespace] = failing
        if failing and self.telemetry.registry is not None:
            self.telemetry.upstream_errors.labels(self.call.namespace, self.call.operation, str(status)).inc()
        if self.span is not None:
            self.span.set_attribute("http.response.status_code", status)
            if failing:
                self.span.set_status(trace.StatusCode.ERROR)
            self.span.end()


class BreakerCollector(Collector):
    """The circuit breakers' states, read at scrape time: a call pays nothing for them."""

    def __init__(self, breakers: Callable[[], Mapping[str, Breaker]]):
        self.breakers = breakers

    def collect(self) -> Iterator[Metric]:
        state = GaugeMetricFamily(
            "naftiko_circuit_breaker_state",
            "1 for the state the namespace's circuit breaker is in, 0 for the others.",
            labels=["namespace", "state"],
        )
        opened = CounterMetricFamily(
            "naftiko_circuit_breaker_opened", "Times the namespace's circuit has opened.", labels=["namespace"]
        )
        for namespace, breaker in sorted(self.breakers().items()):
            for name in Breaker.STATES:
                state.add_metric([namespace, name], 1.0 if breaker.state == name else 0.0)
            opened.add_metric([namespace], breaker.opened)
        yield state
        yield opened


class Telemetry:
    def __init__(
        self,
        observability: Observability,
        request_log: bool = False,
        breakers: Callable[[], Mapping[str, Breaker]] | None = None,
    ):
        self.request_log = request_log
        """A log line per answered exposed request (``--log-format json``)."""
        self.series: dict[tuple[str, str], _Series] = {}
        """By adapter and operation: the metric children of each, made on its first request."""
        self.failing: dict[str, bool] = {}
        """By consumed namespace: whether its last upstream exchange failed (readiness, D92)."""
        self.tracer = tracer_for(observability) if observability.enabled else None
        self.registry = CollectorRegistry() if observability.enabled and observability.metrics else None
        registry = self.registry
        self.requests = Counter(
            "naftiko_requests", "Exposed requests answered.", ["adapter", "operation", "status"], registry=registry
        )
        self.latency = Histogram(
            "naftiko_request_duration_seconds", "Time to answer an exposed request.", ["adapter", "operation"],
            registry=registry,
        )  # fmt: skip
        self.in_flight = Gauge(
            "naftiko_requests_in_flight", "Exposed requests running.", ["adapter"], registry=registry
        )
        self.upstream_errors = Counter(
            "naftiko_upstream_errors",
            "Upstream exchanges that failed (status >= 500, unreachable or too slow).",
            ["namespace", "operation", "status"],
            registry=registry,
        )
        if registry is not None:
            ProcessCollector(registry=registry)
            if breakers is not None:
                registry.register(BreakerCollector(breakers))

    def request(self, plan: OperationPlan) -> _Request:
        series = None
        if self.registry is not None:
            labels = (plan.exposed.namespace, plan.exposed.key)
            series = self.series.get(labels)
            if series is None:
                series = self.series[labels] = self._series(labels)
            series.in_flight.inc()
        span = token = None
        if self.tracer is not None:
            exposed = plan.exposed
            span = self.tracer.start_span(f"{exposed.adapter_kind} {exposed.key}", kind=trace.SpanKind.SERVER)
            span.set_attribute("naftiko.adapter", exposed.namespace)
            span.set_attribute("naftiko.operation", exposed.key)
            token = context.attach(trace.set_span_in_context(span))
        return _Request(self, plan, time.perf_counter(), span, token, series)

    def _series(self, labels: tuple[str, str]) -> _Series:
        latency, in_flight = self.latency.labels(*labels), self.in_flight.labels(labels[0])
        return _Series(self.requests, labels, latency, in_flight)

    def upstream(self, call: UpstreamCall, request: Outgoing) -> _Upstream:
        span = None
        if self.tracer is not None:
            span = self.tracer.start_span(f"upstream {call.label}", kind=trace.SpanKind.CLIENT)
            span.set_attribute("http.request.method", request.method)
            span.set_attribute("server.address", urlsplit(request.url).hostname or "")
            carrier: dict[str, str] = {}
            PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
            request.headers.update(carrier)
        return _Upstream(self, call, span)

    def continuing(self, app: ASGIApp) -> ASGIApp:
        """``app`` with each request's span continuing the caller's W3C trace, when traces are on."""
        if self.tracer is None:
            return app

        async def continued(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k in TRACE_HEADERS}
            token = context.attach(PROPAGATOR.extract(carrier)) if carrier else None
            try:
                await app(scope, receive, send)
            finally:
                if token is not None:
                    context.detach(token)

        return continued

    def exposition(self) -> tuple[bytes, str] | None:
        return None if self.registry is None else (generate_latest(self.registry), CONTENT_TYPE_LATEST)
