"""Issue 10, item 6: odd upstream status lines.

Before: a 101 was relayed to the caller as a final response, 600 and 999 crashed the response in
uvicorn (it has no status line for them), and a 199 left the call waiting for the total timeout
(60 s by default). Wanted: any status outside 200-599, or a 1xx that is not an interim response
followed by a final one, is a 502 at once (D53), a tool error over MCP (D63). An interim 100 or
103 followed by a real answer is not an error (RFC 9110 section 15.2). Each transport is checked;
only the default one (http1) ends a 199 at once.
"""

from __future__ import annotations

import time

import httpx
import pytest
from edge_support import REST, Reply, mcp_call, result_text, served

from naftiko_runtime.settings import TRANSPORTS

TIMEOUT = 10  # --timeout and --read-timeout: a hang would show as >= 10 s, the test gives up at 4 s
FINAL = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"data":[]}'
ODD = {
    "101": Reply(b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", hang=True),
    "199": Reply(b"HTTP/1.1 199 Odd\r\n\r\n", hang=True),
    "600": Reply(b"HTTP/1.1 600 Odd\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"),
    "999": Reply(b"HTTP/1.1 999 Odd\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"),
    "000": Reply(b"HTTP/1.1 000 Odd\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"),
}
INTERIM = {
    "100-then-200": Reply(b"HTTP/1.1 100 Continue\r\n\r\n" + FINAL),
    "103-then-200": Reply(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n" + FINAL),
}


def _respond(seen):
    name = seen.target.rpartition(b"/")[2].decode()
    return {**ODD, **INTERIM}[name]


@pytest.fixture(scope="module", params=TRANSPORTS)
def gateway(request, tmp_path_factory, raw_upstream):
    with served(
        tmp_path_factory.mktemp(request.param),
        raw_upstream.url,
        "--transport",
        request.param,
        "--timeout",
        str(TIMEOUT),
        "--read-timeout",
        str(TIMEOUT),
    ) as served_gateway:
        yield served_gateway


INTERIM_ONLY = pytest.mark.xfail(
    strict=True,
    reason="known limit: aiohttp's and httpcore's parsers skip every 1xx but 101 while they wait for a final "
    "status and offer no hook; a 199 followed by silence is cut by the read timeout (504), not at once",
)


def known_limit(request: pytest.FixtureRequest, status: str) -> None:
    """A 199 on aiohttp or httpx is the known limit above (strict: it fails if they ever end it)."""
    if status == "199" and request.node.callspec.params["gateway"] in ("aiohttp", "httpx"):
        request.applymarker(INTERIM_ONLY)


@pytest.mark.parametrize("status", ODD)
def test_an_odd_status_is_a_502_at_once(request, gateway, raw_upstream, status):
    known_limit(request, status)
    raw_upstream.reset(_respond)
    started = time.monotonic()
    try:
        response = httpx.get(gateway.url(REST) + f"/v1/api/syncs/{status}", timeout=4)
    except httpx.HTTPError as exc:
        pytest.fail(f"upstream {status}: the gateway gave no answer within 4 s ({type(exc).__name__})")
    assert response.status_code == 502, (status, response.status_code, response.text[:200])
    assert response.headers["content-type"] == "application/problem+json"
    assert time.monotonic() - started < 2
    assert "Traceback" not in gateway.stderr


@pytest.mark.parametrize("status", ["101", "199", "600"])
def test_an_odd_status_is_a_tool_error(request, gateway, raw_upstream, status):
    known_limit(request, status)
    raw_upstream.reset(_respond)
    started = time.monotonic()
    result = mcp_call(gateway, "get-sync", {"id": status}, timeout=4)
    assert result.get("isError") is True, result
    assert "502" in result_text(result), result_text(result)
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("name", INTERIM)
def test_interim_responses_before_the_answer_are_skipped(gateway, raw_upstream, name):
    raw_upstream.reset(_respond)
    response = httpx.get(gateway.url(REST) + f"/v1/api/syncs/{name}", timeout=4)
    assert response.status_code == 200, (response.status_code, response.text[:200])
    assert response.json() == {"data": []}
