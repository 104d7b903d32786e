"""The request path's series counted in place by the observations (issue 22, D156), read back
through the ``/metrics`` exposition: whatever mix of answers, every request and upstream exchange
is counted once under its own labels, its duration lands in exactly one bucket, server errors are
counted as the engine counts them, and nothing is left in flight. A label in the wrong place, a
count or bucket missed, or an in-flight gauge not brought back would make them differ."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from naftiko_runtime.adapters.control.model import Observability
from naftiko_runtime.serving.telemetry import Telemetry

STATUSES = st.sampled_from([200, 201, 404, 429, 500, 503])
EXPOSED = SimpleNamespace(namespace="shop-rest", key="GET /orders", adapter_kind="rest")
CALL = SimpleNamespace(namespace="shop", operation="list-orders", base_uri="http://api.test", label="shop.list-orders")


def _samples(telemetry: Telemetry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    exposition = telemetry.exposition()
    assert exposition is not None
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition[0].decode())
        for sample in family.samples
    }


@settings(deadline=None, max_examples=30)
@given(answers=st.lists(st.tuples(STATUSES, STATUSES), min_size=1, max_size=20))
def test_every_request_and_exchange_is_counted_once_under_its_labels(answers):
    telemetry = Telemetry(Observability(metrics=True))
    plan = SimpleNamespace(exposed=EXPOSED)
    for answered, upstream_answered in answers:
        request = telemetry.request(plan)
        outgoing = SimpleNamespace(url="http://api.test/orders", method="GET", headers={})
        exchange = telemetry.upstream(CALL, outgoing)
        exchange.finish(upstream_answered)
        request.finish(answered)
    samples = _samples(telemetry)
    exposed = (("naftiko_adapter_type", "rest"), ("naftiko_namespace", "shop-rest"))
    exposed += (("naftiko_operation_id", "GET /orders"),)
    for status, count in Counter(answered for answered, _ in answers).items():
        labels = tuple(sorted((*exposed, ("status", str(status)))))
        assert samples["naftiko_request_total", labels] == count
        assert samples["naftiko_request_duration_seconds_count", labels] == count
        assert samples["naftiko_request_duration_seconds_bucket", tuple(sorted((*labels, ("le", "+Inf"))))] == count
        errors = tuple(sorted((*exposed, ("error_type", str(status)))))
        assert samples.get(("naftiko_request_errors", errors)) == (count if status >= 500 else None)
    client = (("http_request_method", "GET"), ("naftiko_namespace", "shop"), ("server_address", "api.test"))
    for status, count in Counter(upstream for _, upstream in answers).items():
        labels = tuple(sorted((*client, ("http_response_status_code", str(status)))))
        assert samples["naftiko_http_client_total", labels] == count
        assert samples["naftiko_http_client_duration_seconds_count", labels] == count
    assert samples["naftiko_requests_in_flight", (("naftiko_namespace", "shop-rest"),)] == 0
    assert telemetry.failing == {"shop": answers[-1][1] >= 500}


ROUTES = [
    SimpleNamespace(namespace="shop-rest", key="GET /orders", adapter_kind="rest"),
    SimpleNamespace(namespace="shop-rest", key="GET /items", adapter_kind="rest"),
    SimpleNamespace(namespace="shop-mcp", key="list-orders", adapter_kind="mcp"),
]
STEP = st.tuples(st.sampled_from(["start", "finish", "scrape"]), st.integers(0, 2), STATUSES)
"""Start a request of one of three operations (two in one namespace), finish the oldest running
one, or scrape."""


@settings(deadline=None, max_examples=60)
@given(steps=st.lists(STEP, min_size=1, max_size=40))
def test_a_scrape_counts_in_flight_the_requests_started_and_not_answered(steps):
    """``naftiko_requests_in_flight`` per namespace, derived at the scrape from the requests started
    and those counted answered (D189), is the number running then, whatever the order of starts,
    ends and scrapes: a request counted twice, a route left out, or answers not folded before the
    scrape would make it differ."""
    telemetry = Telemetry(Observability(metrics=True))
    running: list[tuple[str, object]] = []
    for action, route, status in steps:
        if action == "start":
            exposed = ROUTES[route]
            running.append((exposed.namespace, telemetry.request(SimpleNamespace(exposed=exposed))))
        elif action == "finish" and running:
            running.pop(0)[1].finish(status)
        elif action == "scrape":
            samples = _samples(telemetry)
            for namespace in {exposed.namespace for exposed in ROUTES}:
                expected = sum(1 for name, _ in running if name == namespace)
                assert samples.get(("naftiko_requests_in_flight", (("naftiko_namespace", namespace),)), 0) == expected
