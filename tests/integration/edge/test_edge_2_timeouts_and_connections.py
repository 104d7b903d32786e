"""Issue 10, item 2: a head must arrive in time, and connections are capped.

Before: a connection that sent nothing, or a partial request, stayed open for ever (> 150 s
measured), and 20,050 idle connections (the fd limit) made every normal request fail until they
left. Wanted: a header/idle timeout (408, or a plain close when nothing was sent), a cap on
concurrent connections with a clear refusal, and file descriptors given back.

Options: ``--header-timeout SECONDS`` (default 10: from the connection's start, or from the end of
the previous response, to the end of the next request head; trickling bytes does not extend it)
and ``--max-connections N`` (default 4096, or half the open-file limit if lower; per process, all
ports together). A connection over the cap gets a 503 problem with ``Retry-After`` and is closed.
"""

from __future__ import annotations

import select
import socket
import time

import httpx
import pytest
from edge_support import MCP, REST, read_response, request_bytes, served

TIMEOUT = 1.0
CAP = 40


@pytest.fixture(scope="module")
def quick(tmp_path_factory, raw_upstream):
    """A gateway whose header timeout is one second."""
    with served(tmp_path_factory.mktemp("quick"), raw_upstream.url, "--header-timeout", str(TIMEOUT)) as gateway:
        yield gateway


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def _closed_within(sock: socket.socket, seconds: float) -> tuple[bool, bytes]:
    """Whether the server closes ``sock`` within ``seconds``; and what it wrote before."""
    deadline = time.monotonic() + seconds
    data = b""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return False, data
        except ConnectionResetError:
            return True, data
        if not chunk:
            return True, data
        data += chunk
    return False, data


@pytest.mark.parametrize("base", [REST, MCP])
def test_a_connection_that_sends_nothing_is_closed(quick, base):
    """No request at all: closed quietly (a 408 could be read as the answer to a request that a
    keep-alive client sends at the same moment)."""
    with _connect(quick.port(base)) as sock:
        started = time.monotonic()
        closed, data = _closed_within(sock, TIMEOUT + 1.5)
        assert closed, "an idle connection was still open after the header timeout"
        assert TIMEOUT - 0.2 < time.monotonic() - started < TIMEOUT + 1
        assert data == b""


def test_a_trickled_head_gets_408_at_the_deadline(quick):
    """Bytes that keep arriving do not extend the deadline: slowloris gets 408 and a close."""
    with _connect(quick.port(REST)) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /v1/api/syncs HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Polytomic-Version: ")
        answer = None
        while time.monotonic() - started < TIMEOUT + 2:
            if select.select([sock], [], [], 0.2)[0]:
                answer = read_response(sock, timeout=1)
                break
            try:
                sock.sendall(b"v")
            except OSError:
                break
        assert answer is not None and answer.status == 408, answer
        assert answer.closed
        assert TIMEOUT - 0.2 < time.monotonic() - started < TIMEOUT + 1.2


def test_the_deadline_starts_again_after_each_response(quick, raw_upstream):
    """Keep-alive: the next head is due within the timeout of the previous response's end."""
    with _connect(quick.port(REST)) as sock:
        sock.sendall(request_bytes("GET", "/v1/api/syncs"))
        assert read_response(sock, timeout=5).status == 200
        sock.sendall(b"GET /v1/api/syncs HTTP/1.1\r\nHost: 12")
        started = time.monotonic()
        answer = read_response(sock, timeout=TIMEOUT + 2)
        assert answer.status == 408 and answer.closed
        assert time.monotonic() - started < TIMEOUT + 1
    assert len(raw_upstream.seen) == 1


def test_idle_connections_leave_and_their_fds_come_back(quick):
    """300 silent connections are all closed by the timeout and the process's fd count returns."""
    port = quick.port(REST)
    baseline = quick.open_fds()
    sockets = [_connect(port) for _ in range(300)]
    try:
        time.sleep(0.3)
        assert quick.open_fds() >= baseline + 250, "the connections were not accepted"
        deadline = time.monotonic() + TIMEOUT + 2
        open_ = list(sockets)
        while open_ and time.monotonic() < deadline:
            open_ = [s for s in open_ if not _closed_within(s, 0.01)[0]]
            time.sleep(0.05)
        assert not open_, f"{len(open_)} of 300 idle connections still open"
        assert quick.open_fds() <= baseline + 3
        assert httpx.get(quick.url(REST) + "/v1/api/syncs", timeout=5).status_code == 200
    finally:
        for sock in sockets:
            sock.close()


@pytest.fixture(scope="module")
def capped(tmp_path_factory, raw_upstream):
    """At most CAP connections at once; the header timeout long enough to hold them."""
    with served(
        tmp_path_factory.mktemp("capped"), raw_upstream.url, "--max-connections", str(CAP), "--header-timeout", "30"
    ) as gateway:
        yield gateway


def test_connections_beyond_the_cap_get_a_clear_refusal(capped):
    """Filling the cap makes the next connection (on any port) a 503 problem with Retry-After, at
    once; as soon as the holders leave, normal calls work again and the fds are back."""
    port = capped.port(REST)
    time.sleep(0.2)  # the start-up probes' connections are gone
    baseline = capped.open_fds()
    holders = [_connect(port) for _ in range(CAP)]
    try:
        time.sleep(0.3)
        for base in (REST, MCP):
            with _connect(capped.port(base)) as extra:
                extra.sendall(request_bytes("GET", "/v1/api/syncs"))
                answer = read_response(extra, timeout=2)
            assert answer.status == 503, (base, answer)
            assert answer.seconds < 1
            assert answer.header("retry-after")
            assert answer.header("content-type") == "application/problem+json"
            assert b"connections" in answer.body
        assert capped.open_fds() <= baseline + CAP + 3, "refused connections kept their fds"
    finally:
        for sock in holders:
            sock.close()
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        status = httpx.get(capped.url(REST) + "/v1/api/syncs", timeout=5).status_code
        if status == 200:
            break
        time.sleep(0.05)
    assert status == 200
    assert capped.open_fds() <= baseline + 3


def test_an_earlier_deadline_does_not_cut_a_later_head_short(quick, raw_upstream):
    """The head timer stays armed across keep-alive requests (one timer per ``header_timeout``):
    when the deadline set at the connection's start passes during a later head, that head still
    gets its full timeout from the previous response's end, not 408 at the first deadline."""
    with _connect(quick.port(REST)) as sock:
        time.sleep(TIMEOUT * 0.6)
        sock.sendall(request_bytes("GET", "/v1/api/syncs"))
        assert read_response(sock, timeout=5).status == 200
        answered = time.monotonic()
        sock.sendall(b"GET /v1/api/syncs HTTP/1.1\r\nHost: 12")
        answer = read_response(sock, timeout=TIMEOUT + 2)
        assert answer.status == 408 and answer.closed
        # The first deadline fell ~0.4 s after the answer; the head's own ~1 s after it.
        assert time.monotonic() - answered > TIMEOUT * 0.6
