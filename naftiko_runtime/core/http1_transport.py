"""The default upstream transport: a lean HTTP/1.1 client on asyncio protocols and httptools' response
parser (llhttp, as under uvicorn), for issue 15.

Under load aiohttp's client cost ~68 us of CPU per pass-through, ~36% of the gateway's: a request
object, a URL object, a writer, a response object, timers and tracing hooks, none of which a
gateway sending values it built itself needs. This client does what the runtime needs, and no more:

- the request line carries the URL's path and query as given, byte for byte (D15; issue 10, item
  4); Host comes from the URL's authority unless given; Content-Length for a bytes body, chunked
  for a stream; Accept, Accept-Encoding and User-Agent as aiohttp sent them when the request has
  none. A CR, LF or NUL in the method, target or a header, or a name that is not a token, is
  refused before anything is written (no request splitting);
- the pool: ``pooled.Slots`` bounds the exchanges at a time; idle connections are reused last in,
  first out, closed once idle for ``keepalive_expiry`` s (one timer per pool), dropped when the
  upstream closes them. A request
  that meets EOF or a reset before any byte of its answer on a *reused* connection is sent once
  more on a new one, when it is idempotent and its body can be sent again (RFC 9112 section 9.3.1;
  as aiohttp did): the upstream closed the idle connection as it was taken. Never otherwise;
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
import base64
import functools
import re
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import cast
from urllib.parse import unquote, urlsplit

import httptools
import httpx

from .pooled import Data, Headers, PooledTransport, Slots
from .requests import USER_AGENT

HEAD_LIMIT = 64 * 1024
"""Bytes of an answer's head, interim answers included (aiohttp: 8,190 a line, 128 lines)."""
MAX_HEADER_LINES = 128
"""aiohttp's client limit."""
HIGH_WATER = 256 * 1024
"""Bytes of body buffered before reading pauses until the reader takes them."""
INTERIM = frozenset({100, 102, 103})
"""The 1xx answers a final one follows (RFC 9110 section 15.2); 101 and any other end the exchange."""
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_SENDS_LENGTH = frozenset({"POST", "PUT", "PATCH"})
"""Methods whose requests carry ``Content-Length: 0`` when they have no body (as aiohttp and httpx)."""
_FRAMING = frozenset({"content-length", "transfer-encoding"})
"""Worked out from the body, whatever the request's headers say."""
_DEFAULTS = (("accept", "Accept: */*\r\n"), ("accept-encoding", "Accept-Encoding: gzip, deflate\r\n"))
_NOT_TOKEN = re.compile(r"[^!#$%&'*+\-.^_`|~0-9A-Za-z]")
_NOT_IN_VALUE = re.compile(r"[\r\n\0]")
_NOT_IN_TARGET = re.compile(r"[\x00-\x20\x7f]")
_BARE_TARGET = re.compile(r"[^/?#]*")


@dataclass(frozen=True, slots=True)
class _Origin:
    """Where a URL's requests go, worked out once per scheme and authority."""

    tls: bool
    host: str
    port: int
    host_line: str
    """``Host: ...\\r\\n``, with the port when it is not the scheme's."""
    authorization: str | None
    """``Authorization: Basic ...\\r\\n`` from the URL's user information, as aiohttp sent it."""


@functools.lru_cache(maxsize=256)
def _origin(prefix: str) -> _Origin:
    """``prefix`` is a URL's scheme and authority."""
    parts = urlsplit(prefix)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise httpx.UnsupportedProtocol(f"the upstream URL {prefix!r} is not http or https")
    host = parts.hostname
    try:
        port = parts.port
    except ValueError:
        port = -1
    if not host or port == -1:
        raise httpx.UnsupportedProtocol(f"the upstream URL {prefix!r} has no valid host and port")
    default = 443 if scheme == "https" else 80
    named = host if host.isascii() else host.encode("idna").decode("ascii")
    shown = f"[{named}]" if ":" in named else named
    authorization = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        authorization = f"Authorization: Basic {base64.b64encode(pair).decode('ascii')}\r\n"
    host_line = f"Host: {shown}\r\n" if port in (None, default) else f"Host: {shown}:{port}\r\n"
    return _Origin(scheme == "https", named, port or default, host_line, authorization)


