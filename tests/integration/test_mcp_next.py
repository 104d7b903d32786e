"""Issue 21 item 7: MCP 2026-07-28 features (icons, tools in a fixed order and in pages, a confirmation
before a destructive tool) through the ``mcp`` package's client at 2026-07-28 and at 2025-11-25,
against a real upstream on loopback (D110-D112)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mcp import Client
from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
from mcp.shared.exceptions import MCPError
from support import Canned, running_gateway

from naftiko_runtime import Settings, load
from naftiko_runtime.adapters.mcp.paging import BadCursor, encode_cursor, page
from naftiko_runtime.adapters.mcp.tasks import (
    TASKS_EXTENSION,
    CancelTaskRequest,
    GetTaskRequest,
    TaskHandle,
    TaskRequestParams,
    TaskState,
)
from naftiko_runtime.serving.config import ConfigError, apply_config
from naftiko_runtime.settings import McpPolicy

MODERN, LEGACY = "auto", "legacy"
"""``Client(mode=...)``: ``auto`` probes ``server/discover`` and speaks 2026-07-28 with this server;
``legacy`` is the initialize handshake, 2025-11-25."""
ICON = "https://example.com/icons/orders.png"

CAPABILITY = """
naftiko: 1.0.0-alpha2
info:
  label: Orders
  description: Orders over MCP.
  x-naftiko-icons: [{{src: "{icon}", mimeType: image/png, sizes: [48x48]}}]
capability:
  consumes:
  - type: http
    namespace: shop
    baseUri: {upstream}
    resources:
    - name: orders
      path: /orders/{{{{id}}}}
      operations:
      - {{name: get-order, method: GET, inputParameters: [{{name: id, in: path}}]}}
      - {{name: delete-order, method: DELETE, inputParameters: [{{name: id, in: path}}]}}
  exposes:
  - type: mcp
    namespace: orders
    port: 9410
    tools:
{tools}
"""
TOOL = """    - {{name: {name}, description: "Tool {name}.", call: shop.get-order, with: {{id: "{name}"}},
       hints: {{readOnly: true}}}}
"""
DELETE = """    - name: delete-order
      description: Delete an order.
      call: shop.delete-order
      inputParameters: [{name: id, type: string, required: true}]
      with: {id: orders.id}
      hints: {destructive: true}
      x-naftiko-icons: [{src: "data:image/svg+xml,<svg/>", theme: dark}]
"""
READ_NAMES = ("zeta", "alpha", "mid", "beta", "omega")
"""Declared out of order: the listing must not depend on the file's order."""


def write(tmp_path: Path, upstream_url: str) -> Path:
    tools = "".join(TOOL.format(name=name) for name in READ_NAMES) + DELETE
    path = tmp_path / "orders.yml"
    path.write_text(CAPABILITY.format(icon=ICON, upstream=upstream_url, tools=tools))
    return path


async def every_page(client: Client) -> tuple[list[str], int]:
    names: list[str] = []
    cursor, pages = None, 0
    while True:
        listed = await client.list_tools(cursor=cursor)
        names += [tool.name for tool in listed.tools]
        pages += 1
        cursor = listed.next_cursor
        if cursor is None:
            return names, pages


@pytest.mark.parametrize("mode", [MODERN, LEGACY])
async def test_icons_order_and_pages(tmp_path, upstream, mode):
    with running_gateway([write(tmp_path, upstream.url)], mcp=McpPolicy(page_size=4)) as gateway:
        async with Client(gateway.url(9410) + "/mcp", mode=mode, cache=None) as client:
            assert client.protocol_version == ("2026-07-28" if mode == MODERN else "2025-11-25")
            assert client.server_capabilities.tasks is None, "D114: tasks are the extension, and off by default"
            assert client.server_info is not None
            icons = client.server_info.icons
            assert icons is not None and icons[0].src == ICON and icons[0].sizes == ["48x48"]
            first = await client.list_tools()
            assert [tool.name for tool in first.tools] == ["alpha", "beta", "delete-order", "mid"]
            assert first.next_cursor is not None
            names, pages = await every_page(client)
            assert names == sorted([*READ_NAMES, "delete-order"]) and pages == 2
            tools = {tool.name: tool for tool in first.tools}
            assert tools["delete-order"].icons is not None and tools["delete-order"].icons[0].theme == "dark"
            assert tools["alpha"].icons is None
            with pytest.raises(MCPError) as raised:
                await client.list_tools(cursor="not a cursor")
            assert raised.value.error.code == types.INVALID_PARAMS


