"""Finished requests' durations held per series and folded into its counter and histogram in bulk
(issue 22, D164, D190, D191).

Counting a request where it ends cost a bucket search, three additions and the series' lookup on
the event loop for every request and every upstream exchange. Here a scrape
(``Telemetry.exposition``), or ``records.HANDOFF`` finished requests, put the durations of the
requests' records (``serving.request_records``, D174) in their series' lists and fold every list into the
``light_series`` children: the count added at once, the buckets counted by sorting the durations
and searching each bound once, all in C. A scrape therefore sees every request finished before it,
under the same series with the same counts and buckets as counting each in place
(``tests/unit/test_folded_series.py``), and memory stays bounded without a scrape.

Durations are held in integer nanoseconds, the clock's own readings subtracted (D191): a series
keeps the exact sum of its nanoseconds and its histogram's sum is that sum in seconds, rounded once.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Protocol

from ..records import dataclass
from .light_series import BOUNDS, CounterChild, HistogramChild
from .metrics import Untyped
from .request_records import Record

SECOND = 1_000_000_000


def _limit(bound: float) -> int:
    """The most nanoseconds whose duration in seconds (``ns / 1e9``, as counting in place divided
    them) is at or below ``bound``: that division is monotonic, so a duration is in a bucket by its
    nanoseconds exactly when it is by its seconds."""
    limit = round(bound * 1e9)
    while limit / 1e9 > bound:
        limit -= 1
    while (limit + 1) / 1e9 <= bound:
        limit += 1
    return limit


LIMITS = tuple(_limit(bound) for bound in BOUNDS)
"""``light_series.BOUNDS`` in nanoseconds, for the held durations."""
FIRST = LIMITS[0]


@dataclass(slots=True)
class _Series:
    durations: list[int]
    counter: CounterChild
    histogram: HistogramChild
    errors: tuple[str, ...] | None
    """The labels of ``naftiko_request_errors`` for an exposed request answered with a server error."""
    nanoseconds: int = 0
    """Every duration folded so far, summed exactly."""
    within_first: bool = True
    """Whether every duration of its last fold was within the first bound: then the next fold
    looks for the longest (``max``, one pass) before sorting, which it then needs only if one is
    longer. A series whose durations spread over the buckets sorts at once: the search would be
    one pass more for nothing."""


class Owner(Protocol):
    """Whose series a duration goes to, by its answer status: an exposed operation
    (``telemetry._Route``) or an upstream one (``telemetry._Callee``)."""

    by_status: dict[int, list[int]]

    def held(self, status: int) -> list[int]:
        """The list of its series for ``status``, made with the series on its first use."""
        ...


def _held(owner: Owner, status: int) -> list[int]:
    held = owner.by_status.get(status)
    return owner.held(status) if held is None else held


class Folding:
    """Every series' held durations, folded together (all on the event loop's thread, as D137's series)."""

    def __init__(self, errors: Untyped):
        self.errors = errors
        self.series: list[_Series] = []
        self.by_histogram: dict[HistogramChild, _Series] = {}
        """Each series by its histogram child: two owners with the same labels (two operations
        of one upstream host, whose client series do not name the operation) share one series,
        its list and its exact sum."""

    def held(
        self, counter: CounterChild, histogram: HistogramChild, errors: tuple[str, ...] | None = None
    ) -> list[int]:
        """A series' list, made on its first use: a finished request's duration in nanoseconds is
        appended to it before ``fold`` (``fold_records``)."""
        series = self.by_histogram.get(histogram)
        if series is None:
            series = self.by_histogram[histogram] = _Series([], counter, histogram, errors)
            self.series.append(series)
        return series.durations

    def fold_records(self, records: list[Record]) -> None:
        """The records' durations into their series' lists (D190), then ``fold``. A batch is
        mostly one route's requests answered alike, each with its call inline (a route under
        load): then the fields are read by comprehensions (no call per record) and the durations
        go to the one list at once; the few batches of another shape take one loop. Either way a
        series' durations keep the records' order."""
        size = len(records)
        if not size:
            return
        routes = [record.route for record in records]
        route = routes[0]
        if route is not None and routes.count(route) == size:  # identity compares, in C
            statuses = [record.status for record in records]
            if statuses.count(statuses[0]) == size:
                _held(route, statuses[0]).extend([record.ended - record.started for record in records])
            else:
                _requests(records)
        else:
            _requests(records)
        callees = [record.callee for record in records]
        callee = callees[0]
        if callee is not None and callees.count(callee) == size:
            statuses = [record.up_status for record in records]
            if statuses.count(statuses[0]) == size:
                _held(callee, statuses[0]).extend([record.up_ended - record.up_started for record in records])
            else:
                _calls(records)
        else:
            _calls(records)
        self.fold()

    def fold(self) -> None:
        for series in self.series:
            durations = series.durations
            if not durations:
                continue
            count = len(durations)
            series.counter.value += count
            histogram = series.histogram
            series.nanoseconds += sum(durations)
            histogram.sum = series.nanoseconds / SECOND  # int / int: the exact quotient, rounded once
            counts = histogram.counts
            if series.within_first and max(durations) <= FIRST:
                counts[0] += count  # all in the first bucket: the rule for a fast route, no sort
            else:
                durations.sort()
                series.within_first = durations[-1] <= FIRST
                below = 0
                for bucket, limit in enumerate(LIMITS):  # a duration's bucket is the first bound >= it
                    upto = bisect_right(durations, limit, below)
                    counts[bucket] += upto - below
                    below = upto
                counts[-1] += count - below
            if series.errors is not None:
                self.errors.counts[series.errors] = self.errors.counts.get(series.errors, 0.0) + count
            durations.clear()


def _requests(records: list[Record]) -> None:
    """The requests' durations of a mixed batch, one record at a time: the list is looked up again
    only where the route or the status changes."""
    route, status, held = None, 0, []
    for record in records:
        if record.route is not None:
            if record.route is not route or record.status != status:
                route, status = record.route, record.status
                held = route.by_status.get(status)
                if held is None:
                    held = route.held(status)
            held.append(record.ended - record.started)


def _calls(records: list[Record]) -> None:
    """``_requests`` for the upstream calls (inline in their request's record, or alone)."""
    callee, status, held = None, 0, []
    for record in records:
        if record.callee is not None:
            if record.callee is not callee or record.up_status != status:
                callee, status = record.callee, record.up_status
                held = callee.by_status.get(status)
                if held is None:
                    held = callee.held(status)
            held.append(record.up_ended - record.up_started)
