"""Issue 3: the same tools over stdio (D64), and MCP adapters sharing a port (D31, D32, D60, D61)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from mcp import Client, StdioServerParameters
from polytomic_cases import CASES
from support import API_KEY, CAPABILITIES, ROOT, running_gateway

NAMESPACES = ("polytomic-subpackage-modelsync", "polytomic-subpackage-bulksync")


def stdio_command(upstream_url: str) -> list[str]:
    base_uris = [arg for ns in NAMESPACES for arg in ("--base-uri", f"{ns}={upstream_url}")]
    return [sys.executable, "-m", "naftiko_runtime", "serve", "--stdio", *base_uris, *map(str, CAPABILITIES)]


def stdio_env() -> dict[str, str]:
    return dict(os.environ, POLYTOMIC_API_KEY=API_KEY)


async def test_stdio_gives_the_same_results(upstream):
    command = stdio_command(upstream.url)
    server = StdioServerParameters(command=command[0], args=command[1:], env=stdio_env(), cwd=str(ROOT))
    async with Client(server) as client:
        tools = (await client.list_tools()).tools
        assert len(tools) == 23
        for case in CASES[:6]:
            upstream.requests.clear()
            result = await client.call_tool(case.tool, case.arguments)
            assert result.is_error is False, result.content
            assert upstream.last.path == case.upstream_path
            assert result.structured_content == json.loads(result.content[0].text)
        bad = await client.call_tool("get-sync", {"id": 42})
        assert bad.is_error is True


def test_stdio_stdout_carries_only_json_rpc(upstream):
    """D64: every stdout line is a JSON-RPC message; logs and warnings go to stderr."""
    messages = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "get-sync", "arguments": {"id": "x"}}},
    ]
    env = {k: v for k, v in stdio_env().items() if k != "POLYTOMIC_API_KEY"}  # unset key: a warning on stderr
    process = subprocess.Popen(
        stdio_command(upstream.url),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write("".join(json.dumps(m) + "\n" for m in messages))
    process.stdin.flush()
    # stdin stays open until the three answers are in: its end is the client's shutdown, which
    # cancels a call still running (the mcp package's stdio loop), as a loaded machine showed.
    replies = []
    while {reply.get("id") for reply in replies} < {1, 2, 3}:
        line = process.stdout.readline()
        assert line, f"stdout ended before the answers: {replies}"
        replies.append(json.loads(line))
    rest, stderr = process.communicate(timeout=60)
    replies += [json.loads(line) for line in rest.splitlines() if line.strip()]
    assert all(reply.get("jsonrpc") == "2.0" for reply in replies)
    assert "POLYTOMIC_API_KEY" in stderr, "the unset-variable warning went to stderr"


def _mcp_only_capability(path: Path, namespace: str, tool: str, upstream_url: str) -> Path:
    path.write_text(f"""
naftiko: 1.0.0-alpha2
info: {{label: {namespace}}}
capability:
  consumes:
  - type: http
    namespace: {namespace}-api
    baseUri: {upstream_url}
    resources:
    - name: things
      path: /{namespace}/things
      operations:
      - name: list
        method: GET
  exposes:
  - type: mcp
    namespace: {namespace}
    description: Tools of {namespace}.
    port: 9300
    tools:
    - name: {tool}
      description: List {namespace} things.
      call: {namespace}-api.list
      outputParameters:
      - type: object
        mapping: $.
  - type: rest
    namespace: {namespace}-rest
    port: 9300
    resources:
    - path: /{namespace}/things
      operations:
      - method: GET
        call: {namespace}-api.list
""")
    return path


async def test_two_adapters_share_one_port(tmp_path, upstream):
    """D31: /mcp lists both sets, /mcp/<ns> only its own; REST on the same port still works."""
    files = [
        _mcp_only_capability(tmp_path / "a.yml", "alpha", "list-alpha", upstream.url),
        _mcp_only_capability(tmp_path / "b.yml", "beta", "list-beta", upstream.url),
    ]
    with running_gateway(files) as gateway:
        base = gateway.url(9300)
        async with Client(base + "/mcp") as client:
            assert {t.name for t in (await client.list_tools()).tools} == {"list-alpha", "list-beta"}
            assert client.server_info.name == "naftiko"
        async with Client(base + "/mcp/beta") as client:
            assert {t.name for t in (await client.list_tools()).tools} == {"list-beta"}
            assert client.server_info.name == "beta"
            assert client.instructions == "Tools of beta."
        assert httpx.get(base + "/alpha/things").status_code == 200
        assert upstream.last.path == "/alpha/things"
        assert httpx.get(base + "/mcp").status_code == 405, "stateless: no never-ending GET stream"


def test_duplicate_tool_names_on_one_endpoint_name_both_files(tmp_path, upstream):
    """D32: the same tool name twice on one MCP endpoint is a load error naming both files."""
    first = _mcp_only_capability(tmp_path / "a.yml", "alpha", "list-things", upstream.url)
    second = _mcp_only_capability(tmp_path / "b.yml", "beta", "list-things", upstream.url)
    done = subprocess.run(
        [sys.executable, "-m", "naftiko_runtime", "validate", str(first), str(second)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    [line] = [line for line in done.stdout.splitlines() if "list-things" in line]
    assert line.startswith(str(second)) and str(first) in line


@pytest.mark.parametrize("path", ["/mcp", "/mcp/anything"])
def test_rest_path_under_mcp_collides(tmp_path, upstream, path):
    capability = _mcp_only_capability(tmp_path / "a.yml", "alpha", "list-alpha", upstream.url)
    capability.write_text(capability.read_text().replace("- path: /alpha/things", f"- path: {path}"))
    done = subprocess.run(
        [sys.executable, "-m", "naftiko_runtime", "validate", str(capability)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "collides with the MCP endpoint" in done.stdout


def _initialize(url: str, **headers: str) -> httpx.Response:
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    return httpx.post(
        url,
        json=message,
        headers={"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18", **headers},
    )


def test_loopback_endpoint_refuses_rebound_hosts(polytomic):
    """A page on another site cannot reach a loopback MCP endpoint through DNS rebinding."""
    url = polytomic.url(9090) + "/mcp"
    assert _initialize(url).status_code == 200
    assert _initialize(url, Host="attacker.example").status_code == 421
    assert _initialize(url, Origin="http://attacker.example").status_code == 403


def test_tool_names_stay_within_64_characters(tmp_path, upstream):
    capability = _mcp_only_capability(tmp_path / "a.yml", "alpha", "t" * 65, upstream.url)
    done = subprocess.run(
        [sys.executable, "-m", "naftiko_runtime", "validate", str(capability)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "64" in done.stdout and ":21:7:" in done.stdout
