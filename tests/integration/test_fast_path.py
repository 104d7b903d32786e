"""Issue 22 item 2, D160, D162, D163: the REST fast path answers with the very bytes the ASGI path does.

The Polytomic files are served twice against one recording upstream: once as shipped (plain REST
calls take the fast path) and once with the fast path turned off on every port (everything goes
through uvicorn's cycle and the ASGI app). The same raw requests, written on a socket, must read
back the same raw bytes: status line, headers in order, body, and where the connection closes
(each example pipelines a request, then a ``Connection: close`` one, and reads to the end). Only
``date`` may differ (uvicorn's clock ticks between the two). A control port beside them turns
telemetry on, so a request that brings a trace context runs in it, fast too (D163; the context
itself is held by tests/integration/test_trace_propagation.py).

The same holds with a rate limit on every port (D162), admitted and refused calls, identified by
API key or, without one, by address: the two gateways' limiters read one clock the test moves, so
their buckets go through the same states. With the buckets in a real ``redis-server`` (whose clock
the test cannot move) the bytes are equal but for the seconds to wait, and stay equal with the
store down (the limit fails open on both paths).
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polytomic_cases import CASES, SYNC_ID
from redis_support import needs_redis, redis_server
from support import API_KEY, CAPABILITIES, NAMESPACES, Gateway, running_gateway

from naftiko_runtime.serving.fast_path import FastLane
from naftiko_runtime.serving.rate_limits import RateLimitLayer
from naftiko_runtime.settings import RateLimit

REST = 8080
DATE = re.compile(rb"\r\ndate: [^\r]*")
CLIENT = re.compile(r"^127\.0\.0\.1:\d+")


LIMIT = RateLimit(requests=2, period=1, identity="api-key")


class Clock:
    """The limiters' clock in the in-process rate-limit property, moved by the test only."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


CONTROL = """\
naftiko: 1.0.0-alpha2
info: {label: Observed, description: A control port, which turns telemetry on for every port.}
capability:
  exposes:
  - type: control
    port: 7070
"""
"""Served beside the Polytomic files: with telemetry on, a request that brings a trace context runs
in it (D161, D163), on either path."""


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> list[Path]:
    control = tmp_path_factory.mktemp("observed") / "control.yaml"
    control.write_text(CONTROL)
    return [*CAPABILITIES, control]


def _gateway(upstream, files: list[Path], fast: bool, clock: Clock | None = None, **settings: Any) -> Iterator[Gateway]:
    """The files served against ``upstream``, with each port's fast lane or without; ``clock``: the
    limiters' clock, for a rate limit in ``settings``."""
    with running_gateway(
        files,
        {"POLYTOMIC_API_KEY": API_KEY},
        base_uris={ns: upstream.url for ns in NAMESPACES},
        read_timeout=2.0,
        total_timeout=3.0,
        **settings,
    ) as gateway:
        protocols = [server.config.http_protocol_class for server in gateway.runtime.servers]
        lanes = [protocol.fast for protocol in protocols if isinstance(protocol.fast, FastLane)]
        assert lanes, "no port of the Polytomic files has a fast path"
        assert all(lane.telemetry is gateway.runtime.telemetry is not None for lane in lanes)
        for lane in lanes if clock is not None else ():
            # The lane asks its port's rate-limit layer's own limiter: one set of buckets a port.
            assert isinstance(lane.guard.app, RateLimitLayer) and lane.guard.app.limiter is lane.limiter
            lane.limiter.clock = clock
        if not fast:
            for protocol in protocols:  # the port's own switch (a class attribute of ours), read per connection
                protocol.fast = None
        yield gateway


@pytest.fixture(scope="module")
def fast_gateway(upstream, files) -> Iterator[Gateway]:
    yield from _gateway(upstream, files, fast=True)


@pytest.fixture(scope="module")
def asgi_gateway(upstream, files) -> Iterator[Gateway]:
    yield from _gateway(upstream, files, fast=False)


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def limited_fast(upstream, files, clock) -> Iterator[Gateway]:
    yield from _gateway(upstream, files, True, clock, rate_limit=LIMIT)


@pytest.fixture(scope="module")
def limited_asgi(upstream, files, clock) -> Iterator[Gateway]:
    yield from _gateway(upstream, files, False, clock, rate_limit=LIMIT)


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
TRACEPARENT = b"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
HEADER_LINES = [
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
    TRACEPARENT,
    b"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
    b"traceparent: not-a-context",
    b"tracestate: vendor=abc",
    b"baggage: tenant=acme",
]
HEADERS = st.lists(st.sampled_from(HEADER_LINES), max_size=4)
KEYED_HEADERS = st.lists(
    st.sampled_from([*HEADER_LINES, b"X-Api-Key: one", b"X-Api-Key: two", b"Authorization: Bearer other"]),
    max_size=4,
)
"""Requests identified by an API key (two headers, three keys) or, without one, by their address."""


