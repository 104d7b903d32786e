"""Issue 6, item 4: an upstream that refuses, resets, stalls, truncates, lies about its type,
floods or redirects gives its documented status (D53: 502/504, never 500) or an MCP ``isError``,
within the configured timeout plus a small margin, and memory stays bounded."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import pytest
from hardening_support import ConnectionCounter, FaultUpstream, report, rss_kib
from support import CAPABILITIES, NAMESPACES, running_gateway

TOTAL, READ, CONNECT = 2.0, 1.0, 1.0
MARGIN = 1.0
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
FIGURES: dict[str, str] = {}

# mode -> (REST status, phrase in the problem detail or None, MCP isError)
FAULTS = {
    "reset": (502, "broke off", True),
    "short_body": (502, None, True),
    "slow_headers": (504, None, True),
    "slow_body": (504, None, True),
    "truncated_json": (502, "not JSON", True),
    "html_as_json": (502, "not JSON", True),
    "json_as_html": (200, None, False),  # D50: valid JSON passes through, Content-Type kept
    "garbage": (502, None, True),
    "huge_declared": (502, "limit", True),
    "huge_close": (502, "more than", True),
    "huge_chunked": (502, "more than", True),
    "hang": (504, None, True),
}


@pytest.fixture(scope="module")
def faulty():
    with FaultUpstream("json") as server:
        yield server


@pytest.fixture(scope="module")
def gateway(faulty):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}"  # bound, never listening: connection refused
        base_uris = {NAMESPACES[0]: faulty.url, NAMESPACES[1]: dead}
        with running_gateway(
            CAPABILITIES,
            {"POLYTOMIC_API_KEY": "k-faults-0000"},
            base_uris=base_uris,
            total_timeout=TOTAL,
            read_timeout=READ,
            connect_timeout=CONNECT,
        ) as served:
            yield served


def _mcp(gateway, tool: str, arguments: dict) -> dict:
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
    response = httpx.post(gateway.url(9090) + "/mcp", json=message, headers=MCP_HEADERS, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["result"]


def _timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


@pytest.mark.parametrize("mode", FAULTS)
def test_fault_gives_its_status_in_time(gateway, faulty, mode):
    status, phrase, is_error = FAULTS[mode]
    faulty.set(mode)
    response, rest_seconds = _timed(lambda: httpx.get(gateway.url(8080) + "/v1/api/syncs", timeout=30))
    assert response.status_code == status, response.text[:300]
    assert rest_seconds < TOTAL + MARGIN, rest_seconds
    if status >= 500:
        assert response.headers["content-type"] == "application/problem+json"
        if phrase:
            assert phrase in response.json()["detail"], response.json()
    else:
        assert response.headers["content-type"].startswith("text/html")
    result, mcp_seconds = _timed(lambda: _mcp(gateway, "list-syncs", {}))
    assert bool(result.get("isError")) is is_error, result
    assert mcp_seconds < TOTAL + MARGIN, mcp_seconds
    if is_error:
        assert str(status) in result["content"][0]["text"]
    FIGURES[mode] = f"REST {response.status_code} in {rest_seconds:.2f}s, MCP isError={is_error} in {mcp_seconds:.2f}s"


def test_connection_refused(gateway):
    response, seconds = _timed(lambda: httpx.get(gateway.url(8080) + "/v1/api/bulk/syncs", timeout=30))
    assert response.status_code == 502 and "could not be reached" in response.json()["detail"]
    assert seconds < CONNECT + MARGIN
    result, mcp_seconds = _timed(lambda: _mcp(gateway, "list-bulk-syncs", {}))
    assert result["isError"] and "502" in result["content"][0]["text"]
    FIGURES["connect refused"] = f"REST 502 in {seconds:.2f}s, MCP isError in {mcp_seconds:.2f}s"


def test_redirect_to_another_host_is_not_followed(gateway, faulty):
    other = ConnectionCounter("127.0.0.2")
    try:
        faulty.set("redirect:" + other.url)
        response = httpx.get(gateway.url(8080) + "/v1/api/syncs", timeout=10)
        assert response.status_code == 302 and response.headers["location"] == other.url
        result = _mcp(gateway, "list-syncs", {})
        assert result["isError"] and "302" in result["content"][0]["text"]
        time.sleep(0.3)
        assert other.accepted == 0, "the gateway followed a redirect to another host"
        assert len(faulty.received) == 2
    finally:
        other.close()
    FIGURES["redirect to 127.0.0.2"] = "REST 302 passed back, MCP isError, 0 connections to the other host"


def test_memory_stays_bounded_by_the_upstream_body_cap(gateway, faulty):
    """Settings.max_upstream_body (32 MiB): a 50 MB answer is cut off at the cap, not buffered whole.
    The peak RSS of this process (gateway thread included) is reset and re-read around the call."""
    faulty.set("huge_close")
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM (peak RSS) on Linux
    before = rss_kib()
    response = httpx.get(gateway.url(8080) + "/v1/api/syncs", timeout=30)
    peak = rss_kib(field_name="VmHWM")
    assert response.status_code == 502
    growth_mib = (peak - before) / 1024
    assert growth_mib < 32 + 24, f"peak grew {growth_mib:.0f} MiB for a 50 MB body"
    FIGURES["50 MB close-delimited body: peak RSS growth"] = f"{growth_mib:.0f} MiB (cap 32 MiB)"


def test_deeply_nested_upstream_answer_is_502(tmp_path):
    """orjson decodes 1024 levels but encodes 254: a mapped deep answer is a 502, not a 500."""
    deep = b'{"data": ' + b"[" * 400 + b"]" * 400 + b"}"

    class Deep(FaultUpstream):
        async def _answer(self, mode, reader, writer, headers):
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(deep), deep)
            )
            await writer.drain()
            return True

    with Deep() as server, running_gateway(CAPABILITIES, {}, base_uris={ns: server.url for ns in NAMESPACES}) as gw:
        result = _mcp(gw, "list-syncs", {})
        assert result["isError"] and "502" in result["content"][0]["text"]
        assert httpx.get(gw.url(8080) + "/v1/api/syncs").status_code == 200  # pass-through keeps the bytes (D46)


def test_zz_report():
    for name, figure in FIGURES.items():
        report(f"fault {name}", figure)
