"""Issue 6, item 3: hostile path, query and header values never change the upstream path, query
or headers (D14, D15, D16). Extends the fixed cases of tests/integration/test_rest_polytomic.py with property
tests and the MCP side."""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

import httpx
import pytest
from hardening_support import raw_exchange, report
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polytomic_cases import CASES, SYNC_ID
from support import API_KEY

PROPERTY = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
DECLARED = [re.compile("^" + re.escape(c.upstream_path).replace(re.escape(SYNC_ID), "[^/?#]+") + "$") for c in CASES]
# "x" * 8000: long, yet within the 8 KiB request line limit of issue 10 (beyond it: 414, tests/integration/edge).
HOSTILE = [
    "..",
    "../admin",
    "a/b",
    "%2F",
    "?x=1",
    "#f",
    "a\r\nX-Evil: 1",
    "a\nb",
    "a\x00b",
    "x" * 8000,
    "../../../../etc/passwd",
    "%2e%2e",
    "a/../../b",
    "\\..\\admin",
    "?limit=1000&admin=true",
    " ",
    "\t",
]
path_values = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(min_size=1, max_size=200),
    st.text(alphabet="./%?#&=\\\r\n\x00 ab", min_size=1, max_size=30),
)
seen = {"rest path values": 0, "mcp path values": 0, "query values": 0}


def _baseline_headers(upstream) -> set[str]:
    return set(upstream.last.headers) - {"content-length"}


def _assert_one_segment(upstream, prefix: str, value: str) -> None:
    received = upstream.last
    raw = received.target.partition("?")[0]
    assert raw.startswith(prefix), raw
    segment = raw[len(prefix) :]
    assert "/" not in segment and "?" not in segment and "#" not in segment, segment
    assert unquote(segment) == value
    assert received.query == []
    assert received.headers["authorization"] == f"Bearer {API_KEY}"
    assert not any("evil" in k for k in received.headers)


@PROPERTY
@given(value=path_values)
def test_rest_path_values_stay_one_segment(polytomic, upstream, http, value):
    """D15: GET /v1/api/syncs/{id} reaches /api/syncs/<one segment>, or is refused before any call."""
    before = len(upstream.requests)
    encoded = quote(value, safe="").replace(".", "%2E")  # else the client itself removes dot segments
    response = http.get(polytomic.url(8080) + "/v1/api/syncs/" + encoded)
    seen["rest path values"] += 1
    if value in (".", ".."):
        assert response.status_code == 400 and len(upstream.requests) == before
        return
    assert response.status_code == 200, response.text
    _assert_one_segment(upstream, "/api/syncs/", value)
    assert set(upstream.last.headers) - {"content-length"} <= {
        "host",
        "user-agent",
        "authorization",
        "accept",
        "accept-encoding",
        "connection",
    }


@pytest.mark.parametrize(
    "raw",
    [
        "/v1/api/syncs/../admin",
        "/v1/api/syncs/..%2Fadmin",
        "/v1/api/syncs/a/b",
        "/v1/api/syncs/%2e%2e/%2e%2e/admin",
        "/v1/api/syncs/x%3Fy=1",
        "/v1/api/syncs//",
        "/v1/api/syncs/%23f",
        "/v1/api/syncs/a%0d%0aX-Evil:%201",
        "/v1/api/syncs/a%00",
    ],
)
def test_raw_targets_reach_only_declared_upstream_paths(polytomic, upstream, raw):
    """Whatever the raw request target, an upstream call (if any) is on a declared path."""
    before = len(upstream.requests)
    answer = raw_exchange(polytomic.offset + 8080, f"GET {raw} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode(), timeout=3)
    assert answer.status is not None and answer.status < 500
    for request in upstream.requests[before:]:
        assert any(p.match(request.path) for p in DECLARED), request.path
        assert request.query == [] and "x-evil" not in request.headers


@PROPERTY
@given(value=st.text(max_size=300))
def test_query_values_cannot_add_parameters(polytomic, upstream, http, value):
    """D14/D16: one query value stays one parameter, whatever it holds."""
    response = http.get(polytomic.url(8080) + "/v1/api/syncs", params={"mode": value})
    seen["query values"] += 1
    assert response.status_code == 200, response.text
    assert upstream.last.query == [("mode", value)]


@PROPERTY
@given(key=st.text(max_size=40), value=st.text(max_size=40))
def test_deep_object_keys_stay_under_their_parameter(polytomic, upstream, http, key, value):
    """D16: ``params[key]=value`` - a hostile key never escapes ``params[...]``."""
    before = len(upstream.requests)
    response = http.get(
        polytomic.url(8080) + f"/v1/api/connections/{SYNC_ID}/modelsync/source", params=[(f"params[{key}]", value)]
    )
    if response.status_code == 400:  # e.g. ``params[]``: not an object; refused before any call
        assert len(upstream.requests) == before
        return
    assert response.status_code == 200, response.text
    for name, _ in upstream.last.query:
        assert name.startswith("params["), name


def _tool(http: httpx.Client, polytomic, name: str, arguments: dict) -> dict:
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
    response = http.post(polytomic.url(9090) + "/mcp", json=message, headers=MCP_HEADERS)
    assert response.status_code == 200, response.text
    return response.json()["result"]


@pytest.mark.slow
@PROPERTY
@given(value=path_values)
def test_mcp_path_values_stay_one_segment(polytomic, upstream, http, value):
    before = len(upstream.requests)
    result = _tool(http, polytomic, "get-sync", {"id": value})
    seen["mcp path values"] += 1
    if value in (".", ".."):
        assert result["isError"] and len(upstream.requests) == before
        return
    assert not result.get("isError"), result
    _assert_one_segment(upstream, "/api/syncs/", value)


@pytest.mark.parametrize("value", ["2024\r\nX-Evil: 1", "2024\nX-Evil: 1", "2024\rX-Evil: 1", "a\x00b"])
def test_header_value_with_cr_lf_is_refused(polytomic, upstream, http, value):
    """D14: a header input with CR, LF or NUL is refused, nothing is sent; over HTTP the parser refuses it."""
    result = _tool(http, polytomic, "get-sync", {"id": "s-1", "X-Polytomic-Version": value})
    assert result["isError"] and "CR, LF or NUL" in result["content"][0]["text"]
    assert upstream.requests == []
    raw = f"GET /v1/api/syncs HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Polytomic-Version: {value}\r\n\r\n".encode()
    answer = raw_exchange(polytomic.offset + 8080, raw, timeout=3)
    assert answer.status is None or answer.status < 500
    assert not any("x-evil" in r.headers for r in upstream.requests)


def test_caller_cannot_replace_the_gateway_credential(polytomic, upstream, http):
    """D29/D33: an Authorization argument or header never replaces the configured key."""
    _tool(http, polytomic, "get-sync", {"id": "s-1", "Authorization": "Bearer attacker"})
    assert upstream.last.headers["authorization"] == f"Bearer {API_KEY}"
    http.get(polytomic.url(8080) + "/v1/api/syncs/s-1", headers={"Authorization": "Bearer attacker"})
    assert upstream.last.headers["authorization"] == f"Bearer {API_KEY}"


def test_zz_report():
    report("injection: values tried", dict(seen))