@st.composite
def requests(draw: st.DrawFn, headers: st.SearchStrategy[list[bytes]] = HEADERS) -> bytes:
    method = draw(st.sampled_from(["GET", "GET", "HEAD", "DELETE", "POST", "PUT", "PATCH", "OPTIONS"]))
    path = draw(st.sampled_from(PATHS))
    pairs = draw(QUERY)
    target = path + ("?" + "&".join(f"{k}={v}" for k, v in pairs) if pairs else "")
    host = draw(st.sampled_from([b"Host: 127.0.0.1", b"Host: localhost:1", b"Host: rebinding.example"]))
    version = draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0"]))
    lines = [method.encode() + b" " + target.encode() + b" " + version, host, *draw(headers)]
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
    traced = get.replace(b"\r\n\r\n", b"\r\n" + TRACEPARENT + b"\r\n\r\n")
    assert exchange(REST + fast_gateway.offset, traced).startswith(b"HTTP/1.1 200 OK\r\n")
    assert sum(lane.taken for lane in _lanes(fast_gateway)) == before + 2  # in its trace context (D163)
    with_body = b"POST /v1/api/syncs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}"
    exchange(REST + fast_gateway.offset, with_body)
    assert sum(lane.taken for lane in _lanes(fast_gateway)) == before + 2  # a body: the ASGI way
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


@settings(max_examples=120, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=requests(KEYED_HEADERS), wait=st.sampled_from([0.0, 0.0, 0.0, 0.3, 0.6, 2.0]))
def test_a_rate_limited_fast_answer_is_the_asgi_paths(limited_fast, limited_asgi, clock, request: bytes, wait: float):
    """D162: each gateway's limiter sees the same calls at the same (moved) time, so admitted and
    refused answers alike must be the same bytes, ``RateLimit-*`` and ``Retry-After`` included."""
    clock.now += wait
    fast = exchange(REST + limited_fast.offset, request)
    asgi = exchange(REST + limited_asgi.offset, request)
    assert fast == asgi


def test_rate_limited_calls_take_the_fast_path(limited_fast, clock):
    """Admitted and refused calls of a rate-limited port go fast, each counted in its own bucket."""
    clock.now += 100.0  # every bucket full again
    lanes = _lanes(limited_fast)
    get = f"GET /v1/api/syncs/{SYNC_ID} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: fast\r\n\r\n".encode()
    answers = []
    for _ in range(3):
        before = sum(lane.taken for lane in lanes)
        answers.append(exchange(REST + limited_fast.offset, get))
        assert sum(lane.taken for lane in lanes) == before + 1
    assert [answer[:12] for answer in answers] == [b"HTTP/1.1 200", b"HTTP/1.1 200", b"HTTP/1.1 429"]
    assert b"\r\nratelimit-remaining: 1\r\nratelimit-reset: 0\r\n" in answers[0]
    assert b"\r\nretry-after: 1\r\nratelimit-limit: 2\r\nratelimit-remaining: 0\r\n" in answers[2]
    # The closing GETs carry no key: their bucket is the address's, empty for the third.
    assert answers[1].count(b"HTTP/1.1 429") == 0 and answers[2].count(b"HTTP/1.1 429") == 2


WAIT = re.compile(rb"(ratelimit-reset: |retry-after: |retry after )\d+")


def _seconds_hidden(answer: bytes) -> bytes:
    return WAIT.sub(rb"\1-", answer)


@needs_redis
def test_fast_answers_with_the_buckets_in_a_store_are_the_asgi_paths(upstream, files, tmp_path):
    """D162 with ``--state``: the lane asks the same store as the layer does (each gateway its own
    database), and both fail open alike when the store is gone."""
    key = b"GET /v1/api/syncs HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: one\r\n\r\n"
    address = f"HEAD /v1/api/syncs/{SYNC_ID} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    limit = RateLimit(requests=3, period=3600, identity="api-key")
    served = contextlib.contextmanager(_gateway)
    with (
        redis_server(tmp_path) as store,
        served(upstream, files, True, rate_limit=limit, state=store.url) as fast,
        served(upstream, files, False, rate_limit=limit, state=store.url[:-1] + "1") as asgi,
    ):
        lanes = _lanes(fast)
        before = sum(lane.taken for lane in lanes)
        for request in (key, address, key, key, address, key):
            answers = [exchange(REST + gateway.offset, request) for gateway in (fast, asgi)]
            assert _seconds_hidden(answers[0]) == _seconds_hidden(answers[1]), request
        assert b"HTTP/1.1 429" in answers[0] and b"\r\nratelimit-limit: 3\r\n" in answers[0]
        assert sum(lane.taken for lane in lanes) == before + 6
        store.stop()
        for request in (key, address):
            answers = [exchange(REST + gateway.offset, request) for gateway in (fast, asgi)]
            assert answers[0] == answers[1], request
            assert answers[0].startswith(b"HTTP/1.1 200 OK\r\n") and b"ratelimit-" not in answers[0]
        assert sum(lane.taken for lane in lanes) == before + 8
