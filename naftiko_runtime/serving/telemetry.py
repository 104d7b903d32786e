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
from random import getrandbits
from time import monotonic_ns
from typing import ParamSpec
from urllib.parse import urlsplit

from opentelemetry import context
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Receive, Scope, Send

from ..adapters.control.model import Observability
from ..core.observe import Observation
from ..core.plans import OperationPlan, UpstreamCall
from ..core.requests import Outgoing
from ..core.resilience import Breaker
from ..records import dataclass
from ..spec.model import Exposed
from .folded_series import Folding
from .light_series import CounterChild, GaugeChild, HistogramChild
from .metrics import DroppedSpans, Series
from .propagation import CALLER, HEADERS, PROPAGATORS, continued
from .request_records import HANDOFF, Record, Records
from .tracing import CURRENT, ZEROS, LeanTracing, SdkTracing, draw, tracing_for

log = logging.getLogger("naftiko.requests")

P = ParamSpec("P")


class _Route:
    """One exposed operation's metric children and span shape, looked up once per request and
    made on its first: ``labels()`` or a shape's key per request costs more than the counting."""

    __slots__ = (
        "answered",
        "by_status",
        "call",
        "callee",
        "exposed",
        "in_flight",
        "lean",
        "opened",
        "orchestrated",
        "plain",
        "shape",
        "telemetry",
    )

    def __init__(self, telemetry: Telemetry, plan: OperationPlan):
        self.telemetry, self.exposed = telemetry, plan.exposed
        metrics, lean = telemetry.metrics, telemetry.lean
        self.in_flight = None if metrics is None else metrics.in_flight.labels(self.exposed.namespace)
        """``None`` when no metric is kept."""
        self.opened = 0
        """Its requests started so far; less those counted answered (``answered``), those running
        (``Telemetry.exposition``, D189)."""
        self.answered: list[CounterChild] = []
        """Its requests' counters, one by answer status."""
        self.lean = lean
        self.shape = None if lean is None else lean.server_shape(self.exposed)
        """``None`` unless the runtime exports its own spans (``LeanTracing``)."""
        self.orchestrated = lean is not None and (plan.orchestrated or plan.paging is not None)
        """Its calls find their request's record through ``tracing.CURRENT`` (D175): an
        orchestrated plan's steps, and a paged plan's pages, each a record of its own, counted in
        the order they end."""
        self.by_status: dict[int, list[int]] = {}
        """By answer status: the durations (ns) its series hold until they are folded (``folded_series``)."""
        plain = not (self.orchestrated or telemetry.sdk is not None or telemetry.request_log)
        self.plain = telemetry.records if plain else None
        """Where its requests' records are held, when holding it is all their end does (nothing to
        reset, no SDK span to end, no log line): ``_Request.finish`` asks one question (D188)."""
        self.call: UpstreamCall | None = None
        self.callee: _Callee | None = None
        """The first call its plan made last, and its callee: a simple plan's one call finds its
        callee without a key made and looked up per request (a templated host is looked up). The
        call's method is its request's (``build_outgoing``), so the call names the callee."""
        telemetry.loop_seen()

    def held(self, status: int) -> list[int]:
        metrics, exposed = self.telemetry.metrics, self.exposed
        assert metrics is not None
        values = (exposed.adapter_kind, exposed.key, exposed.namespace, str(status))  # the engine's labels
        errors = values if status >= 500 else None
        answered = metrics.requests.labels(*values)
        self.answered.append(answered)
        held = self.telemetry.folding.held(answered, metrics.latency.labels(*values), errors)
        self.by_status[status] = held
        return held


class _Callee:
    """One upstream operation's metric children and span shape, by method and host."""

    __slots__ = ("by_status", "failing", "labels", "namespace", "sdk", "shape", "telemetry")

    def __init__(self, telemetry: Telemetry, call: UpstreamCall, method: str, host: str):
        self.telemetry, self.namespace = telemetry, call.namespace
        self.failing, self.sdk = telemetry.failing, telemetry.sdk
        """Its telemetry's, read at each call's end without the telemetry's own lookup."""
        self.labels = (method, host, call.namespace)
        self.shape = None if telemetry.lean is None else telemetry.lean.client_shape(call, method, host)
        self.by_status: dict[int, list[int]] = {}
        """By answer status: the durations (ns) its series hold until they are folded (``folded_series``)."""

    def held(self, status: int) -> list[int]:
        method, host, namespace = self.labels
        values = (method, host, str(status), namespace)
        metrics = self.telemetry.metrics
        assert metrics is not None
        calls, latency = metrics.client_calls.labels(*values), metrics.client_latency.labels(*values)
        held = self.by_status[status] = self.telemetry.folding.held(calls, latency)
        return held


