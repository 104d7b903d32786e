"""Issue 21 item 5: the ``x-naftiko-a2a`` adapter (D108), driven by the official ``a2a-sdk``
client (card resolution, ``SendMessage``, ``GetTask``), at protocol 1.0 and through the SDK's own
v0.3 compatibility transport, against a gateway whose tools call a real loopback upstream."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import Canned, Recorded, RecordingUpstream, needs_extra, running_gateway

from naftiko_runtime import Settings, load

pytestmark = needs_extra("a2a")

TOKEN = "shop-token-7c1d-SECRET"
PORT = 9330
CAPABILITY = """
ikanos: 1.0.0-beta4
info: {{display: Orders, description: Order tools for agents., version: 2.1.0}}
binds:
- namespace: shop-env
  keys: {{SHOP_TOKEN: SHOP_TOKEN}}
capability:
  consumes:
  - type: http
    namespace: shop
    baseUri: {upstream}
    authentication: {{type: bearer, token: "{{{{SHOP_TOKEN}}}}"}}
    resources:
      orders:
        path: /orders
        operations:
          list:
            method: GET
            inputParameters: {{status: {{in: query}}, limit: {{in: query}}}}
  exposes:
  - type: mcp
    namespace: orders-mcp
    port: {mcp_port}
    tools:
      list-orders:
        description: List orders by status.
        inputParameters:
          status: {{type: string, required: true, description: open or closed}}
          limit: {{type: integer, required: false, description: at most this many}}
        call: shop.list
        with: {{status: tools.status, limit: tools.limit}}
  - type: x-naftiko-a2a
    namespace: orders-agent
    port: {port}
    sourceNamespaces: [orders-mcp]
"""


def write(tmp_path: Path, upstream: str) -> Path:
    path = tmp_path / "agent.yml"
    path.write_text(CAPABILITY.format(upstream=upstream, port=PORT, mcp_port=PORT + 1))
    return path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RecordingUpstream, str]]:
    with RecordingUpstream() as upstream:
        file = write(tmp_path_factory.mktemp("a2a"), upstream.url)
        with running_gateway([file], {"SHOP_TOKEN": TOKEN}) as gateway:
            yield upstream, gateway.url(PORT)


def orders(request: Recorded) -> Canned:
    return Canned(200, json.dumps({"orders": [{"id": 7, "query": dict(request.query)}]}).encode())


METHODS: list[str] = []
"""The JSON-RPC methods the SDK's clients sent: the proof of which protocol version they spoke."""


async def _record_method(request: httpx.Request) -> None:
    if request.method == "POST":
        METHODS.append(json.loads(request.content)["method"])


async def client_for(url: str, http: httpx.AsyncClient, version: str | None = None) -> Any:
    """The SDK's client from the served card; ``version``: keep only that protocol's interface."""
    from a2a.client import A2ACardResolver, ClientConfig, ClientFactory

    card = await A2ACardResolver(http, url).get_agent_card()
    if version is not None:
        kept = [i for i in card.supported_interfaces if i.protocol_version == version]
        del card.supported_interfaces[:]
        card.supported_interfaces.extend(kept)
    return ClientFactory(ClientConfig(streaming=False, httpx_client=http)).create(card)


def recording_http() -> httpx.AsyncClient:
    return httpx.AsyncClient(event_hooks={"request": [_record_method]})


def request(data: Any, immediately: bool = False) -> Any:
    from a2a.helpers.proto_helpers import new_data_part
    from a2a.types.a2a_pb2 import Message, Role, SendMessageConfiguration, SendMessageRequest

    message = Message(role=Role.ROLE_USER, parts=[new_data_part(data)], message_id=str(uuid.uuid4()))
    return SendMessageRequest(message=message, configuration=SendMessageConfiguration(return_immediately=immediately))


