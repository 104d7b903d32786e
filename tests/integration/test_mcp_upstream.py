"""Issue 21 item 8: a consumed ``type: mcp`` namespace (D113). A real upstream MCP server (the ``mcp``
package's own ``MCPServer``, over Streamable HTTP on loopback) whose tools are re-exposed renamed and
composed, called with the ``mcp`` client over our MCP adapter and with httpx over our REST adapter."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from starlette.types import ASGIApp, Receive, Scope, Send
from support import running_gateway

from naftiko_runtime import Settings, load
from naftiko_runtime.serving.catalog import route_rows

TOKEN = "upstream-mcp-token-42"
CAPABILITY = """
naftiko: 1.0.0-alpha2
info: {{label: Weather, description: An upstream MCP server re-exposed.}}
binds:
- namespace: secrets
  location: file:///./secrets.json
  keys: {{TOKEN: token}}
capability:
  consumes:
  - type: mcp
    namespace: weather
    baseUri: {upstream}
    authentication: {{type: bearer, token: "{{{{TOKEN}}}}"}}
  exposes:
  - type: mcp
    namespace: meteo
    port: 9510
    tools:
    - name: city-forecast
      description: The forecast of a town (upstream tool forecast, renamed).
      inputParameters: [{{name: town, type: string, required: true}}]
      call: weather.forecast
      with: {{city: "{{{{town}}}}"}}
    - name: briefing
      description: The forecast and the alerts of a town's region (two upstream tools).
      inputParameters: [{{name: town, type: string, required: true}}]
      steps:
      - {{name: now, type: call, call: weather.forecast, with: {{city: "{{{{town}}}}"}}}}
      - {{name: warn, type: call, call: weather.alerts, with: {{region: $.now.region}}}}
      mappings: [{{targetName: temperature, value: $.now.temp}}, {{targetName: alerts, value: $.warn.result}}]
    - {{name: broken, description: Fails upstream., call: weather.explode}}
  - type: rest
    namespace: meteo-rest
    port: 9511
    resources:
    - path: "/briefings/{{town}}"
      operations:
      - method: GET
        steps:
        - {{name: now, type: call, call: weather.forecast, with: {{city: "{{{{town}}}}"}}}}
        - {{name: warn, type: call, call: weather.alerts, with: {{region: $.now.region}}}}
        mappings: [{{targetName: temperature, value: $.now.temp}}, {{targetName: alerts, value: $.warn.result}}]
    - path: /broken
      operations:
      - {{method: GET, call: weather.explode}}
    - path: /ghost
      operations:
      - {{method: GET, call: weather.no-such-tool}}
