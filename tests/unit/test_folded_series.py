"""Durations held and folded in bulk (issue 22, D164, D191) give the series that counting each
request in place gives: the same count, every duration in the bucket whose bound is the first at or
above it in seconds (values on a bound included), the server errors counted, and whatever the fold
points were (a scrape between requests, a list filling up), nothing counted twice or lost. The sum
is the exact sum of the held nanoseconds, in seconds rounded once (D191), not seconds added one by
one. A bucket searched with the wrong side or a bound off by a nanosecond, a sum added as floats
or a list not emptied after its fold would make them differ."""

from __future__ import annotations

from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from naftiko_runtime.adapters.control.model import Observability
from naftiko_runtime.serving import request_records
from naftiko_runtime.serving.folded_series import LIMITS, Folding
from naftiko_runtime.serving.light_series import BOUNDS, CounterChild, HistogramChild
from naftiko_runtime.serving.metrics import Untyped
from naftiko_runtime.serving.telemetry import Telemetry

NEAR_BOUNDS = sorted({0, *LIMITS, *(limit + 1 for limit in LIMITS), *(limit - 1 for limit in LIMITS), 11 * 10**9})
DURATIONS = st.one_of(st.sampled_from(NEAR_BOUNDS), st.integers(0, 20 * 10**9))
"""Nanoseconds: on every bound, a nanosecond either side of it, anywhere up to 20 s."""
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
    for nanoseconds, scrape_after in durations:
        expected_counter.inc()
        expected_histogram.observe(nanoseconds / 1e9)
        held.append(nanoseconds)
        if scrape_after or len(held) >= fold_at:
            folding.fold()
            assert held == []
    folding.fold()
    assert counter.value == expected_counter.value
    assert histogram.counts == expected_histogram.counts
    assert histogram.sum == sum(nanoseconds for nanoseconds, _ in durations) / 1_000_000_000
    assert errors.counts == ({LABELS: float(len(durations))} if error and durations else {})


def test_the_bounds_in_nanoseconds_split_durations_as_the_bounds_in_seconds_do():
    """A duration of ``LIMITS[i]`` nanoseconds is at or below ``BOUNDS[i]`` seconds, one more is
    above it: the buckets counted on the held integers are those of their seconds."""
    for bound, limit in zip(BOUNDS, LIMITS, strict=True):
        assert limit / 1e9 <= bound < (limit + 1) / 1e9


def test_the_sum_is_the_exact_sum_of_the_nanoseconds_rounded_once_across_folds():
    """0.1 s, 0.2 s and 0.3 s added as floats make 0.6000000000000001 s; their 600,000,000 ns make
    0.6 s, whether they are folded together or one at a time (the series keeps its exact total)."""
    for fold_at in (1, 3):
        folding = Folding(Untyped("errors", "Doc.", ("a", "b", "c", "d")))
        histogram = HistogramChild()
        held = folding.held(CounterChild(), histogram)
        for nanoseconds in (100_000_000, 200_000_000, 300_000_000):
            held.append(nanoseconds)
            if len(held) >= fold_at:
                folding.fold()
        assert 0.1 + 0.2 + 0.3 != 0.6
        assert histogram.sum == 0.6
        assert [histogram.counts[BOUNDS.index(bound)] for bound in (0.1, 0.25, 0.5)] == [1, 1, 1]


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


def test_a_series_counts_alike_whether_its_folds_stay_within_the_first_bound_or_not():
    """A fold of durations all within the first bound is counted without a sort, one with a longer
    duration sorted, and the series goes from one way to the other as its folds do (D191): every
    duration lands in its bucket either way, a fast fold after a slow one included."""
    folds = [[1_000, LIMITS[0]], [2_000, LIMITS[0] + 1, 7 * 10**9], [LIMITS[0], 3], [5], [LIMITS[1], 12 * 10**9]]
    folding = Folding(Untyped("errors", "Doc.", ("a", "b", "c", "d")))
    counter, histogram, expected = CounterChild(), HistogramChild(), HistogramChild()
    held = folding.held(counter, histogram)
    for fold in folds:
        held.extend(fold)
        folding.fold()
        for nanoseconds in fold:
            expected.observe(nanoseconds / 1e9)
        assert histogram.counts == expected.counts
    assert counter.value == sum(map(len, folds))
