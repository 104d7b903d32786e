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
from dataclasses import dataclass
from time import monotonic_ns
from typing import ParamSpec
from urllib.parse import urlsplit

from opentelemetry import context
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Receive, Scope, Send

from ..adapters.control.model import Observability
from ..core.plans import OperationPlan, UpstreamCall
from ..core.requests import Outgoing
from ..core.resilience import Breaker
from ..spec.model import Exposed
from .folded_series import FOLD_AT, Folding
from .light_series import HistogramChild
from .metrics import DroppedSpans, Series
from .propagation import CALLER, HEADERS, PROPAGATORS, continued
from .span_export import LeanSpan
from .tracing import CURRENT_SPAN, LeanTracing, SdkTracing, Span, tracing_for

log = logging.getLogger("naftiko.requests")

P = ParamSpec("P")


class _Route:
    """One exposed operation's metric children and span shape, looked up once per request and
    made on its first: ``labels()`` or a shape's key per request costs more than the counting."""

    __slots__ = ("by_status", "exposed", "in_flight", "shape", "telemetry")

    def __init__(self, telemetry: Telemetry, exposed: Exposed):
        self.telemetry, self.exposed = telemetry, exposed
        metrics, lean = telemetry.metrics, telemetry.lean
        self.in_flight = None if metrics is None else metrics.in_flight.labels(exposed.namespace)
        """``None`` when no metric is kept."""
        self.shape = None if lean is None else lean.server_shape(exposed)
        """``None`` unless the runtime exports its own spans (``LeanTracing``)."""
        self.by_status: dict[int, list[float]] = {}
        """By answer status: the durations its series hold until they are folded (``folded_series``)."""

    def held(self, status: int) -> list[float]:
        metrics, exposed = self.telemetry.metrics, self.exposed
        assert metrics is not None
        values = (exposed.adapter_kind, exposed.key, exposed.namespace, str(status))  # the engine's labels
        errors = values if status >= 500 else None
        held = self.telemetry.folding.held(metrics.requests.labels(*values), metrics.latency.labels(*values), errors)
        self.by_status[status] = held
        return held


class _Callee:
    """One upstream operation's metric children and span shape, by method and host."""

    __slots__ = ("by_status", "labels", "namespace", "shape")

    def __init__(self, telemetry: Telemetry, call: UpstreamCall, method: str, host: str):
        self.namespace = call.namespace
        self.labels = (method, host, call.namespace)
        self.shape = None if telemetry.lean is None else telemetry.lean.client_shape(call, method, host)
        self.by_status: dict[int, list[float]] = {}
        """By answer status: the durations its series hold until they are folded (``folded_series``)."""

    def held(self, telemetry: Telemetry, status: int) -> list[float]:
        method, host, namespace = self.labels
        values = (method, host, str(status), namespace)
        metrics = telemetry.metrics
        assert metrics is not None
        calls, latency = metrics.client_calls.labels(*values), metrics.client_latency.labels(*values)
        held = self.by_status[status] = telemetry.folding.held(calls, latency)
        return held