def _split(url: str) -> tuple[str, str]:
    """A URL's scheme and authority, and its request target (path and query, without fragment)."""
    start = url.find("://") + 3
    if start == 2:
        raise httpx.UnsupportedProtocol(f"the upstream URL {url[:200]!r} is not absolute")
    bare = _BARE_TARGET.match(url, start)
    end = bare.end() if bare is not None else start
    target = url[end:]
    if "#" in target:
        target = target.partition("#")[0]
    if not target.startswith("/"):
        target = "/" + target
    return url[:end], target


def _request_head(method: str, target: str, origin: _Origin, headers: Headers, length: int) -> bytes:
    """The request line and headers; ``length`` -1 for a chunked body."""
    lines = [method, " ", target, " HTTP/1.1\r\n"]
    names, values, given = [method], [], set()
    for name, value in headers.items() if isinstance(headers, Mapping) else headers:
        lower = name.lower()
        if lower in _FRAMING:
            continue
        given.add(lower)
        names.append(name)
        values.append(value)
        lines += (name, ": ", value, "\r\n")
    if _NOT_TOKEN.search("".join(names)) or not all(names) or _NOT_IN_VALUE.search("".join(values)):
        raise httpx.LocalProtocolError(_refusal(names, values))
    if _NOT_IN_TARGET.search(target):
        raise httpx.LocalProtocolError(f"the upstream request target {target[:200]!r} holds a space or control")
    if "host" not in given:
        lines.insert(4, origin.host_line)
    for lower, line in _DEFAULTS:
        if lower not in given:
            lines.append(line)
    if "user-agent" not in given:
        lines += ("User-Agent: ", USER_AGENT, "\r\n")
    if origin.authorization is not None and "authorization" not in given:
        lines.append(origin.authorization)
    if length < 0:
        lines.append("Transfer-Encoding: chunked\r\n\r\n")
    elif length or method in _SENDS_LENGTH:
        lines += ("Content-Length: ", str(length), "\r\n\r\n")
    else:
        lines.append("\r\n")
    return "".join(lines).encode("utf-8", "surrogateescape")


def _refusal(names: list[str], values: list[str]) -> str:
    """Says which part of a refused request would have split it or broken its head."""
    if _NOT_TOKEN.search(names[0]) or not names[0]:
        return f"the upstream request method {names[0][:100]!r} is not an HTTP token"
    for name, value in zip(names[1:], values, strict=True):
        if _NOT_TOKEN.search(name) or not name:
            return f"the upstream request header name {name[:100]!r} is not an HTTP token"
        if _NOT_IN_VALUE.search(value):
            return f"the upstream request header {name!r} holds CR, LF or NUL: refused (it would split the request)"
    raise AssertionError("called for a refused request")


class _Stop(Exception):
    """Raised in a parser callback to stop parsing: the exchange ended (or failed) there."""


class _Connection(asyncio.Protocol):
    """One upstream connection, and the state of the exchange on it (one at a time, no pipelining).
    The parser's callbacks fill the state; the reader waits on ``wait`` for it to change."""

    transport: asyncio.Transport

    def __init__(self, loop: asyncio.AbstractEventLoop, idle: list[_Connection]):
        self.loop = loop
        self.idle = idle
        """The pool list this connection goes back to; it leaves it when closed by the upstream."""
        self.lost = False
        self.busy = False
        self.idle_since = 0.0
        self.waiter: asyncio.Future[None] | None = None
        self.writable: asyncio.Future[None] | None = None
        self.paused = False
        self.complete = False
        self.error: tuple[type[httpx.TransportError], str] | None = None

    def begin(self, head_only: bool) -> None:
        """A new exchange: a new parser (~0.4 us) and an empty answer."""
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
            self.fail(httpx.ReadError, f"the upstream connection broke off: {exc or type(exc).__name__}")

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

    def fail(self, kind: type[httpx.TransportError], message: str) -> None:
        """The exchange failed: the reader raises ``kind`` and the connection closes."""
        self.error = (kind, message)
        self.keep_alive = False
        self.transport.close()
        self._wake()

    def failure(self) -> httpx.TransportError:
        assert self.error is not None
        kind, message = self.error
        return kind(message)

    async def send(self, head: bytes, body: bytes | None, stream: Data) -> None:
        write = self.transport.write
        if stream is None:
            if body is None:
                write(head)
            elif len(body) <= HIGH_WATER:
                write(head + body)  # one system call; a large body is not copied
            else:
                write(head)
                write(body)
            return
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

    async def wait(self, timeout: float | None) -> None:
        """Until the exchange moves on (head, body, end or failure); past ``timeout`` s of silence
        it fails as ``ReadTimeout``."""
        waiter = self.waiter = self.loop.create_future()
        timer = None if timeout is None else self.loop.call_later(timeout, self._timed_out, waiter, timeout)
        try:
            await waiter
        finally:
            self.waiter = None
            if timer is not None:
                timer.cancel()

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

    def _timed_out(self, waiter: asyncio.Future[None], timeout: float) -> None:
        if not waiter.done():
            self.fail(httpx.ReadTimeout, f"the upstream sent nothing for {timeout:g} s")

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
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


