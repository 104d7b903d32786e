"""Finished spans sent over OTLP/HTTP from a thread of their own, through a bounded queue (D136).

The event loop only appends a finished span's values, one tuple, to a deque: no encoding, no I/O, no
lock. A daemon thread wakes every ``DELAY`` seconds, or as soon as a batch is full, encodes up to
``BATCH`` spans (``otlp_wire``) and POSTs them on a kept-alive connection: full batches when a
batch woke it, everything queued when the delay passed. The bounds are the
OpenTelemetry SDK's ``BatchSpanProcessor`` defaults. When the collector is slower than the spans
come, the queue stops at ``QUEUE`` spans and the ones beyond are dropped and counted
(``naftiko_trace_spans_dropped_total``): a request never waits for its trace. A batch the
collector refuses or cannot take is dropped and counted too, with one log line per outage.
"""

from __future__ import annotations

import atexit
import gzip
import http.client
import logging
import os
import ssl
import threading
import time
from collections import deque
from collections.abc import Mapping
from contextvars import Token
from urllib.parse import unquote, urlsplit

from .otlp_wire import Envelope, SpanRecord, SpanShape

QUEUE, BATCH, DELAY, TIMEOUT = 2048, 512, 5.0, 10.0
"""Spans held at most, spans per export, seconds between exports, seconds an export may take."""

log = logging.getLogger("naftiko.traces")


class LeanSpan:
    """A span of ``LeanTracing`` while it runs: ``serving.telemetry``'s request and upstream
    observations are these, so a traced request makes no object of its own for its spans (issue
    22). Filled in by ``LeanTracing.open_server`` or ``open_client``; queued by ``SpanExport.ended``
    as a bare tuple."""

    __slots__ = ("parent_id", "parent_remote", "sampled", "span_id", "token", "trace_id", "trace_state")
    trace_id: bytes
    """16 bytes, big-endian as ``traceparent`` and OTLP write them: the ids are drawn as ints and
    kept as the bytes both write, so neither converts them per span."""
    span_id: bytes
    parent_id: bytes
    """Empty for a root span."""
    parent_remote: bool
    trace_state: str
    """As the ``tracestate`` header writes it; empty for none."""
    sampled: bool
    """Whether it is exported; a span not sampled still carries its context upstream."""
    token: Token[LeanSpan | None] | None
    """A server span's place as the running request's (``tracing.CURRENT_SPAN``); ``None`` for a client span."""


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
        self.tls = _tls(environ) if parts.scheme == "https" else None
        self.host, self.port = parts.hostname or "localhost", parts.port or (443 if self.tls else 80)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.envelope, self.limit, self.batch, self.delay = envelope, queue, batch, delay
        self.headers, self.gzip = exporter_settings(environ)
        self.pending: deque[SpanRecord] = deque()
        self.dropped = {"queue_full": 0, "export_failed": 0}
        """Spans lost, by why: the count ``naftiko_trace_spans_dropped_total`` serves."""
        self.exported = 0
        self.anchor = _anchor()
        """Wall-clock minus monotonic nanoseconds: the loop reads one monotonic clock per edge of a
        span (its metrics' too) and adds this to write the span's times; set again by the thread
        when the two clocks drift apart by more than a millisecond."""
        self._wake = threading.Event()
        self._stopping = False
        self._failing = False
        self._connection: http.client.HTTPConnection | None = None
        self._thread = threading.Thread(target=self._run, name="naftiko-span-export", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def ended(self, span: LeanSpan, shape: SpanShape, started: int, ended: int, status: int) -> None:
        """Called on the event loop when a sampled ``span`` ends (``started`` and ``ended`` read
        from ``time.monotonic_ns``): queue it as one tuple, or count it dropped when the queue is full."""
        pending = self.pending
        queued = len(pending)
        if queued >= self.limit:
            self.dropped["queue_full"] += 1
            return
        anchor = self.anchor
        pending.append(
            (shape, span.trace_id, span.span_id, span.parent_id, span.parent_remote, span.trace_state,
             started + anchor, ended + anchor, status)
        )  # fmt: skip
        if queued + 1 == self.batch:
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
            self._drain(everything=timed_out)
        self._drain(everything=True)
        if self._connection is not None:
            self._connection.close()

    def _drain(self, everything: bool) -> None:
        """Woken by a full batch, send full batches only; when the delay passed (or the runtime
        stops), send what is queued now. Spans that arrive during an export wait for the next full
        batch or the next delay, as in the SDK's ``BatchSpanProcessor``: sending whatever came
        meanwhile made a stream of small exports under load, each paying a whole POST (issue 22)."""
        anchor = _anchor()
        if abs(anchor - self.anchor) > _DRIFT:
            self.anchor = anchor
        pending, batch = self.pending, self.batch
        owed = len(pending) if everything else 0
        while len(pending) >= batch or (owed > 0 and pending):
            spans = [pending.popleft() for _ in range(min(batch, len(pending)))]
            owed -= len(spans)
            body = self.envelope.request(spans)
            if self._post(gzip.compress(body) if self.gzip else body):
                self.exported += len(spans)
            else:
                self.dropped["export_failed"] += len(spans)

    def _post(self, body: bytes) -> bool:
        """One export; a kept-alive connection the collector closed meanwhile is opened once more."""
        for fresh in (self._connection is None, True):
            try:
                connection = self._connect(fresh)
                connection.request("POST", self.path, body, self.headers)
                answer = connection.getresponse()
                answer.read()
            except (OSError, http.client.HTTPException) as exc:
                self._reset()
                if fresh:
                    return self._failed(f"{type(exc).__name__}: {exc}")
                continue
            if 200 <= answer.status < 300:
                if self._failing:
                    log.warning("trace export to %s:%d works again", self.host, self.port)
                self._failing = False
                return True
            return self._failed(f"status {answer.status}")
        return False

    def _connect(self, fresh: bool) -> http.client.HTTPConnection:
        if fresh or self._connection is None:
            self._reset()
            if self.tls is not None:
                self._connection = http.client.HTTPSConnection(self.host, self.port, timeout=TIMEOUT, context=self.tls)
            else:
                self._connection = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)
        return self._connection

    def _reset(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _failed(self, why: str) -> bool:
        if not self._failing:
            where = f"{self.host}:{self.port}"
            log.warning("trace export to %s failed (%s); spans are dropped and counted until it works", where, why)
        self._failing = True
        return False
