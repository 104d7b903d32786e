"""Issue 22 item 2 (D141): a stateless ``tools/call`` answered by ``adapters/mcp/stateless_call.py``
is the answer the ``mcp`` package's own path gives, byte for byte.

Two gateways serve the same file against the same real upstream on loopback, one with
``[mcp] short_path`` on (the default) and one with it off; every request goes to both over HTTP
and the answers must be the same: status, content type and body. Requests the short path leaves to
the package (other methods, batches, bad JSON, bad params, unknown tools, the 2026-07-28 era, bad
headers, bodies over the limit) must come back the same too, their bodies replayed intact.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS
from support import Canned, Recorded, RecordingUpstream, echo, running_gateway
from test_mcp_next import CAPABILITY, DELETE, ICON

from naftiko_runtime.settings import McpPolicy

READ_TOOL = """    - name: get-order
      description: One order.
      call: shop.get-order
      inputParameters: [{name: id, type: string, required: true}]
      with: {id: orders.id}
"""
"""Beside ``test_mcp_next``'s destructive ``delete-order``, in its capability."""
TOOLS = ("get-order", "delete-order")
JSON_IN = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
MAX_BODY = 4096


RICH = (
    '{"name": "Zo\u00eb \u2713 \\"q\\"", "none": null, "half": 1.5, "big": 123456789012345678901234567890,'
    ' "exact": 0.1000000000000000055511151231257827, "list": [1, "a", {"deep": [true, -0.0, 1e300]}]}'
).encode()
"""Numbers a double cannot hold, non-ASCII text, nulls and nesting: the structured value's hard cases."""


def answering(request: Recorded) -> Canned:
    """Order ids starting with ``fail`` fail upstream (the tool's isError result), ``rich`` ones
    answer ``RICH``; the others echo."""
    if "/orders/fail" in request.path:
        return Canned(503, b'{"error":"down"}')
    if "/orders/rich" in request.path:
        return Canned(200, RICH)
    return echo(request)


