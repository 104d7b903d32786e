"""Issue 10, item 8: an exhausted upstream pool says so.

Before: 300 callers held by a 40 s upstream made 20 fast calls to the same namespace fail after 5 s
with a 504 "timed out (ConnectTimeout)": nothing had failed to connect, every pooled connection
(256 per namespace) was busy. Wanted: the answer names what happened (the pool is exhausted), so
that an operator raises the pool or finds the slow upstream instead of chasing the network.

Scaled down: 270 callers held by a 6 s upstream, ``--connect-timeout 1`` (the pool wait is bounded
by it), then fast calls to the same namespace.
"""

from __future__ import annotations

import asyncio
import time

import httpx
from edge_support import REST, json_reply, mcp_call, result_text, served

HELD = 270
POOL = 256


def _respond(seen):
    reply = json_reply()
    if seen.target.endswith(b"/slow"):
        reply.delay = 6.0
    return reply


async def _hold(port: int, count: int) -> list[asyncio.StreamWriter]:
    """``count`` raw connections, each with a slow call in flight."""
    writers = []
    for _ in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /v1/api/syncs/slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        writers.append(writer)
    await asyncio.gather(*(w.drain() for w in writers))
    return writers


def test_an_exhausted_pool_is_named(tmp_path, raw_upstream):
    raw_upstream.reset(_respond)
    with served(
        tmp_path, raw_upstream.url, "--connect-timeout", "1", "--timeout", "20", "--read-timeout", "20"
    ) as gateway:

        async def scenario() -> tuple[list[httpx.Response], float, dict]:
            writers = await _hold(gateway.port(REST), HELD)
            try:
                deadline = time.monotonic() + 5
                while (
                    sum(s.target.endswith(b"/slow") for s in raw_upstream.seen) < POOL and time.monotonic() < deadline
                ):
                    await asyncio.sleep(0.05)
                started = time.monotonic()
                async with httpx.AsyncClient(base_url=gateway.url(REST), timeout=10) as client:
                    fast = await asyncio.gather(*(client.get("/v1/api/syncs") for _ in range(10)))
                elapsed = time.monotonic() - started
                tool = await asyncio.to_thread(mcp_call, gateway, "list-syncs", {}, 10)
                return fast, elapsed, tool
            finally:
                for writer in writers:
                    writer.close()

        fast, elapsed, tool = asyncio.run(scenario())
    slow_seen = sum(s.target.endswith(b"/slow") for s in raw_upstream.seen)
    assert slow_seen == POOL, f"{slow_seen} slow calls reached the upstream; the pool holds {POOL}"
    statuses = {response.status_code for response in fast}
    assert statuses <= {503, 504}, statuses
    details = [response.json()["detail"] for response in fast]
    for detail in details:
        assert "pool" in detail.lower() and "exhausted" in detail.lower(), detail
        assert "ConnectTimeout" not in detail and "timed out" not in detail, detail
    assert elapsed < 3, "the pool wait is bounded by --connect-timeout"
    assert tool.get("isError") and "exhausted" in result_text(tool).lower(), result_text(tool)
