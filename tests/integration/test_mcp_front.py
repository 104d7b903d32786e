"""D152: an MCP port serves while the ``mcp`` package loads in the background.

The package's import is held back by the test (the front's one process-wide import future is
replaced by one the test resolves), so that what a gateway does in that window is seen for sure:
tool calls answered, other methods waiting, readiness saying why not, and the package's answer
once it is there; a package that fails to load is said, never a hang.
"""

from __future__ import annotations

import concurrent.futures
import importlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client
from support import CAPABILITIES, RecordingUpstream, running_gateway

from naftiko_runtime.adapters.mcp import front

CAPABILITY = """
naftiko: 1.0.0-alpha2
info: {{label: Front, description: An MCP adapter and its control port.}}
capability:
  consumes:
  - type: http
    namespace: shop
    baseUri: {upstream}
    resources:
    - name: orders
      path: /orders/{{{{id}}}}
      operations:
      - name: get-order
        method: GET
        inputParameters: [{{name: id, in: path, type: string, required: true}}]
  exposes:
  - type: mcp
    namespace: shop-mcp
    port: 9410
    tools:
    - name: get-order
      description: One order.
      call: shop.get-order
      inputParameters: [{{name: id, type: string, required: true}}]
      with: {{id: shop-mcp.id}}
  - type: control
    port: 7070
    management: {{health: true}}
"""
JSON_IN = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


def rpc(method: str, params: dict[str, Any]) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": 7, "method": method, "params": params}).encode()


CALL = rpc("tools/call", {"name": "get-order", "arguments": {"id": "o-1"}})
LIST = rpc("tools/list", {})


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> concurrent.futures.Future[Any]:
    """The package's import, pending until the test resolves it."""
    pending: concurrent.futures.Future[Any] = concurrent.futures.Future()
    monkeypatch.setattr(front, "_loading", pending)
    return pending


@pytest.fixture
def gateway(held: concurrent.futures.Future[Any], upstream: RecordingUpstream, tmp_path: Path) -> Iterator[Any]:
    path = tmp_path / "front.yml"
    path.write_text(CAPABILITY.format(upstream=upstream.url))
    with running_gateway([path]) as served:
        yield served


def ready(gateway: Any) -> httpx.Response:
    return httpx.get(gateway.url(7070) + "/health/ready", timeout=10)


def posted_in_background(url: str, body: bytes) -> tuple[threading.Thread, list[httpx.Response]]:
    answers: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: answers.append(httpx.post(url, content=body, headers=JSON_IN, timeout=60)))
    thread.start()
    return thread, answers


def test_tool_calls_are_answered_while_the_package_loads(
    gateway: Any, held: concurrent.futures.Future[Any], upstream: RecordingUpstream
) -> None:
    mcp = gateway.url(9410) + "/mcp"
    called = httpx.post(mcp, content=CALL, headers=JSON_IN, timeout=10)
    assert called.status_code == 200
    result = called.json()["result"]
    assert result["isError"] is False and upstream.last.path == "/orders/o-1"
    assert json.loads(result["content"][0]["text"]) == result["structuredContent"]

    not_ready = ready(gateway)
    assert not_ready.status_code == 503 and "loading the mcp package" in not_ready.json()["reason"]
    assert httpx.get(mcp, timeout=10).status_code == 405
    assert httpx.post(gateway.url(9410) + "/mcp/nope", content=CALL, headers=JSON_IN).status_code == 404

    listing, answers = posted_in_background(mcp, LIST)
    listing.join(0.5)
    assert listing.is_alive(), "tools/list was answered before the package was loaded"

    held.set_result(importlib.import_module(front.PACKAGE_SIDE))
    listing.join(30)
    assert answers and answers[0].status_code == 200
    assert [tool["name"] for tool in answers[0].json()["result"]["tools"]] == ["get-order"]
    deadline = time.monotonic() + 10
    while ready(gateway).status_code != 200:
        assert time.monotonic() < deadline, ready(gateway).json()
        time.sleep(0.02)


async def test_the_package_client_works_once_loaded(gateway: Any, held: concurrent.futures.Future[Any]) -> None:
    held.set_result(importlib.import_module(front.PACKAGE_SIDE))
    async with Client(gateway.url(9410) + "/mcp/shop-mcp") as client:
        result = await client.call_tool("get-order", {"id": "o-2"})
        assert not result.is_error and result.structured_content is not None


def test_a_package_that_fails_to_load_is_said(gateway: Any, held: concurrent.futures.Future[Any]) -> None:
    mcp = gateway.url(9410) + "/mcp"
    listing, answers = posted_in_background(mcp, LIST)
    held.set_exception(ImportError("No module named 'mcp'"))
    listing.join(30)
    assert answers and answers[0].status_code == 503
    assert "No module named 'mcp'" in answers[0].json()["detail"]
    not_ready = ready(gateway)
    assert not_ready.status_code == 503 and "could not start" in not_ready.json()["reason"]
    assert httpx.post(mcp, content=CALL, headers=JSON_IN, timeout=10).json()["result"]["isError"] is False


MOUNT_ONLY = """
import sys
from pathlib import Path
from naftiko_runtime import Settings, load
from naftiko_runtime.serving.server import Runtime
loaded = load([Path(p) for p in sys.argv[1:]], Settings(), {})
assert not loaded.rejected and loaded.listeners.listeners
Runtime(list(loaded.listeners.listeners.values()), Settings())
print(sorted(m for m in sys.modules if m.split(".")[0] in ("mcp", "mcp_types")))
"""


def test_serving_mcp_adapters_imports_no_mcp_package_before_the_ports_serve() -> None:
    """Everything a port needs to open, the Polytomic files' MCP adapters mounted, without it."""
    done = subprocess.run(
        [sys.executable, "-c", MOUNT_ONLY, *map(str, CAPABILITIES)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