def _confirming(answer: types.ElicitResult, asked: list[str]) -> Any:
    async def callback(context: Any, params: Any) -> types.ElicitResult:
        asked.append(params.message)
        return answer

    return callback


async def test_destructive_tool_waits_for_the_users_yes(tmp_path, upstream):
    """D112: declined, nothing reaches the upstream; accepted, the tool runs once; a read-only tool
    is never asked about."""
    with running_gateway([write(tmp_path, upstream.url)], mcp=McpPolicy(confirm_destructive=True)) as gateway:
        url = gateway.url(9410) + "/mcp"
        asked: list[str] = []
        decline = _confirming(types.ElicitResult(action="decline"), asked)
        async with Client(url, mode=MODERN, elicitation_callback=decline) as client:
            result = await client.call_tool("delete-order", {"id": "o-1"})
        assert result.is_error and "nothing was run" in result.content[0].text
        assert asked and "delete-order" in asked[0] and upstream.requests == []

        accept = _confirming(types.ElicitResult(action="accept", content={"confirm": True}), asked)
        async with Client(url, mode=MODERN, elicitation_callback=accept) as client:
            result = await client.call_tool("delete-order", {"id": "o-1"})
            assert not result.is_error
            assert [(r.method, r.path) for r in upstream.requests] == [("DELETE", "/orders/o-1")]
            asked.clear()
            assert not (await client.call_tool("alpha", {})).is_error
            assert asked == [], "a read-only tool runs unasked"

        upstream.reset()
        async with Client(url, mode=LEGACY, elicitation_callback=accept) as client:
            result = await client.call_tool("delete-order", {"id": "o-2"})
            assert result.is_error and "2026-07-28" in result.content[0].text
            assert not (await client.call_tool("alpha", {})).is_error
        assert [r.method for r in upstream.requests] == ["GET"], "an old client cannot confirm: nothing destructive ran"


async def test_without_the_policy_nothing_is_asked(tmp_path, upstream):
    with running_gateway([write(tmp_path, upstream.url)]) as gateway:
        async with Client(gateway.url(9410) + "/mcp", mode=MODERN) as client:
            assert not (await client.call_tool("delete-order", {"id": "o-3"})).is_error
            assert len((await client.list_tools()).tools) == 6, "page_size 0: one page"
    assert upstream.last.method == "DELETE"


def test_icons_are_an_extension_strict_refuses(tmp_path):
    path = write(tmp_path, "http://127.0.0.1:9")
    loaded = load([path], Settings(), {})
    warned = [str(d) for d in loaded.diagnostics if "x-naftiko-icons" in str(d)]
    assert [w.split(": warning")[0].rsplit("orders.yml", 1)[1] for w in warned] == [":6:3", ":39:7"], warned
    assert load([path], Settings(strict=True), {}).rejected


def test_a_bad_icon_is_refused_where_it_is(tmp_path):
    path = write(tmp_path, "http://127.0.0.1:9")
    path.write_text(path.read_text().replace(ICON, "ftp://example.com/x.png").replace("48x48", "big"))
    loaded = load([path], Settings(), {})
    errors = [str(d) for d in loaded.diagnostics if "icon" in str(d) and "extension" not in str(d)]
    assert loaded.rejected
    assert any("http(s): or data:" in e for e in errors) and any("'big'" in e for e in errors), errors


def test_mcp_config_section(tmp_path):
    config = tmp_path / "naftiko.toml"
    config.write_text("[mcp]\npage_size = 25\nconfirm_destructive = true\ntasks = true\ntask_ttl = 60\n")
    assert apply_config(config, Settings(), set()).mcp == McpPolicy(25, True, True, 60.0)
    config.write_text("[mcp]\npage_size = -1\nconfirm_destructive = 'yes'\nsize = 3\n")
    with pytest.raises(ConfigError) as raised:
        apply_config(config, Settings(), set())
    message = str(raised.value)
    assert ":2:1: mcp.page_size: must be at least 0" in message
    assert ":3:1: mcp.confirm_destructive: must be true or false" in message and ":4:1: mcp.size" in message