async def send(url: str, data: Any, version: str | None = None, immediately: bool = False) -> Any:
    async with recording_http() as http:
        client = await client_for(url, http, version)
        return [answer async for answer in client.send_message(request(data, immediately))]


def data_of(parts: Any) -> list[Any]:
    from a2a.helpers.proto_helpers import get_data_parts

    return get_data_parts(parts)


def test_agent_card_is_built_from_the_capability_info_and_tools(served: tuple[RecordingUpstream, str]) -> None:
    _, url = served
    document = httpx.get(f"{url}/.well-known/agent-card.json").json()
    assert (document["name"], document["description"], document["version"]) == (
        "Orders",
        "Order tools for agents.",
        "2.1.0",
    )
    assert {(i["protocolVersion"], i["url"]) for i in document["supportedInterfaces"]} == {
        ("1.0", f"{url}/a2a"),
        ("0.3", f"{url}/a2a"),
    }
    (skill,) = document["skills"]
    assert (skill["id"], skill["description"], skill["tags"]) == (
        "list-orders",
        "List orders by status.",
        ["orders-mcp"],
    )
    call, schema = (json.loads(example) for example in skill["examples"])
    assert call == {"skill": "list-orders", "arguments": {"status": "<string>", "limit": "<integer>"}}
    assert schema["required"] == ["status"] and schema["properties"]["limit"]["type"] == "integer"


def test_send_message_calls_the_tool_through_the_upstream(served: tuple[RecordingUpstream, str]) -> None:
    upstream, url = served
    upstream.reset(orders)
    METHODS.clear()
    (answer,) = asyncio.run(send(url, {"skill": "list-orders", "arguments": {"status": "open", "limit": 2}}))
    assert METHODS == ["SendMessage"]
    assert answer.HasField("message")
    assert data_of(answer.message.parts) == [{"orders": [{"id": 7.0, "query": {"status": "open", "limit": "2"}}]}]
    assert dict(upstream.last.query)["limit"] == "2"  # narrowed back to an integer: not "2.0"
    assert upstream.last.headers["authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"skill": "delete-everything", "arguments": {}}, "unknown skill 'delete-everything'"),
        ({"skill": "list-orders", "arguments": {}}, "status: required"),
        ({"skill": "list-orders", "arguments": {"status": "open", "limit": "many"}}, "limit"),
        ({"arguments": {"status": "open"}}, "send one data part"),
    ],
)
def test_bad_calls_are_invalid_params_errors_and_run_nothing(
    served: tuple[RecordingUpstream, str], data: dict[str, Any], reason: str
) -> None:
    upstream, url = served
    upstream.reset(orders)
    with pytest.raises(Exception) as raised:
        asyncio.run(send(url, data))
    assert reason in str(raised.value)
    assert "Invalid params" in repr(raised.value) or "InvalidParams" in type(raised.value).__name__
    assert upstream.requests == []


def test_a_slow_call_becomes_a_task_polled_with_get_task(served: tuple[RecordingUpstream, str]) -> None:
    from a2a.types.a2a_pb2 import GetTaskRequest, TaskState

    upstream, url = served
    upstream.reset(lambda r: Canned(200, b'{"orders": []}', delay=1.6))

    async def scenario() -> tuple[Any, Any, float]:
        async with recording_http() as http:
            client = await client_for(url, http)
            started = time.monotonic()
            call = request({"skill": "list-orders", "arguments": {"status": "x"}}, immediately=True)
            (answer,) = [a async for a in client.send_message(call)]
            waited = time.monotonic() - started
            task = answer.task
            while task.status.state not in (TaskState.TASK_STATE_COMPLETED, TaskState.TASK_STATE_FAILED):
                await asyncio.sleep(0.1)
                task = await client.get_task(GetTaskRequest(id=task.id))
            return answer.task, task, waited

    first, final, waited = asyncio.run(scenario())
    assert first.status.state == TaskState.TASK_STATE_WORKING and waited < 1.5
    assert final.status.state == TaskState.TASK_STATE_COMPLETED
    assert [data_of(artifact.parts) for artifact in final.artifacts] == [[{"orders": []}]]
    assert len(upstream.requests) == 1


