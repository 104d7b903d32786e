"""Finished requests' spans sent over OTLP/HTTP from a thread of their own, through a bounded
queue (D136, D174).

The event loop hands over records (``serving.request_records``) a few hundred at a time: no span objects,
no encoding, no I/O on the loop. A daemon thread wakes when a batch's worth of spans is queued, or
every ``DELAY`` seconds (then it first asks the loop for what it holds), makes each record's spans
from its ids, clock readings and its operation's encoded shape (``otlp_wire``) and POSTs up to
``BATCH`` spans at a time on a kept-alive connection: full batches when a batch woke it, everything
queued when the delay passed. The bounds are the OpenTelemetry SDK's ``BatchSpanProcessor``
defaults. When the collector is slower than the spans come, the queue stops at ``QUEUE`` spans and
the ones beyond are dropped and counted (``naftiko_trace_spans_dropped_total``): a request never
waits for its trace. A batch the collector refuses or cannot take is dropped and counted too, with
one log line per outage.
"""

from __future__ import annotations

import atexit
import gzip
import logging
import os
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from urllib.parse import unquote, urlsplit

from .otlp_post import AnswerError, Collector
from .otlp_wire import Envelope
from .request_records import Record

QUEUE, BATCH, DELAY, TIMEOUT = 2048, 512, 5.0, 10.0
"""Spans held at most, spans per export, seconds between exports, seconds an export may take."""

log = logging.getLogger("naftiko.traces")


def exporter_settings(environ: Mapping[str, str]) -> tuple[dict[str, str], bool]:
    """The request headers and whether to gzip, from the variables the SDK's OTLP exporter read:
    ``OTEL_EXPORTER_OTLP_TRACES_HEADERS`` (else ``OTEL_EXPORTER_OTLP_HEADERS``), ``key=value`` pairs
    separated by commas, values URL-encoded (a collector's API key, say); and ``..._COMPRESSION``."""
    headers = {"Content-Type": "application/x-protobuf"}
    for pair in _variable(environ, "HEADERS").split(","):
        name, equals, value = pair.partition("=")
        if equals and name.strip():
            headers[unquote(name.strip())] = unquote(value.strip())
    gzipped = _variable(environ, "COMPRESSION").strip().lower() == "gzip"
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    return headers, gzipped


def _tls(environ: Mapping[str, str]) -> ssl.SSLContext:
    """A verifying context, with ``..._CERTIFICATE`` (the collector's CA) and ``..._CLIENT_CERTIFICATE``
    plus ``..._CLIENT_KEY`` (mutual TLS) as the SDK's exporter read them."""
    context = ssl.create_default_context(cafile=_variable(environ, "CERTIFICATE") or None)
    certificate = _variable(environ, "CLIENT_CERTIFICATE")
    if certificate:
        context.load_cert_chain(certificate, _variable(environ, "CLIENT_KEY") or None)
    return context


_DRIFT = 1_000_000
"""Nanoseconds the clocks may drift apart before ``SpanExport.anchor`` follows: below that, every
span keeps the same anchor, so a client span never seems to end after its request's."""


def _anchor() -> int:
    return time.time_ns() - time.monotonic_ns()


def _variable(environ: Mapping[str, str], name: str) -> str:
    return environ.get(f"OTEL_EXPORTER_OTLP_TRACES_{name}", environ.get(f"OTEL_EXPORTER_OTLP_{name}", ""))


