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
from operator import add

from ..records import dataclass
from .light_series import BOUNDS, CounterChild, HistogramChild
from .metrics import Untyped


@dataclass(slots=True)
class _Series:
    durations: list[float]
    counter: CounterChild
    histogram: HistogramChild
    errors: tuple[str, ...] | None
    """The labels of ``naftiko_request_errors`` for an exposed request answered with a server error."""


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
