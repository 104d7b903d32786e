"""One compact record per observed request, kept in a bounded list and consumed in bulk (issue 22
item 2, D174): the metrics fold them at a scrape or when the list is full, and the span export
takes their spans' bytes when they are handed over (D197).

The event loop does per request only what cannot wait: it fills one ``Record`` (the request's route,
status and clock readings, those of the upstream call made under it, the trace ids drawn as one
hexadecimal string) and appends it to ``Records.held``. Counting a request's series, building its
spans' bytes and deciding its histogram buckets all happen later, for hundreds of records at once.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import Token
from typing import Any

HANDOFF = 256
"""Records held at most before they are folded and handed to the span export: with a request's
two spans, one OTLP batch (``span_export.BATCH``)."""


class Record:
    """A request's edges (``route`` set) with at most one upstream call inline (``callee``), or an
    upstream call alone (``route`` ``None``: a plan's second call, a forward). No ``__init__``:
    ``Telemetry`` fills in the slots it needs, and every reader asks only those its kind has."""

    __slots__ = (
        "callee",
        "drawn",
        "ended",
        "hexids",
        "ids",
        "parent",
        "remote",
        "route",
        "sampled",
        "sdk",
        "spans",
        "started",
        "state",
        "status",
        "token",
        "up_ended",
        "up_sdk",
        "up_started",
        "up_status",
    )
    route: Any
    """The exposed operation (``telemetry._Route``: its series and span shape); ``None`` for an
    upstream call recorded alone. ``Any`` here: ``telemetry`` names the type (no import cycle)."""
    status: int
    started: int
    """``monotonic_ns()`` at each edge: one clock read per edge for the metrics and the spans."""
    ended: int
    callee: Any
    """The upstream operation (``telemetry._Callee``) called under this request (or alone);
    ``None`` before and without one."""
    up_status: int
    up_started: int
    up_ended: int
    hexids: str
    """The trace id (32 hexadecimal digits), the span id of the record's own span (16: the request's,
    or the lone call's), and, once a call runs under a request, the call's span id (16 more): drawn
    with one ``getrandbits`` and written once, as ``traceparent`` carries them."""
    drawn: str
    """A sampled root request's: the ``traceparent`` line of the call a simple plan makes, written
    with the ids (``telemetry.Telemetry.request``); empty where that call's context is written
    when it starts. Set only when the runtime exports its own spans."""
    ids: bytes
    """``hexids`` as bytes, kept as drawn for the span export, which writes them (D194): set where
    the loop draws a root's ids (``parent`` empty); the export reads any other record's ``hexids``."""
    parent: str
    """The own span's parent span id, 16 hexadecimal digits; empty for a root."""
    remote: bool
    state: str
    """As the ``tracestate`` header writes it; empty for none."""
    sampled: bool
    spans: int
    """Spans the export sends for it (0 when not sampled or not exported); 2 for a request's record
    with its call inline, and for no other (the export tells them so, D195)."""
    token: Token[Record | None]
    """Its place as the running request's (``tracing.CURRENT``) while an orchestrated plan runs."""
    sdk: Any
    """The spans of an embedding program's SDK tracer provider, if it traces."""
    up_sdk: Any


class Records:
    """The records of finished requests not yet consumed, and who consumes them."""

    def __init__(self, fold: Callable[[list[Record]], None], export: Callable[[list[Record], int], None] | None):
        self.held: list[Record] = []
        self.folded = 0
        """How many of ``held`` the metrics have counted (a scrape folds without handing over)."""
        self.fold_records, self.export = fold, export

    def append(self, record: Record) -> None:
        """A finished record (a request's; a call alone: ``Telemetry`` inlines the same for requests)."""
        held = self.held
        held.append(record)
        if len(held) >= HANDOFF:
            self.handoff()

    def fold(self) -> None:
        """Every finished request is in the metrics: called before a scrape."""
        held = self.held
        if self.folded < len(held):
            self.fold_records(held[self.folded :] if self.folded else held)
            self.folded = len(held)

    def handoff(self) -> None:
        """Fold what is held and hand it to the span export, if any: when ``HANDOFF`` are held, when
        the export's delay has passed and when the runtime stops."""
        self.fold()
        held = self.held
        if not held:
            return
        self.held, self.folded = [], 0
        if self.export is not None:
            self.export(held, sum([record.spans for record in held]))  # no call per record (D190)