class _Request(LeanSpan):
    """An exposed request running: its metrics, and its span when the runtime exports its own
    (then this object is the span). No ``__init__``: ``Telemetry.request`` fills it in."""

    __slots__ = ("route", "sdk", "started")
    route: _Route
    started: int
    """``monotonic_ns()``: one clock read per edge for the metrics and the span."""
    sdk: Span | None
    """The span of an embedding program's SDK tracer provider, if that traces."""

    def finish(self, status: int) -> None:
        now = monotonic_ns()
        route = self.route
        telemetry, in_flight = route.telemetry, route.in_flight
        duration = (now - self.started) / 1e9
        if in_flight is not None:  # held, folded into the series in bulk (D164)
            held = route.by_status.get(status)
            if held is None:
                held = route.held(status)
            held.append(duration)
            if len(held) >= FOLD_AT:
                telemetry.folding.fold()
            in_flight.value -= 1.0
        if telemetry.request_log:
            self._log(status, duration)
        if route.shape is not None and telemetry.lean is not None:
            if self.token is not None:
                CURRENT_SPAN.reset(self.token)
            if self.sampled:
                telemetry.lean.export.ended(self, route.shape, self.started, now, status)
        elif self.sdk is not None:
            self.sdk.end(status)

    def _log(self, status: int, duration: float) -> None:
        exposed = self.route.exposed
        fields: dict[str, object] = {
            "adapter": exposed.namespace,
            "operation": exposed.key,
            "status": status,
            "duration_ms": round(duration * 1000, 3),
        }
        if self.route.shape is not None:
            fields["trace_id"] = self.trace_id.hex()
        elif self.sdk is not None:
            fields["trace_id"] = format(self.sdk.trace_id, "032x")
        log.info("%s %s answered %d", exposed.namespace, exposed.key, status, extra=fields)


