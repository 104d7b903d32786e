"""Durations held and folded in bulk (issue 22, D164) give the series that counting each request in
place gives: the same count, the same sum (added in arrival order), every duration in the bucket
whose bound is the first at or above it (values on a bound included), the server errors counted,
and whatever the fold points were (a scrape between requests, a list filling up), nothing counted
twice or lost. A bucket searched with the wrong side, a sum added in another order or a list not
emptied after its fold would make them differ."""

from __future__ import annotations

from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from naftiko_runtime.adapters.control.model import Observability
from naftiko_runtime.serving import request_records
from naftiko_runtime.serving.folded_series import Folding
from naftiko_runtime.serving.light_series import BOUNDS, CounterChild, HistogramChild
from naftiko_runtime.serving.metrics import Untyped
from naftiko_runtime.serving.telemetry import Telemetry

DURATIONS = st.one_of(st.sampled_from([0.0, *BOUNDS, 11.0]), st.floats(0, 20, allow_nan=False))
LABELS = ("rest", "GET /x", "shop", "503")


@settings(deadline=None)
@given(
    durations=st.lists(st.tuples(DURATIONS, st.booleans()), max_size=60),
    fold_at=st.integers(1, 8),
    error=st.booleans(),
)
def test_folding_counts_what_counting_in_place_counts(durations, fold_at, error):
    expected_counter, expected_histogram = CounterChild(), HistogramChild()
    errors = Untyped("errors", "Doc.", ("a", "b", "c", "d"))
    folding = Folding(errors)
    counter, histogram = CounterChild(), HistogramChild()
    held = folding.held(counter, histogram, LABELS if error else None)
    for duration, scrape_after in durations:
        expected_counter.inc()
        expected_histogram.observe(duration)
        held.append(duration)
        if scrape_after or len(held) >= fold_at:
            folding.fold()
            assert held == []
    folding.fold()
    assert counter.value == expected_counter.value
    assert histogram.counts == expected_histogram.counts
    assert histogram.sum == expected_histogram.sum
    assert errors.counts == ({LABELS: float(len(durations))} if error and durations else {})


def test_without_a_scrape_the_records_held_stay_within_their_bound_and_none_is_lost():
    """Records are folded once ``HANDOFF`` are held (D174): memory is bounded without a scrape, and
    the scrape still counts the ones held since."""
    telemetry = Telemetry(Observability(metrics=True))
    plan = SimpleNamespace(exposed=SimpleNamespace(namespace="shop-rest", key="GET /x", adapter_kind="rest"))
    finished = 2 * request_records.HANDOFF + 3
    for _ in range(finished):
        telemetry.request(plan).finish(200)
    assert telemetry.records is not None and len(telemetry.records.held) == 3
    exposition = telemetry.exposition()
    assert exposition is not None
    labels = 'naftiko_adapter_type="rest",naftiko_namespace="shop-rest",naftiko_operation_id="GET /x",status="200"'
    assert f"naftiko_request_total{{{labels}}} {finished}.0" in exposition[0].decode()
    (route,) = telemetry.routes.values()
    assert route.by_status[200] == [] and telemetry.records.folded == 3
