"""beta5's ``ttlMs`` and ``cacheScope`` on an MCP adapter (issue 20, item 6) load and reach the
client as MCP 2026-07-28's freshness hints (SEP-2549) on the cacheable methods' results, read
through the ``mcp`` package's own client; on ``/mcp``, where adapters are served together (D31),
the shortest life and the narrowest scope win."""

from __future__ import annotations

import re

import pytest
from mcp import Client
from support import running_gateway

from naftiko_runtime import Settings, load

CAPABILITY = """\
ikanos: 1.0.0-beta5
capability:
  consumes:
  - type: http
    namespace: api
    baseUri: {upstream}
    resources:
      items:
        path: /items
        operations:
          list: {{method: GET}}
  exposes:
  - type: mcp
    namespace: cached
    port: 9090
{cached}
    tools:
      list: {{description: All items., call: api.list}}
  - type: mcp
    namespace: other
    port: 9090
{other}
    tools:
      again: {{description: All items again., call: api.list}}
"""


def capability(tmp_path, upstream, cached: str, other: str = ""):
    path = tmp_path / "cached.yml"
    path.write_text(CAPABILITY.format(upstream=upstream.url, cached=cached, other=other))
    return path


async def listed(url: str) -> tuple[int | None, str | None]:
    async with Client(url) as client:
        result = await client.list_tools()
    return result.ttl_ms, result.cache_scope


async def test_ttl_and_scope_reach_the_client_on_each_endpoint(tmp_path, upstream):
    cached = "    ttlMs: 30000\n    cacheScope: public"
    other = "    ttlMs: 5000\n    cacheScope: public"
    with running_gateway([capability(tmp_path, upstream, cached, other)]) as gateway:
        assert await listed(gateway.url(9090) + "/mcp/cached") == (30000, "public")
        assert await listed(gateway.url(9090) + "/mcp/other") == (5000, "public")
        assert await listed(gateway.url(9090) + "/mcp") == (5000, "public")


async def test_merged_endpoint_takes_the_shortest_life_and_the_narrowest_scope(tmp_path, upstream):
    cached = "    ttlMs: 30000\n    cacheScope: public"
    other = "    ttlMs: 60000\n    cacheScope: private"
    with running_gateway([capability(tmp_path, upstream, cached, other)]) as gateway:
        assert await listed(gateway.url(9090) + "/mcp") == (30000, "private")
    with running_gateway([capability(tmp_path, upstream, cached)]) as gateway:
        assert await listed(gateway.url(9090) + "/mcp") == (0, "private"), "an adapter without hints is stale at once"


@pytest.mark.parametrize(
    ("cached", "message"),
    [
        ("    ttlMs: -1", ":16:5: error: 'ttlMs' must be an integer number of milliseconds >= 0, not -1"),
        ("    cacheScope: shared", ":16:5: error: .*cacheScope"),
    ],
)
def test_bad_hints_are_refused_at_their_line(tmp_path, upstream, cached, message):
    loaded = load([capability(tmp_path, upstream, cached)], Settings(), {})
    lines = [str(d) for d in loaded.diagnostics]
    assert loaded.rejected and any(re.search(message, line) for line in lines), lines
