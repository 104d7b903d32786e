"""The span export's own POST (D196) against a collector on loopback that answers byte for byte as
told: the request it receives is the one ``http.client`` sent for the same export, and each way an
HTTP/1.1 answer can end (a length, chunks, the connection's close, after an interim answer) gives
the status and keeps or drops the connection as it says; a collector that closes a kept-alive
connection is reached again on a new one, and a broken answer or header fails the export."""

from __future__ import annotations

import http.client
import logging
import socket
import threading
from collections.abc import Iterator

import pytest

from naftiko_runtime.serving import otlp_wire
from naftiko_runtime.serving.otlp_post import AnswerError, Collector
from naftiko_runtime.serving.span_export import TIMEOUT, SpanExport, exporter_settings

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


def _collector(port: int, headers: dict[str, str]) -> Collector:
    return Collector("127.0.0.1", port, "/v1/traces", headers, None, TIMEOUT)


@pytest.mark.parametrize("collector", [[(OK, False), (OK, False)]], indirect=True)
def test_the_request_is_the_one_http_client_sent(collector):
    """Same request line, headers in the same order (``Host``, ``Accept-Encoding``,
    ``Content-Length``, then the export's), same body."""
    headers, _ = exporter_settings({"OTEL_EXPORTER_OTLP_HEADERS": "x-collector-key=k%2C1,b=2"})
    body = bytes(range(256)) * 40
    before = http.client.HTTPConnection("127.0.0.1", collector.port, timeout=TIMEOUT)
    before.request("POST", "/v1/traces", body, headers)
    assert before.getresponse().status == 200
    before.close()
    assert _collector(collector.port, headers).post(body) == 200
    (_, sent_before), (_, sent) = collector.requests
    assert sent == sent_before
    assert sent.startswith(b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1:") and sent.endswith(body)


CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n\x0a\x00\r\n0\r\n\r\n"
UNTIL_CLOSE = b"HTTP/1.1 202 Accepted\r\nConnection: close\r\n\r\nanything, up to the close"
INTERIM = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"
REFUSED = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy"


@pytest.mark.parametrize(
    ("collector", "statuses", "connections"),
    [
        (
            [(OK, False), (CHUNKED, False), (INTERIM, False), (REFUSED, False), (OK, False)],
            [200, 200, 204, 503, 200],
            1,
        ),
        ([(UNTIL_CLOSE, True), (OK, False)], [202, 200], 2),
    ],
    indirect=["collector"],
)
def test_every_ending_of_an_answer_gives_its_status_and_the_connection_is_kept_as_it_says(
    collector, statuses, connections
):
    post = _collector(collector.port, {"Content-Type": "application/x-protobuf"})
    assert [post.post(b"spans") for _ in statuses] == statuses
    assert len({connection for connection, _ in collector.requests}) == connections
    post.close()


@pytest.mark.parametrize("collector", [[(OK, True), (OK, True), (b"HTTP/1.1 200 OK\r\n", True)]], indirect=True)
def test_a_closed_kept_alive_connection_is_opened_again_and_a_cut_answer_fails(collector, caplog):
    """The collector closes after each answer without saying so: the next export finds the kept
    connection closed and is sent again on a new one; an answer cut off in its head fails."""
    export = SpanExport(f"http://127.0.0.1:{collector.port}/v1/traces", otlp_wire.envelope({}, "naftiko"), delay=60)
    with caplog.at_level(logging.WARNING, logger="naftiko.traces"):
        assert export._post(b"one") and export._post(b"two")
        assert not export._post(b"three")
    export.close()
    assert [connection for connection, _ in collector.requests] == [0, 1, 2]
    assert "AnswerError: the collector closed the connection without answering" in caplog.text


@pytest.mark.parametrize("collector", [[(b"SMTP ready\r\n\r\n", True), (OK, False)]], indirect=True)
def test_an_answer_that_is_not_http_fails_and_the_next_export_connects_anew(collector):
    post = _collector(collector.port, {})
    with pytest.raises(AnswerError, match="not HTTP/1.1"):
        post.post(b"spans")
    assert post.sock is None and post.post(b"spans") == 200


def test_a_header_that_cannot_be_written_fails_every_export_and_sends_nothing():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        post = _collector(port, {"x-key": "a\r\nInjected: yes"})
        for _ in range(2):
            with pytest.raises(AnswerError, match="the header 'x-key' is not valid"):
                post.post(b"spans")
        listener.settimeout(0.2)
        with pytest.raises(TimeoutError):
            listener.accept()
