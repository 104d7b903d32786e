"""Finished requests' spans sent over OTLP/HTTP by the event loop, through a bounded queue (D136,
D174, D197).

The event loop hands over records (``serving.request_records``) a few hundred at a time and writes
their spans' bytes there and then, from their ids, clock readings and their operations' encoded
shapes (``otlp_wire``): no span objects. It POSTs up to ``BATCH`` spans at a time, one export at a
time, with the runtime's own HTTP/1.1 client (``core.http1_transport``, one kept-alive connection):
when a batch's worth is queued (full batches only), and every ``DELAY`` seconds (first handing over
what it holds, then everything queued). The bounds are the OpenTelemetry SDK's
``BatchSpanProcessor`` defaults. When the collector is slower than the spans come, the queue stops
at ``QUEUE`` spans and the ones beyond are dropped and counted
(``naftiko_trace_spans_dropped_total``): a request never waits for its trace. A batch the collector
refuses or cannot take is dropped and counted too, with one log line per outage.

No thread: an export thread of its own, which the loop woke and which took the interpreter lock
back after each wake and each system call of its POST, cost row 3c's server 9 us of CPU a
request under load, several times the thread's own 1.5-2 us (D197).
"""

from __future__ import annotations

import asyncio
import atexit
import gzip
import logging
import os
import ssl
import time
from collections import deque
from collections.abc import Callable, Mapping
from urllib.parse import unquote, urlsplit

import httpx

from ..core.http1_transport import Http1Transport
from .otlp_wire import Envelope
from .request_records import Record

QUEUE, BATCH, DELAY, TIMEOUT = 2048, 512, 5.0, 10.0
"""Spans held at most, spans per export, seconds between exports, seconds an export may take."""

_TIMEOUTS = {"connect": TIMEOUT, "read": TIMEOUT, "pool": TIMEOUT}

