"""One upstream HTTP/1.1 connection of ``http1_transport``: an asyncio protocol feeding httptools'
response parser (llhttp, as under uvicorn), and the state of the one exchange on it (no
pipelining). The parser's callbacks fill the state; the reader waits for it to change. The answer's
head is bounded (``HEAD_LIMIT`` bytes, ``MAX_HEADER_LINES`` lines), interim answers are skipped, and
reading pauses while ``HIGH_WATER`` bytes of body wait for the reader.
"""

from __future__ import annotations

import asyncio
from typing import cast

import httptools
import httpx

from .pooled import Data

HEAD_LIMIT = 64 * 1024
"""Bytes of an answer's head, interim answers included (aiohttp: 8,190 a line, 128 lines)."""
MAX_HEADER_LINES = 128
"""aiohttp's client limit."""
HIGH_WATER = 256 * 1024
"""Bytes of body buffered before reading pauses until the reader takes them."""
TIMER_SLACK = 0.01
"""A read deadline this close is taken as reached: event-loop timers round to milliseconds."""
INTERIM = frozenset({100, 102, 103})
"""The 1xx answers a final one follows (RFC 9110 section 15.2); 101 and any other end the exchange."""


class _Stop(Exception):
    """Raised in a parser callback to stop parsing: the exchange ended (or failed) there."""


