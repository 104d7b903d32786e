"""A fast local upstream for the benchmarks: raw asyncio + httptools on uvloop.

Every request (any method, any path) gets the same ~2 kB JSON list, so that the upstream is never
the bottleneck of a row. Not part of the product.

    python benchmarks/upstream.py PORT
"""

from __future__ import annotations

import asyncio
import json
import sys

import httptools


def document() -> dict:
    """A realistic list page: 6 items of ~330 bytes, 10 fields each, plus paging (~2 kB)."""
    statuses = ("active", "paused", "failed", "running")
    items = []
    for i in range(6):
        items.append(
            {
                "id": f"2f7c1d9e-4b3a-4c8e-9a1b-{i:012d}",
                "name": f"Nightly sync of accounts #{i}",
                "status": statuses[i % len(statuses)],
                "active": i % 2 == 0,
                "mode": "updateOrCreate",
                "created_at": "2026-05-19T08:12:44Z",
                "updated_at": "2026-11-02T17:45:03Z",
                "schedule": {"frequency": "daily", "hour": str(i % 24), "minute": "30"},
                "target_connection_id": f"a81bc81b-dead-4e5d-abff-{i:012d}",
                "fields_count": 12 + i,
            }
        )
    return {"data": items, "pagination": {"next_page_token": "eyJvZmZzZXQiOjZ9", "total": 2481}}


BODY = json.dumps(document(), separators=(",", ":")).encode()
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(BODY)).encode()
    + b"\r\n\r\n"
    + BODY
)
RESPONSE_CLOSE = RESPONSE.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)


class Upstream(asyncio.Protocol):
    __slots__ = ("transport", "parser")

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.transport = transport
        self.parser = httptools.HttpRequestParser(self)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    def on_message_complete(self) -> None:
        if self.parser.should_keep_alive():
            self.transport.write(RESPONSE)
        else:
            self.transport.write(RESPONSE_CLOSE)
            self.transport.close()


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Upstream, "127.0.0.1", port, backlog=2048, reuse_address=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        asyncio.run(main(int(sys.argv[1])))
    except KeyboardInterrupt:
        pass