ANSWER_LIMIT = 1 << 20
"""Bytes of a collector's answer read (an ``ExportTraceServiceResponse``: a few bytes, or a partial
success's message); the rest is not read and the connection not kept."""

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
    """The queue of encoded spans and the exports that empty it into one OTLP/HTTP endpoint."""

    def __init__(
        self,
        endpoint: str,
        envelope: Envelope,
        queue: int = QUEUE,
        batch: int = BATCH,
        delay: float = DELAY,
        environ: Mapping[str, str] = os.environ,
    ):
        self.endpoint, self.envelope, self.limit, self.batch, self.delay = endpoint, envelope, queue, batch, delay
        parts = urlsplit(endpoint)
        self.where = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
        """The collector as logs name it: never the endpoint's path, query or user (a key may be there)."""
        self.headers, self.gzip = exporter_settings(environ)
        self.tls = _tls(environ) if parts.scheme == "https" else None
        self.transport = Http1Transport(self.tls, max_connections=1)
        self.pending: deque[tuple[bytes, int]] = deque()
        """The ``Span`` fields of each hand-over, with their count, oldest first."""
        self.queued = 0
        """Spans in ``pending``."""
        self.owed = 0
        """Spans the delay (or the stop) asked to be sent, batch full or not."""
        self.hand_over: Callable[[], None] = lambda: None
        """Hands the records the loop holds over to ``take``, at each delay (``start``)."""
        self.dropped = {"queue_full": 0, "export_failed": 0}
        """Spans lost, by why: the count ``naftiko_trace_spans_dropped_total`` serves."""
        self.exported = 0
        self.anchor = _anchor()
        """Wall-clock minus monotonic nanoseconds: the loop reads one monotonic clock per edge of a
        span (its metrics' too) and adds this to write the span's times; set again at a hand-over
        when the two clocks drifted apart by more than a millisecond."""
        self._sending: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._failing = False
        self._unwritable = False
        """Spans could not be encoded once already: logged the first time only."""

    def start(self, hand_over: Callable[[], None]) -> None:
        """On the loop that serves, once: the delay's timer runs from now and calls ``hand_over``
        (the loop's held records to ``take``) each time; and an interpreter that exits without
        stopping the runtime (an embedding program) still sends what is queued. Not on a loop
        (tests in process), nothing starts."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._timer is None:
            self.hand_over = hand_over
            self._timer = loop.call_later(self.delay, self._tick)
            atexit.register(self._at_exit)

    def take(self, records: list[Record], spans: int) -> None:
        """Called on the event loop with finished requests' ``records``, whose sampled spans number
        ``spans``: their spans encoded and queued, those beyond ``QUEUE`` dropped and counted; an
        export starts when a batch is full."""
        if spans > self.limit - self.queued:
            records, spans = self._fitting(records, self.limit - self.queued)
        if not spans:
            return
        anchor = _anchor()
        if abs(anchor - self.anchor) > _DRIFT:
            self.anchor = anchor
        try:
            encoded = self.envelope.spans(records, self.anchor)
        except Exception:  # a record the encoder cannot write is a bug of ours: never the request's failure
            if not self._unwritable:
                log.exception("trace export: spans could not be encoded; they are dropped and counted")
            self._unwritable = True
            self.dropped["export_failed"] += spans
            return
        self.pending.append((encoded, spans))
        self.queued += spans
        if self.queued >= self.batch:
            self._send()

    def _send(self) -> None:
        """An export starts, unless one runs: that one goes on while a batch is full or spans owed.
        Off a loop (records handed over in a test in process) the spans wait for the stop."""
        if self._sending is None:
            try:
                self._sending = asyncio.get_running_loop().create_task(self._drain())
            except RuntimeError:
                return

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

    def _tick(self) -> None:
        """Every ``DELAY`` seconds: what the loop holds is handed over and everything queued sent."""
        self._timer = asyncio.get_running_loop().call_later(self.delay, self._tick)
        self.hand_over()
        self.owed = self.queued
        if self.owed:
            self._send()

    async def aclose(self) -> None:
        """Send everything queued (within one ``TIMEOUT``: what is left then is counted failed) and
        close the connection: when the runtime stops, once its records are handed over."""
        if self._timer is not None:
            self._timer.cancel()
            atexit.unregister(self._at_exit)
        try:
            async with asyncio.timeout(TIMEOUT):
                while self.pending or self._sending is not None:
                    self.owed = self.queued
                    self._send()
                    assert self._sending is not None
                    await asyncio.shield(self._sending)
        except TimeoutError:
            if self._sending is not None:
                self._sending.cancel()
            self.dropped["export_failed"] += self.queued
            self.pending.clear()
            self.queued = 0
        await self.transport.aclose()

    def _at_exit(self) -> None:
        """The interpreter exits with the runtime still running (an embedding program that never
        stopped it): the queue is sent on a loop of its own, over a connection of its own."""
        if self.pending:
            self.transport, self._sending, self._timer = Http1Transport(self.tls, max_connections=1), None, None
            try:
                asyncio.run(self.aclose())
            except RuntimeError as exc:  # a loop still running on this thread: nothing can be sent
                log.warning("trace export: %d spans not sent at exit (%s)", self.queued, exc)

    async def _drain(self) -> None:
        """Full batches, and everything owed when the delay passed (or the runtime stops). Spans
        that arrive during an export wait for the next full batch or the next delay, as in the
        SDK's ``BatchSpanProcessor``: sending whatever came meanwhile made a stream of small
        exports under load, each paying a whole POST (issue 22)."""
        pending, batch = self.pending, self.batch
        try:
            while pending and (self.queued >= batch or self.owed > 0):
                group, spans = [], 0
                while pending and spans + pending[0][1] <= batch:
                    encoded, count = pending.popleft()
                    group.append(encoded)
                    spans += count
                if not group:  # one handing-over larger than a batch: sent whole
                    encoded, spans = pending.popleft()
                    group.append(encoded)
                self.queued -= spans
                self.owed = max(self.owed - spans, 0)
                try:
                    sent = await self._post(self.envelope.request(group))
                except asyncio.CancelledError:  # the stop's time ran out during this export
                    self.dropped["export_failed"] += spans
                    raise
                if sent:
                    self.exported += spans
                else:
                    self.dropped["export_failed"] += spans
        finally:
            self._sending = None

    async def _post(self, body: bytes) -> bool:
        """One export, within ``TIMEOUT``; compressed off the loop (zlib lets go of the interpreter
        lock) when the environment asks for gzip. Sent as ``resendable``: the transport sends it once
        more on a new connection when the collector closed the kept one as it was taken (an export
        may arrive twice: OTLP's exporters retry so)."""
        if self.gzip:
            body = await asyncio.to_thread(gzip.compress, body)
        try:
            async with asyncio.timeout(TIMEOUT):
                answer = await self.transport.open(
                    "POST", self.endpoint, self.headers, body, _TIMEOUTS, resendable=True
                )
                try:
                    await answer.read(ANSWER_LIMIT)
                finally:
                    await answer.aclose()
        except (httpx.HTTPError, OSError) as exc:  # ``TimeoutError`` is an ``OSError``
            return self._failed(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        if 200 <= answer.status < 300:
            if self._failing:
                log.warning("trace export to %s works again", self.where)
            self._failing = False
            return True
        return self._failed(f"status {answer.status}")

    def _failed(self, why: str) -> bool:
        if not self._failing:
            log.warning("trace export to %s failed (%s); spans are dropped and counted until it works", self.where, why)
        self._failing = True
        return False