class SpanExport:
    """The queue and the thread that empties it into one OTLP/HTTP endpoint."""

    def __init__(
        self,
        endpoint: str,
        envelope: Envelope,
        queue: int = QUEUE,
        batch: int = BATCH,
        delay: float = DELAY,
        environ: Mapping[str, str] = os.environ,
    ):
        parts = urlsplit(endpoint)
        tls = _tls(environ) if parts.scheme == "https" else None
        self.host, self.port = parts.hostname or "localhost", parts.port or (443 if tls else 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.envelope, self.limit, self.batch, self.delay = envelope, queue, batch, delay
        headers, self.gzip = exporter_settings(environ)
        self.collector = Collector(self.host, self.port, path, headers, tls, TIMEOUT)
        self.pending: deque[tuple[list[Record], int]] = deque()
        """Handed records with their spans' count, oldest first."""
        self.queued = 0
        """Spans in ``pending``: changed by the loop (``take``) and the thread, under ``_lock``."""
        self.ask: Callable[[], bool] = lambda: False
        """Asks the event loop to hand over what it holds, then ``wake`` this thread (``Telemetry``
        sets it); ``False`` when no loop can be asked (none has served a request yet)."""
        self.dropped = {"queue_full": 0, "export_failed": 0}
        """Spans lost, by why: the count ``naftiko_trace_spans_dropped_total`` serves."""
        self.exported = 0
        self.anchor = _anchor()
        """Wall-clock minus monotonic nanoseconds: the loop reads one monotonic clock per edge of a
        span (its metrics' too); the thread adds this to write the span's times, and sets it again
        when the two clocks drift apart by more than a millisecond."""
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._owed = False
        self._stopping = False
        self._failing = False
        self._thread = threading.Thread(target=self._run, name="naftiko-span-export", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def take(self, records: list[Record], spans: int) -> None:
        """Called on the event loop with finished requests' ``records``, whose sampled spans number
        ``spans``: queue them, dropping and counting the spans beyond ``QUEUE``."""
        with self._lock:
            queued = self.queued
            if spans > self.limit - queued:
                records, spans = self._fitting(records, self.limit - queued)
            if records:
                self.pending.append((records, spans))
                self.queued = queued + spans
        if queued < self.batch <= queued + spans:  # a batch is full now (it was not before)
            self._wake.set()

    def _fitting(self, records: list[Record], room: int) -> tuple[list[Record], int]:
        """The first of ``records`` whose spans fit in ``room``; the others' spans counted dropped."""
        kept, spans = [], 0
        for record in records:
            if spans + record.spans > room:
                self.dropped["queue_full"] += record.spans
            else:
                kept.append(record)
                spans += record.spans
        return kept, spans

    def wake(self) -> None:
        self._wake.set()

    def close(self) -> None:
        """Send what is queued (at most one more ``TIMEOUT``) and stop the thread: when the runtime
        stops, else when the interpreter exits (an embedding program that never stops it)."""
        if self._stopping:
            return
        atexit.unregister(self.close)
        self._stopping = True
        self._wake.set()
        self._thread.join(TIMEOUT + 1)

    def _run(self) -> None:
        while not self._stopping:
            timed_out = not self._wake.wait(self.delay)
            self._wake.clear()
            if timed_out and not self._stopping and self.ask():
                self._owed = True  # everything goes once the loop has handed over and woken us
                continue
            self._drain(everything=timed_out or self._owed)
            self._owed = False
        self._drain(everything=True)
        self.collector.close()

    def _drain(self, everything: bool) -> None:
        """Woken by a full batch, send full batches only; when the delay passed (or the runtime
        stops), send what is queued now. Spans that arrive during an export wait for the next full
        batch or the next delay, as in the SDK's ``BatchSpanProcessor``: sending whatever came
        meanwhile made a stream of small exports under load, each paying a whole POST (issue 22)."""
        anchor = _anchor()
        if abs(anchor - self.anchor) > _DRIFT:
            self.anchor = anchor
        pending, batch = self.pending, self.batch
        owed = self.queued if everything else 0
        while pending and (self.queued >= batch or owed > 0):
            group, spans = [], 0
            while pending and spans + pending[0][1] <= batch:
                records, count = pending.popleft()
                group.append(records)
                spans += count
            if not group:  # one handing-over larger than a batch: sent whole
                records, spans = pending.popleft()
                group.append(records)
            with self._lock:
                self.queued -= spans
            owed -= spans
            body = self.envelope.request(group, self.anchor)
            if self._post(gzip.compress(body) if self.gzip else body):
                self.exported += spans
            else:
                self.dropped["export_failed"] += spans

    def _post(self, body: bytes) -> bool:
        """One export; a kept-alive connection the collector closed meanwhile is opened once more."""
        for fresh in (self.collector.sock is None, True):
            try:
                status = self.collector.post(body)
            except (OSError, AnswerError) as exc:
                if fresh:
                    return self._failed(f"{type(exc).__name__}: {exc}")
                continue
            if 200 <= status < 300:
                if self._failing:
                    log.warning("trace export to %s:%d works again", self.host, self.port)
                self._failing = False
                return True
            return self._failed(f"status {status}")
        return False

    def _failed(self, why: str) -> bool:
        if not self._failing:
            where = f"{self.host}:{self.port}"
            log.warning("trace export to %s failed (%s); spans are dropped and counted until it works", where, why)
        self._failing = True
        return False
