"""Issue 22, item 2: many idle keep-alive connections are held, for as long as the edge says.

Before: uvicorn closed a keep-alive connection 5 s after its last response whatever
``--header-timeout`` said (its own timer, armed after every response beside the head deadline),
and ``serve`` kept the soft open-file limit it was started with (often 1,024), so holding many
clients needed a ``ulimit -n`` first. Now the head deadline is the keep-alive timeout (D132) and
``serve`` raises its soft open-file limit to the hard one at start (D133). The 10,000-connection
figures are a benchmark row (``benchmarks/idle_conns.py``, key ``idle10k``).
"""

from __future__ import annotations

import resource
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
from edge_support import REST, read_response, request_bytes, served

LOW_SOFT_LIMIT = 256
HELD = 400
"""More connections than the soft limit the gateway was started with allows descriptors for."""


def _limits(pid: int) -> tuple[int, int]:
    """The soft and hard open-file limits of process ``pid``, from /proc."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise LookupError("Max open files")


@contextmanager
def _started_with_soft_limit(soft: int) -> Iterator[None]:
    """Children started inside inherit ``soft`` as their soft open-file limit (the hard one kept);
    this process has its own limit back on leaving."""
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, before[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, before)


def _closed(sock: socket.socket) -> bool:
    sock.settimeout(0.01)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_serve_raises_its_open_file_limit_and_holds_more_connections_than_it_started_with(tmp_path, raw_upstream):
    """Started at a soft limit of 256 descriptors, the gateway raises it to the hard limit, holds 400
    idle keep-alive connections (each answered once) and still answers a new caller."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    with ExitStack() as stack:
        with _started_with_soft_limit(LOW_SOFT_LIMIT):
            gateway = stack.enter_context(served(tmp_path, raw_upstream.url))
        assert _limits(gateway.pid) == (hard, hard)
        port = gateway.port(REST)
        held = []
        try:
            for _ in range(HELD):
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                held.append(sock)
                sock.sendall(request_bytes("GET", "/v1/api/syncs"))
                assert read_response(sock, timeout=5).status == 200
            assert gateway.open_fds() > HELD > LOW_SOFT_LIMIT
            assert not any(_closed(sock) for sock in held)
            assert httpx.get(gateway.url(REST) + "/v1/api/syncs", timeout=5).status_code == 200
        finally:
            for sock in held:
                sock.close()


def test_an_idle_keep_alive_connection_lives_until_the_head_timeout_not_5_s(tmp_path, raw_upstream):
    """With ``--header-timeout 6`` an answered connection is still open 5.5 s later (uvicorn's own
    keep-alive timer closed it at 5 s) and closed quietly by the head deadline soon after 6 s."""
    with served(tmp_path, raw_upstream.url, "--header-timeout", "6") as gateway:
        with socket.create_connection(("127.0.0.1", gateway.port(REST)), timeout=5) as sock:
            sock.sendall(request_bytes("GET", "/v1/api/syncs"))
            assert read_response(sock, timeout=5).status == 200
            answered = time.monotonic()
            time.sleep(5.5)
            assert not _closed(sock), "closed before the head timeout"
            sock.settimeout(2.5)
            assert sock.recv(1) == b"", "not closed quietly at the head timeout"
            assert 5.9 < time.monotonic() - answered < 7.5
