"""Issue 10, item 7: refusals are 4xx answers, never tracebacks; the log stays quiet.

Before: a WebSocket upgrade to any path gave a 500 with a traceback logged per request; an MCP
argument that makes a too-long upstream URL (a 9 MiB ``id``) gave "Internal error" and a
traceback; HTTP/1.1 requests without ``Host`` or with two were accepted; every MCP request logged
one INFO line "Terminating session: None". Wanted: 4xx answers without tracebacks (a 500 is
always a bug, D53), 400 for a missing or repeated Host (RFC 9112 section 3.2), no per-request
noise at the default log level.
"""

from __future__ import annotations

import re

import httpx
import pytest
from edge_support import MCP, MCP_HEADERS, REST, mcp_call, raw_exchange, request_bytes, result_text, served

UPGRADE = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, raw_upstream):
    with served(tmp_path_factory.mktemp("refusals"), raw_upstream.url) as served_gateway:
        yield served_gateway


def _no_traceback(gateway) -> None:
    log = gateway.stderr
    assert "Traceback" not in log and "Exception in ASGI application" not in log, log[-3000:]


@pytest.mark.parametrize(
    "base,path",
    [(REST, "/v1/api/syncs"), (REST, "/nowhere"), (MCP, "/mcp"), (MCP, "/mcp/polytomic-subpackage-modelsync-mcp")],
)
def test_a_websocket_upgrade_is_a_clean_4xx(gateway, raw_upstream, base, path):
    answer = raw_exchange(gateway.port(base), request_bytes("GET", path, headers=UPGRADE), timeout=3)
    assert answer.status is not None and 400 <= answer.status < 500, (answer.status, answer.raw[:300])
    assert raw_upstream.seen == []
    _no_traceback(gateway)


def test_an_mcp_argument_making_a_too_long_url_is_a_4xx_tool_error(gateway, raw_upstream):
    result = mcp_call(gateway, "get-sync", {"id": "x" * (9 * 1024 * 1024)}, timeout=30)
    text = result_text(result)
    assert result.get("isError") is True
    assert "Internal error" not in text, text[:300]
    assert re.search(r"\b4\d\d\b", text), text[:300]
    assert len(text) < 2000, "the refusal does not echo the 9 MiB value"
    assert raw_upstream.seen == []
    _no_traceback(gateway)


HOSTS = {
    "HTTP/1.1 without Host": request_bytes("GET", "/v1/api/syncs", host=None),
    "HTTP/1.1 with two Hosts": request_bytes("GET", "/v1/api/syncs", headers={"Host": "localhost"}),
    "HTTP/1.0 with two Hosts": request_bytes("GET", "/v1/api/syncs", headers={"Host": "localhost"}, version="HTTP/1.0"),
}


@pytest.mark.parametrize("name", HOSTS)
def test_a_missing_or_repeated_host_is_400(gateway, raw_upstream, name):
    for base in (REST, MCP):
        answer = raw_exchange(gateway.port(base), HOSTS[name], timeout=3)
        assert answer.status == 400, (name, base, answer.status)
    assert raw_upstream.seen == []


def test_http_1_0_without_host_is_still_served(gateway, raw_upstream):
    answer = raw_exchange(gateway.port(REST), request_bytes("GET", "/v1/api/syncs", host=None, version="HTTP/1.0"))
    assert answer.status == 200


def test_mcp_requests_log_nothing_at_info(gateway):
    """Per-request INFO lines drown the log of a busy gateway: none for a plain tools/list."""
    before = gateway.stderr
    for _ in range(3):
        response = httpx.post(
            gateway.url(MCP) + "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers=MCP_HEADERS,
            timeout=10,
        )
        assert response.status_code == 200
    added = gateway.stderr[len(before) :]
    assert "Terminating session" not in added, added
    assert added.strip() == "", added
