"""Issue 6, item 2: generated REST requests, malformed HTTP and malformed MCP messages against
the served Polytomic files: no 500, the server stays up, every refusal is a problem or a JSON-RPC
error (D53, D63)."""

from __future__ import annotations

import json
from collections import Counter
from urllib.parse import quote

import httpx
import pytest
from hardening_support import raw_exchange, report
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polytomic_cases import CASES, SYNC_ID

STATUSES: Counter = Counter()
FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}

segments = st.one_of(
    st.just(SYNC_ID),
    st.text(max_size=40).map(lambda s: quote(s, safe="")),
    st.text(alphabet="%./\\;:@!$&'()*+,=~-_abc", max_size=20),
    st.sampled_from(["..", ".", "%2e%2e", "%2F", "%00", "%ZZ", "%", "%c0%af", "a" * 5000]),
)
templates = st.sampled_from(sorted({c.rest_path.replace(SYNC_ID, "{id}") for c in CASES}) + ["/", "/v1", "/mcp"])
methods = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "PROPFIND"])
query_pairs = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "limit",
                "active",
                "mode",
                "params[a]",
                "params[a][b]",
                "params[]",
                "params",
                "refresh_schemas",
                "x",
                "page_token",
                "%zz",
            ]
        ),
        st.text(max_size=30),
    ),
    max_size=6,
)
header_values = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60).map(str.strip)
headers = st.dictionaries(
    st.sampled_from(
        [
            "X-Polytomic-Version",
            "Authorization",
            "Content-Type",
            "Cookie",
            "Accept",
            "X-Forwarded-For",
            "Content-Encoding",
            "Expect",
        ]
    ),
    header_values,
    max_size=4,
)
json_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20)
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=15,
)
bodies = st.one_of(
    st.none(),
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.sampled_from(
        [
            b"{",
            b"\xff\xfe{}",
            b'{"name": "\xed\xa0\x80"}',
            b"[" * 5000 + b"]" * 5000,
            b'{"body": ' * 300 + b"1" + b"}" * 300,
            b"[" * 300 + b"]" * 300,
            b"null",
            b"1e999999",
        ]
    ),
)


def _check(response: httpx.Response, upstream_before: int, upstream) -> None:
    STATUSES[response.status_code] += 1
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code >= 400 and len(upstream.requests) == upstream_before:
        assert response.headers.get("content-type") == "application/problem+json", response.headers
        if response.request.method != "HEAD":
            assert response.json()["status"] == response.status_code


@pytest.mark.slow
@FUZZ
@given(method=methods, template=templates, segment=segments, query=query_pairs, extra=headers, body=bodies)
def test_generated_rest_requests(polytomic, upstream, http, method, template, segment, query, extra, body):
    target = template.replace("{id}", segment)
    if query:
        target += "?" + "&".join(f"{quote(k, safe='[]%')}={quote(v, safe='')}" for k, v in query)
    before = len(upstream.requests)
    response = http.request(method, polytomic.url(8080) + target, headers=extra, content=body)
    _check(response, before, upstream)


def test_oversized_and_encoded_bodies(polytomic, upstream):
    """Beyond --max-body-size (10 MiB default) is 413; a gzip-declared body is not inflated."""
    url = polytomic.url(8080) + "/v1/api/syncs"
    with httpx.Client(timeout=30) as client:
        big = client.post(url, content=b"x" * (11 * 1024 * 1024), headers={"Content-Type": "application/json"})
        _check(big, len(upstream.requests), upstream)
        assert big.status_code == 413

        def streamed():
            for _ in range(12):
                yield b" " * (1024 * 1024)

        chunked = client.post(url, content=streamed())
        assert chunked.status_code == 413
        gz = client.post(
            url,
            content=b"\x1f\x8b\x08\x00garbage",
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )
        _check(gz, len(upstream.requests), upstream)
        assert gz.status_code == 400
    STATUSES[413] += 1
    STATUSES[gz.status_code] += 1


