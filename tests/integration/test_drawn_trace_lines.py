"""A traced call's drawn trace context travels as the request's ``drawn`` lines (D186): the pooled
transports send them after the headers, to the bytes the same context sent as ``Drawn`` header
values (D176) gives, kept head or not; every other path sees them as headers, in the same order."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator

import pytest

from naftiko_runtime.core.aiohttp_transport import AiohttpTransport
from naftiko_runtime.core.http1_transport import Http1Transport
from naftiko_runtime.core.pooled import PooledTransport
from naftiko_runtime.core.requests import Drawn, Outgoing, drawn_pairs
from naftiko_runtime.core.tokens import Token
from naftiko_runtime.core.upstream import _bearer

TIMEOUT = {"connect": 2.0, "read": 2.0, "pool": 2.0}
W3C = "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n"
B3 = "x-b3-traceid: 4bf92f3577b34da6a3ce929d0e0e4736\r\nx-b3-spanid: 00f067aa0ba902b7\r\nx-b3-sampled: 1\r\n"


@contextlib.asynccontextmanager
async def recording() -> AsyncIterator[tuple[str, list[bytes]]]:
    """A loopback upstream that keeps each request's head and answers ``200 ok``."""
    heads: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                heads.append(await reader.readuntil(b"\r\n\r\n"))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/items?page=2", heads
    finally:
        server.close()


async def _send(transport: PooledTransport, url: str, headers: dict[str, str], drawn: str = "") -> None:
    answer = await transport.open("GET", url, headers, None, TIMEOUT, None, drawn)
    assert answer.status == 200 and await answer.read(100) == b"ok"
    await answer.aclose()


@pytest.mark.parametrize("drawn", [W3C, B3], ids=["w3c", "b3"])
@pytest.mark.parametrize("given", [{"X-Key": "a"}, {"X-Key": "a", "Idempotency-Key": "k1"}, {}], ids=str)
async def test_drawn_lines_are_the_bytes_drawn_header_values_send(drawn, given):
    """Sent three times (the head written, then kept), each head is byte for byte the one the same
    lines given as ``Drawn`` header values send, ending the headers; also after a per-call header."""
    async with recording() as (url, heads):
        transport = Http1Transport(None, 4)
        for _ in range(3):
            await _send(transport, url, dict(given), drawn)
        await _send(Http1Transport(None, 4), url, {**given, **dict(drawn_pairs(drawn))})
        await transport.aclose()
    assert heads[0] == heads[1] == heads[2] == heads[3]
    given_lines = "".join(f"{name}: {value}\r\n" for name, value in given.items())
    assert (given_lines + drawn).encode() in heads[0]


async def test_the_aiohttp_transport_sends_drawn_lines_as_headers():
    async with recording() as (url, heads):
        transport = AiohttpTransport(ssl.create_default_context(), 4)
        await _send(transport, url, {"X-Key": "a"}, W3C)
        await transport.aclose()
    assert b"X-Key: a\r\n" in heads[0] and W3C.encode() in heads[0]


def test_paths_that_read_headers_see_the_drawn_lines_as_headers_in_order():
    """A cache, a fetched token and an ``httpx.Request`` read the request with its drawn lines as
    ``Drawn`` values at the end of its headers; a fetched token still comes after them."""
    request = Outgoing("GET", "http://upstream.test/v1", {"X-Key": "a", "Authorization": "Basic x"}, None, B3)
    seen = request.with_drawn_headers()
    assert list(seen.headers.items()) == [
        ("X-Key", "a"),
        ("Authorization", "Basic x"),
        ("x-b3-traceid", "4bf92f3577b34da6a3ce929d0e0e4736"),
        ("x-b3-spanid", "00f067aa0ba902b7"),
        ("x-b3-sampled", "1"),
    ]
    assert all(type(value) is Drawn for value in list(seen.headers.values())[2:]) and seen.drawn == ""
    assert request.headers == {"X-Key": "a", "Authorization": "Basic x"}  # the request itself is left as it was
    assert request.with_drawn_headers() is not request and seen.with_drawn_headers() is seen
    assert request.to_httpx().headers["x-b3-spanid"] == "00f067aa0ba902b7"
    bearer = _bearer(request, Token("t0k", float("inf")))
    assert list(bearer.headers)[-4:] == ["x-b3-traceid", "x-b3-spanid", "x-b3-sampled", "Authorization"]
    assert bearer.headers["Authorization"] == "Bearer t0k" and bearer.drawn == ""
