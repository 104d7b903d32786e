"""The lean HTTP/1.1 client (core/http1_transport.py, issue 15) against real loopback upstreams
scripted on asyncio streams: what it sends, how it reads answers, its pool, its timeouts, and the
one retry it makes (a request on a reused connection the upstream closed before answering)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from naftiko_runtime.core.client_tls import shared_tls_context
from naftiko_runtime.core.http1_connection import HEAD_LIMIT, HIGH_WATER
from naftiko_runtime.core.http1_transport import Http1Transport

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
TIMEOUT = {"connect": 2.0, "read": 2.0, "pool": 2.0}
Handler = Callable[["Upstream", asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


class Upstream:
    """Counts connections and requests; ``handle(upstream, reader, writer, n)`` serves the n-th connection."""

    def __init__(self, handle: Handler):
        self.handle = handle
        self.connections = 0
        self.requests: list[bytes] = []
        self.url = ""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handle(self, reader, writer, self.connections)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def request(self, reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
        """One request's head and (Content-Length or chunked) body."""
        head = await reader.readuntil(b"\r\n\r\n")
        self.requests.append(head)
        lower = head.lower()
        if b"transfer-encoding: chunked" in lower:
            body = b""
            while size := int((await reader.readuntil(b"\r\n"))[:-2], 16):
                body += (await reader.readexactly(size + 2))[:-2]
            await reader.readuntil(b"\r\n")
            return head, body
        length = 0
        for line in lower.split(b"\r\n"):
            if line.startswith(b"content-length:"):
                length = int(line.partition(b":")[2])
        return head, await reader.readexactly(length)


@contextlib.asynccontextmanager
async def serving(handle: Handler) -> AsyncIterator[Upstream]:
    upstream = Upstream(handle)
    server = await asyncio.start_server(upstream._serve, "127.0.0.1", 0)
    upstream.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield upstream
    finally:
        server.close()


