"""The lock-free series (issue 22, D137) write what ``prometheus_client``'s own write: the same
operations on both give the same ``/metrics`` text, line for line, apart from the ``_created``
timestamps (each side reads the clock itself). Values on a bucket's bound land in that bucket
(``le`` is "less than or equal"), as in ``prometheus_client``."""

from __future__ import annotations

import re

import prometheus_client
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest

from naftiko_runtime.serving import light_series

LABELS = st.tuples(st.sampled_from(["rest", "mcp"]), st.sampled_from(["200", "503", 'q"uote\\']))
BOUNDARIES = st.sampled_from([0.0, *light_series.BOUNDS, 11.0])
VALUES = st.one_of(BOUNDARIES, st.floats(0, 20, allow_nan=False))
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("count"), LABELS, st.just(0.0)),
        st.tuples(st.just("observe"), LABELS, VALUES),
        st.tuples(st.just("up"), LABELS, st.just(0.0)),
        st.tuples(st.just("down"), LABELS, st.just(0.0)),
    ),
    max_size=30,
)
CREATED = re.compile(r"^(\w+_created\{.*\}) \S+$", re.MULTILINE)


def _families(module, registry: CollectorRegistry):
    """A counter, a histogram and a gauge of ``module``: ``prometheus_client`` takes the registry
    by keyword, ``light_series`` as the last argument."""
    by_keyword, positional = ({"registry": registry}, ()) if module is prometheus_client else ({}, (registry,))
    kinds = (module.Counter, module.Histogram, module.Gauge)
    return [kind(f"m_{kind.__name__.lower()}", "Doc.", ["kind", "status"], *positional, **by_keyword) for kind in kinds]


def _exposition(module, operations) -> str:
    registry = CollectorRegistry()
    counter, histogram, gauge = _families(module, registry)
    for operation, labels, value in operations:
        if operation == "count":
            counter.labels(*labels).inc()
        elif operation == "observe":
            histogram.labels(*labels).observe(value)
        elif operation == "up":
            gauge.labels(*labels).inc()
        else:
            gauge.labels(*labels).dec()
    return CREATED.sub(r"\1 T", generate_latest(registry).decode())


@given(OPERATIONS)
def test_the_exposition_is_prometheus_clients(operations):
    assert _exposition(light_series, operations) == _exposition(prometheus_client, operations)


def test_a_name_registered_twice_is_refused():
    registry = CollectorRegistry()
    light_series.Counter("m", "Doc.", [], registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        light_series.Counter("m", "Doc.", [], registry)
