"""Finished requests' durations held per series and folded into its counter and histogram in bulk
(issue 22, D164).

Counting a request where it ends cost a bucket search, three additions and the series' lookup on
the event loop for every request and every upstream exchange. Here a scrape
(``Telemetry.exposition``), or ``records.HANDOFF`` finished requests, put the durations of the
requests' records (``serving.request_records``, D174) in their series' lists and fold every list into the
``light_series`` children: the count added at once, the sum added in arrival order, and the
buckets counted by sorting the durations and searching each bound once, all in C. A scrape
therefore sees every request finished before it, under the same series with the same values as
counting each in place (``tests/unit/test_folded_series.py``), and memory stays bounded without a
scrape.
"""

from __future__ import annotations

from bisect import bisect_right
from functools import reduce
from itertools import compress, count, islice, repeat
from operator import add, attrgetter, is_not, ne, or_, sub, truediv
from typing import Protocol

from ..records import dataclass
from .light_series import BOUNDS, CounterChild, HistogramChild
from .metrics import Untyped
from .request_records import Record


@dataclass(slots=True)
class _Series:
    durations: list[float]
    counter: CounterChild
    histogram: HistogramChild
    errors: tuple[str, ...] | None
    """The labels of ``naftiko_request_errors`` for an exposed request answered with a server error."""


class Owner(Protocol):
    """Whose series a duration goes to, by its answer status: an exposed operation
    (``telemetry._Route``) or an upstream one (``telemetry._Callee``)."""

    by_status: dict[int, list[float]]

    def held(self, status: int) -> list[float]:
        """The list of its series for ``status``, made with the series on its first use."""
        ...


ROUTE, STATUS, STARTED, ENDED = attrgetter("route"), attrgetter("status"), attrgetter("started"), attrgetter("ended")
CALLEE, UP_STATUS = attrgetter("callee"), attrgetter("up_status")
UP_STARTED, UP_ENDED = attrgetter("up_started"), attrgetter("up_ended")
NANOSECONDS = repeat(1e9)
"""The divisor of every duration (an endless iterator, shared: ``map`` only draws from it)."""


def into_series(owners: list[Owner], statuses: list[int], durations: list[float]) -> None:
    """Each duration appended to its owner's list for its status, in order (D190). A run of one
    series' durations goes in with one ``extend``, so no bytecode runs per duration where a batch
    is one series (a route under load) or runs of a few: two ``list.count`` (identity compares, in
    C) tell a batch of one series; else the places where the owner or the status changes are found
    in C, and each run is a slice."""
    size = len(owners)
    owner, status = owners[0], statuses[0]
    if owners.count(owner) == size and statuses.count(status) == size:
        held = owner.by_status.get(status)
        if held is None:
            held = owner.held(status)
        held += durations
        return
    start = 0
    changed = map(or_, map(is_not, owners, islice(owners, 1, None)), map(ne, statuses, islice(statuses, 1, None)))
    for end in (*compress(count(1), changed), size):
        owner, status = owners[start], statuses[start]
        held = owner.by_status.get(status)
        if held is None:
            held = owner.held(status)
        held += durations[start:end]
        start = end


class Folding:
    """Every series' held durations, folded together (all on the event loop's thread, as D137's series)."""

    def __init__(self, errors: Untyped):
        self.errors = errors
        self.series: list[_Series] = []

    def held(
        self, counter: CounterChild, histogram: HistogramChild, errors: tuple[str, ...] | None = None
    ) -> list[float]:
        """A new series' list: a finished request's duration in seconds is appended to it before
        ``fold`` (``Telemetry._fold``)."""
        series = _Series([], counter, histogram, errors)
        self.series.append(series)
        return series.durations

    def fold_records(self, records: list[Record]) -> None:
        """The requests' and calls' durations (``request_records``) into their lists, then
        ``fold``: every field read in C, a batch's requests and its calls each at once (D190). A
        series' durations keep the records' order (its requests, or its calls inline and alone),
        the order in which counting in place added them."""
        routes = list(map(ROUTE, records))
        requests = records if all(routes) else list(compress(records, routes))
        if requests:
            owners = routes if requests is records else list(filter(None, routes))
            ends, starts = map(ENDED, requests), map(STARTED, requests)
            into_series(owners, list(map(STATUS, requests)), list(map(truediv, map(sub, ends, starts), NANOSECONDS)))
        callees = list(map(CALLEE, records))
        calls = records if all(callees) else list(compress(records, callees))
        if calls:
            owners = callees if calls is records else list(filter(None, callees))
            ends, starts = map(UP_ENDED, calls), map(UP_STARTED, calls)
            into_series(owners, list(map(UP_STATUS, calls)), list(map(truediv, map(sub, ends, starts), NANOSECONDS)))
        self.fold()

    def fold(self) -> None:
        for series in self.series:
            durations = series.durations
            if not durations:
                continue
            count = len(durations)
            series.counter.value += count
            histogram = series.histogram
            histogram.sum = reduce(add, durations, histogram.sum)  # the order counting in place added them
            durations.sort()
            counts, below = histogram.counts, 0
            for bucket, bound in enumerate(BOUNDS):  # a duration's bucket is the first bound >= it
                upto = bisect_right(durations, bound, below)
                counts[bucket] += upto - below
                below = upto
            counts[-1] += count - below
            if series.errors is not None:
                self.errors.counts[series.errors] = self.errors.counts.get(series.errors, 0.0) + count
            durations.clear()
