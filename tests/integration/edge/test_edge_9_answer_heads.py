"""Issue 15: the default transport (core/http1_transport.py) bounds an upstream's answer head.

An upstream that sends an endless or enormous head, or thousands of header lines, must not grow
the gateway's memory: past 64 KiB or 128 lines the call is a 502 at once (D53), and the next call
on the same namespace is served as usual.
"""

from __future__ import annotations

import time

import httpx
import pytest
from edge_support import REST, Reply, json_reply, served

from naftiko_runtime.core.http1_connection import HEAD_LIMIT

HEADS = {
    "large": Reply(b"HTTP/1.1 200 OK\r\nX-Large: " + b"a" * HEAD_LIMIT + b"\r\nContent-Length: 2\r\n\r\n{}"),
    "many": Reply(b"HTTP/1.1 200 OK\r\n" + b"X-Line: 1\r\n" * 1_000 + b"Content-Length: 2\r\n\r\n{}"),
    "endless": Reply(b"HTTP/1.1 200 OK\r\n" + b"X-Line: " + b"b" * (4 * HEAD_LIMIT), hang=True),
}


def _respond(seen):
    return HEADS.get(seen.target.rpartition(b"/")[2].decode()) or json_reply()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, raw_upstream):
    with served(tmp_path_factory.mktemp("heads"), raw_upstream.url, "--timeout", "10") as served_gateway:
        yield served_gateway


@pytest.mark.parametrize("head", HEADS)
def test_an_answer_head_past_the_bound_is_a_502_at_once(gateway, raw_upstream, head):
    raw_upstream.reset(_respond)
    started = time.monotonic()
    response = httpx.get(gateway.url(REST) + f"/v1/api/syncs/{head}", timeout=5)
    assert response.status_code == 502, (response.status_code, response.text[:300])
    assert response.headers["content-type"] == "application/problem+json"
    assert "RemoteProtocolError" in response.json()["detail"]
    assert time.monotonic() - started < 5  # refused as the head arrives, not at the 10 s timeout
    assert httpx.get(gateway.url(REST) + "/v1/api/syncs/fine", timeout=5).status_code == 200
    assert "Traceback" not in gateway.stderr