MALFORMED_HTTP = {
    "not http": b"HELLO\r\n\r\n",
    "bad method": b"G\x00ET /v1/api/syncs HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "bad version": b"GET /v1/api/syncs HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n",
    "no colon": b"GET /v1/api/syncs HTTP/1.1\r\nHost x\r\n\r\n",
    "nul in header": b"GET /v1/api/syncs HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Polytomic-Version: a\x00b\r\n\r\n",
    "bare CR in header": b"GET /v1/api/syncs HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Polytomic-Version: a\rInjected: 1\r\n\r\n",
    "obs-fold": b"GET /v1/api/syncs HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Polytomic-Version: a\r\n Injected: 1\r\n\r\n",
    "huge header": b"GET /v1/api/syncs HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: " + b"a" * 200_000 + b"\r\n\r\n",
    "many headers": b"GET /v1/api/syncs HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-A: 1\r\n" * 5000 + b"\r\n",
    "negative length": b"POST /v1/api/syncs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\n",
    "two lengths": b"POST /v1/api/syncs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\n{}",
    "length and chunked": (
        b"POST /v1/api/syncs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n\r\n"
    ),
    "bad chunk": b"POST /v1/api/syncs HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    "huge length": b"POST /v1/api/syncs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 99999999999999999999\r\n\r\n{}",
    "short body then close": b"POST /v1/api/syncs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{}",
    "absolute form": b"GET http://evil.example/v1/api/syncs HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "asterisk": b"OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "raw non-ascii path": b"GET /v1/api/syncs/\xff\xfe HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "raw dot segments": b"GET /v1/api/syncs/../../admin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "encoded nul": b"GET /v1/api/syncs/%00 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "long path": b"GET /v1/api/syncs/" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "HTTP/1.0 no host": b"GET /v1/api/syncs HTTP/1.0\r\n\r\n",
    "h2 preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "pipelined": b"GET /v1/api/syncs HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "expect continue": b"POST /v1/api/syncs HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}",
}


@pytest.mark.parametrize("name", MALFORMED_HTTP)
def test_malformed_http_over_raw_sockets(polytomic, upstream, name):
    """Requests the HTTP parser refuses get uvicorn's plain 400 (the runtime never sees them); the
    rest reach the runtime and get problems. Never a 5xx, never a dead server, never a smuggled call."""
    before = len(upstream.requests)
    answer = raw_exchange(polytomic.offset + 8080, MALFORMED_HTTP[name], timeout=1.5)
    STATUSES[answer.status or "closed"] += 1
    assert answer.status is None or answer.status < 500, (answer.status, answer.body[:200])
    if answer.status and answer.status >= 400 and answer.headers.get("content-type", "").startswith("application/"):
        assert answer.headers["content-type"] == "application/problem+json"
    assert not any(request.path.startswith("/admin") for request in upstream.requests[before:])
    alive = httpx.get(polytomic.url(8080) + "/v1/api/syncs", timeout=5)
    assert alive.status_code == 200


# --- MCP ------------------------------------------------------------------------------------------


def _call(name, arguments, id_=1):
    return {"jsonrpc": "2.0", "id": id_, "method": "tools/call", "params": {"name": name, "arguments": arguments}}


