"""Issue 12, item 7: MCP resources (static, dynamic, URI templates) and prompts, read through the
``mcp`` client over Streamable HTTP and stdio, against a real upstream on loopback."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError
from support import ROOT, SHARED, Canned, running_gateway

from naftiko_runtime import Settings, load
from naftiko_runtime.adapters.mcp.resources import UriTemplate, UriTemplateError

CAPABILITY = """
naftiko: 1.0.0-alpha2
info: {{label: Resources, description: Resources and prompts.}}
capability:
  consumes:
  - type: http
    namespace: db
    baseUri: {upstream}
    resources:
    - name: q
      path: /databases/{{{{datasource_id}}}}/query
      operations:
      - {{name: query-db, method: POST, inputParameters: [{{name: datasource_id, in: path}}]}}
    - name: f
      path: /files/{{path}}
      operations:
      - {{name: file, method: GET, inputParameters: [{{name: path, in: path}}]}}
  exposes:
  - type: mcp
    namespace: rp
    port: 9310
    {transport}
    tools: [{{name: query, description: Query., call: db.query-db, with: {{datasource_id: fixed}}}}]
    resources:
    - {{name: schema, label: Schema, uri: "data://schema", description: The schema., mimeType: application/json,
       call: db.query-db, with: {{datasource_id: main}}}}
    - {{name: profile, label: Profile, uri: "data://users/{{userId}}/profile", description: A profile.,
       call: db.query-db, with: {{datasource_id: "{{{{userId}}}}"}},
       outputParameters: [{{type: string, mapping: $.name}}]}}
    - {{name: file, label: File, uri: "files://{{+path}}", description: Any file., mimeType: text/plain,
       call: db.file, with: {{path: mcp.path}}}}
    - {{name: docs, label: Docs, uri: "docs://guide", description: The guide., location: "file:///./docs"}}
    prompts:
    - name: outreach
      label: Outreach
      description: Draft an outreach message.
      arguments:
      - {{name: participant, description: Who., required: true}}
      - {{name: product, description: What., required: false}}
      template:
      - {{role: user, content: "Write to {{{{participant}}}} about {{{{product}}}}."}}
      - {{role: assistant, content: "Drafting for {{{{participant}}}}."}}
    - {{name: from-file, label: From a file, description: A file-based prompt., location: "file:///./prompt.md",
       arguments: [{{name: topic, description: The topic.}}]}}