@pytest.fixture(scope="module")
def pair(upstream: RecordingUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The ``/mcp`` URLs of the short-path gateway and of the package-only gateway."""
    path: Path = tmp_path_factory.mktemp("short") / "orders.yml"
    path.write_text(CAPABILITY.format(icon=ICON, upstream=upstream.url, tools=READ_TOOL + DELETE))
    short = McpPolicy(confirm_destructive=True)
    package = McpPolicy(confirm_destructive=True, short_path=False)
    with (
        running_gateway([path], max_request_body=MAX_BODY, mcp=short) as fast,
        running_gateway([path], max_request_body=MAX_BODY, mcp=package) as slow,
    ):
        yield fast.url(9410) + "/mcp", slow.url(9410) + "/mcp"


def both(
    http: httpx.Client, pair: tuple[str, str], content: bytes, headers: dict[str, str]
) -> tuple[httpx.Response, httpx.Response]:
    return tuple(http.post(url, content=content, headers=headers) for url in pair)  # type: ignore[return-value]


def assert_same(fast: httpx.Response, slow: httpx.Response) -> None:
    assert (fast.status_code, fast.headers.get("content-type")) == (slow.status_code, slow.headers.get("content-type"))
    assert fast.content == slow.content, (fast.content[:400], slow.content[:400])


arguments = st.one_of(
    st.none(),
    st.fixed_dictionaries({"id": st.one_of(st.sampled_from(["o-1", "fail-2", "rich-3", "ü ñ/?&"]), st.integers())}),
    st.dictionaries(st.sampled_from(["id", "extra", "_x"]), st.one_of(st.text(max_size=8), st.integers(), st.none())),
)
calls = st.fixed_dictionaries(
    {
        "jsonrpc": st.sampled_from(["2.0", "2.0", "2.0", "1.0"]),
        "id": st.one_of(st.integers(-(2**40), 2**40), st.text(max_size=6), st.none(), st.booleans()),
        "method": st.sampled_from(["tools/call", "tools/call", "tools/call", "tools/list", "ping"]),
        "params": st.one_of(
            st.fixed_dictionaries(
                {"name": st.sampled_from([*TOOLS, "nope"])},
                optional={"arguments": arguments, "_meta": st.just({"progressToken": 7})},
            ),
            st.none(),
            st.just({"arguments": {}}),
        ),
    }
)
bodies = st.one_of(
    calls.map(lambda call: json.dumps({k: v for k, v in call.items() if v is not None}).encode()),
    calls.map(lambda call: json.dumps([call]).encode()),
    st.sampled_from([b"", b"{", b"[]", b"null", b'{"jsonrpc":"2.0","method":"tools/call"}', b"x" * (MAX_BODY + 1)]),
)
versions = st.sampled_from([None, *HANDSHAKE_PROTOCOL_VERSIONS, *MODERN_PROTOCOL_VERSIONS, "1999-01-01"])
accepts = st.sampled_from(["application/json, text/event-stream", "application/json", "*/*", "text/html", None])
content_types = st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain"])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, version=versions, accept=accepts, content_type=content_types)
def test_every_request_gets_the_packages_answer(
    pair: tuple[str, str],
    upstream: RecordingUpstream,
    http: httpx.Client,
    body: bytes,
    version: str | None,
    accept: str | None,
    content_type: str,
) -> None:
    upstream.responder = answering
    headers = {"Content-Type": content_type}
    if accept is not None:
        headers["Accept"] = accept
    if version is not None:
        headers["Mcp-Protocol-Version"] = version
    assert_same(*both(http, pair, body, headers))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    request_id=st.one_of(st.integers(-(2**53), 2**53), st.text(max_size=12)),
    version=st.sampled_from([None, *HANDSHAKE_PROTOCOL_VERSIONS]),
    name=st.sampled_from(TOOLS),
    arguments=arguments,
    meta=st.sampled_from([None, {"progressToken": "p-1"}, {"progressToken": 3}]),
)
def test_calls_the_short_path_takes_get_the_packages_answer(
    pair: tuple[str, str],
    upstream: RecordingUpstream,
    http: httpx.Client,
    request_id: int | str,
    version: str | None,
    name: str,
    arguments: dict[str, Any] | None,
    meta: dict[str, Any] | None,
) -> None:
    """Well-formed calls with headers the short path takes (most of them: the rest are the
    package's to refuse), over every handshake-era version, tool, argument shape and id."""
    upstream.responder = answering
    params: dict[str, Any] = {"name": name}
    if arguments is not None:
        params["arguments"] = arguments
    if meta is not None:
        params["_meta"] = meta
    headers = dict(JSON_IN) if version is None else {**JSON_IN, "Mcp-Protocol-Version": version}
    call = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}
    fast, slow = both(http, pair, json.dumps(call).encode(), headers)
    assert_same(fast, slow)
    assert fast.status_code == 200 and fast.json()["id"] == request_id


def test_the_common_call_and_its_failures(
    pair: tuple[str, str], upstream: RecordingUpstream, http: httpx.Client
) -> None:
    """The benchmark's request, a failing upstream, a destructive tool refused at a handshake-era
    version and bad arguments: each the package's answer, and each a JSON-RPC result."""
    upstream.responder = answering
    cases: list[dict[str, Any]] = [
        {"name": "get-order", "arguments": {"id": "o-1"}},
        {"name": "get-order", "arguments": {"id": "fail-1"}},
        {"name": "get-order", "arguments": {"id": "rich-1"}},
        {"name": "delete-order", "arguments": {"id": "o-1"}},
        {"name": "get-order", "arguments": {}},
    ]
    for number, params in enumerate(cases):
        call = {"jsonrpc": "2.0", "id": number, "method": "tools/call", "params": params}
        fast, slow = both(http, pair, json.dumps(call).encode(), JSON_IN)
        assert_same(fast, slow)
        answer = fast.json()
        assert answer["id"] == number and answer["result"]["isError"] is (number not in (0, 2)), answer
    assert sum(1 for r in upstream.requests if r.method == "DELETE") == 0, "refused: nothing was run"


@pytest.mark.parametrize("padding", [0, MAX_BODY], ids=["small", "over-the-limit"])
def test_a_chunked_body_is_read_whole(pair: tuple[str, str], http: httpx.Client, padding: int) -> None:
    """A body in several pieces (no Content-Length) is assembled before it is judged; one that
    grows past the limit is the package's 413, whichever piece crosses it."""
    params = {"name": "get-order", "arguments": {"pad": "x" * padding}}
    call = json.dumps({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": params}).encode()

    def pieces() -> Iterator[bytes]:
        yield from (call[i : i + 7] for i in range(0, len(call), 7))

    fast = http.post(pair[0], content=pieces(), headers=JSON_IN)
    slow = http.post(pair[1], content=pieces(), headers=JSON_IN)
    assert_same(fast, slow)
    if padding:
        assert fast.status_code == 413
    else:
        assert fast.json()["result"]["isError"] is True and "id" in fast.json()["result"]["content"][0]["text"]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_the_mcp_client_works_through_the_short_path(pair: tuple[str, str], mode: str) -> None:
    """The ``mcp`` package's client at 2025-11-25 (its header sends every call the short way) and
    at 2026-07-28 (the package's way): the same results."""
    async with Client(pair[0], mode=mode, cache=None) as client:
        ok = await client.call_tool("get-order", {"id": "o-7"})
        assert not ok.is_error and ok.structured_content is not None
        assert ok.structured_content["data"]["path"] == "/orders/o-7"
        with pytest.raises(Exception, match="nope"):
            await client.call_tool("nope", {})