class _Observed(Record):
    """A record while it runs: the observation ``Telemetry`` hands the executor (``core.observe``).
    No ``__init__``: ``Telemetry`` fills it in. A request's (``_Request``) or a lone call's
    (``_Lone``): each kind's ``finish`` ends what it is, with no question asked (D188)."""

    __slots__ = ()
    route: _Route | None
    callee: _Callee | None

    def called(self, status: int) -> None:
        """The end of its upstream call: the call under a request, or the lone call."""
        self.up_ended = monotonic_ns()
        self.up_status = status
        callee = self.callee
        assert callee is not None
        callee.failing[callee.namespace] = status >= 500
        if callee.sdk is not None:
            self.up_sdk.end(status)


class _Request(_Observed):
    """An exposed request's record, with at most one call inline (``call`` and ``called``). Its
    end is one clock read, a few slots and an append to ``Records.held``."""

    __slots__ = ()
    route: _Route
    """Never ``None``: ``Telemetry.request`` sets it first."""

    def finish(self, status: int) -> None:
        self.ended = monotonic_ns()
        self.status = status
        route = self.route
        records = route.plain
        if records is None:
            self._ended(route, status)
            return
        held = records.held  # Records.append, inline: the one thing every request does
        held.append(self)
        if len(held) >= HANDOFF:
            records.handoff()

    def _ended(self, route: _Route, status: int) -> None:
        """The end of a request that does more than holding its record (``_Route.plain``)."""
        telemetry = route.telemetry
        if route.orchestrated:
            CURRENT.reset(self.token)
        elif telemetry.sdk is not None:
            self.sdk.end(status)
        if telemetry.records is not None:
            telemetry.records.append(self)
        if telemetry.request_log:
            self._log(telemetry, route.exposed, status, (self.ended - self.started) / 1e9)

    def call(self, call: UpstreamCall, request: Outgoing) -> None:
        """Its first call starts, inline in this record (D175): a simple plan's one call, observed
        in the executor's frame (D178), or a binary plan's (``Telemetry.upstream``). ``request``
        was built with ``call``'s method; ``called`` ends it (D188)."""
        route = self.route
        if route.call is call:  # set with its callee (``None`` until then, and for a templated host)
            self.callee = route.callee
        else:
            self.callee = route.callee = route.telemetry._callee(call, request)
            if "{" not in call.base_uri:  # else the host may change from one call to the next
                route.call = call
        lean = route.lean
        if lean is not None:
            drawn = self.drawn  # a sampled root's, written with its ids (``Telemetry.request``)
            if drawn and "traceparent" not in request.headers:
                request.drawn = drawn
                self.spans = 2
            else:
                lean.open_client(self, request, None)
        elif route.telemetry.sdk is not None or CALLER.get():
            route.telemetry.untraced_call(self, call, request)
        self.up_started = monotonic_ns()

    def _log(self, telemetry: Telemetry, exposed: Exposed, status: int, duration: float) -> None:
        fields: dict[str, object] = {
            "adapter": exposed.namespace,
            "operation": exposed.key,
            "status": status,
            "duration_ms": round(duration * 1000, 3),
        }
        if telemetry.lean is not None:
            fields["trace_id"] = self.hexids[:32]
        elif telemetry.sdk is not None:
            fields["trace_id"] = format(self.sdk.trace_id, "032x")
        log.info("%s %s answered %d", exposed.namespace, exposed.key, status, extra=fields)


class _Lone(_Observed):
    """A call's record alone (a paged or orchestrated plan's call, a forward): its end holds it."""

    __slots__ = ()

    def finish(self, status: int) -> None:
        self.called(status)
        callee = self.callee
        assert callee is not None
        if callee.telemetry.records is not None:
            callee.telemetry.records.append(self)


