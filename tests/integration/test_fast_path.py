"""Issue 22 item 2, D160: the REST fast path answers with the very bytes the ASGI path does.

The Polytomic files are served twice against one recording upstream: once as shipped (plain REST
calls take the fast path) and once with the fast path turned off on every port (everything goes
through uvicorn's cycle and the ASGI app). The same raw requests, written on a socket, must read
back the same raw bytes: status line, headers in order, body, and where the connection closes
(each example pipelines a request, then a ``Connection: close`` one, and reads to the end). Only
``date`` may differ (uvicorn's clock ticks between the two).
"""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polytomic_cases import CASES, SYNC_ID
from support import API_KEY, CAPABILITIES, NAMESPACES, Gateway, running_gateway

from naftiko_runtime.serving.fast_path import FastLane

REST = 8080
DATE = re.compile(rb"\r\ndate: [^\r]*")
CLIENT = re.compile(r"^127\.0\.0\.1:\d+")


def _gateway(upstream, fast: bool) -> Iterator[Gateway]:
    with running_gateway(
        CAPABILITIES,
        {"POLYTOMIC_API_KEY": API_KEY},
        base_uris={ns: upstream.url for ns in NAMESPACES},
        read_timeout=2.0,
        total_timeout=3.0,
    ) as gateway:
        lanes = [server.config.http_protocol_class for server in gateway.runtime.servers]
        assert any(lane.fast is not None for lane in lanes), "no port of the Polytomic files has a fast path"
        if not fast:
            for lane in lanes:  # the port's own switch (a class attribute of ours), read per connection
                lane.fast = None
        yield gateway


@pytest.fixture(scope="module")
def fast_gateway(upstream) -> Iterator[Gateway]:
    yield from _gateway(upstream, fast=True)


@pytest.fixture(scope="module")
def asgi_gateway(upstream) -> Iterator[Gateway]:
    yield from _gateway(upstream, fast=False)


def _lanes(gateway: Gateway) -> list[FastLane]:
    return [lane for server in gateway.runtime.servers if (lane := server.config.http_protocol_class.fast) is not None]


def exchange(port: int, request: bytes) -> bytes:
    """``request`` then a ``Connection: close`` GET on one connection; every byte read back."""
    closing = b"GET /v1/api/syncs/" + SYNC_ID.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request + closing)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return DATE.sub(b"\r\ndate: -", b"".join(chunks))


PATHS = sorted({case.rest_path for case in CASES}) + [
    "/v1/api/syncs",
    "/v1/api/syncs/",
    "/v1/api/nothing-here",
    "/mcp",
    "/openapi.json",
    f"/v1/api/syncs/{SYNC_ID}/%41",
    "/v1/api/syncs/x%20y",
    "/",
]
TOKEN = st.text(st.sampled_from("abcXYZ019-_.~"), min_size=1, max_size=8)
QUERY = st.lists(st.tuples(st.sampled_from(["active", "params[a]", "page", "x", "limit"]), TOKEN), max_size=3)
HEADERS = st.lists(
    st.sampled_from(
        [
            b"Accept: application/json",
            b"Authorization: Bearer caller",
            b"X-Polytomic-Version: 2024-02-08",
            b"Cookie: a=b",
            b"Origin: http://127.0.0.1",
            b"Origin: https://evil.example",
            b"Connection: keep-alive",
            b"Content-Length: 0",
            b"Expect: 100-continue",
            b"X-Repeated: 1",
        ]
    ),
    max_size=4,
)


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    method = draw(st.sampled_from(["GET", "GET", "HEAD", "DELETE", "POST", "PUT", "PATCH", "OPTIONS"]))
    path = draw(st.sampled_from(PATHS))
    pairs = draw(QUERY)
    target = path + ("?" + "&".join(f"{k}={v}" for k, v in pairs) if pairs else "")
    host = draw(st.sampled_from([b"Host: 127.0.0.1", b"Host: localhost:1", b"Host: rebinding.example"]))
    version = draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0"]))
    lines = [method.encode() + b" " + target.encode() + b" " + version, host, *draw(HEADERS)]
    return b"\r\n".join(lines) + b"\r\n\r\n"


@settings(max_examples=120, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=requests())
def test_the_fast_path_writes_the_asgi_paths_bytes(fast_gateway, asgi_gateway, request: bytes):
    fast = exchange(REST + fast_gateway.offset, request)
    asgi = exchange(REST + asgi_gateway.offset, request)
    assert fast == asgi, request


def test_plain_rest_calls_take_the_fast_path_and_others_do_not(fast_gateway, asgi_gateway):
    """The property above would hold vacuously if nothing went fast: count what each lane took."""
    before = sum(lane.taken for lane in _lanes(fast_gateway))
    get = f"GET /v1/api/syncs/{SYNC_ID} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    assert exchange(REST + fast_gateway.offset, get).startswith(b"HTTP/1.1 200 OK\r\n")
    # The GET went fast; the closing GET, pipelined behind it, waited in uvicorn's pipeline (ASGI).
    assert sum(lane.taken for lane in _lanes(fast_gateway)) == before + 1
    with_body = b"POST /v1/api/syncs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}"
    exchange(REST + fast_gateway.offset, with_body)
    assert sum(lane.taken for lane in _lanes(fast_gateway)) == before + 1  # a body: the ASGI way
    assert _lanes(asgi_gateway) == []


def test_a_fast_answer_is_logged_as_uvicorn_logs_it(fast_gateway, asgi_gateway, caplog):
    """With a handler on uvicorn's access logger, both paths write the same access line."""
    request = f"HEAD /v1/api/syncs/{SYNC_ID}?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    lines = []
    for gateway in (fast_gateway, asgi_gateway):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="uvicorn.access"):
            exchange(REST + gateway.offset, request)
        lines.append([CLIENT.sub("-", r.getMessage()) for r in caplog.records if r.name == "uvicorn.access"])
    assert lines[0] == lines[1]
    assert lines[0][0] == f'- - "HEAD /v1/api/syncs/{SYNC_ID}?x=1 HTTP/1.1" 200'
