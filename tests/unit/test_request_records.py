"""Records folded in bulk (issue 22 item 2, D174, D175, D190, D191) count what counting each
request and call where it ends counts: the same series, the same counts and buckets, the server
errors, and as sum the exact sum of the durations' nanoseconds in seconds, whatever the points where
records are handed over or a scrape comes, whichever routes, callees and answers follow one another
in a batch (one series throughout, runs, every record another); a simple plan's call, observed
inside its request's record, and the further calls observed alone alike. A record folded twice or
not at all, a duration taken from the wrong edge or put in another route's or status's series
would make them differ."""

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
PLANS = [
    SimpleNamespace(exposed=SimpleNamespace(namespace="shop-rest", key=f"GET /{name}", adapter_kind="rest"))
    for name in ("orders", "items", "carts")
]
CALLS = [
    SimpleNamespace(namespace="shop", operation=f"list-{name}", base_uri=f"http://{host}.test", label=f"shop.{name}")
    for name, host in (("orders", "orders"), ("items", "items"), ("carts", "orders"))
]
"""A callee per operation; the first and the last call one host, so their series are the same one
(the client series are labelled by method, host, status and namespace, not by operation)."""
REQUEST = st.tuples(
    st.integers(0, 2), STATUSES, st.lists(STATUSES, max_size=3), st.booleans(), st.booleans(), st.booleans()
)
"""The route (and the callee its calls go to), the answer, the answers of the calls it makes,
whether it is a simple plan's (its one call inside its record, D175; else each call alone, as a
paged or orchestrated plan's), whether that one call starts as the executor starts a simple plan's
(``call`` and ``called``, D188) or a binary plan's (``upstream`` with the request's observation),
a scrape after it."""
BATCH = st.one_of(
    st.lists(REQUEST, min_size=1, max_size=30),
    st.builds(lambda request, times: [request] * times, REQUEST, st.integers(1, 12)),
)
"""Any requests, or one request's shape over and over (a batch of one series)."""


def _counted_in_place(observed: list) -> dict[tuple[str, str, int], tuple[float, list[int], float]]:
    """Per series: the count and buckets of counting each duration where it ended, and the exact sum
    of the nanoseconds in seconds (D191)."""
    series: dict[tuple[str, str, int], tuple[CounterChild, HistogramChild, list[int]]] = {}
    for kind, name, status, nanoseconds in observed:
        counter, histogram, every = series.setdefault((kind, name, status), (CounterChild(), HistogramChild(), []))
        counter.inc()
        histogram.observe(nanoseconds / 1e9)
        every.append(nanoseconds)
    return {
        key: (counter.value, histogram.counts, sum(every) / 1_000_000_000)
        for key, (counter, histogram, every) in series.items()
    }


@settings(deadline=None, max_examples=80)
@given(requests=BATCH, handoff=st.integers(1, 6))
def test_records_fold_to_what_counting_each_request_where_it_ends_gives(requests, handoff):
    kept = Telemetry(Observability(metrics=True))
    observed = []  # (series kind, name, status, nanoseconds) in the order they ended
    with patch.object(request_records, "HANDOFF", handoff), patch.object(telemetry, "HANDOFF", handoff):
        for which, answered, calls, simple, inline, scrape in requests:
            request = kept.request(PLANS[which])
            for call_answered in calls[:1] if simple else calls:
                name = CALLS[which].base_uri.removeprefix("http://")
                outgoing = SimpleNamespace(url=f"http://{name}/orders", method="GET", headers={})
                if simple and inline:
                    request.call(CALLS[which], outgoing)
                    request.called(call_answered)
                    record = request
                else:
                    call = kept.upstream(CALLS[which], outgoing, request if simple else None)
                    call.finish(call_answered)
                    record = request if simple else call
                observed.append(("client", name, call_answered, record.up_ended - record.up_started))
            request.finish(answered)
            observed.append(("request", PLANS[which].exposed.key, answered, request.ended - request.started))
            assert kept.records is not None and len(kept.records.held) < handoff
            if scrape:
                kept.exposition()
        kept.exposition()
    folded = {}
    for (_, key), route in kept.routes.items():
        for status in route.by_status:
            child = kept.metrics.requests.children[("rest", key, "shop-rest", str(status))]
            latency = kept.metrics.latency.children[("rest", key, "shop-rest", str(status))]
            folded["request", key, status] = (child.value, latency.counts, latency.sum)
    for callee in kept.callees.values():  # a series two callees share is read twice, the same
        for status in callee.by_status:
            labels = ("GET", callee.labels[1], str(status), "shop")
            child, latency = kept.metrics.client_calls.children[labels], kept.metrics.client_latency.children[labels]
            folded["client", callee.labels[1], status] = (child.value, latency.counts, latency.sum)
    assert folded == _counted_in_place(observed)
    errors = {
        (key, str(status)): count
        for (kind, key, status), (count, _, _) in folded.items()
        if kind == "request" and status >= 500
    }
    assert {(labels[1], labels[-1]): count for labels, count in kept.metrics.errors.counts.items()} == errors
    assert kept.metrics.in_flight.children[("shop-rest",)].value == 0
    assert kept.records is not None and kept.records.folded == len(kept.records.held)
