"""The default upstream transport: a lean HTTP/1.1 client on asyncio protocols and httptools' response
parser (llhttp, as under uvicorn), for issue 15.

Under load aiohttp's client cost ~68 us of CPU per pass-through, ~36% of the gateway's: a request
object, a URL object, a writer, a response object, timers and tracing hooks, none of which a
gateway sending values it built itself needs. This client does what the runtime needs, and no more
(``http1_requests`` writes the request head, ``http1_connection`` is one connection and its parser;
this module holds the pool and the answers):

- the request line carries the URL's path and query as given, byte for byte (D15; issue 10, item
  4); Host comes from the URL's authority unless given; Content-Length for a bytes body, chunked
  for a stream; Accept, Accept-Encoding and User-Agent as aiohttp sent them when the request has
  none. A CR, LF or NUL in the method, target or a header, or a name that is not a token, is
  refused before anything is written (no request splitting);
- the pool: ``pooled.Slots`` bounds the exchanges at a time; idle connections are reused last in,
  first out, closed once idle for ``keepalive_expiry`` s (one timer per pool), dropped when the
  upstream closes them. A request
  that meets EOF or a reset before any byte of its answer on a *reused* connection is sent once
  more on a new one, when it is idempotent (or its caller says it may arrive twice: ``resendable``,
  the span export's) and its body can be sent again (RFC 9112 section 9.3.1; as aiohttp did): the
  upstream closed the idle connection as it was taken. Never otherwise;
- timeouts: ``connect``; ``read``, the wait for the head and between body reads (aiohttp's
  ``sock_read``); ``pool``; the total is the caller's (``Deadline``). An exchange cancelled at any
  point closes its connection and frees its slot;
- the answer: bodies by Content-Length, chunked, or until the connection closes (which is then not
  reused); the interim 100, 102 and 103 skipped, any other 1xx and any status outside 200-599
  returned as they are for ``upstream`` to refuse at once (D53); no body after HEAD, 204 or 304;
  ``Connection: close`` honoured. A head past ``HEAD_LIMIT`` bytes or ``MAX_HEADER_LINES`` lines is
  refused, so that an upstream cannot grow the gateway's memory, and reading pauses while more than
  ``HIGH_WATER`` bytes of body wait for the reader (a streamed binary answer);
- errors are httpx's, as ``aiohttp_transport`` maps aiohttp's: ``ConnectTimeout``, ``ConnectError``,
  ``ReadTimeout``, ``RemoteProtocolError`` (closed without an answer, not HTTP, head too large),
  ``ReadError`` (a reset), ``LocalProtocolError`` (a request that would split).

No cookies are kept, redirects never followed, bodies not decompressed (``upstream`` has
``httpx.Response`` do it), no proxies: as with the former transports.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Mapping

import httpx

from .client_tls import ClosedAfterHandshake, shared_tls_context, tls_failure
from .http1_connection import AnswerHeaders, Connection
from .http1_requests import PER_CALL, Origin, origin_of, per_call_lines, request_head_parts, split_url
from .pooled import Data, Headers, PooledTransport, Slots
from .requests import Drawn
from .resilience import IDEMPOTENT_METHODS

HEADS_KEPT = 256
"""Request heads an upstream's transport keeps written (``Http1Transport._write_head``)."""

Written = tuple[bytes, str, Origin, bytes, bytes]
"""A request's head, its URL's scheme and authority, its origin, and its head in two parts: up to
the end of its headers, and the rest (``request_head_parts``): ``Outgoing.drawn``'s lines go
between the two (D186)."""