def test_cancel_task_stops_a_working_task(served: tuple[RecordingUpstream, str]) -> None:
    from a2a.types.a2a_pb2 import CancelTaskRequest, GetTaskRequest, TaskState

    upstream, url = served
    upstream.reset(lambda r: Canned(200, b'{"orders": []}', delay=3))

    async def scenario() -> tuple[Any, Any]:
        async with recording_http() as http:
            client = await client_for(url, http)
            call = request({"skill": "list-orders", "arguments": {"status": "slow"}}, immediately=True)
            (answer,) = [a async for a in client.send_message(call)]
            canceled = await client.cancel_task(CancelTaskRequest(id=answer.task.id))
            return canceled, await client.get_task(GetTaskRequest(id=answer.task.id))

    canceled, polled = asyncio.run(scenario())
    assert canceled.status.state == polled.status.state == TaskState.TASK_STATE_CANCELED
    assert not polled.artifacts


def test_upstream_failure_is_a_failed_task_without_the_secret(served: tuple[RecordingUpstream, str]) -> None:
    from a2a.types.a2a_pb2 import TaskState

    upstream, url = served
    upstream.reset(lambda r: Canned(500, json.dumps({"error": "down", "echo": r.headers["authorization"]}).encode()))
    (answer,) = asyncio.run(send(url, {"skill": "list-orders", "arguments": {"status": "open"}}))
    assert answer.task.status.state == TaskState.TASK_STATE_FAILED
    reason = answer.task.status.message.parts[0].text
    assert "Upstream answered HTTP 500" in reason and TOKEN not in reason


def test_a_v0_3_client_calls_the_same_agent(served: tuple[RecordingUpstream, str]) -> None:
    upstream, url = served
    upstream.reset(orders)
    METHODS.clear()
    document = httpx.get(f"{url}/.well-known/agent-card.json").json()
    assert document["protocolVersion"].startswith("0.3") and document["url"] == f"{url}/a2a"  # the 0.3 card fields
    (answer,) = asyncio.run(send(url, {"skill": "list-orders", "arguments": {"status": "closed"}}, version="0.3"))
    assert data_of(answer.message.parts) == [{"orders": [{"id": 7.0, "query": {"status": "closed"}}]}]
    assert METHODS == ["message/send"]  # the 0.3 method name; 1.0 sends SendMessage


def test_extension_type_is_warned_strict_refuses_and_sources_are_checked(tmp_path: Path) -> None:
    file = write(tmp_path, "http://127.0.0.1:9")
    environ = {"SHOP_TOKEN": TOKEN}
    loaded = load([file], Settings(), environ)
    assert not loaded.rejected
    assert any("'x-naftiko-a2a' is a naftiko-runtime extension" in d.message for d in loaded.diagnostics)
    assert load([file], Settings(strict=True), environ).rejected
    file.write_text(file.read_text().replace("[orders-mcp]", "[orders-rest]"))
    wrong = load([file], Settings(), environ)
    line = next(n for n, text in enumerate(file.read_text().splitlines(), 1) if "[orders-rest]" in text)
    assert any("'orders-rest' is not an MCP adapter" in d.message and d.line == line for d in wrong.diagnostics)
    file.write_text(file.read_text().replace("[orders-rest]", "[orders-mcp]\n    skills: all"))
    misspelt = load([file], Settings(), environ)
    line = next(n for n, text in enumerate(file.read_text().splitlines(), 1) if "skills: all" in text)
    # D106: the kind's own shape is in the shape check, which names the keys an agent entry has
    assert any(
        "unknown key 'skills'" in d.message and "sourceNamespaces" in d.message and d.line == line
        for d in misspelt.diagnostics
    ), misspelt.diagnostics
