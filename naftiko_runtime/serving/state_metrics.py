"""The shared state store's health on the control adapter's ``/metrics`` (issue 22), read when
scraped like the breakers' (``telemetry.BreakerCollector``): a call pays nothing for it.

``naftiko_state_store_up`` (1 or 0), ``naftiko_state_store_outages_total`` (times it became
unreachable) and ``naftiko_rate_limit_fail_open_total`` (calls admitted without their rate limit
because the store was down), each labelled with the store's URL without credentials.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..core.state import StoreHealth


class StoreCollector(Collector):
    def __init__(self, health: StoreHealth):
        self.health = health

    def collect(self) -> Iterator[Metric]:
        labels, store = ["store"], [self.health.name]
        up = GaugeMetricFamily("naftiko_state_store_up", "1 while the shared state store answers.", labels=labels)
        up.add_metric(store, 1.0 if self.health.up else 0.0)
        outages = CounterMetricFamily(
            "naftiko_state_store_outages", "Times the shared state store became unreachable.", labels=labels
        )
        outages.add_metric(store, self.health.outages)
        failed_open = CounterMetricFamily(
            "naftiko_rate_limit_fail_open",
            "Calls admitted without their rate limit because the shared state store was down.",
            labels=labels,
        )
        failed_open.add_metric(store, self.health.failed_open)
        yield up
        yield outages
        yield failed_open