@given(st.lists(st.text(min_size=1, max_size=8), unique=True), st.integers(min_value=0, max_value=7))
def test_pages_cover_every_name_once(names, size):
    names = sorted(names)
    seen: list[str] = []
    cursor = None
    for _ in range(len(names) + 2):
        part, cursor = page(names, cursor, size)
        seen += names[part]
        if cursor is None:
            break
    assert seen == names


def test_a_forged_cursor_is_refused():
    with pytest.raises(BadCursor):
        page(["a"], "%%%", 1)
    with pytest.raises(BadCursor):
        page(["a"], encode_cursor("a")[:-3] + "AAA", 1)


class TasksClient(ClientExtension):
    """The ``mcp`` client's side of the Tasks extension: a task handle is polled with ``tasks/get``
    until it is done, then the tool's result is returned as ``call_tool``'s own."""

    identifier = TASKS_EXTENSION

    def __init__(self) -> None:
        self.handles: list[TaskHandle] = []
        self.polls = 0

    def claims(self) -> list[ResultClaim[Any]]:
        return [ResultClaim(result_type="task", model=TaskHandle, resolve=self.resolve)]

    async def resolve(self, handle: TaskHandle, context: ClaimContext) -> types.CallToolResult:
        self.handles.append(handle)
        while True:
            self.polls += 1
            request = GetTaskRequest(params=TaskRequestParams(task_id=handle.task_id))
            state = await context.session.send_request(request, TaskState)
            if state.status != "working":
                assert state.status == "completed" and state.result is not None, state
                return types.CallToolResult.model_validate(state.result)
            await asyncio.sleep((state.poll_interval_ms or 100) / 1000)


async def test_a_slow_tool_is_a_task_the_client_polls(tmp_path, upstream):
    """D114: a 2026-07-28 client of the extension gets a task handle and polls it to the result;
    a 2025-11-25 client (and one without the extension) gets the result itself."""
    upstream.reset(lambda request: Canned(200, b'{"id": "o-9", "state": "shipped"}', delay=0.6))
    with running_gateway([write(tmp_path, upstream.url)], mcp=McpPolicy(tasks=True)) as gateway:
        url = gateway.url(9410) + "/mcp"
        tasks = TasksClient()
        async with Client(url, mode=MODERN, extensions=[tasks], cache=None) as client:
            assert TASKS_EXTENSION in (client.server_capabilities.extensions or {})
            result = await client.call_tool("alpha", {})
        assert result.structured_content == {"id": "o-9", "state": "shipped"}
        assert len(tasks.handles) == 1 and tasks.handles[0].status == "working" and tasks.polls >= 2
        for mode in (LEGACY, MODERN):
            async with Client(url, mode=mode, cache=None) as client:
                assert (await client.call_tool("alpha", {})).structured_content == {"id": "o-9", "state": "shipped"}


async def test_a_cancelled_task_ends_and_an_unknown_one_is_refused(tmp_path, upstream):
    upstream.reset(lambda request: Canned(200, b"{}", delay=3))
    with running_gateway([write(tmp_path, upstream.url)], mcp=McpPolicy(tasks=True)) as gateway:
        async with Client(gateway.url(9410) + "/mcp", extensions=[TasksClient()], cache=None) as client:
            handle = await client.session.call_tool("alpha", {}, allow_claimed=True)
            assert isinstance(handle, TaskHandle)
            ask = TaskRequestParams(task_id=handle.task_id)
            cancelled = await client.session.send_request(CancelTaskRequest(params=ask), TaskState)
            assert cancelled.status == "cancelled"
            state = await client.session.send_request(GetTaskRequest(params=ask), TaskState)
            assert state.status == "cancelled" and state.result is None
            with pytest.raises(MCPError) as raised:
                await client.session.send_request(GetTaskRequest(params=TaskRequestParams(task_id="nope")), TaskState)
            assert raised.value.error.code == types.INVALID_PARAMS
