"""Issue 12, item 8: the skill adapter, read the way an agent framework reads a skill catalogue:
fetch ``/skills``, fetch each ``SKILL.md`` and parse its frontmatter with a YAML parser, then
follow each tool's reference to the sibling MCP tool or REST operation and call it for real."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import httpx
import pytest
from mcp import Client
from ruamel.yaml import YAML
from support import running_gateway

from naftiko_runtime import Settings, load

CAPABILITY = """
naftiko: 1.0.0-alpha2
info: {{label: Orders, description: Order skills.}}
capability:
  consumes:
  - type: http
    namespace: shop
    baseUri: {upstream}
    resources:
    - {{name: orders, path: /orders, operations: [{{name: list, method: GET,
        inputParameters: [{{name: status, in: query, description: Filter by status.}}]}}]}}
  exposes:
  - type: rest
    namespace: orders-rest
    port: 9320
    resources:
    - path: /orders
      operations: [{{method: GET, name: list-orders, call: shop.list, with: {{status: rest.status}}}}]
  - type: mcp
    namespace: orders-mcp
    port: 9321
    tools:
    - {{name: list-orders, description: List orders., call: shop.list, with: {{status: tools.status}}}}
  - type: skill
    namespace: orders-skills
    port: 9322
    description: Order skills.
    skills:
    - name: order-management
      description: "Manage orders: list them: by status."
      license: Apache-2.0
      allowed-tools: list-orders
      argument-hint: Use for order operations
      user-invocable: true
      metadata: {{author: shop-team}}
      location: "file:///./order-management"
      tools:
      - {{name: list-orders, description: List orders over MCP., from: {{sourceNamespace: orders-mcp,
          action: list-orders}}}}
      - {{name: list-orders-rest, description: List orders over REST., from: {{sourceNamespace: orders-rest,
          action: list-orders}}}}
      - {{name: order-guide, description: How to handle orders., instruction: order-guide.md}}
    - {{name: onboarding-guide, description: A purely descriptive skill.}}
"""


def write(tmp_path: Path, upstream_url: str) -> Path:
    folder = tmp_path / "order-management"
    folder.mkdir(exist_ok=True)
    (folder / "order-guide.md").write_text("Always confirm the order id.\n")
    (folder / "examples.md").write_text("# Examples\n")
    (tmp_path / "secret.txt").write_text("do not serve")
    if not (folder / "link.md").is_symlink():
        (folder / "link.md").symlink_to(tmp_path / "secret.txt")
    path = tmp_path / "skills.yml"
    path.write_text(CAPABILITY.format(upstream=upstream_url))
    return path


def frontmatter(document: str) -> tuple[dict[str, object], str]:
    assert document.startswith("---\n")
    head, _, body = document[4:].partition("\n---\n")
    return YAML(typ="safe").load(head), body


async def test_an_agent_reads_the_catalogue_and_follows_the_tools(tmp_path, upstream):
    with running_gateway([write(tmp_path, upstream.url)]) as gateway:
        base = gateway.url(9322)
        async with httpx.AsyncClient(base_url=base) as http:
            catalogue = (await http.get("/skills")).json()
            assert catalogue["count"] == 2
            assert [s["name"] for s in catalogue["skills"]] == ["order-management", "onboarding-guide"]
            entry = catalogue["skills"][0]
            assert entry["tools"] == ["list-orders", "list-orders-rest", "order-guide"]

            document = await http.get(entry["document"])
            assert document.headers["content-type"].startswith("text/markdown")
            meta, body = frontmatter(document.text)
            assert meta == {
                "name": "order-management",
                "description": "Manage orders: list them: by status.",
                "license": "Apache-2.0",
                "allowed-tools": "list-orders",
                "argument-hint": "Use for order operations",
                "user-invocable": True,
                "metadata": {"author": "shop-team"},
            }
            assert "### list-orders" in body and "contents/order-guide.md" in body

            detail = (await http.get("/skills/order-management")).json()
            tools = {tool["name"]: tool for tool in detail["tools"]}
            guide = tools["order-guide"]
            assert guide["type"] == "instruction"
            instruction = await http.get(f"/skills/order-management/contents/{guide['instruction']}")
            assert instruction.text == "Always confirm the order id.\n"

            files = (await http.get("/skills/order-management/contents")).json()["files"]
            assert [f["path"] for f in files] == ["examples.md", "order-guide.md"]
            archive = zipfile.ZipFile(io.BytesIO((await http.get("/skills/order-management/download")).content))
            assert archive.namelist() == [
                "order-management/SKILL.md",
                "order-management/examples.md",
                "order-management/order-guide.md",
            ]
            assert archive.read("order-management/SKILL.md").decode() == document.text
            for bad in ("contents/../secret.txt", "contents/%2e%2e/secret.txt", "contents/link.md", "nothing"):
                answer = await http.get(f"/skills/order-management/{bad}")
                assert answer.status_code == 404 and "do not serve" not in answer.text
            assert (await http.get("/skills/unknown")).status_code == 404
            assert (await http.post("/skills", json={})).status_code == 405
            assert (await http.get("/skills/onboarding-guide")).json()["tools"] == []

            mcp_ref = tools["list-orders"]["invocationRef"]
            assert mcp_ref["mode"] == "mcp" and mcp_ref["targetNamespace"] == "orders-mcp"
            assert [i["name"] for i in mcp_ref["inputs"]] == ["status"]
            async with Client(f"http://127.0.0.1:{mcp_ref['port']}{mcp_ref['endpoint']}") as client:
                result = await client.call_tool(mcp_ref["tool"], {"status": "open"})
                assert result.is_error is False
            assert upstream.last.target == "/orders?status=open"

            rest_ref = tools["list-orders-rest"]["invocationRef"]
            assert rest_ref["mode"] == "rest" and (rest_ref["method"], rest_ref["path"]) == ("GET", "/orders")
            answer = await http.request(
                rest_ref["method"], f"http://127.0.0.1:{rest_ref['port']}{rest_ref['path']}", params={"status": "x"}
            )
            assert answer.status_code == 200 and upstream.last.target == "/orders?status=x"


@pytest.mark.parametrize(
    ("change", "replacement", "message"),
    [
        ("instruction: order-guide.md", "instruction: absent.md", "instruction file 'absent.md' not found"),
        ("instruction: order-guide.md", "instruction: ../secret.txt", "is outside"),
        ("sourceNamespace: orders-mcp", "sourceNamespace: nowhere", "'nowhere' is not a REST or MCP adapter"),
        ("action: list-orders}}", "action: unknown}}", "has no tool named 'unknown'"),
        ('location: "file:///./order-management"', 'location: "file:///./missing"', "is not a folder"),
    ],
)
def test_bad_skill_declarations_are_positioned_errors(tmp_path, change, replacement, message):
    path = write(tmp_path, "http://127.0.0.1:9")
    text = path.read_text()
    assert change in text
    path.write_text(text.replace(change, replacement, 1))
    report = load([path], Settings(), {}).reports[0]
    errors = [d for d in report.errors if message in d.message]
    assert errors, [str(d) for d in report.diagnostics]
    assert replacement.split(":")[0].strip() in path.read_text().splitlines()[errors[0].line - 1]
