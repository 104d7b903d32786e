"""The Prometheus series of ``/metrics``, named as the reference engine names them (issue 20, item 5).

The engine's own Grafana and Datadog dashboards and Prometheus alert rules
(``ikanos-docs/demo/observability/``) read these names and labels; serving them is what makes
those dashboards show this runtime. The engine's OpenTelemetry attribute names become labels with
``.`` turned to ``_``, as its Prometheus serializer and the OpenTelemetry collector both do:

- ``naftiko_request_total`` (counter) and ``naftiko_request_duration_seconds`` (histogram), by
  ``naftiko_adapter_type``, ``naftiko_operation_id``, ``naftiko_namespace`` and ``status``;
- ``naftiko_request_errors`` (untyped: a counter without ``_total``), the same with ``error_type``
  (the status) in place of ``status``, for answers >= 500;
- ``naftiko_http_client_total`` (counter) and ``naftiko_http_client_duration_seconds``
  (histogram), by ``http_request_method``, ``server_address``, ``http_response_status_code`` and
  ``naftiko_namespace``;
- ``naftiko_step_duration_seconds`` (histogram), by ``step_type`` (call, lookup, script) and
  ``naftiko_namespace``;
- ``naftiko_capability_active`` (gauge), 1 by ``naftiko_capability``.

``naftiko_namespace`` is the exposed adapter's namespace on the request and step series (the
engine's step label), the consumed namespace on the client series: one label more than the
engine's on the first and the client series, which no dashboard query groups away. The runtime's
own series without an engine counterpart stay: ``naftiko_requests_in_flight``, the circuit
breakers' and the process collector's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..core.cache import SharedCache
from ..core.resilience import Breaker
from .light_series import Counter, Gauge, Histogram

REQUEST_LABELS = ("naftiko_adapter_type", "naftiko_operation_id", "naftiko_namespace")
CLIENT_LABELS = ("http_request_method", "server_address", "http_response_status_code", "naftiko_namespace")


class Untyped(Collector):
    """A counter whose series keeps its bare name: the engine's ``naftiko_request_errors`` has no
    ``_total`` suffix, and prometheus_client gives every counter one. ``rate()`` reads it alike."""

    def __init__(self, name: str, documentation: str, labels: tuple[str, ...]):
        self.name, self.documentation, self.labels = name, documentation, labels
        self.counts: dict[tuple[str, ...], float] = {}

    def inc(self, values: tuple[str, ...]) -> None:
        self.counts[values] = self.counts.get(values, 0.0) + 1.0

    def collect(self) -> Iterator[Metric]:
        family = Metric(self.name, self.documentation, "unknown")
        for values, count in sorted(self.counts.items()):
            family.add_sample(self.name, dict(zip(self.labels, values, strict=True)), count)
        yield family


class ActiveCapabilities(Collector):
    """``naftiko_capability_active``: 1 per capability served, read from the runtime when scraped
    (a reload that changes the files changes it)."""

    def __init__(self, capabilities: Callable[[], Iterable[str]]):
        self.capabilities = capabilities

    def collect(self) -> Iterator[Metric]:
        active = GaugeMetricFamily(
            "naftiko_capability_active", "Capabilities being served.", labels=["naftiko_capability"]
        )
        for name in sorted(set(self.capabilities())):
            active.add_metric([name], 1.0)
        yield active


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


class CacheCollector:
    """The shared upstream cache's counts (D123), read at scrape time: a call pays nothing for them."""

    def __init__(self, cache: SharedCache):
        self.cache = cache

    def collect(self) -> Iterator[Metric]:
        counts = self.cache.counts
        lookups = CounterMetricFamily(
            "naftiko_upstream_cache_lookups",
            "Cacheable upstream GETs: answered from memory (hit), by a 304 (revalidated) or sent (miss).",
            labels=["result"],
        )
        for result, value in (("hit", counts.hits), ("revalidated", counts.revalidated), ("miss", counts.misses)):
            lookups.add_metric([result], value)
        yield lookups
        yield CounterMetricFamily(
            "naftiko_upstream_cache_evictions", "Stored answers dropped to stay within the bounds.", counts.evicted
        )
        yield GaugeMetricFamily("naftiko_upstream_cache_entries", "Answers stored.", len(self.cache))
        yield GaugeMetricFamily("naftiko_upstream_cache_bytes", "Bytes of answers stored.", self.cache.stored_bytes)


class DroppedSpans:
    """``naftiko_trace_spans_dropped_total`` by ``reason`` (D136): spans the OTLP export let go,
    its queue full (``queue_full``) or the collector not taking a batch (``export_failed``)."""

    def __init__(self, dropped: Mapping[str, int]):
        self.dropped = dropped

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "naftiko_trace_spans_dropped", "Spans not exported: queue full or export failed.", labels=["reason"]
        )
        for reason, count in sorted(self.dropped.items()):
            family.add_metric([reason], count)
        yield family


class Series:
    """Every metric family of one runtime, in its own registry (two runtimes in one process never
    mix)."""

    def __init__(
        self,
        breakers: Callable[[], Mapping[str, Breaker]] | None,
        capabilities: Callable[[], Iterable[str]] | None,
    ):
        self.registry = registry = CollectorRegistry()
        self.requests = Counter("naftiko_request", "Exposed requests answered.", [*REQUEST_LABELS, "status"], registry)
        self.latency = Histogram(
            "naftiko_request_duration_seconds", "Time to answer an exposed request.", [*REQUEST_LABELS, "status"],
            registry,
        )  # fmt: skip
        self.errors = Untyped(
            "naftiko_request_errors",
            "Exposed requests answered with a server error (status >= 500).",
            (*REQUEST_LABELS, "error_type"),
        )
        registry.register(self.errors)
        self.in_flight = Gauge(
            "naftiko_requests_in_flight", "Exposed requests running.", ["naftiko_namespace"], registry
        )
        self.client_calls = Counter(
            "naftiko_http_client", "Upstream exchanges, by answer (502/504: unreachable or too slow).",
            [*CLIENT_LABELS], registry,
        )  # fmt: skip
        self.client_latency = Histogram(
            "naftiko_http_client_duration_seconds", "Time of an upstream exchange.", [*CLIENT_LABELS], registry
        )
        self.steps = Histogram(
            "naftiko_step_duration_seconds", "Time of one step of an orchestrated operation.",
            ["step_type", "naftiko_namespace"], registry,
        )  # fmt: skip
        ProcessCollector(registry=registry)
        if breakers is not None:
            registry.register(BreakerCollector(breakers))
        if capabilities is not None:
            registry.register(ActiveCapabilities(capabilities))
