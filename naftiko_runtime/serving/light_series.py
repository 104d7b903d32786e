"""Counters, histograms and gauges with ``prometheus_client``'s exposition and none of its per-call
locking (issue 22, D137).

``prometheus_client`` guards every value with a ``threading.Lock`` and checks on each ``inc`` or
``observe`` that the metric has labels filled in: eight locked increments and as many checks per
observed request, about a third of what metrics cost a pass-through. Every series of the request
path here is counted on the event loop's thread and scraped on it too (``/metrics`` is a handler of
the same loop; ``--workers`` are processes, each with its own registry), so plain numbers suffice.
At scrape time these collectors build the same families, samples and ``_created`` series that
``prometheus_client``'s ``Counter``, ``Histogram`` and ``Gauge`` write
(``tests/unit/test_light_series.py`` compares the two expositions).
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterator
from typing import Generic, TypeVar

import prometheus_client
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

BUCKETS = prometheus_client.Histogram.DEFAULT_BUCKETS
"""``prometheus_client``'s default buckets, as every histogram of ours had; the last is ``+Inf``."""
BOUNDS = BUCKETS[:-1]


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))


class CounterChild:
    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.created = time.time()

    def inc(self) -> None:
        self.value += 1.0


class GaugeChild:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self) -> None:
        self.value += 1.0

    def dec(self) -> None:
        self.value -= 1.0


class HistogramChild:
    __slots__ = ("counts", "created", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(BOUNDS) + 1)
        """Per bucket, not cumulative; the last one is ``+Inf``."""
        self.sum = 0.0
        self.created = time.time()

    def observe(self, value: float) -> None:
        self.counts[bisect_left(BOUNDS, value)] += 1
        self.sum += value


C = TypeVar("C", CounterChild, GaugeChild, HistogramChild)


class _Family(Collector, Generic[C]):
    """The children of one labelled metric, by their label values, made on first use."""

    def __init__(
        self, name: str, documentation: str, labels: list[str], registry: CollectorRegistry, child: type[C]
    ) -> None:
        self.name, self.documentation, self.label_names = name, documentation, labels
        self.children: dict[tuple[str, ...], C] = {}
        self.child: type[C] = child
        registry.register(self)

    def labels(self, *values: str) -> C:
        child = self.children.get(values)
        if child is None:
            child = self.children[values] = self.child()
        return child

    def describe(self) -> list[Metric]:
        """The empty families, so that the registry refuses a name used twice."""
        return list(self.collect())


class Counter(_Family[CounterChild]):
    def __init__(self, name: str, documentation: str, labels: list[str], registry: CollectorRegistry) -> None:
        super().__init__(name, documentation, labels, registry, CounterChild)

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.label_names)
        for values, child in list(self.children.items()):
            family.add_metric(list(values), child.value, created=child.created)
        yield family


class Gauge(_Family[GaugeChild]):
    def __init__(self, name: str, documentation: str, labels: list[str], registry: CollectorRegistry) -> None:
        super().__init__(name, documentation, labels, registry, GaugeChild)

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(self.name, self.documentation, labels=self.label_names)
        for values, child in list(self.children.items()):
            family.add_metric(list(values), child.value)
        yield family


class Histogram(_Family[HistogramChild]):
    def __init__(self, name: str, documentation: str, labels: list[str], registry: CollectorRegistry) -> None:
        super().__init__(name, documentation, labels, registry, HistogramChild)

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.label_names)
        for values, child in list(self.children.items()):
            cumulative, buckets = 0, []
            for bound, count in zip(BUCKETS, list(child.counts), strict=True):
                cumulative += count
                buckets.append((_le(bound), float(cumulative)))
            family.add_metric(list(values), buckets, child.sum)
            labels = dict(zip(self.label_names, values, strict=True))
            family.samples.append(Sample(self.name + "_created", labels, child.created))
        yield family
