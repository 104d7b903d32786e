"""An ``httpx`` transport over one ``aiohttp`` session that sends URLs exactly as built (issue 10,
item 4; replaces ``httpx-aiohttp``).

``httpx-aiohttp`` hands aiohttp the URL as text, and aiohttp's ``yarl.URL(text)`` re-normalises it:
``%3B %3D %2C %3A %40 %21 %24 %26 %27 %28 %29 %2A`` are decoded back to ``; = , : @ ! $ & ' ( ) *``,
so a path value ``..;`` reached the upstream as the segment ``..;`` (a path parameter to Java
upstreams). Here the URL is given to aiohttp already encoded (``yarl.URL(..., encoded=True)``) and
goes on the request line byte for byte as the runtime built it (D15).

Also, against ``httpx-aiohttp``:

- waiting for a free connection is bounded by the ``pool`` timeout and fails as
  ``httpx.PoolTimeout`` (``pooled.Slots``: ``max_connections`` slots, held from the request until
  its response body is closed, under an aiohttp connector without a limit of its own);
- aiohttp errors become the matching httpx ones: connect and read timeouts
  ``ConnectTimeout``/``ReadTimeout``, refused connections ``ConnectError``, an upstream that
  closes or answers something that is not HTTP ``RemoteProtocolError``, a broken body
  ``ReadError``, anything else a ``TransportError``;
- the body is streamed with ``iter_any`` (whatever has arrived) instead of 16 KiB ``read(n)`` calls.

Like the former transport: no cookies are kept, redirects are never followed, bodies are not
decompressed here (``httpx.Response`` does it), and the timeout extension of each request is
honoured (``connect``, ``read``, ``pool``; aiohttp has no write timeout).
"""

from __future__ import annotations

import errno
import functools
import ssl
from collections.abc import AsyncIterator, Mapping

import aiohttp
import httpx
import yarl

from .client_tls import ClosedAfterHandshake
from .pooled import Data, Headers, PooledTransport, Slots
from .requests import drawn_pairs

_ERRORS: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    # The most specific first: several are subclasses of others (and of OSError or TimeoutError).
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.ReadError),
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
    (aiohttp.NonHttpUrlClientError, httpx.UnsupportedProtocol),
    (aiohttp.ClientConnectionError, httpx.NetworkError),
    (aiohttp.ClientError, httpx.TransportError),
)


def httpx_error(exc: aiohttp.ClientError) -> httpx.TransportError:
    """The httpx exception for an aiohttp one (raise it ``from exc``)."""
    for source, target in _ERRORS:
        if isinstance(exc, source):
            return target(str(exc) or type(exc).__name__)
    raise AssertionError("aiohttp.ClientError is the last entry")


def _closed_on_tls(url: str, exc: BaseException) -> bool:
    """An https request's write met a closed socket before any answer: how a TLS 1.3 server's
    refusal of our client certificate (or its absence) usually shows (``client_tls``)."""
    return (
        url.startswith("https:")
        and isinstance(exc, aiohttp.ClientOSError)
        and exc.errno in (errno.EPIPE, errno.ECONNRESET)
    )


@functools.lru_cache(maxsize=256)
def _client_timeout(connect: float | None, read: float | None) -> aiohttp.ClientTimeout:
    """One (immutable) aiohttp timeout per distinct pair: operations share a handful of them."""
    return aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read)


class Opened:
    """An answer whose body is still to be read; ``aclose`` releases its connection and pool slot."""

    __slots__ = ("_response", "_slots", "headers", "raw_headers", "status")

    def __init__(self, response: aiohttp.ClientResponse, slots: Slots):
        self.status = response.status
        self.headers = response.headers
        self.raw_headers = response.raw_headers
        self._response = response
        self._slots: Slots | None = slots

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives (``iter_any``), still content-encoded."""
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except aiohttp.ClientError as exc:
            raise httpx_error(exc) from exc

    async def read(self, limit: int) -> bytes | None:
        """The whole body, or ``None`` once it passes ``limit`` bytes: the buffered answer of every
        call, read without the async generators of ``chunks`` (a pass-through's hot path)."""
        content = self._response.content
        chunks, size = [], 0
        try:
            while chunk := await content.readany():
                size += len(chunk)
                if size > limit:
                    return None
                chunks.append(chunk)
        except aiohttp.ClientError as exc:
            raise httpx_error(exc) from exc
        return b"".join(chunks)

    async def aclose(self) -> None:
        if self._slots is not None:
            slots, self._slots = self._slots, None
            self._response.release()
            slots.release()

    def header_items(self) -> tuple[tuple[str, str], ...]:
        return tuple(self.headers.items())


class AiohttpTransport(PooledTransport):
    """One pool of at most ``max_connections`` connections (one transport per upstream namespace)."""

    def __init__(self, ssl_context: ssl.SSLContext, max_connections: int, keepalive_expiry: float = 30.0):
        self._ssl_context = ssl_context
        self._keepalive_expiry = keepalive_expiry
        self._slots = Slots(max_connections)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        """Created on first use, inside the running loop, as aiohttp requires."""
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=self._keepalive_expiry, ssl=self._ssl_context)
        return aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            trust_env=False,
            timeout=aiohttp.ClientTimeout(total=None),
        )

    async def open(
        self,
        method: str,
        url: str,
        headers: Headers,
        data: Data,
        timeout: Mapping[str, float | None],
        server_hostname: str | None = None,
        drawn: str = "",
    ) -> Opened:
        if drawn:
            headers = [*(headers.items() if isinstance(headers, Mapping) else headers), *drawn_pairs(drawn)]
        await self._slots.acquire(timeout.get("pool"))
        try:
            if self._session is None:
                self._session = self._open()
            response = await self._session.request(
                method,
                yarl.URL(url, encoded=True),
                headers=headers,
                data=data,
                allow_redirects=False,
                timeout=_client_timeout(timeout.get("connect"), timeout.get("read")),
                server_hostname=server_hostname,
            )
        except BaseException as exc:
            self._slots.release()
            if _closed_on_tls(url, exc):
                raise httpx.ConnectError(str(exc)) from ClosedAfterHandshake()
            if isinstance(exc, aiohttp.ClientError):
                raise httpx_error(exc) from exc
            raise
        return Opened(response, self._slots)

    async def aclose(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