@dataclass(slots=True)
class _Under:
    """A request's first call opened through ``Telemetry.upstream`` (a binary plan's): inline in
    the request's record, ended by the record's ``called``."""

    request: _Request

    def finish(self, status: int) -> None:
        self.request.called(status)


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
        export = None if self.lean is None else self.lean.export
        self.records = None
        """The finished requests' records, held until folded and exported; ``None`` when nothing
        reads them (no metric kept, no span exported by the runtime)."""
        if self.metrics is not None or export is not None:
            self.records = Records(self._fold, None if export is None else export.take)

    def loop_seen(self) -> None:
        """Called when a route is made (on the loop, outside tests in process): from then on the
        span export's delay runs on this loop, handing over what the loop holds each time."""
        if self.lean is not None and self.records is not None:
            self.lean.export.start(self.records.handoff)

    def _fold(self, records: list[Record]) -> None:
        """The records' durations into their series, folded at once (D164, D174, D190): the same
        series, counts and buckets as counting each request where it ended, the sums exact (D191)."""
        if self.metrics is not None:
            self.folding.fold_records(records)

    def request(self, plan: OperationPlan) -> _Request:
        """An exposed request starts: its record, its route's count of started requests (D189), and,
        when the runtime exports its own spans, its trace: a root's ids drawn here, or the caller's
        trace continued (``LeanTracing.open_under_caller``)."""
        exposed = plan.exposed
        route = self.routes.get((exposed.namespace, exposed.key))
        if route is None:
            route = self.routes[exposed.namespace, exposed.key] = _Route(self, plan)
        record = _Request()
        record.route = route
        record.callee = None
        route.opened += 1
        lean = self.lean
        if lean is None:
            record.spans = 0
            if self.sdk is not None:
                record.sdk = self.sdk.server(exposed)
        else:
            if CALLER.get():  # a caller's trace continued (attached by ``continuing``)
                lean.open_under_caller(record)
            else:  # a root, its ids drawn in this frame, a call fewer (D188)
                record.ids = ids = getrandbits(256).to_bytes(32)  # big-endian; kept for the span export (D194)
                hexids = ids.hex()  # ``format(..., "064x")``, for a third less
                if ZEROS in hexids:
                    hexids = draw(256, "064x")
                    record.ids = bytes.fromhex(hexids)
                record.hexids = hexids
                record.parent = record.state = ""
                record.remote = False
                record.spans = record.sampled = sampled = lean.always or int(hexids[16:32], 16) < lean.bound
                # A sampled call's traceparent, written with the ids (``_Request.call``: then two spans)
                record.drawn = f"traceparent: 00-{hexids[:32]}-{hexids[48:]}-01\r\n" if sampled and lean.w3c else ""
            if route.orchestrated:
                record.token = CURRENT.set(record)
        record.started = monotonic_ns()
        return record

    def step(self, plan: OperationPlan, kind: str) -> _Step | _Unobserved:
        if self.metrics is None:
            return UNOBSERVED
        key = (kind, plan.exposed.namespace)
        latency = self.steps.get(key)
        if latency is None:
            latency = self.steps[key] = self.metrics.steps.labels(*key)
        return _Step(latency, time.perf_counter())

    def _callee(self, call: UpstreamCall, request: Outgoing) -> _Callee:
        host = self.hosts.get(call.base_uri)
        if host is None:
            host = urlsplit(request.url).hostname or ""
            if "{" not in call.base_uri:
                self.hosts[call.base_uri] = host
        key = (call.namespace, call.operation, request.method, host)
        callee = self.callees.get(key)
        if callee is None:
            callee = self.callees[key] = _Callee(self, call, request.method, host)
        return callee

    def upstream(self, call: UpstreamCall, request: Outgoing, within: Observation | None = None) -> Observation:
        """A call starts: inline in its request's record (``within``) when it is the first the
        request makes, else in a record of its own."""
        parent = within if type(within) is _Request else None
        if parent is not None and parent.callee is None:
            parent.call(call, request)
            return _Under(parent)
        record = _Lone()
        record.route, record.callee = None, self._callee(call, request)
        if self.lean is not None:
            self.lean.open_client(record, request, parent)
        else:
            record.spans = 0
            self.untraced_call(record, call, request)
        record.up_started = monotonic_ns()
        return record

    def untraced_call(self, record: _Observed, call: UpstreamCall, request: Outgoing) -> None:
        """A call starts without the runtime's own spans: the SDK tracer provider's client span, or
        the caller's context passed on under no span of ours."""
        if self.sdk is not None:
            assert record.callee is not None
            record.up_sdk = self.sdk.client(call, request, record.callee.labels[1], self.propagator)
        elif self.relaying and CALLER.get():  # the caller's context, attached by ``continuing``
            carrier: dict[str, str] = {}
            self.propagator.inject(carrier)
            request.headers.update(carrier)

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

    async def aclose(self) -> None:
        """Send the spans still held or queued, if this runtime exports its own, once no request
        runs: the held records are handed over, then the export sends what is queued (within its
        timeout) and closes its connection."""
        if self.lean is not None:
            if self.records is not None:
                self.records.handoff()
            await self.lean.export.aclose()

    def exposition(self) -> tuple[bytes, str] | None:
        if self.metrics is None:
            return None
        assert self.records is not None
        self.records.fold()  # every request finished before the scrape is in it
        self._count_in_flight()
        return generate_latest(self.metrics.registry), CONTENT_TYPE_LATEST

    def _count_in_flight(self) -> None:
        """``naftiko_requests_in_flight`` as a scrape reads it, per namespace: the requests started
        less those counted answered, once every finished request is folded (D189): no gauge moves
        per request for a value only a scrape reads."""
        running: dict[GaugeChild, float] = {}
        for route in self.routes.values():
            if route.in_flight is not None:
                answered = sum(counter.value for counter in route.answered)
                running[route.in_flight] = running.get(route.in_flight, 0.0) + route.opened - answered
        for in_flight, value in running.items():
            in_flight.value = value
