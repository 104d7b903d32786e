"""What the pooled network transports (``http1_transport``, ``aiohttp_transport``) share, kept free
of either so that ``upstream`` can recognise one without importing it.

A pooled transport takes a request as plain values (``open``: no ``httpx.Request`` or
``httpx.Response``, ~25% of a pass-through) and answers with an ``Opened``: the head, and a body
still to be read, holding one of the pool's ``Slots`` until it is closed.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Protocol

import httpx

from .turns import Turns

Headers = Mapping[str, str] | Sequence[tuple[str, str]]
Data = bytes | httpx.SyncByteStream | httpx.AsyncByteStream | None


class AnswerHeaders(Protocol):
    """Case-insensitive lookup, and every line in the upstream's case (aiohttp's ``CIMultiDictProxy``
    or ``http1_transport.AnswerHeaders``)."""

    def get(self, key: str, /) -> str | None: ...

    def items(self) -> Iterable[tuple[str, str]]: ...


class Opened(Protocol):
    """An answer whose body is still to be read; ``aclose`` releases its connection and pool slot."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> AnswerHeaders: ...

    @property
    def raw_headers(self) -> Sequence[tuple[bytes, bytes]]: ...

    def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives, still content-encoded."""

    async def read(self, limit: int) -> bytes | None:
        """The whole body, or ``None`` once it passes ``limit`` bytes."""

    async def aclose(self) -> None: ...

    def header_items(self) -> tuple[tuple[str, str], ...]:
        """Every header line, names in the upstream's case (as ``headers.items()`` gives them)."""


class PooledTransport(httpx.AsyncBaseTransport):
    """A transport ``upstream`` may hand plain values to (see the module docstring)."""

    @abstractmethod
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
        """Send one request (``url`` already encoded, sent byte for byte) and return its answer once
        the head has arrived, holding a pool slot until the answer is closed. ``drawn``: header
        lines sent after ``headers`` (``Outgoing.drawn``)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        data: Data
        try:
            data = request.content or None
        except httpx.RequestNotRead:
            data = request.stream  # sent chunked
            request.headers.pop("transfer-encoding", None)
        opened = await self.open(
            request.method,
            str(request.url),
            request.headers.multi_items(),
            data,
            request.extensions.get("timeout", {}),
            request.extensions.get("sni_hostname"),
        )
        return httpx.Response(
            status_code=opened.status,
            headers=opened.raw_headers,
            stream=OpenedStream(opened),
            extensions={"http_version": b"HTTP/1.1"},
        )


class OpenedStream(httpx.AsyncByteStream):
    """An ``Opened`` body as an httpx stream."""

    def __init__(self, opened: Opened):
        self._opened = opened

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._opened.chunks()

    async def aclose(self) -> None:
        await self._opened.aclose()


class Slots(Turns):
    """The pool's bound: ``size`` exchanges at a time, each holding a slot from its request until
    its answer is closed (``Turns``: a free one is taken without awaiting, D166). Waiting for one is
    bounded by the ``pool`` timeout and fails as ``httpx.PoolTimeout`` (every connection busy),
    never as a ``ConnectTimeout`` (nothing failed to connect): ``upstream`` answers it 503, pool
    exhausted (issue 10, item 8)."""

    __slots__ = ()

    async def acquire(self, pool: float | None) -> None:
        """A slot, waited for at most ``pool`` seconds (``None``: without end)."""
        try:
            await self.wait(pool)
        except TimeoutError:
            raise httpx.PoolTimeout(
                f"connection pool exhausted: all {self.size} connections to the upstream stayed busy for {pool:g} s"
            ) from None