"""


def weather_server() -> MCPServer:
    server: MCPServer = MCPServer("weather-upstream")

    @server.tool()
    def forecast(city: str) -> dict[str, Any]:
        """The forecast of a city."""
        return {"city": city, "temp": 21.5, "region": f"{city}-region"}

    @server.tool()
    def alerts(region: str) -> list[str]:
        """The alerts of a region."""
        return [f"wind in {region}"]

    @server.tool()
    def explode() -> str:
        """Always fails, naming the token it was given."""
        raise ToolError(f"upstream broke (saw {TOKEN})")

    return server


class Recording:
    """Every Authorization header the upstream MCP server received."""

    def __init__(self, app: ASGIApp):
        self.app, self.authorizations = app, []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            self.authorizations.append(headers.get(b"authorization", b"").decode())
        await self.app(scope, receive, send)


@contextmanager
def upstream_mcp() -> Iterator[tuple[str, Recording]]:
    """The upstream MCP server on a free loopback port, in a thread of its own."""
    recording = Recording(weather_server().streamable_http_app())
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(recording, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "the upstream MCP server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/mcp", recording
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def write(tmp_path: Path, upstream: str) -> Path:
    (tmp_path / "secrets.json").write_text(json.dumps({"token": TOKEN}))
    path = tmp_path / "weather.yml"
    path.write_text(CAPABILITY.format(upstream=upstream))
    return path


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_renamed_and_composed_tools_over_mcp(tmp_path, mode):
    with upstream_mcp() as (url, recording), running_gateway([write(tmp_path, url)]) as gateway:
        async with Client(gateway.url(9510) + "/mcp", mode=mode) as client:
            names = [tool.name for tool in (await client.list_tools()).tools]
            assert names == ["briefing", "broken", "city-forecast"]
            renamed = await client.call_tool("city-forecast", {"town": "Lyon"})
            assert not renamed.is_error
            assert renamed.structured_content == {"city": "Lyon", "temp": 21.5, "region": "Lyon-region"}
            composed = await client.call_tool("briefing", {"town": "Nice"})
            assert composed.structured_content == {"temperature": 21.5, "alerts": ["wind in Nice-region"]}
            broken = await client.call_tool("broken", {})
            assert broken.is_error and "upstream broke" in broken.content[0].text
            assert TOKEN not in broken.content[0].text, "the gateway's secret is redacted from the tool's error"
        assert set(recording.authorizations) == {f"Bearer {TOKEN}"}, "every upstream request carried the bind's token"


async def test_composed_tool_over_rest_and_errors_as_problems(tmp_path):
    with upstream_mcp() as (url, recording), running_gateway([write(tmp_path, url)]) as gateway:
        async with httpx.AsyncClient(base_url=gateway.url(9511)) as http:
            answer = await http.get("/briefings/Oslo")
            assert answer.status_code == 200
            assert answer.json() == {"temperature": 21.5, "alerts": ["wind in Oslo-region"]}
            connections = len(recording.authorizations)
            assert (await http.get("/briefings/Rome")).status_code == 200
            assert len(recording.authorizations) - connections == 2, "the pooled session: one request per tool call"
            broken = await http.get("/broken")
            assert broken.status_code == 502 and broken.headers["content-type"] == "application/problem+json"
            problem = broken.json()
            assert "upstream broke" in problem["detail"] and TOKEN not in broken.text
            ghost = await http.get("/ghost")
            assert ghost.status_code == 502 and "Unknown tool: no-such-tool" in ghost.json()["detail"]


async def test_an_unreachable_upstream_mcp_server_is_a_clear_error(tmp_path):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
    sock.close()  # nothing listens there
    with running_gateway([write(tmp_path, url)]) as gateway:
        async with httpx.AsyncClient(base_url=gateway.url(9511)) as http:
            answer = await http.get("/briefings/Oslo")
        assert answer.status_code == 502
        assert f"upstream MCP server 'weather' at {url} is unreachable" in answer.json()["detail"]
        async with Client(gateway.url(9510) + "/mcp") as client:
            result = await client.call_tool("city-forecast", {"town": "Oslo"})
        assert result.is_error and "unreachable" in result.content[0].text


def test_type_mcp_is_an_extension_strict_refuses(tmp_path):
    path = write(tmp_path, "http://127.0.0.1:9/mcp")
    warned = [str(d) for d in load([path], Settings(), {}).diagnostics if "type: mcp" in str(d)]
    assert len(warned) == 1 and "weather.yml:10:5" in warned[0], warned
    assert load([path], Settings(strict=True), {}).rejected


def test_credentials_an_mcp_client_cannot_send_are_refused_at_load(tmp_path):
    path = write(tmp_path, "http://127.0.0.1:9/mcp")
    path.write_text(
        path.read_text().replace('{type: bearer, token: "{{TOKEN}}"}', "{type: digest, username: u, password: p}")
    )
    loaded = load([path], Settings(), {})
    errors = [str(d) for d in loaded.diagnostics if "digest" in str(d)]
    assert loaded.rejected and len(errors) == 1 and "weather.yml:13:5" in errors[0], errors


def test_routes_name_the_upstream_tools(tmp_path):
    url = "http://127.0.0.1:9/mcp"
    loaded = load([write(tmp_path, url)], Settings(), {})
    rows = [row for row in route_rows(loaded.listeners) if "briefing" in row]
    assert len(rows) == 2, "the MCP tool and the REST route"
    assert all(f"weather.forecast  MCP tool at {url}; weather.alerts  MCP tool at {url}" in row for row in rows)


@pytest.mark.parametrize("dialect", ["alpha2", "beta4"])
def test_type_mcp_and_icons_are_in_every_dialects_shape_table(dialect):
    """D111/D113 in the one shape table: a ``type: mcp`` entry (no resources) and
    ``x-naftiko-icons`` pass both dialects' checks; the entry's fields are still checked."""
    from naftiko_runtime.spec.profiles import PROFILES
    from naftiko_runtime.spec.schema import check_shape

    icons = {"x-naftiko-icons": [{"src": "https://example.com/i.png"}]}
    tool = {"description": "d", "call": "up.echo", **icons}
    if dialect == "alpha2":
        root, info, tools = {"naftiko": "1.0.0-alpha2"}, {"label": "x"}, [{"name": "t", **tool}]
    else:
        root, info, tools = {"ikanos": "1.0.0-beta4"}, {"display": "x"}, {"t": tool}
    consumed = {"namespace": "up", "type": "mcp", "baseUri": "http://127.0.0.1:1/mcp"}
    document = {
        **root,
        "info": {**info, "description": "d", **icons},
        "capability": {
            "consumes": [consumed],
            "exposes": [{"type": "mcp", "namespace": "m", "port": 3000, "tools": tools}],
        },
    }
    profile = PROFILES["naftiko" if dialect == "alpha2" else "ikanos"]
    assert check_shape(document, profile) == []
    consumed["baseUri"] = "ftp://elsewhere"
    assert [f.path for f in check_shape(document, profile)] == [("capability", "consumes", 0, "baseUri")]