MALFORMED_MCP = [
    b"",
    b"{",
    b"null",
    b"[]",
    b"42",
    b'"text"',
    b"\xff\xfe",
    b"[" * 10000 + b"]" * 10000,
    json.dumps({"jsonrpc": "1.0", "id": 1, "method": "tools/list"}).encode(),
    json.dumps({"id": 1, "method": "tools/list"}).encode(),
    json.dumps({"jsonrpc": "2.0", "method": "tools/list"}).encode(),
    json.dumps({"jsonrpc": "2.0", "id": {"a": 1}, "method": "tools/list"}).encode(),
    json.dumps({"jsonrpc": "2.0", "id": [1], "method": "tools/list"}).encode(),
    json.dumps({"jsonrpc": "2.0", "id": 1.5, "method": "tools/list"}).encode(),
    json.dumps({"jsonrpc": "2.0", "id": "x" * 100000, "method": "tools/list"}).encode(),
    json.dumps({"jsonrpc": "2.0", "id": 1, "method": 7}).encode(),
    json.dumps({"jsonrpc": "2.0", "id": 1, "method": "no/such"}).encode(),
    json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": "x"}).encode(),
    json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": 5}}).encode(),
    json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"arguments": {}}}).encode(),
    json.dumps(_call("get-sync", [1, 2])).encode(),
    json.dumps(_call("get-sync", "id=1")).encode(),
    json.dumps(_call("get-sync", {"id": None})).encode(),
    json.dumps(_call("get-sync", {"id": {"nested": True}})).encode(),
    json.dumps(_call("get-sync", {"id": "x" * 2_000_000})).encode(),
    json.dumps(_call("list-syncs", {"limit": "ten", "active": "maybe"})).encode(),
    json.dumps(_call("create-sync", {"body": [[[[[]]]]] * 1000})).encode(),
    b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "create-sync", "arguments": {"body": '
    + b"[" * 300
    + b"]" * 300
    + b"}}}",
    json.dumps(_call("create-sync", {"body": "x" * 9_000_000})).encode(),
    json.dumps(_call("get-sync-source", {"id": "a", "params": "not-an-object"})).encode(),
    json.dumps(_call("no-such-tool", {})).encode(),
    json.dumps([_call("get-sync", {"id": "a"}, 1), _call("get-sync", {"id": "b"}, 2)]).encode(),
    json.dumps([{"jsonrpc": "2.0", "method": "notifications/initialized"}]).encode(),
    json.dumps({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}}).encode(),
    json.dumps({"jsonrpc": "2.0", "id": 1, "result": {}}).encode(),
    json.dumps({"jsonrpc": "2.0", "id": 1, "error": {"code": 1, "message": "x"}}).encode(),
    json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": 5}}).encode(),
    json.dumps(_call("get-sync", {"id": "a"})).encode()[:-3],
]


def _check_mcp(response: httpx.Response) -> str:
    STATUSES[f"mcp {response.status_code}"] += 1
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code in (202, 204) or not response.content:
        return "empty"
    document = response.json()
    messages = document if isinstance(document, list) else [document]
    kinds = []
    for message in messages:
        assert message.get("jsonrpc") == "2.0", message
        if "error" in message:
            assert isinstance(message["error"]["code"], int) and message["error"]["message"]
            kinds.append("error")
        else:
            assert "result" in message, message
            kinds.append("isError" if message["result"].get("isError") else "result")
    return ",".join(kinds)


@pytest.mark.parametrize("index", range(len(MALFORMED_MCP)))
def test_malformed_mcp_messages(polytomic, index):
    with httpx.Client(timeout=30) as client:
        response = client.post(polytomic.url(9090) + "/mcp", content=MALFORMED_MCP[index], headers=MCP_HEADERS)
        kind = _check_mcp(response)
        STATUSES[f"mcp outcome {kind}"] += 1
        assert (
            client.post(
                polytomic.url(9090) + "/mcp",
                json={"jsonrpc": "2.0", "id": 9, "method": "tools/list"},
                headers=MCP_HEADERS,
            ).status_code
            == 200
        )


TOOLS = sorted({c.tool for c in CASES})


@FUZZ
@given(
    tool=st.one_of(st.sampled_from(TOOLS), st.text(max_size=20)),
    arguments=st.one_of(
        json_values,
        st.dictionaries(
            st.sampled_from(["id", "limit", "active", "body", "params", "X-Polytomic-Version", "Authorization"]),
            json_values,
            max_size=4,
        ),
    ),
    id_=st.one_of(st.integers(), st.text(max_size=10), st.none()),
    accept=st.sampled_from([MCP_HEADERS["Accept"], "application/json", "text/html", ""]),
)
def test_generated_mcp_calls(polytomic, upstream, http, tool, arguments, id_, accept):
    message = {"jsonrpc": "2.0", "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
    if id_ is not None:
        message["id"] = id_
    headers = {**MCP_HEADERS, "Accept": accept}
    _check_mcp(http.post(polytomic.url(9090) + "/mcp", json=message, headers=headers))


def test_zz_report_counts():
    total = sum(n for k, n in STATUSES.items() if not str(k).startswith("mcp outcome"))
    report("request fuzzing: requests sent", total)
    report("request fuzzing: answers by status", dict(sorted(STATUSES.items(), key=str)))
    assert not any(isinstance(k, int) and k >= 500 for k in STATUSES)