class Connection(asyncio.Protocol):
    """One upstream connection, and the state of the exchange on it (one at a time, no pipelining).
    The parser's callbacks fill the state; the reader waits on ``wait`` for it to change."""

    transport: asyncio.Transport

    def __init__(self, loop: asyncio.AbstractEventLoop, idle: list[Connection]):
        self.loop = loop
        self.idle = idle
        """The pool list this connection goes back to; it leaves it when closed by the upstream."""
        self.lost = False
        self.busy = False
        self.idle_since = 0.0
        self.waiter: asyncio.Future[None] | None = None
        self.read_due = 0.0
        """When the current wait fails as ``ReadTimeout`` (its start plus the read timeout)."""
        self.read_timeout: float | None = None
        self._read_timer: asyncio.TimerHandle | None = None
        self.writable: asyncio.Future[None] | None = None
        self.paused = False
        self.complete = False
        self.keep_alive = False
        self.error: tuple[type[httpx.TransportError], str] | None = None
        self.cause: BaseException | None = None

    def begin(self, head_only: bool) -> None:
        """A new exchange and an empty answer. The parser is made anew (~0.4 us) unless the last
        answer on this kept-alive connection ended whole: llhttp then stands at the start of the
        next one, as it does for a client's keep-alive requests under uvicorn (D159)."""
        if not (self.complete and self.keep_alive):
            self.parser = httptools.HttpResponseParser(self)
        self.busy = True
        self.head_only = head_only
        self.status = 0
        self.raw: list[tuple[bytes, bytes]] = []
        self.received = 0
        """Bytes received before the head was complete."""
        self.head_size = 0
        """Bytes of header lines, interim answers' included."""
        self.head_done = False
        self.body: list[bytes] = []
        self.buffered = 0
        self.complete = False
        self.keep_alive = False
        self.error = None
        self.cause = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's are not registered as ``asyncio.Transport`` subclasses).
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if not self.busy or self.complete:
            # Nothing may arrive outside an answer: the connection cannot be trusted with another.
            self.keep_alive = False
            self.transport.close()
            return
        if not self.head_done:
            self.received += len(data)
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            if not self.complete and self.error is None:  # else a callback ended the exchange itself
                self.fail(httpx.RemoteProtocolError, f"the upstream answered something that is not HTTP/1.1 ({exc})")
            return
        if not self.head_done and self.received > HEAD_LIMIT:  # all head: it cannot be held whole
            self.fail(httpx.RemoteProtocolError, f"the upstream's answer head is larger than {HEAD_LIMIT} bytes")

    def eof_received(self) -> None:
        return None  # the transport closes itself, and connection_lost says what that means

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._wake_writer()
        if not self.busy:
            if self in self.idle:
                self.idle.remove(self)
            return
        if self.complete or self.error is not None:
            return
        if self.head_done and self._until_eof():
            self.complete = True
            self.keep_alive = False
            self._wake()
        elif exc is None:
            where = "before the answer's end" if self.received else "without answering"
            self.fail(httpx.RemoteProtocolError, f"the upstream closed the connection {where}")
        else:
            self.fail(httpx.ReadError, f"the upstream connection broke off: {exc or type(exc).__name__}", exc)

    def pause_writing(self) -> None:
        self.writable = self.loop.create_future()

    def resume_writing(self) -> None:
        self._wake_writer()

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        self.head_size += len(name) + len(value) + 4
        if self.head_size > HEAD_LIMIT:
            self.fail(httpx.RemoteProtocolError, f"the upstream's answer head is larger than {HEAD_LIMIT} bytes")
            raise _Stop
        if len(self.raw) >= MAX_HEADER_LINES:
            self.fail(httpx.RemoteProtocolError, f"the upstream's answer has more than {MAX_HEADER_LINES} header lines")
            raise _Stop
        self.raw.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status in INTERIM:
            self.raw = []  # llhttp ends this answer here and parses the next
            return
        self.status = status
        self.head_done = True
        self.keep_alive = self.parser.should_keep_alive()
        self._wake()
        if self.head_only or status < 200:
            # No body follows the answer to a HEAD (llhttp would wait for one per Content-Length),
            # and nothing that is HTTP follows a 101 or another 1xx: the exchange ends here, and the
            # connection is not reused.
            self.complete = True
            self.keep_alive = False
            raise _Stop

    def on_body(self, body: bytes) -> None:
        self.body.append(body)
        self.buffered += len(body)
        if self.buffered > HIGH_WATER and not self.paused:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self.head_done:  # else an interim answer's end
            self.complete = True
            self._wake()

    # the exchange

    def fail(self, kind: type[httpx.TransportError], message: str, cause: BaseException | None = None) -> None:
        """The exchange failed: the reader raises ``kind`` (caused by ``cause``, so that a TLS alert
        can be told from other breaks) and the connection closes."""
        self.error = (kind, message)
        self.cause = cause
        self.keep_alive = False
        self.transport.close()
        self._wake()

    def failure(self) -> httpx.TransportError:
        assert self.error is not None
        kind, message = self.error
        failure = kind(message)
        failure.__cause__ = self.cause
        return failure

    def write(self, head: bytes, body: bytes | None) -> None:
        """A request whose body is whole (or absent): written at once, nothing to wait for."""
        write = self.transport.write
        if body is None:
            write(head)
        elif len(body) <= HIGH_WATER:
            write(head + body)  # one system call; a large body is not copied
        else:
            write(head)
            write(body)

    async def send_streamed(self, head: bytes, stream: Data) -> None:
        """A request whose body is a stream: sent chunked, waiting while the transport is full."""
        write = self.transport.write
        write(head)
        if isinstance(stream, httpx.AsyncByteStream):
            async for chunk in stream:
                await self._write_chunk(chunk)
        elif isinstance(stream, httpx.SyncByteStream):
            for chunk in stream:
                await self._write_chunk(chunk)
        write(b"0\r\n\r\n")

    async def _write_chunk(self, chunk: bytes) -> None:
        if chunk:
            self.transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
        if self.writable is not None:
            await self.writable

    async def head(self, read: float | None) -> None:
        """Until the answer's head has arrived."""
        while not self.head_done:
            if self.error is not None:
                raise self.failure()
            await self.wait(read)

    def wait(self, timeout: float | None) -> asyncio.Future[None]:
        """Done when the exchange moves on (head, body, end or failure); past ``timeout`` s of
        silence the exchange fails as ``ReadTimeout``. The future itself, not a coroutine around it,
        and one read timer per connection, moved on rather than made and cancelled per wait: it
        stays armed, and when it fires before the current wait's due time it is armed again for
        it (D159, as the edge's head deadline, D132)."""
        waiter = self.waiter = self.loop.create_future()
        self.read_timeout = timeout
        if timeout is None:
            self.read_due = float("inf")
            return waiter
        due = self.read_due = self.loop.time() + timeout
        timer = self._read_timer
        if timer is None or timer.when() > due:  # a shorter read timeout than the armed one's
            if timer is not None:
                timer.cancel()
            self._read_timer = self.loop.call_at(due, self._read_deadline)
        return waiter

    def take(self) -> list[bytes]:
        """The body received so far; reading resumes if it was paused."""
        body, self.body, self.buffered = self.body, [], 0
        if self.paused:
            self.paused = False
            if not self.lost:
                self.transport.resume_reading()
        return body

    def reusable(self) -> bool:
        return self.complete and self.keep_alive and not self.lost and not self.transport.is_closing()

    def silently_lost(self) -> bool:
        """Closed or reset before any byte of the answer, the one failure worth another connection."""
        return self.lost and self.received == 0 and self.error is not None and self.error[0] is not httpx.ReadTimeout

    def _read_deadline(self) -> None:
        self._read_timer = None
        waiter = self.waiter
        if waiter is None or waiter.done() or self.lost or self.read_timeout is None:
            return  # nothing is waited for with a timeout: the next such wait arms the timer again
        if self.read_due - self.loop.time() > TIMER_SLACK:
            self._read_timer = self.loop.call_at(self.read_due, self._read_deadline)
            return
        self.fail(httpx.ReadTimeout, f"the upstream sent nothing for {self.read_timeout:g} s")

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _wake_writer(self) -> None:
        writable, self.writable = self.writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)

    def _until_eof(self) -> bool:
        """Whether the answer's body ends with the connection: no Content-Length, not chunked."""
        for name, value in self.raw:
            lower = name.lower()
            if lower == b"content-length" or (lower == b"transfer-encoding" and value.lower().endswith(b"chunked")):
                return False
        return True


class AnswerHeaders:
    """An answer's header lines: ``get`` finds a name in any case (its first line, as aiohttp's
    ``CIMultiDict`` did), ``items`` gives every line in the upstream's case. Decoded as aiohttp did
    (UTF-8, undecodable bytes kept as surrogates), once, when first asked."""

    __slots__ = ("_first", "_items", "_raw")

    def __init__(self, raw: list[tuple[bytes, bytes]]):
        self._raw = raw
        self._items: list[tuple[str, str]] | None = None
        self._first: dict[str, str] = {}

    def items(self) -> list[tuple[str, str]]:
        items = self._items
        if items is None:
            items = self._items = [
                (name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape"))
                for name, value in self._raw
            ]
            first = self._first
            for name, value in reversed(items):
                first[name.lower()] = value
        return items

    def get(self, key: str, default: str | None = None) -> str | None:
        if self._items is None:
            self.items()
        return self._first.get(key.lower(), default)
