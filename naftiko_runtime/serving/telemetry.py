"""Metrics, traces and upstream health of the exposed calls: the ``core.observe.Observer`` a
``control`` adapter switches on (issue 13, item 5; the engine's names, issue 20, item 5).

Prometheus: the series of ``serving.metrics`` (the reference engine's names and labels, so its
dashboards and alert rules read them), and the circuit breakers' states (``--config``, D91).

Traces (OpenTelemetry): a server span per exposed request, a client span per upstream call. They
are recorded only when something receives them (``serving.tracing``): the runtime's own OTLP
export to ``observability.exporters.otlp`` (D135, D136), or the tracer provider an embedding
program installed (the tests' in-memory exporter). Whether recorded or not, the caller's trace
context (``w3c`` or ``b3``, ``traces.propagation``) goes on to every upstream call, under a span
of this runtime (``serving.propagation``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from opentelemetry import context
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Receive, Scope, Send

from ..adapters.control.model import Observability
from ..core.plans import OperationPlan, UpstreamCall
from ..core.requests import Outgoing
from ..core.resilience import Breaker
from .light_series import CounterChild, GaugeChild, HistogramChild
from .metrics import DroppedSpans, Series
from .propagation import CALLER, HEADERS, PROPAGATORS, continued
from .tracing import LeanTracing, Span, tracing_for

log = logging.getLogger("naftiko.requests")


@dataclass
class _Series:
    """One operation's metric children, looked up once: ``labels()`` per request costs more than
    the counting itself."""

    series: Series
    labels: tuple[str, str, str]
    """The engine's: adapter type, operation id, and the adapter's namespace."""
    in_flight: GaugeChild
    by_status: dict[int, tuple[CounterChild, HistogramChild]] = field(default_factory=dict)

    def answered(self, status: int, duration: float) -> None:
        children = self.by_status.get(status)
        if children is None:
            values = (*self.labels, str(status))
            children = (self.series.requests.labels(*values), self.series.latency.labels(*values))
            self.by_status[status] = children
        children[0].inc()
        children[1].observe(duration)
        if status >= 500:
            self.series.errors.inc((*self.labels, str(status)))
        self.in_flight.dec()


@dataclass
class _Request:
    telemetry: Telemetry
    plan: OperationPlan
    started: float
    span: Span | None
    series: _Series | None

    def finish(self, status: int) -> None:
        exposed, metrics = self.plan.exposed, self.telemetry
        duration = time.perf_counter() - self.started
        if self.series is not None:
            self.series.answered(status, duration)
        if metrics.request_log:
            fields: dict[str, object] = {
                "adapter": exposed.namespace,
                "operation": exposed.key,
                "status": status,
                "duration_ms": round(duration * 1000, 3),
            }
            if self.span is not None:
                fields["trace_id"] = format(self.span.trace_id, "032x")
            log.info("%s %s answered %d", exposed.namespace, exposed.key, status, extra=fields)
        if self.span is not None:
            self.span.end(status)


@dataclass
class _Upstream:
    telemetry: Telemetry
    call: UpstreamCall
    method: str
    host: str
    started: float
    span: Span | None

    def finish(self, status: int) -> None:
        failing = status >= 500
        self.telemetry.failing[self.call.namespace] = failing
        telemetry = self.telemetry
        if telemetry.metrics is not None:
            key = (self.call.namespace, self.method, self.host, status)
            children = telemetry.clients.get(key)
            if children is None:
                values = (self.method, self.host, str(status), self.call.namespace)
                children = (
                    telemetry.metrics.client_calls.labels(*values),
                    telemetry.metrics.client_latency.labels(*values),
                )
                telemetry.clients[key] = children
            children[0].inc()
            children[1].observe(time.perf_counter() - self.started)
        if self.span is not None:
            self.span.end(status)


@dataclass
class _Step:
    latency: HistogramChild
    started: float

    def finish(self, status: int) -> None:
        self.latency.observe(time.perf_counter() - self.started)


class _Unobserved:
    """A step when no metric is kept: nothing to do at its end."""

    def finish(self, status: int) -> None:
        pass


UNOBSERVED = _Unobserved()


class Telemetry:
    def __init__(
        self,
        observability: Observability,
        request_log: bool = False,
        breakers: Callable[[], Mapping[str, Breaker]] | None = None,
        capabilities: Callable[[], Iterable[str]] | None = None,
    ):
        self.request_log = request_log
        """A log line per answered exposed request (``--log-format json``)."""
        self.series: dict[tuple[str, str], _Series] = {}
        """By adapter and operation: the metric children of each, made on its first request."""
        self.steps: dict[tuple[str, str], HistogramChild] = {}
        """By step type and adapter namespace: the step histogram's children."""
        self.clients: dict[tuple[str, str, str, int], tuple[CounterChild, HistogramChild]] = {}
        """By consumed namespace, method, host and status: the client series' children."""
        self.hosts: dict[str, str] = {}
        """By base URI without a template: the host the client series name (``server_address``)."""
        self.failing: dict[str, bool] = {}
        """By consumed namespace: whether its last upstream exchange failed (readiness, D92)."""
        self.tracer = tracing_for(observability) if observability.enabled else None
        self.relaying = observability.enabled
        """The caller's trace context goes upstream (``enabled: false`` turns it off, as in the engine)."""
        self.propagator = PROPAGATORS[observability.propagation]
        self.trace_headers = HEADERS[observability.propagation]
        self.metrics = Series(breakers, capabilities) if observability.enabled and observability.metrics else None
        if self.metrics is not None and isinstance(self.tracer, LeanTracing):
            self.metrics.registry.register(DroppedSpans(self.tracer.export.dropped))

    def request(self, plan: OperationPlan) -> _Request:
        series = None
        exposed = plan.exposed
        if self.metrics is not None:
            labels = (exposed.namespace, exposed.key)
            series = self.series.get(labels)
            if series is None:
                in_flight = self.metrics.in_flight.labels(exposed.namespace)
                series = _Series(self.metrics, (exposed.adapter_kind, exposed.key, exposed.namespace), in_flight)
                self.series[labels] = series
            series.in_flight.inc()
        span = None if self.tracer is None else self.tracer.server(exposed)
        return _Request(self, plan, time.perf_counter(), span, series)

    def step(self, plan: OperationPlan, kind: str) -> _Step | _Unobserved:
        if self.metrics is None:
            return UNOBSERVED
        key = (kind, plan.exposed.namespace)
        latency = self.steps.get(key)
        if latency is None:
            latency = self.steps[key] = self.metrics.steps.labels(*key)
        return _Step(latency, time.perf_counter())

    def upstream(self, call: UpstreamCall, request: Outgoing) -> _Upstream:
        span = None
        host = self.hosts.get(call.base_uri)
        if host is None:
            host = urlsplit(request.url).hostname or ""
            if "{" not in call.base_uri:
                self.hosts[call.base_uri] = host
        if self.tracer is not None:
            span = self.tracer.client(call, request, host, self.propagator)
        elif self.relaying and CALLER.get():  # the caller's context, attached by ``continuing``
            carrier: dict[str, str] = {}
            self.propagator.inject(carrier)
            request.headers.update(carrier)
        return _Upstream(self, call, request.method, host, time.perf_counter(), span)

    def continuing(self, app: ASGIApp) -> ASGIApp:
        """``app`` with each request running in the caller's trace context (W3C or B3): the server
        span's parent when traces are recorded, else the parent of an unrecorded span of ours."""
        if not self.relaying:
            return app
        wanted, propagator, recording = self.trace_headers, self.propagator, self.tracer is not None

        async def in_context(carrier: dict[str, str], scope: Scope, receive: Receive, send: Send) -> None:
            extracted = propagator.extract(carrier)
            token = context.attach(extracted if recording else continued(extracted))
            marked = CALLER.set(True)
            try:
                await app(scope, receive, send)
            finally:
                CALLER.reset(marked)
                context.detach(token)

        def continued_app(scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
            """A request without a trace context gets ``app``'s own coroutine: no layer of ours."""
            if scope["type"] != "http":
                return app(scope, receive, send)
            carrier: dict[str, str] | None = None  # made only for a request that brings a context
            for name, value in scope["headers"]:
                if name in wanted:
                    if carrier is None:
                        carrier = {}
                    carrier[name.decode("latin-1")] = value.decode("latin-1")
            if carrier is None:
                return app(scope, receive, send)
            return in_context(carrier, scope, receive, send)

        return continued_app

    def close(self) -> None:
        """Send the spans still queued, if this runtime exports its own (blocks: run off the loop)."""
        if isinstance(self.tracer, LeanTracing):
            self.tracer.export.close()

    def exposition(self) -> tuple[bytes, str] | None:
        return None if self.metrics is None else (generate_latest(self.metrics.registry), CONTENT_TYPE_LATEST)