"""


def write(tmp_path: Path, upstream_url: str, *, stdio: bool = False) -> Path:
    (tmp_path / "docs" / "sub").mkdir(parents=True, exist_ok=True)
    (tmp_path / "docs" / "intro.md").write_text("# Intro\n")
    (tmp_path / "docs" / "sub" / "data.json").write_text('{"a": 1}')
    (tmp_path / "outside.txt").write_text("do not serve")
    if not (tmp_path / "docs" / "link.txt").is_symlink():
        (tmp_path / "docs" / "link.txt").symlink_to(tmp_path / "outside.txt")
    (tmp_path / "prompt.md").write_text("Explain {{topic}} briefly.")
    transport = "transport: stdio" if stdio else ""
    text = CAPABILITY.format(upstream=upstream_url, transport=transport)
    if stdio:
        text = text.replace("    port: 9310\n", "")
    path = tmp_path / "rp.yml"
    path.write_text(text)
    return path


async def exercise(client: Client, upstream) -> None:
    """What an agent does: list, read every kind of resource, list and render prompts."""
    assert client.server_capabilities.resources is not None and client.server_capabilities.prompts is not None
    listed = {r.uri: r for r in (await client.list_resources()).resources}
    assert set(listed) == {"data://schema", "docs://guide/intro.md", "docs://guide/sub/data.json"}
    assert listed["data://schema"].title == "Schema" and listed["data://schema"].mime_type == "application/json"
    assert listed["docs://guide/intro.md"].mime_type == "text/markdown"
    templates = {t.name: t.uri_template for t in (await client.list_resource_templates()).resource_templates}
    assert templates == {"profile": "data://users/{userId}/profile", "file": "files://{+path}"}

    upstream.reset(lambda r: _json({"name": "Ada", "path": r.path}))
    read = await client.read_resource("data://users/u%207/profile")
    assert upstream.last.method == "POST" and upstream.last.path == "/databases/u%207/query"
    assert json.loads(read.contents[0].text) == "Ada"  # mapped by outputParameters
    assert read.contents[0].uri == "data://users/u%207/profile"
    read = await client.read_resource("files://a/b.txt")
    assert upstream.last.path == "/files/a%2Fb.txt", "a {+x} value is one placed input, encoded by the call"
    assert read.contents[0].mime_type == "text/plain"
    read = await client.read_resource("docs://guide/sub/data.json")
    assert read.contents[0].text == '{"a": 1}'

    calls = len(upstream.requests)
    unknown = ("docs://guide/../outside.txt", "docs://guide/sub/../../outside.txt", "docs://guide/link.txt")
    for uri in (*unknown, "data://users/a/b/profile"):
        with pytest.raises(MCPError) as raised:
            await client.read_resource(uri)
        assert raised.value.error.code == -32002 and "do not serve" not in str(raised.value)
    assert len(upstream.requests) == calls, "nothing was called for an unknown URI"

    prompts = {p.name: p for p in (await client.list_prompts()).prompts}
    assert [(a.name, a.required) for a in prompts["outreach"].arguments or []] == [
        ("participant", True),
        ("product", False),
    ]
    got = await client.get_prompt("outreach", {"participant": "Ada"})
    assert [(m.role, m.content.text) for m in got.messages] == [
        ("user", "Write to Ada about {{product}}."),  # D100: the engine keeps a placeholder it has no value for
        ("assistant", "Drafting for Ada."),
    ]
    got = await client.get_prompt("from-file", {"topic": "MCP"})
    assert got.messages[0].content.text == "Explain MCP briefly."
    with pytest.raises(MCPError) as raised:
        await client.get_prompt("outreach", {"product": "x"})
    assert raised.value.error.code == -32602 and "participant" in raised.value.error.message


def _json(value: object) -> Canned:
    return Canned(200, json.dumps(value).encode())


async def test_resources_and_prompts_over_http(tmp_path, upstream):
    with running_gateway([write(tmp_path, upstream.url)]) as gateway:
        for path in ("/mcp", "/mcp/rp"):
            async with Client(gateway.url(9310) + path) as client:
                await exercise(client, upstream)


async def test_resources_and_prompts_over_stdio(tmp_path, upstream):
    path = write(tmp_path, upstream.url, stdio=True)
    command = [sys.executable, "-m", "naftiko_runtime", "serve", "--stdio", str(path)]
    server = StdioServerParameters(command=command[0], args=command[1:], env=dict(os.environ), cwd=str(ROOT))
    async with Client(server) as client:
        await exercise(client, upstream)


@pytest.mark.parametrize(
    ("change", "line", "message"),
    [
        ('location: "file:///./prompt.md"', 'location: "file:///./absent.md"', "cannot read prompt file"),
        ('location: "file:///./docs"', 'location: "file:///./nowhere"', "is not a folder"),
        ('uri: "docs://guide"', 'uri: "docs://{x}"', "not a template"),
        ('uri: "data://schema"', 'uri: "data://{a"', "not a URI template"),
    ],
)
def test_bad_declarations_are_positioned_errors(tmp_path, change, line, message):
    path = write(tmp_path, "http://127.0.0.1:9")
    path.write_text(path.read_text().replace(change, line))
    report = load([path], Settings(), {}).reports[0]
    errors = [d for d in report.errors if message in d.message]
    assert errors, [str(d) for d in report.diagnostics]
    assert path.read_text().splitlines()[errors[0].line - 1].find(line.split(":")[0]) >= 0


def test_uri_templates_compile_once_and_match_in_reverse():
    template = UriTemplate.compile("data://users/{userId}/items/{+rest}")
    assert template.variables == ("userId", "rest")
    assert template.match("data://users/a%2Fb/items/x/y") == {"userId": "a/b", "rest": "x/y"}
    assert template.match("data://users/a/b/items/x") is None
    for bad in ("x://{a}{", "x://{a}/{a}", "x://{?q}"):
        with pytest.raises(UriTemplateError):
            UriTemplate.compile(bad)


REFERENCE = SHARED / "reference/src/test/resources/mcp/mcp-resources-prompts-capability.yaml"


@pytest.mark.skipif(not REFERENCE.exists(), reason="needs ../shared (the reference engine's test files)")
async def test_the_reference_engines_resources_and_prompts_file(upstream):
    """The reference engine's own fixture serves as that engine's tests expect it to."""
    with running_gateway([REFERENCE], base_uris={"mock-api": upstream.url}) as gateway:
        async with Client(gateway.url(9096) + "/mcp") as client:
            assert [r.uri for r in (await client.list_resources()).resources] == ["data://databases/pre-release/schema"]
            templates = (await client.list_resource_templates()).resource_templates
            assert [t.uri_template for t in templates] == ["data://users/{userId}/profile"]
            read = await client.read_resource("data://users/42/profile")
            assert upstream.last.method == "POST" and upstream.last.path == "/databases/42/query"
            assert read.contents[0].mime_type == "application/json"
            assert json.loads(upstream.last.body)["filter"]["property"] == "Status"
            got = await client.get_prompt("summary-prompt", {"data": "1,2,3", "format": "table"})
            assert [m.role for m in got.messages] == ["user", "assistant", "user"]
            assert got.messages[0].content.text == "Summarize the following data in table format:\n\n1,2,3"
