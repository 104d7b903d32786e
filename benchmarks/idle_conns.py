"""Row 11 (issue 22, key ``idle10k``): many idle keep-alive connections, held cheaply and harmlessly.

A gateway in front of many clients holds far more connections than it serves at once: browsers and
SDK pools keep theirs open between calls. The row opens ``count`` keep-alive connections to the
REST port, each making one request and then staying silent, and measures:

- the server's ``VmRSS`` (its process tree) before and with them held, so the cost per connection;
- wrk's p99 with 32 active connections on that server while the idle ones are held, and on a twin
  server holding none, the two loads alternated in the same run: the idle ones must not slow the
  active ones (no per-connection work on the loop's turns);
- how many idle connections the server still holds after the loads (the server under test is
  started with a head timeout longer than the row, so none should have been closed).

The connections are opened from this process in batches of ``BATCH`` (the listen backlog is 2,048),
so the harness raises its own open-file limit first. Not part of the product.
"""

from __future__ import annotations

import resource
import select
import socket
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

BATCH = 256
"""Connections sent their request before their answers are read: well under the listen backlog."""
HEAD_TIMEOUT = 600
"""``--header-timeout`` of the server under test: the idle connections outlive the row's loads."""
TOLERATED = 1.5
"""The goal: p99 with the idle connections held within this factor of p99 without them."""
RSS_GOAL_MB = 300


@dataclass
class IdleResult:
    count: int
    opened: int = 0
    seconds_to_open: float = 0.0
    rss_before_mb: float = 0.0
    rss_idle_mb: float = 0.0
    alone_p99_ms: list[float] = field(default_factory=list)
    idle_p99_ms: list[float] = field(default_factory=list)
    alone_rps: list[float] = field(default_factory=list)
    idle_rps: list[float] = field(default_factory=list)
    still_open: int = 0
    skipped: str | None = None

    @property
    def per_connection_kb(self) -> float:
        return (self.rss_idle_mb - self.rss_before_mb) * 1024 / max(1, self.opened)

    @property
    def p99_ratio(self) -> float:
        return statistics.median(self.idle_p99_ms) / statistics.median(self.alone_p99_ms)


def server_argv_options(count: int) -> list[str]:
    """What ``naftiko serve`` needs to hold ``count`` idle connections for the row's length: a cap
    above them (the default is 4,096) and a head timeout (the keep-alive timeout) longer than the row."""
    return ["--max-connections", str(count + 256), "--header-timeout", str(HEAD_TIMEOUT)]


def raise_open_files(needed: int) -> None:
    """This process's soft open-file limit up to its hard one; fails when even that is too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise RuntimeError(f"the hard open-file limit is {hard}; {needed} connections need more (ulimit -Hn)")
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _read_answer(sock: socket.socket) -> bool:
    """One whole ``Content-Length`` answer; whether it was a 200."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return False
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return False
        body += chunk
    return head.startswith(b"HTTP/1.1 200")


def open_idle(port: int, path: str, count: int) -> list[socket.socket]:
    """``count`` connections, each having had one keep-alive GET answered, then left silent."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    held: list[socket.socket] = []
    try:
        while len(held) < count:
            batch = [
                socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(min(BATCH, count - len(held)))
            ]
            held.extend(batch)
            for sock in batch:
                sock.sendall(request)
            for sock in batch:
                if not _read_answer(sock):
                    raise RuntimeError(f"idle connection {len(held)} was not answered 200")
    except BaseException:
        close_all(held)
        raise
    return held


def count_open(held: list[socket.socket]) -> int:
    """The connections the server has not closed: a silent connection becomes readable only at EOF."""
    poller = select.poll()
    for sock in held:
        poller.register(sock, select.POLLIN | select.POLLHUP)
    return len(held) - len(poller.poll(0))


def close_all(held: list[socket.socket]) -> None:
    for sock in held:
        sock.close()


def measure(
    count: int,
    runs: int,
    port: int,
    path: str,
    held_load: Callable[[], tuple[float, float]],
    twin_load: Callable[[], tuple[float, float]],
    rss_mb: Callable[[], float],
) -> IdleResult:
    """The row. ``held_load()`` is one wrk run, giving ``(req/s, p99 ms)``, on the server at ``port``,
    which is given the idle connections; ``twin_load()`` one on a twin server (the same file and
    options) that holds none. The two alternate (ABBA), so that other work on the machine, which
    moves a p99 by several times within a minute, hits both alike; ``rss_mb()`` is the held
    server's VmRSS now."""
    result = IdleResult(count)
    raise_open_files(count + 1024)
    result.rss_before_mb = rss_mb()
    began = time.perf_counter()
    held = open_idle(port, path, count)
    try:
        result.seconds_to_open = time.perf_counter() - began
        result.opened = len(held)
        time.sleep(0.5)  # the last answers' buffers are released
        result.rss_idle_mb = rss_mb()
        print(
            f"  idle: {result.opened:,} connections in {result.seconds_to_open:.1f} s, "
            f"RSS {result.rss_before_mb:.0f} -> {result.rss_idle_mb:.0f} MB",
            file=sys.stderr,
            flush=True,
        )
        for run in range(runs):
            order = ((True, held_load), (False, twin_load))
            for is_held, load in order if run % 2 else order[::-1]:
                rps, p99 = load()
                (result.idle_rps if is_held else result.alone_rps).append(rps)
                (result.idle_p99_ms if is_held else result.alone_p99_ms).append(p99)
        result.still_open = count_open(held)
    finally:
        close_all(held)
    return result


def render(result: IdleResult) -> list[str]:
    """The row's table lines for run.py's report."""
    lines = [
        "",
        "| 12. idle keep-alive connections | RSS before MB | RSS held MB | KB each | still open after the loads "
        "| req/s twin | req/s held | p99 ms twin | p99 ms held | p99 ratio |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    if result.skipped:
        return [*lines, f"| {result.count:,} | skipped: {result.skipped} | | | | | | | | |"]
    lines.append(
        f"| {result.opened:,} | {result.rss_before_mb:.0f} | {result.rss_idle_mb:.0f} "
        f"| {result.per_connection_kb:.1f} | {result.still_open:,} "
        f"| {statistics.median(result.alone_rps):,.0f} | {statistics.median(result.idle_rps):,.0f} "
        f"| {statistics.median(result.alone_p99_ms):.2f} | {statistics.median(result.idle_p99_ms):.2f} "
        f"| {result.p99_ratio:.2f}x |"
    )
    return lines


def goals(result: IdleResult | None) -> list[tuple[str, bool | None]]:
    """Each goal's text and whether it is met (``None``: not measured)."""
    if result is None or result.skipped or not result.idle_p99_ms:
        return [
            (f"idle keep-alive connections held with RSS < {RSS_GOAL_MB} MB: n/a", None),
            (f"active p99 with them within {TOLERATED:g}x of without: n/a", None),
        ]
    held_all = result.still_open == result.opened
    return [
        (
            f"{result.opened:,} idle keep-alive connections held ({result.still_open:,} still open) "
            f"with RSS < {RSS_GOAL_MB} MB: {result.rss_idle_mb:.0f} MB",
            held_all and result.rss_idle_mb < RSS_GOAL_MB,
        ),
        (
            f"active p99 with them within {TOLERATED:g}x of without: {result.p99_ratio:.2f}x",
            result.p99_ratio <= TOLERATED,
        ),
    ]
