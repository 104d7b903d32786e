"""Records folded in bulk (issue 22 item 2, D174, D175) count what counting each request and call
where it ends counts: the same series, the same counts and buckets, the same sums (added in the
order the requests and calls ended), the server errors, whatever the points where records are
handed over or a scrape comes; a simple plan's call, observed inside its request's record, and
the further calls observed alone alike. A record folded twice or not at all, a duration taken
from the wrong edge, or a call counted out of order would make them differ."""

from __future__ import annotations

from types import SimpleNamespace
from unittest.mock import patch

from hypothesis import given, settings
from hypothesis import strategies as st

from naftiko_runtime.adapters.control.model import Observability
from naftiko_runtime.serving import request_records, telemetry
from naftiko_runtime.serving.light_series import CounterChild, HistogramChild
from naftiko_runtime.serving.telemetry import Telemetry

STATUSES = st.sampled_from([200, 201, 404, 500, 503])
PLAN = SimpleNamespace(exposed=SimpleNamespace(namespace="shop-rest", key="GET /orders", adapter_kind="rest"))
CALL = SimpleNamespace(namespace="shop", operation="list-orders", base_uri="http://api.test", label="shop.list")
REQUEST = st.tuples(STATUSES, st.lists(STATUSES, max_size=3), st.booleans(), st.booleans(), st.booleans())
"""The answer, the answers of the calls it makes, whether it is a simple plan's (its one call inside
its record, D175; else each call alone, as a paged or orchestrated plan's), whether that one call
starts as the executor starts a simple plan's (``call``, D188) or a binary plan's (``upstream``
with the request's observation), a scrape after it."""


def _counted_in_place(observed: list) -> dict[tuple[str, str, int], tuple[float, list[int], float]]:
    """Per series: the count, buckets and sum of counting each duration where it ended."""
    series: dict[tuple[str, str, int], tuple[CounterChild, HistogramChild]] = {}
    for kind, status, duration in observed:
        counter, histogram = series.setdefault((kind, "", status), (CounterChild(), HistogramChild()))
        counter.inc()
        histogram.observe(duration)
    return {key: (counter.value, histogram.counts, histogram.sum) for key, (counter, histogram) in series.items()}


@settings(deadline=None, max_examples=60)
@given(requests=st.lists(REQUEST, min_size=1, max_size=30), handoff=st.integers(1, 6))
def test_records_fold_to_what_counting_each_request_where_it_ends_gives(requests, handoff):
    kept = Telemetry(Observability(metrics=True))
    observed = []  # (series kind, status, duration) in the order they ended
    with patch.object(request_records, "HANDOFF", handoff), patch.object(telemetry, "HANDOFF", handoff):
        for answered, calls, simple, inline, scrape in requests:
            request = kept.request(PLAN)
            for call_answered in calls[:1] if simple else calls:
                outgoing = SimpleNamespace(url="http://api.test/orders", method="GET", headers={})
                if simple and inline:
                    request.call(CALL, outgoing)
                    request.called(call_answered)
                    record = request
                else:
                    call = kept.upstream(CALL, outgoing, request if simple else None)
                    call.finish(call_answered)
                    record = request if simple else call
                observed.append(("client", call_answered, (record.up_ended - record.up_started) / 1e9))
            request.finish(answered)
            observed.append(("request", answered, (request.ended - request.started) / 1e9))
            assert kept.records is not None and len(kept.records.held) < handoff
            if scrape:
                kept.exposition()
        kept.exposition()
    route = kept.routes["shop-rest", "GET /orders"]
    (callee,) = kept.callees.values() if any(calls for _, calls, _, _, _ in requests) else (None,)
    folded = {}
    for status in route.by_status:
        child = kept.metrics.requests.children[("rest", "GET /orders", "shop-rest", str(status))]
        latency = kept.metrics.latency.children[("rest", "GET /orders", "shop-rest", str(status))]
        folded["request", "", status] = (child.value, latency.counts, latency.sum)
    if callee is not None:
        for status in callee.by_status:
            labels = ("GET", "api.test", str(status), "shop")
            child, latency = kept.metrics.client_calls.children[labels], kept.metrics.client_latency.children[labels]
            folded["client", "", status] = (child.value, latency.counts, latency.sum)
    assert folded == _counted_in_place(observed)
    errors = {
        status: count for (kind, _, status), (count, _, _) in folded.items() if kind == "request" and status >= 500
    }
    assert {labels[-1]: count for labels, count in kept.metrics.errors.counts.items()} == {
        str(status): count for status, count in errors.items()
    }
    assert kept.metrics.in_flight.children[("shop-rest",)].value == 0
    assert kept.records is not None and kept.records.folded == len(kept.records.held)