class _Upstream(LeanSpan):
    """An upstream exchange running: its metrics and span, as ``_Request``'s."""

    __slots__ = ("callee", "sdk", "started", "telemetry")
    telemetry: Telemetry
    callee: _Callee
    started: int
    sdk: Span | None

    def finish(self, status: int) -> None:
        now = monotonic_ns()
        telemetry, callee = self.telemetry, self.callee
        telemetry.failing[callee.namespace] = status >= 500
        metrics = telemetry.metrics
        if metrics is not None:  # held, folded into the series in bulk (D164)
            held = callee.by_status.get(status)
            if held is None:
                held = callee.held(telemetry, status)
            held.append((now - self.started) / 1e9)
            if len(held) >= FOLD_AT:
                telemetry.folding.fold()
        if callee.shape is not None and telemetry.lean is not None:
            if self.sampled:
                telemetry.lean.export.ended(self, callee.shape, self.started, now, status)
        elif self.sdk is not None:
            self.sdk.end(status)


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
        self.routes: dict[tuple[str, str], _Route] = {}
        """By adapter and operation: the metric children and span shape of each, made on its first request."""
        self.steps: dict[tuple[str, str], HistogramChild] = {}
        """By step type and adapter namespace: the step histogram's children."""
        self.callees: dict[tuple[str, str, str, str], _Callee] = {}
        """By consumed namespace, operation, method and host: the client series' children and span shape."""
        self.hosts: dict[str, str] = {}
        """By base URI without a template: the host the client series name (``server_address``)."""
        self.failing: dict[str, bool] = {}
        """By consumed namespace: whether its last upstream exchange failed (readiness, D92)."""
        self.tracer = tracing_for(observability) if observability.enabled else None
        self.relaying = observability.enabled
        """The caller's trace context goes upstream (``enabled: false`` turns it off, as in the engine)."""
        self.propagator = PROPAGATORS[observability.propagation]
        self.trace_headers = HEADERS[observability.propagation]
        self.lean = self.tracer if isinstance(self.tracer, LeanTracing) else None
        """The runtime's own span export: then the request and upstream observations are the spans."""
        self.sdk = self.tracer if isinstance(self.tracer, SdkTracing) else None
        """An embedding program's SDK tracer provider, whose spans are the SDK's."""
        self.metrics = Series(breakers, capabilities) if observability.enabled and observability.metrics else None
        if self.metrics is not None:
            self.folding = Folding(self.metrics.errors)
            if self.lean is not None:
                self.metrics.registry.register(DroppedSpans(self.lean.export.dropped))

    def request(self, plan: OperationPlan) -> _Request:
        exposed = plan.exposed
        route = self.routes.get((exposed.namespace, exposed.key))
        if route is None:
            route = self.routes[exposed.namespace, exposed.key] = _Route(self, exposed)
        observation = _Request()
        observation.route, observation.sdk = route, None
        if route.in_flight is not None:
            route.in_flight.value += 1.0
        if self.lean is not None:
            self.lean.open_server(observation)
        elif self.sdk is not None:
            observation.sdk = self.sdk.server(exposed)
        observation.started = monotonic_ns()
        return observation

    def step(self, plan: OperationPlan, kind: str) -> _Step | _Unobserved:
        if self.metrics is None:
            return UNOBSERVED
        key = (kind, plan.exposed.namespace)
        latency = self.steps.get(key)
        if latency is None:
            latency = self.steps[key] = self.metrics.steps.labels(*key)
        return _Step(latency, time.perf_counter())

    def upstream(self, call: UpstreamCall, request: Outgoing) -> _Upstream:
        host = self.hosts.get(call.base_uri)
        if host is None:
            host = urlsplit(request.url).hostname or ""
            if "{" not in call.base_uri:
                self.hosts[call.base_uri] = host
        key = (call.namespace, call.operation, request.method, host)
        callee = self.callees.get(key)
        if callee is None:
            callee = self.callees[key] = _Callee(self, call, request.method, host)
        observation = _Upstream()
        observation.telemetry, observation.callee, observation.sdk = self, callee, None
        if self.lean is not None:
            self.lean.open_client(observation, request.headers, self.propagator)
        elif self.sdk is not None:
            observation.sdk = self.sdk.client(call, request, host, self.propagator)
        elif self.relaying and CALLER.get():  # the caller's context, attached by ``continuing``
            carrier: dict[str, str] = {}
            self.propagator.inject(carrier)
            request.headers.update(carrier)
        observation.started = monotonic_ns()
        return observation

    @property
    def context_headers(self) -> frozenset[bytes]:
        """The request headers that carry a caller's trace context: a request with none of them runs
        in no context of ours, on either path (D161)."""
        return self.trace_headers if self.relaying else frozenset()

    def caller_context(self, headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str] | None:
        """The caller's trace context a request brings (the propagator's headers), or ``None``;
        read alike for the ASGI path (``continuing``) and the REST fast path (D163)."""
        wanted = self.context_headers
        carrier: dict[str, str] | None = None  # made only for a request that brings a context
        for name, value in headers:
            if name in wanted:
                if carrier is None:
                    carrier = {}
                carrier[name.decode("latin-1")] = value.decode("latin-1")
        return carrier

    async def within(
        self, carrier: dict[str, str], run: Callable[P, Awaitable[None]], *args: P.args, **kwargs: P.kwargs
    ) -> None:
        """``run`` in the caller's trace context ``carrier``: the server span's parent when traces are
        recorded, else the parent of an unrecorded span of ours. ``run`` is called in the context,
        so nothing of the request happens outside it; both paths hand a request over here (D163)."""
        extracted = self.propagator.extract(carrier)
        token = context.attach(extracted if self.tracer is not None else continued(extracted))
        marked = CALLER.set(True)
        try:
            await run(*args, **kwargs)
        finally:
            CALLER.reset(marked)
            context.detach(token)

    def continuing(self, app: ASGIApp) -> ASGIApp:
        """``app`` with each request that brings a trace context (W3C or B3) running in it
        (``within``)."""
        if not self.relaying:
            return app

        def continued_app(scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
            """A request without a trace context gets ``app``'s own coroutine: no layer of ours."""
            if scope["type"] != "http":
                return app(scope, receive, send)
            carrier = self.caller_context(scope["headers"])
            if carrier is None:
                return app(scope, receive, send)
            return self.within(carrier, app, scope, receive, send)

        return continued_app

    def close(self) -> None:
        """Send the spans still queued, if this runtime exports its own (blocks: run off the loop)."""
        if self.lean is not None:
            self.lean.export.close()

    def exposition(self) -> tuple[bytes, str] | None:
        if self.metrics is None:
            return None
        self.folding.fold()  # every request finished before the scrape is in it
        return generate_latest(self.metrics.registry), CONTENT_TYPE_LATEST