class Answer:
    """An ``Opened`` answer of ``Http1Transport``: the head, and the body still arriving."""

    __slots__ = ("_connection", "_read", "_transport", "headers", "raw_headers", "status")

    def __init__(self, connection: _Connection, transport: Http1Transport, read: float | None):
        self.status = connection.status
        self.raw_headers = connection.raw
        self.headers = AnswerHeaders(connection.raw)
        self._connection: _Connection | None = connection
        self._transport = transport
        self._read = read

    def _open(self) -> _Connection:
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


class Http1Transport(PooledTransport):
    """One pool of at most ``max_connections`` connections (one transport per upstream namespace)."""

    def __init__(self, ssl_context: ssl.SSLContext, max_connections: int, keepalive_expiry: float = 30.0):
        self._ssl_context = ssl_context
        self._keepalive_expiry = keepalive_expiry
        self._slots = Slots(max_connections)
        self._idle: dict[str, list[_Connection]] = {}
        """Idle connections by scheme, authority and TLS server name; the last in goes out first."""
        self._sweep: asyncio.TimerHandle | None = None
        self._closed = False

    async def open(
        self,
        method: str,
        url: str,
        headers: Headers,
        data: Data,
        timeout: Mapping[str, float | None],
        server_hostname: str | None = None,
    ) -> Answer:
        prefix, target = _split(url)
        origin = _origin(prefix)
        body = data if isinstance(data, bytes) and data else None
        stream = None if data is None or isinstance(data, bytes) else data
        head = _request_head(method, target, origin, headers, -1 if stream is not None else len(body or b""))
        key = prefix if server_hostname is None else f"{prefix} {server_hostname}"
        read = timeout.get("read")
        await self._slots.acquire(timeout.get("pool"))
        connection = None
        try:
            connection = self._idle_connection(key)
            if connection is None:
                connection = await self._connect(origin, server_hostname, timeout.get("connect"), key)
                await self._exchange(connection, method, head, body, stream, read)
            else:
                try:
                    await self._exchange(connection, method, head, body, stream, read)
                except (httpx.RemoteProtocolError, httpx.ReadError):
                    if not (connection.silently_lost() and stream is None and method in IDEMPOTENT):
                        raise
                    connection = await self._connect(origin, server_hostname, timeout.get("connect"), key)
                    await self._exchange(connection, method, head, body, stream, read)
        except BaseException:
            if connection is not None:
                connection.transport.close()
            self._slots.release()
            raise
        return Answer(connection, self, read)

    async def _exchange(
        self, connection: _Connection, method: str, head: bytes, body: bytes | None, stream: Data, read: float | None
    ) -> None:
        connection.begin(method == "HEAD")
        await connection.send(head, body, stream)
        await connection.head(read)

    def _idle_connection(self, key: str) -> _Connection | None:
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()
            if not connection.lost and connection.loop.time() - connection.idle_since < self._keepalive_expiry:
                return connection
            connection.transport.close()
        return None

    async def _connect(
        self, origin: _Origin, server_hostname: str | None, timeout: float | None, key: str
    ) -> _Connection:
        loop = asyncio.get_running_loop()
        idle = self._idle.setdefault(key, [])
        tls = self._ssl_context if origin.tls else None
        try:
            async with asyncio.timeout(timeout):
                _, connection = await loop.create_connection(
                    lambda: _Connection(loop, idle),
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

    def release(self, connection: _Connection) -> None:
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
