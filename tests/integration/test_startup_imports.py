"""Issue 22 item 2 (D169, D170): what a start imports before its ports serve is only what serving
needs. A TOML config file's parser and the load's process pool are imported where they are used,
and an adapter kind where a file uses it, so a start pays for none of them otherwise; a file that
uses every kind still loads and serves each. Runs fresh interpreters: the test process has
imported everything already. httpx's command-line client is never imported by the runtime (D180)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
from support import CAPABILITIES, needs_extra, served

from naftiko_runtime.adapters.registry import BUILTIN
from naftiko_runtime.serving.loading import PARALLEL_FROM

START_WITHOUT_SERVING = """
import json
import sys
from pathlib import Path
import naftiko_runtime.cli
from naftiko_runtime import Settings, load
from naftiko_runtime.serving.server import Runtime
loaded = load([Path(p) for p in sys.argv[1:]], Settings(), {})
assert not loaded.rejected and loaded.listeners.listeners
Runtime(list(loaded.listeners.listeners.values()), Settings())
watched = ("tomllib", "concurrent.futures.process")
print(json.dumps(sorted(m for m in sys.modules if m.startswith("naftiko_runtime.") or m in watched)))
"""

EVERY_KIND = """
naftiko: 1.0.0-alpha2
info: {{label: Every kind, description: One adapter of each kind this runtime serves.}}
capability:
  binds:
  - namespace: hooks
    keys: {{HOOK_SECRET: HOOK_SECRET}}
  consumes:
  - type: http
    namespace: shop
    baseUri: {upstream}
    resources:
    - {{name: orders, path: /orders, operations: [{{name: list, method: GET}}]}}
  exposes:
  - type: rest
    namespace: orders-rest
    port: 8080
    resources:
    - path: /orders
      operations: [{{method: GET, name: list-orders, call: shop.list}}]
  - type: mcp
    namespace: orders-mcp
    port: 9090
    tools:
    - {{name: list-orders, description: List orders., call: shop.list}}
  - type: skill
    namespace: orders-skills
    port: 8081
    description: Order skills.
    skills:
    - name: order-management
      description: Manage orders.
      tools:
      - name: list-orders
        description: List orders over MCP.
        from: {{sourceNamespace: orders-mcp, action: list-orders}}
  - type: x-naftiko-webhook
    namespace: shop-events
    port: 8082
    webhooks:
    - name: order-paid
      path: /hooks/orders
      signature: {{style: github, secret: "{{{{HOOK_SECRET}}}}"}}
      call: shop.list
  - type: x-naftiko-a2a
    namespace: orders-agent
    port: 8083
    sourceNamespaces: [orders-mcp]
  - type: control
    port: 7070
    management: {{health: true}}
"""


def _start(files: list[Path]) -> list[str]:
    """The runtime's modules and the watched ones a fresh interpreter imported to load ``files``
    and build their ports, as ``serve`` does before binding."""
    done = subprocess.run(
        [sys.executable, "-c", START_WITHOUT_SERVING, *map(str, files)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    imported: list[str] = json.loads(done.stdout)
    return imported


def _kind_module(kind_type: str) -> str:
    return "naftiko_runtime.adapters" + BUILTIN[kind_type].module


def test_a_start_with_few_files_and_no_toml_config_imports_neither_toml_nor_the_pool() -> None:
    assert len(CAPABILITIES) < PARALLEL_FROM
    imported = _start(CAPABILITIES)
    assert "tomllib" not in imported and "concurrent.futures.process" not in imported


def test_a_start_imports_the_adapter_kinds_its_files_use_and_no_other() -> None:
    """The Polytomic files expose REST and MCP: the skill, control, webhook and A2A kinds (and the
    models behind them) stay unimported, while the two used kinds are there (D170)."""
    imported = _start(CAPABILITIES)
    assert {_kind_module("rest"), _kind_module("mcp")} <= set(imported)
    for unused in ("skill", "control", "x-naftiko-webhook", "x-naftiko-a2a"):
        assert _kind_module(unused) not in imported, unused
    for model in ("skill.model", "webhook.model", "a2a.model", "a2a.kind", "webhook.kind"):
        assert f"naftiko_runtime.adapters.{model}" not in imported, model


@needs_extra("a2a")
def test_a_file_of_every_kind_loads_and_each_kind_serves_from_a_fresh_start(tmp_path, upstream) -> None:
    """``naftiko serve`` as a user runs it: each kind imported on first use answers on its port
    (a lazily imported kind that was not imported would fail the load or leave a port unserved)."""
    path = tmp_path / "every-kind.yml"
    path.write_text(EVERY_KIND.format(upstream=upstream.url))
    ports = (8080, 9090, 8081, 8082, 8083, 7070)
    environ = {"HOOK_SECRET": "hook-secret-5b2e"}
    with served(tmp_path, upstream.url, env=environ, files=[path], ports=ports) as gateway:
        with httpx.Client(timeout=30) as client:
            assert client.get(gateway.url(8080) + "/orders").status_code == 200
            call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list-orders"}}
            headers = {"Accept": "application/json, text/event-stream"}
            answer = client.post(gateway.url(9090) + "/mcp/orders-mcp", json=call, headers=headers)
            assert answer.status_code == 200 and not answer.json()["result"].get("isError")
            catalogue = client.get(gateway.url(8081) + "/skills")
            assert catalogue.status_code == 200 and "order-management" in catalogue.text
            unsigned = client.post(gateway.url(8082) + "/hooks/orders", json={})
            assert unsigned.status_code == 401 and "signature" in unsigned.text
            card = client.get(gateway.url(8083) + "/.well-known/agent-card.json")
            assert card.status_code == 200 and "list-orders" in card.text
            assert client.get(gateway.url(7070) + "/health/live").status_code == 200


AFTER_THE_RUNTIME = """
import json, sys
import naftiko_runtime.cli
import httpx
response = httpx.Response(200, json={"ok": True})
print(json.dumps({
    "cli": [m for m in ("httpx._main", "rich", "pygments") if sys.modules.get(m) is not None],
    "client": response.json()["ok"] and httpx.AsyncClient is not None,
}))
"""

BEFORE_THE_RUNTIME = """
import json, sys
import httpx
import naftiko_runtime
print(json.dumps(sys.modules.get("httpx._main") is not None))
"""


def _fresh(code: str) -> object:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_runtime_imports_httpx_without_its_command_line_client() -> None:
    """D180: httpx works as before, without click, pygments and rich behind its CLI."""
    assert _fresh(AFTER_THE_RUNTIME) == {"cli": [], "client": True}


def test_httpx_imported_before_the_runtime_is_left_as_it_was() -> None:
    with_cli = _fresh("import json, sys, httpx; print(json.dumps(sys.modules.get('httpx._main') is not None))")
    assert _fresh(BEFORE_THE_RUNTIME) == with_cli
