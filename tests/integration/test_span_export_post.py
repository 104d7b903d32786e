"""The span export's POST (D197: from the event loop, with the runtime's own HTTP/1.1 client) against
a collector on loopback that answers byte for byte as told: the request it receives carries the
export's headers and body; each way an HTTP/1.1 answer can end (a length, chunks, the connection's
close, after an interim answer) gives its status and keeps or drops the connection as it says; a
collector that closes a kept-alive connection is reached again on a new one; a broken answer, a
refusal or a header that cannot be written fails the export, counted, and the next one goes on."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator

import pytest

from naftiko_runtime.serving import otlp_wire
from naftiko_runtime.serving.span_export import SpanExport

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 2\r\n\r\n\x0a\x00"


class RawCollector:
    """Accepts connections one after another; reads each request whole (head and ``Content-Length``
    body) and writes the next of ``answers`` (closing the connection after it when told to)."""

    def __init__(self, answers: list[tuple[bytes, bool]]):
        self.answers = answers
        self.requests: list[tuple[int, bytes]] = []
        """By the connection (counted from 0) each came on: the request's bytes."""
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        connections = 0
        while self.answers:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                while self.answers:
                    request = self._read(conn)
                    if request is None:
                        break
                    self.requests.append((connections, request))
                    answer, close = self.answers.pop(0)
                    conn.sendall(answer)
                    if close:
                        break
            connections += 1

    @staticmethod
    def _read(conn: socket.socket) -> bytes | None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            data += chunk
        head = data[: data.index(b"\r\n\r\n")].lower()
        length = int(head.split(b"content-length: ")[1].split(b"\r\n")[0])
        while len(data) < len(head) + 4 + length:
            data += conn.recv(65536)
        return data

    def close(self) -> None:
        self.listener.close()
        self.thread.join(5)


@pytest.fixture
def collector(request) -> Iterator[RawCollector]:
    raw = RawCollector(list(request.param))
    yield raw
    raw.close()


def _export(port: int, environ: dict[str, str] | None = None) -> SpanExport:
    return SpanExport(f"http://127.0.0.1:{port}/v1/traces", otlp_wire.envelope({}, "naftiko"), environ=environ or {})


@pytest.mark.parametrize("collector", [[(OK, False)]], indirect=True)
async def test_the_request_carries_the_export_headers_and_body(collector):
    """The request line, the protobuf type, the headers from the environment (D136), the length, and
    the body as ``Envelope.request`` made it."""
    export = _export(collector.port, {"OTEL_EXPORTER_OTLP_HEADERS": "x-collector-key=k%2C1,b=2"})
    body = bytes(range(256)) * 40
    assert await export._post(body)
    await export.aclose()
    ((_, sent),) = collector.requests
    head, _, received = sent.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /v1/traces HTTP/1.1" and received == body
    for line in (b"content-type: application/x-protobuf", b"x-collector-key: k,1", b"b: 2", b"content-length: 10240"):
        assert line in [each.lower() for each in lines]


CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n\x0a\x00\r\n0\r\n\r\n"
UNTIL_CLOSE = b"HTTP/1.1 202 Accepted\r\nConnection: close\r\n\r\nanything, up to the close"
INTERIM = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"
REFUSED = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy"


@pytest.mark.parametrize(
    ("collector", "sent", "connections"),
    [
        (
            [(OK, False), (CHUNKED, False), (INTERIM, False), (REFUSED, False), (OK, False)],
            [True, True, True, False, True],
            1,
        ),
        ([(UNTIL_CLOSE, True), (OK, False)], [True, True], 2),
    ],
    indirect=["collector"],
)
async def test_every_ending_of_an_answer_gives_its_status_and_the_connection_is_kept_as_it_says(
    collector, sent, connections
):
    export = _export(collector.port)
    assert [await export._post(b"spans") for _ in sent] == sent
    assert len({connection for connection, _ in collector.requests}) == connections
    await export.aclose()


@pytest.mark.parametrize("collector", [[(OK, True), (OK, True), (b"HTTP/1.1 200 OK\r\n", True)]], indirect=True)
async def test_a_closed_kept_alive_connection_is_opened_again_and_a_cut_answer_fails(collector, caplog):
    """The collector closes after each answer without saying so: the next export goes on a new
    connection; an answer cut off in its head fails, logged once with why."""
    export = _export(collector.port)
    with caplog.at_level(logging.WARNING, logger="naftiko.traces"):
        assert await export._post(b"one") and await export._post(b"two")
        assert not await export._post(b"three")
    await export.aclose()
    assert [connection for connection, _ in collector.requests] == [0, 1, 2]
    assert f"trace export to 127.0.0.1:{collector.port} failed (RemoteProtocolError" in caplog.text


@pytest.mark.parametrize("collector", [[(b"SMTP ready\r\n\r\n", True), (OK, False)]], indirect=True)
async def test_an_answer_that_is_not_http_fails_and_the_next_export_connects_anew(collector):
    export = _export(collector.port)
    assert not await export._post(b"spans")
    assert await export._post(b"spans")
    assert [connection for connection, _ in collector.requests] == [0, 1]
    await export.aclose()


async def test_a_header_that_cannot_be_written_fails_every_export_and_sends_nothing(caplog):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        export = _export(port, {"OTEL_EXPORTER_OTLP_HEADERS": "x-key=a%0D%0AInjected: yes"})
        with caplog.at_level(logging.WARNING, logger="naftiko.traces"):
            assert not await export._post(b"spans") and not await export._post(b"spans")
        await export.aclose()
        listener.settimeout(0.2)
        with pytest.raises(TimeoutError):
            listener.accept()
    assert "LocalProtocolError" in caplog.text and "Injected: yes" not in caplog.text