def answering(*replies: bytes) -> Handler:
    """Each connection answers its requests with ``replies`` in turn, then keeps answering the last."""

    async def handle(upstream: Upstream, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        for index in range(1_000):
            await upstream.request(reader)
            writer.write(replies[min(index, len(replies) - 1)])
            await writer.drain()

    return handle


def upstream_answering(*replies: bytes) -> contextlib.AbstractAsyncContextManager[Upstream]:
    return serving(answering(*replies))


@contextlib.asynccontextmanager
async def client(size: int = 4) -> AsyncIterator[Http1Transport]:
    transport = Http1Transport(ssl.create_default_context(), size)
    try:
        yield transport
    finally:
        await transport.aclose()


async def fetch(
    transport: Http1Transport,
    url: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    data: bytes | httpx.AsyncByteStream | None = None,
    timeout: dict[str, float] | None = None,
) -> tuple[int, bytes]:
    answer = await transport.open(method, url, headers or {}, data, timeout or TIMEOUT)
    try:
        body = await answer.read(1 << 30)
    finally:
        await answer.aclose()
    assert body is not None
    return answer.status, body


# --- what is sent ---------------------------------------------------------------------------------


async def test_the_request_head_carries_the_url_byte_for_byte_and_the_default_headers():
    async with upstream_answering(OK) as upstream, client() as transport:
        assert await fetch(transport, upstream.url + "/a%3B..%2Fb/%2E%2E?x=%2F&y=%3D#frag") == (200, b"ok")
        assert await fetch(transport, upstream.url + "/p", "POST", {"Host": "example.org"}, b"{}") == (200, b"ok")
        assert await fetch(transport, upstream.url + "/e", "POST") == (200, b"ok")
    port = upstream.url.rpartition(":")[2]
    get, post, empty = (head.decode() for head in upstream.requests)
    assert get.startswith("GET /a%3B..%2Fb/%2E%2E?x=%2F&y=%3D HTTP/1.1\r\n")
    assert f"\r\nHost: 127.0.0.1:{port}\r\n" in get
    for line in ("Accept: */*", "Accept-Encoding: gzip, deflate", "User-Agent: naftiko-runtime/"):
        assert "\r\n" + line in get
    assert "Content-Length" not in get
    assert "\r\nHost: example.org\r\n" in post and "127.0.0.1" not in post
    assert "\r\nContent-Length: 2\r\n" in post
    assert "\r\nContent-Length: 0\r\n" in empty


async def test_a_streamed_body_goes_chunked():
    received: list[bytes] = []

    async def handle(upstream: Upstream, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        head, body = await upstream.request(reader)
        received.append(body)
        writer.write(OK)
        await writer.drain()

    class Parts(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            for part in (b"one,", b"", b"two"):
                yield part

    async with serving(handle) as upstream, client() as transport:
        assert await fetch(transport, upstream.url + "/s", "PUT", {"Content-Length": "99"}, Parts()) == (200, b"ok")
    assert received == [b"one,two"]
    assert b"\r\nTransfer-Encoding: chunked\r\n" in upstream.requests[0]
    assert b"Content-Length" not in upstream.requests[0]


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/a", {"X-Value": "a\r\nX-Evil: 1"}),
        ("GET", "/a", {"X-Value": "a\nb"}),
        ("GET", "/a", {"X-Value": "a\0b"}),
        ("GET", "/a", {"X Evil": "b"}),
        ("GET", "/a", {"X-Evil:": "b"}),
        ("GET /x HTTP/1.1\r\n", "/a", {}),
        ("GET", "/a b", {}),
        ("GET", "/a\r\nX-Evil: 1", {}),
    ],
)
async def test_a_request_that_would_split_is_refused_before_anything_is_written(method, path, headers):
    async with upstream_answering(OK) as upstream, client() as transport:
        with pytest.raises(httpx.LocalProtocolError):
            await transport.open(method, upstream.url + path, headers, None, TIMEOUT)
        assert await fetch(transport, upstream.url + "/ok") == (200, b"ok"), "and the slot was not kept"
    assert len(upstream.requests) == 1


# --- how answers are read -------------------------------------------------------------------------


async def test_chunked_close_delimited_head_and_no_content_bodies():
    replies = {
        b"/chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        b"/empty": b"HTTP/1.1 204 No Content\r\n\r\n",
        b"/head": b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
        b"/until-close": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end",
    }

    async def handle(upstream: Upstream, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while True:
            head, _ = await upstream.request(reader)
            path = head.split(b" ")[1]
            writer.write(replies[path])
            await writer.drain()
            if path == b"/until-close":
                return

    async with serving(handle) as upstream, client() as transport:
        assert await fetch(transport, upstream.url + "/chunked") == (200, b"abcde")
        assert await fetch(transport, upstream.url + "/empty") == (204, b"")
        assert upstream.connections == 1, "a chunked answer and a 204 leave the connection reusable"
        assert await asyncio.wait_for(fetch(transport, upstream.url + "/head", "HEAD"), 1) == (200, b"")
        assert await asyncio.wait_for(fetch(transport, upstream.url + "/until-close"), 1) == (200, b"until the end")
        assert await fetch(transport, upstream.url + "/chunked") == (200, b"abcde")
    assert upstream.connections == 3, "neither a HEAD's nor a close-delimited answer's connection is reused"


async def test_chunks_arrive_as_they_are_sent():
    async def handle(upstream: Upstream, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await upstream.request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        await writer.drain()
        await reader.readexactly(1)  # the client's go-ahead: the first chunk reached it
        writer.write(b"6\r\nsecond\r\n0\r\n\r\n")
        await writer.drain()

    async with serving(handle) as upstream, client() as transport:
        answer = await transport.open("GET", upstream.url + "/", {}, None, TIMEOUT)
        chunks = answer.chunks()
        assert await anext(chunks) == b"first"
        connection_writer = answer._connection.transport  # type: ignore[union-attr]
        connection_writer.write(b"!")
        assert [chunk async for chunk in chunks] == [b"second"]
        await answer.aclose()


async def test_interim_answers_are_skipped_and_odd_statuses_returned():
    async with (
        upstream_answering(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n" + OK,
        ) as upstream,
        client() as transport,
    ):
        answer = await transport.open("GET", upstream.url + "/", {}, None, TIMEOUT)
        assert (answer.status, answer.headers.items()) == (200, [("Content-Length", "2")])
        assert await answer.read(10) == b"ok"
        await answer.aclose()
    for status in (b"101", b"199", b"600", b"000"):
        async with upstream_answering(b"HTTP/1.1 " + status + b" Odd\r\n\r\n") as upstream, client() as transport:
            answer = await asyncio.wait_for(transport.open("GET", upstream.url + "/", {}, None, TIMEOUT), 1)
            assert answer.status == int(status)
            await answer.aclose()


async def test_read_stops_past_the_limit_and_headers_are_case_insensitive():
    async with (
        upstream_answering(
            b"HTTP/1.1 200 OK\r\nX-Twice: one\r\nx-twice: two\r\nContent-Length: 5\r\n\r\n12345"
        ) as upstream,
        client() as transport,
    ):
        answer = await transport.open("GET", upstream.url + "/", {}, None, TIMEOUT)
        assert answer.headers.get("X-TWICE") == "one" and answer.headers.get("absent") is None
        assert answer.raw_headers == [(b"X-Twice", b"one"), (b"x-twice", b"two"), (b"Content-Length", b"5")]
        assert await answer.read(4) is None
        await answer.aclose()


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * HEAD_LIMIT + b"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"X-Many: 1\r\n" * 200 + b"\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
    ],
    ids=["head too large", "too many lines", "bad status", "not http"],
)
async def test_an_answer_that_is_not_acceptable_http_is_a_protocol_error(reply):
    async with upstream_answering(reply) as upstream, client() as transport:
        with pytest.raises(httpx.RemoteProtocolError):
            await transport.open("GET", upstream.url + "/", {}, None, TIMEOUT)


async def test_a_truncated_body_is_an_error():
    async def handle(upstream: Upstream, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await upstream.request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")

    async with serving(handle) as upstream, client() as transport:
        answer = await transport.open("GET", upstream.url + "/", {}, None, TIMEOUT)
        with pytest.raises(httpx.RemoteProtocolError):
            await answer.read(100)
        await answer.aclose()


async def test_reading_pauses_while_the_body_waits_for_its_reader():
    size = 64 * 1024 * 1024
    backlog: list[int] = []

    async def handle(upstream: Upstream, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await upstream.request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + bytes(size))
        await asyncio.sleep(0.3)
        backlog.append(writer.transport.get_write_buffer_size())
        await writer.drain()

    async with serving(handle) as upstream, client() as transport:
        answer = await transport.open("GET", upstream.url + "/", {}, None, TIMEOUT)
        await asyncio.sleep(0.5)
        connection = answer._connection
        assert connection is not None and connection.buffered <= HIGH_WATER + 1024 * 1024
        received = 0
        async for chunk in answer.chunks():
            received += len(chunk)
        await answer.aclose()
    assert received == size
    assert backlog[0] > 0, "the upstream could not write while the client did not read"


# --- the pool -------------------------------------------------------------------------------------


async def test_a_kept_alive_connection_is_reused_and_connection_close_honoured():
    async with upstream_answering(OK) as upstream, client() as transport:
        for _ in range(3):
            assert await fetch(transport, upstream.url + "/") == (200, b"ok")
        assert upstream.connections == 1
    async with (
        upstream_answering(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok") as upstream,
        client() as transport,
    ):
        for _ in range(2):
            assert await fetch(transport, upstream.url + "/") == (200, b"ok")
        assert upstream.connections == 2


async def test_an_idle_connection_is_closed_after_its_expiry():
    closed: list[int] = []

    async def handle(upstream: Upstream, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError):
            while True:
                await upstream.request(reader)
                writer.write(OK)
                await writer.drain()
        closed.append(n)

    async with serving(handle) as upstream:
        transport = Http1Transport(ssl.create_default_context(), 4, keepalive_expiry=0.2)
        assert await fetch(transport, upstream.url + "/") == (200, b"ok")
        await asyncio.sleep(0.1)
        assert await fetch(transport, upstream.url + "/") == (200, b"ok")
        assert closed == []
        await asyncio.sleep(0.4)
        assert closed == [1], "the client closed the idle connection without a request to prompt it"
        assert await fetch(transport, upstream.url + "/") == (200, b"ok")
        await transport.aclose()
    assert upstream.connections == 2


async def test_a_stale_kept_alive_connection_is_retried_once_on_a_new_one():
    """The upstream closes an idle connection just as a request goes out on it."""

    async def handle(upstream: Upstream, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await upstream.request(reader)
        writer.write(OK)
        await writer.drain()
        if n == 1:
            await upstream.request(reader)  # read, never answered: closed
            return
        while True:
            await upstream.request(reader)
            writer.write(OK)
            await writer.drain()

    async with serving(handle) as upstream, client() as transport:
        assert await fetch(transport, upstream.url + "/one") == (200, b"ok")
        assert await fetch(transport, upstream.url + "/two") == (200, b"ok")
    assert upstream.connections == 2
    assert [head.split(b" ")[1] for head in upstream.requests] == [b"/one", b"/two", b"/two"]


@pytest.mark.parametrize("case", ["after an answer byte", "not idempotent", "a new connection", "the retry too"])
async def test_no_retry_otherwise(case):
    """Connection 1 answers once (unless the case is about a new connection), then each connection
    takes a request and closes without an answer (or after a byte of one)."""

    async def handle(upstream: Upstream, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        if n == 1 and case != "a new connection":
            await upstream.request(reader)
            writer.write(OK)
            await writer.drain()
        await upstream.request(reader)
        if case == "after an answer byte":
            writer.write(b"HTTP/1.1 2")
            await writer.drain()

    method = "POST" if case == "not idempotent" else "GET"
    async with serving(handle) as upstream, client() as transport:
        if case != "a new connection":
            assert await fetch(transport, upstream.url + "/") == (200, b"ok")
        before = upstream.connections
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            await fetch(transport, upstream.url + "/", method)
    assert upstream.connections - before == (1 if case in ("a new connection", "the retry too") else 0)


async def test_cancelling_an_exchange_closes_its_connection_and_frees_its_slot():
    closed = asyncio.Event()

    async def handle(upstream: Upstream, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await upstream.request(reader)
        if n == 1:
            await reader.read()  # never answered: until the client closes
            closed.set()
            return
        writer.write(OK)
        await writer.drain()

    async with serving(handle) as upstream, client(size=1) as transport:
        task = asyncio.create_task(fetch(transport, upstream.url + "/hangs"))
        while not upstream.requests:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(closed.wait(), 1)
        timeout = {**TIMEOUT, "pool": 0.5}
        assert await fetch(transport, upstream.url + "/next", timeout=timeout) == (200, b"ok")


async def test_every_slot_busy_is_a_pool_timeout_and_silence_a_read_timeout():
    async def handle(upstream: Upstream, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await upstream.request(reader)
        await reader.read()

    async with serving(handle) as upstream, client(size=1) as transport:
        quick = {"connect": 1.0, "read": 0.2, "pool": 0.1}
        held = asyncio.create_task(fetch(transport, upstream.url + "/", timeout=quick))
        await asyncio.sleep(0.05)
        with pytest.raises(httpx.PoolTimeout):
            await fetch(transport, upstream.url + "/", timeout=quick)
        with pytest.raises(httpx.ReadTimeout):
            await held
        with pytest.raises(httpx.ReadTimeout):
            await fetch(transport, upstream.url + "/", timeout=quick)


async def test_connect_failures_are_connect_errors():
    async with client() as transport:
        with socket_closed_port() as port:
            with pytest.raises(httpx.ConnectError):
                await transport.open("GET", f"http://127.0.0.1:{port}/", {}, None, TIMEOUT)
        with pytest.raises(httpx.UnsupportedProtocol):
            await transport.open("GET", "ftp://127.0.0.1/", {}, None, TIMEOUT)


@contextlib.contextmanager
def socket_closed_port():
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


async def test_through_httpx():
    async with upstream_answering(OK) as upstream:
        async with httpx.AsyncClient(transport=Http1Transport(ssl.create_default_context(), 2)) as http:
            response = await http.post(upstream.url + "/x", content=b"abc")
    assert (response.status_code, response.text) == (200, "ok")
    assert b"\r\nContent-Length: 3\r\n" in upstream.requests[0]


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path, bytes]:
    """A self-signed certificate for ``name``: its file, its key's file, and its PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    (cert_file := tmp_path / "cert.pem").write_bytes(pem)
    (key_file := tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file, pem


async def test_tls_verifies_the_server_name_given_or_the_host(tmp_path):
    cert_file, key_file, pem = _certificate(tmp_path, "upstream.test")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert_file, key_file)
    names: list[str | None] = []
    server_context.sni_callback = lambda sock, name, context: names.append(name)

    async def handle(upstream: Upstream, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while True:
            await upstream.request(reader)
            writer.write(OK)
            await writer.drain()

    upstream = Upstream(handle)
    server = await asyncio.start_server(upstream._serve, "127.0.0.1", 0, ssl=server_context)
    url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    transport = Http1Transport(ssl.create_default_context(cadata=pem.decode()), 2)
    try:
        answer = await transport.open("GET", url, {}, None, TIMEOUT, server_hostname="upstream.test")
        assert (answer.status, await answer.read(10)) == (200, b"ok")
        await answer.aclose()
        with pytest.raises(httpx.ConnectError, match="certificate"):
            await transport.open("GET", url, {}, None, TIMEOUT)  # 127.0.0.1 is not the certificate's name
    finally:
        await transport.aclose()
        server.close()
    assert names[0] == "upstream.test" and upstream.connections >= 1


async def test_without_a_context_of_its_own_the_shared_one_is_built_at_the_first_tls_connection(tmp_path):
    """A namespace with no TLS settings verifies with the shared context (the usual CA bundle, so a
    self-signed upstream is refused), built only when a TLS connection is first opened: plain HTTP
    upstreams never load the CA bundle (~30 ms of a start)."""
    cert_file, key_file, _ = _certificate(tmp_path, "upstream.test")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert_file, key_file)

    async def handle(upstream: Upstream, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await upstream.request(reader)
        writer.write(OK)
        await writer.drain()

    shared_tls_context.cache_clear()
    transport = Http1Transport(None, 2)
    try:
        async with upstream_answering(OK) as plain:
            answer = await transport.open("GET", plain.url + "/", {}, None, TIMEOUT)
            assert answer.status == 200
            await answer.aclose()
        assert shared_tls_context.cache_info().currsize == 0, "a plain HTTP call built the TLS context"
        upstream = Upstream(handle)
        server = await asyncio.start_server(upstream._serve, "127.0.0.1", 0, ssl=server_context)
        url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        with pytest.raises(httpx.ConnectError, match="certificate"):
            await transport.open("GET", url, {}, None, TIMEOUT, server_hostname="upstream.test")
        assert shared_tls_context.cache_info().currsize == 1
        server.close()
    finally:
        await transport.aclose()