class Answer:
    """An ``Opened`` answer of ``Http1Transport``: the head, and the body still arriving."""

    __slots__ = ("_connection", "_read", "_transport", "headers", "raw_headers", "status")

    def __init__(self, connection: Connection, transport: Http1Transport, read: float | None):
        self.status = connection.status
        self.raw_headers = connection.raw
        self.headers = AnswerHeaders(connection.raw)
        self._connection: Connection | None = connection
        self._transport = transport
        self._read = read

    def _open(self) -> Connection:
        """The answer's connection; once the answer is closed it may carry another exchange."""
        if self._connection is None:
            raise httpx.StreamClosed()
        return self._connection

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives, still content-encoded."""
        connection = self._open()
        while True:
            if self._connection is not connection:
                raise httpx.StreamClosed()
            if connection.body:
                taken = connection.take()
                yield taken[0] if len(taken) == 1 else b"".join(taken)
            elif connection.complete:
                return
            elif connection.error is not None:
                raise connection.failure()
            else:
                await connection.wait(self._read)

    async def read(self, limit: int) -> bytes | None:
        """The whole body, or ``None`` once it passes ``limit`` bytes (the parts joined once)."""
        connection = self._open()
        parts: list[bytes] = []
        size = 0
        while True:
            if self._connection is not connection:
                raise httpx.StreamClosed()
            if connection.body:
                size += connection.buffered
                if size > limit:
                    return None
                parts += connection.take()
            if connection.complete:
                return parts[0] if len(parts) == 1 else b"".join(parts)
            if connection.error is not None:
                raise connection.failure()
            await connection.wait(self._read)

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            self._transport.release(connection)

    def header_items(self) -> tuple[tuple[str, str], ...]:
        return tuple(self.headers.items())


class Http1Transport(PooledTransport):
    """One pool of at most ``max_connections`` connections (one transport per upstream namespace)."""

    def __init__(self, ssl_context: ssl.SSLContext | None, max_connections: int, keepalive_expiry: float = 30.0):
        self._ssl_context = ssl_context
        """The namespace's own TLS context, else ``None``: the shared one, built at the first TLS connection."""
        self._keepalive_expiry = keepalive_expiry
        self._slots = Slots(max_connections)
        self._idle: dict[str, list[Connection]] = {}
        """Idle connections by scheme, authority and TLS server name; the last in goes out first."""
        self._sweep: asyncio.TimerHandle | None = None
        self._closed = False
        self._heads: dict[tuple[str, str, tuple[tuple[str, str], ...], int], Written] = {}
        """Request heads already written, by method, URL, headers and body length (``_write_head``)."""

    async def open(
        self,
        method: str,
        url: str,
        headers: Headers,
        data: Data,
        timeout: Mapping[str, float | None],
        server_hostname: str | None = None,
        drawn: str = "",
        resendable: bool = False,
    ) -> Answer:
        body = data if isinstance(data, bytes) and data else None
        stream = None if data is None or isinstance(data, bytes) else data
        length = -1 if stream is not None else len(body or b"")
        head, prefix, origin, given, rest = self._head(method, url, headers, length)
        if drawn:  # the lines tracing drew, after the headers (D186): spliced, nothing in them to check
            head = b"".join((given, drawn.encode(), rest))
        key = prefix if server_hostname is None else f"{prefix} {server_hostname}"
        read = timeout.get("read")
        if not self._slots.take():
            await self._slots.acquire(timeout.get("pool"))
        connection = None
        try:
            connection = self._idle_connection(key)
            if connection is None:
                connection = await self._connect(origin, server_hostname, timeout.get("connect"), key)
                try:
                    await self._exchange(connection, method, head, body, stream, read)
                except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
                    if origin.tls and connection.received == 0 and tls_failure(exc) is None:
                        raise httpx.ConnectError(str(exc)) from ClosedAfterHandshake()
                    raise
            else:
                try:
                    await self._exchange(connection, method, head, body, stream, read)
                except (httpx.RemoteProtocolError, httpx.ReadError):
                    if not (
                        connection.silently_lost() and stream is None and (resendable or method in IDEMPOTENT_METHODS)
                    ):
                        raise
                    connection = await self._connect(origin, server_hostname, timeout.get("connect"), key)
                    await self._exchange(connection, method, head, body, stream, read)
        except BaseException:
            if connection is not None:
                connection.transport.close()
            self._slots.release()
            raise
        return Answer(connection, self, read)

    def _head(self, method: str, url: str, headers: Headers, length: int) -> Written:
        """The request's head, its URL's scheme and authority and its origin: the kept ones for a
        request already written, else written now (``_write_head``). Headers new on every call
        (``PER_CALL``: a trace context, an idempotency key) that end the request's headers are not
        part of a kept head: they are checked and added to the head kept without them, to the same
        bytes (D167). Anywhere else among the headers, the head is written and not kept. Those the
        runtime drew itself (``Drawn``: the trace context of a traced call) are spliced into the kept
        head as they are, once it is kept: nothing to check in them, one lookup (D176)."""
        pairs = tuple(headers.items()) if type(headers) is dict or isinstance(headers, Mapping) else tuple(headers)
        written = self._heads.get((method, url, pairs, length))
        if written is not None:
            return written
        name, value = pairs[-1] if pairs else ("", "")
        if type(value) is Drawn:  # a caller's trace continued, or a trace state (D186: else ``drawn``)
            count = len(pairs) - 1
            lines = [name, ": ", value, "\r\n"]  # joined: an f-string formats a ``str`` subclass slowly
            while count and type(pairs[count - 1][1]) is Drawn:  # B3's three headers
                count -= 1
                name, value = pairs[count]
                lines[:0] = (name, ": ", value, "\r\n")
            kept = self._heads.get((method, url, pairs[:count], length))
            if kept is not None:
                _, prefix, origin, given, rest = kept
                given = b"".join((given, "".join(lines).encode()))
                return given + rest, prefix, origin, given, rest
        count = len(pairs)
        while count and pairs[count - 1][0].lower() in PER_CALL:
            count -= 1
        fixed = pairs[:count]
        if any(name.lower() in PER_CALL for name, _ in fixed):
            return _written(method, url, pairs, length)
        if count == len(pairs):
            return self._write_head(method, url, pairs, length)
        kept = self._heads.get((method, url, fixed, length)) or self._write_head(method, url, fixed, length)
        _, prefix, origin, given, rest = kept
        given += per_call_lines(method, pairs[count:])
        return given + rest, prefix, origin, given, rest

    def _write_head(self, method: str, url: str, pairs: tuple[tuple[str, str], ...], length: int) -> Written:
        """The request's head, its URL's scheme and authority and its origin, kept for the next
        request that is the same (an operation without inputs sends one request again and again):
        the split, the checks and the writing, ~5% of a pass-through, paid once (D159). At most
        ``HEADS_KEPT`` are kept; then the kept ones are dropped and kept anew."""
        written = _written(method, url, pairs, length)
        if len(self._heads) >= HEADS_KEPT:
            self._heads.clear()
        self._heads[(method, url, pairs, length)] = written
        return written

    @staticmethod
    def _exchange(
        connection: Connection, method: str, head: bytes, body: bytes | None, stream: Data, read: float | None
    ) -> Awaitable[None]:
        """Send the request and wait for the answer's head. A whole body is written at once, so
        the head's wait is the only coroutine (D159); a stream is sent by one of its own."""
        connection.begin(method == "HEAD")
        if stream is None:
            connection.write(head, body)
            return connection.head(read)
        return _streamed_exchange(connection, head, stream, read)

    def _idle_connection(self, key: str) -> Connection | None:
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()
            if not connection.lost and connection.loop.time() - connection.idle_since < self._keepalive_expiry:
                return connection
            connection.transport.close()
        return None

    async def _connect(
        self, origin: Origin, server_hostname: str | None, timeout: float | None, key: str
    ) -> Connection:
        loop = asyncio.get_running_loop()
        idle = self._idle.setdefault(key, [])
        tls = (self._ssl_context or shared_tls_context()) if origin.tls else None
        try:
            async with asyncio.timeout(timeout):
                _, connection = await loop.create_connection(
                    lambda: Connection(loop, idle),
                    origin.host,
                    origin.port,
                    ssl=tls,
                    server_hostname=(server_hostname or origin.host) if tls is not None else None,
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(f"no connection to {origin.host}:{origin.port} within {timeout:g} s") from None
        except OSError as exc:
            raise httpx.ConnectError(f"{origin.host}:{origin.port}: {exc or type(exc).__name__}") from exc
        return connection

    def release(self, connection: Connection) -> None:
        """An answer is closed: its connection goes back to the pool if it can carry another
        exchange (the whole answer read, kept alive), else it closes; its slot comes free."""
        self._slots.release()
        connection.busy = False
        if self._closed or not connection.reusable():
            connection.transport.close()
            return
        connection.raw, connection.body = [], []
        if connection.paused:
            connection.take()
        loop = connection.loop
        connection.idle_since = loop.time()
        connection.idle.append(connection)
        if self._sweep is None:
            self._sweep = loop.call_later(self._keepalive_expiry, self._expire, loop)

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        """Close the connections idle for ``keepalive_expiry`` s (the first of each list are the
        oldest), and come back when the next one expires: one timer per pool, not per connection."""
        self._sweep = None
        expiry, now = self._keepalive_expiry, loop.time()
        remaining = []
        for idle in self._idle.values():
            while idle and now - idle[0].idle_since >= expiry:
                idle.pop(0).transport.close()
            if idle:
                remaining.append(idle[0].idle_since)
        if remaining:
            self._sweep = loop.call_at(min(remaining) + expiry, self._expire, loop)

    async def aclose(self) -> None:
        self._closed = True
        if self._sweep is not None:
            self._sweep.cancel()
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.transport.close()


def _written(method: str, url: str, pairs: tuple[tuple[str, str], ...], length: int) -> Written:
    prefix, target = split_url(url)
    origin = origin_of(prefix)
    given, rest = request_head_parts(method, target, origin, pairs, length)
    return given + rest, prefix, origin, given, rest


async def _streamed_exchange(connection: Connection, head: bytes, stream: Data, read: float | None) -> None:
    await connection.send_streamed(head, stream)
    await connection.head(read)
