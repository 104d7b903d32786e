"""Issue 3: the MCP adapter through the `mcp` package's own client, over real HTTP on loopback."""

from __future__ import annotations

import json

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from polytomic_cases import CASES, SYNC_ID, Case
from support import API_KEY, Canned
from test_rest_polytomic import rest_request


@pytest.fixture
def mcp_url(polytomic) -> str:
    return polytomic.url(9090) + "/mcp"


async def list_tools(url: str) -> dict:
    async with Client(url) as client:
        return {tool.name: tool for tool in (await client.list_tools()).tools}


async def call(url: str, name: str, arguments: dict):
    async with Client(url) as client:
        return await client.call_tool(name, arguments)


async def test_tools_list_has_23_precise_tools(mcp_url):
    """D28, D29, D62: schemas from the consumed parameters, no credential, hints as annotations."""
    tools = await list_tools(mcp_url)
    assert len(tools) == 23
    get_sync = tools["get-sync"].input_schema
    assert get_sync["required"] == ["id"]
    assert get_sync["properties"]["id"]["type"] == "string"
    list_syncs = tools["list-syncs"].input_schema
    assert list_syncs["properties"]["limit"]["type"] == "integer"
    assert "Maximum number" in list_syncs["properties"]["limit"]["description"]
    assert "required" not in list_syncs
    for tool in tools.values():
        assert "Authorization" not in tool.input_schema["properties"], tool.name
        assert tool.output_schema == {"type": "object"}
    delete = tools["delete-model-sync"].annotations
    assert delete.destructive_hint is True and delete.idempotent_hint is True
    assert tools["get-sync-status"].annotations.read_only_hint is True
    assert tools["get-sync-source"].input_schema["properties"]["params"]["type"] == "object"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.tool)
async def test_tool_call_sends_what_rest_sends(polytomic, upstream, mcp_url, case: Case):
    """One table, two adapters: the upstream receives the same request (issue 3, acceptance 2)."""
    rest = rest_request(polytomic, case)
    assert rest.status_code == 200
    via_rest = upstream.last
    upstream.requests.clear()
    result = await call(mcp_url, case.tool, dict(case.arguments, **{"X-Polytomic-Version": "2024-02-08"}))
    assert result.is_error is False, result.content
    via_mcp = upstream.last
    assert (via_mcp.method, via_mcp.target, via_mcp.body) == (via_rest.method, via_rest.target, via_rest.body)
    for header in ("authorization", "x-polytomic-version", "content-type"):
        assert via_mcp.headers.get(header) == via_rest.headers.get(header), header
    assert via_mcp.headers["authorization"] == f"Bearer {API_KEY}"
    upstream_json = json.loads(upstream.responder(via_mcp).body)
    assert result.structured_content == upstream_json
    assert json.loads(result.content[0].text) == upstream_json


@pytest.mark.parametrize("arguments", [{}, {"id": 42}])
async def test_bad_arguments_are_an_error_result_naming_id(upstream, mcp_url, arguments):
    """D28: validated before any upstream call; the agent learns what to fix."""
    result = await call(mcp_url, "get-sync", arguments)
    assert result.is_error is True
    assert "id" in result.content[0].text
    assert upstream.requests == []


async def test_unknown_tool_is_invalid_params(mcp_url):
    """D63: JSON-RPC -32602, not a tool result."""
    async with Client(mcp_url) as client:
        with pytest.raises(MCPError) as raised:
            await client.call_tool("no-such-tool", {})
    assert raised.value.error.code == -32602


async def test_upstream_404_is_an_error_result_with_status_and_body(upstream, mcp_url):
    upstream.reset(lambda request: Canned(404, b'{"message":"sync not found"}'))
    result = await call(mcp_url, "get-sync", {"id": SYNC_ID})
    assert result.is_error is True
    assert "404" in result.content[0].text and "sync not found" in result.content[0].text


async def test_echoed_secret_never_reaches_the_agent(upstream, mcp_url):
    """D55: an upstream that echoes the key back does not leak it through a tool result."""
    upstream.reset(lambda request: Canned(200, json.dumps({"token": request.headers["authorization"]}).encode()))
    result = await call(mcp_url, "get-sync", {"id": SYNC_ID})
    assert API_KEY not in result.content[0].text
    assert API_KEY not in json.dumps(result.structured_content)


async def test_per_namespace_endpoint_lists_only_its_tools(polytomic):
    """D60: /mcp/<namespace> serves one adapter alone, named after it (D61)."""
    tools = await list_tools(polytomic.url(9090) + "/mcp/polytomic-subpackage-bulksync-mcp")
    assert len(tools) == 11 and "list-bulk-syncs" in tools and "list-syncs" not in tools
