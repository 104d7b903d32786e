"""Issue 20, item 3: files imported from one API's per-area OpenAPI documents are served together.

Each of Polytomic's per-area documents names its operations `list`, `get`, `create`...: imported
as such, 18 of 21 files were refused for duplicate MCP tool names (D32). Tools are now named
`<namespace>-<operationId>` (or `--tool-prefix`), and a name that would collide, inside the file or
with a file it will be served with, stops the import before anything is written, naming both
operations. The oracle is the runtime itself: every file loads together, and real REST and MCP
calls reach a real upstream.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from mcp import Client
from ruamel.yaml import YAML
from support import API_KEY, CAPABILITIES, NAMESPACES, running_gateway
from test_import_openapi import ENVIRON, POLYTOMIC, naftiko, read_yaml

from naftiko_runtime.importing.openapi import OpenAPIImportError, import_openapi
from naftiko_runtime.importing.openapi import main as import_command

MCP_TOOL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
"""The MCP specification's tool names (2025-11-25, "Tool names")."""
SCHEMA_NAME = re.compile(r"^[a-zA-Z0-9-]+$")
"""The alpha2 schema's IdentifierKebab, which a tool's `name` must match."""
DOCUMENTS = {"polytomic-modelsync": "polytomic-subpackage-modelsync-api-openapi.yml"}
DOCUMENTS["polytomic-bulksync"] = "polytomic-subpackage-bulksync-api-openapi.yml"
AREAS = [
    "users", "organizations", "models", "schedules", "jobs", "events", "identity", "permissions", "policies",
    "roles", "webhooks", "notifications", "query-runner", "schemas", "targets", "sources", "enrichment",
    "alerts", "audit",
]  # fmt: skip
"""19 more areas shaped like Polytomic's (21 documents in all, as in the issue)."""
SYNC_ID = "248df4b7-aa70-47b8-a036-33ac447e668d"


def area_document(area: str) -> dict:
    """A per-area document as Polytomic's generator writes them: the same operationIds in each."""
    item = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
    body = {"content": {"application/json": {"schema": {"type": "object"}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": f"Reference Subpackage {area}", "version": "1.0.0"},
        "servers": [{"url": "https://app.polytomic.com"}],
        "tags": [{"name": f"subpackage_{area}"}],
        "security": [{"bearer": []}],
        "paths": {
            f"/api/{area}": {
                "get": {"operationId": "list", "summary": f"List {area}"},
                "post": {"operationId": "create", "summary": f"Create {area}", "requestBody": body},
            },
            f"/api/{area}/{{id}}": {
                "parameters": [item],
                "get": {"operationId": "get", "summary": f"Get {area}"},
                "put": {"operationId": "update", "summary": f"Update {area}", "requestBody": body},
                "delete": {"operationId": "delete", "summary": f"Delete {area}"},
            },
            f"/api/{area}/{{id}}/status": {"parameters": [item], "get": {"operationId": "get-status"}},
        },
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


def write_yaml(path: Path, document: dict) -> Path:
    with path.open("w", encoding="utf-8") as stream:
        YAML(typ="safe").dump(document, stream)
    return path


def tool_names(path: Path) -> list[str]:
    return [tool["name"] for tool in read_yaml(path)["capability"]["exposes"][1]["tools"]]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """21 documents imported one after the other into one folder, each checked against the files
    already there and against the hand-written Polytomic files it will be served with."""
    if not POLYTOMIC.is_dir():
        pytest.skip("../shared/polytomic absent")
    out = tmp_path_factory.mktemp("generated")
    served_with = ["--served-with", *map(str, CAPABILITIES)]
    for namespace, document in DOCUMENTS.items():
        target = str(out / f"{namespace}.yaml")
        result = naftiko("import", "openapi", str(POLYTOMIC / document), "--namespace", namespace, "--out", target)
        assert result.returncode == 0, result.stderr
    sources = tmp_path_factory.mktemp("documents")
    for area in AREAS:
        document = write_yaml(sources / f"{area}.yml", area_document(area))
        arguments = [str(document), "--namespace", f"polytomic-{area}", "--out", str(out / f"{area}.yaml")]
        assert import_command([*arguments, *served_with]) == 0
    return out


@pytest.mark.slow
async def test_21_imported_files_are_served_with_the_hand_written_ones(folder, upstream, record_property):
    generated = sorted(folder.glob("*.yaml"))
    namespaces = [*NAMESPACES, *DOCUMENTS, *(f"polytomic-{area}" for area in AREAS)]
    with running_gateway(
        [*CAPABILITIES, *generated], ENVIRON, base_uris={ns: upstream.url for ns in namespaces}, read_timeout=2.0
    ) as gateway:
        async with Client(gateway.url(9090) + "/mcp") as client:
            names = [tool.name for tool in (await client.list_tools()).tools]
            imported = [name for path in generated for name in tool_names(path)]
            result = f"{len(generated)} files, {len(imported)} operations and tools, {len(names)} served, 0 conflicts"
            record_property("import_result", result)
            print(f"\nimport result: {result}")
            assert len(generated) == 21 and len(imported) == 23 + 6 * len(AREAS)
            assert len(names) == len(set(names)) == len(imported) + 23, "every tool of every file is served"
            assert {"polytomic-modelsync-list", "polytomic-bulksync-list", "polytomic-users-list"} <= set(names)
            assert all(MCP_TOOL_NAME.match(name) and SCHEMA_NAME.match(name) for name in names)

            calls = [
                ("polytomic-modelsync-get", {"id": SYNC_ID}, "GET", f"/api/syncs/{SYNC_ID}"),
                ("polytomic-bulksync-get-status", {"id": SYNC_ID}, "GET", f"/api/bulk/syncs/{SYNC_ID}/status"),
                ("polytomic-webhooks-create", {"body": {"url": "https://x"}}, "POST", "/api/webhooks"),
                ("list-bulk-syncs", {}, "GET", "/api/bulk/syncs"),  # a hand-written tool, beside them
            ]
            for tool, arguments, method, path in calls:
                upstream.requests.clear()
                result = await client.call_tool(tool, arguments)
                assert result.is_error is False, (tool, result.content)
                assert (upstream.last.method, upstream.last.path) == (method, path), tool
                assert upstream.last.headers["authorization"] == f"Bearer {API_KEY}", tool
        async with httpx.AsyncClient(base_url=gateway.url(8080)) as rest:
            for method, route, upstream_path in [
                ("GET", "/api/syncs?active=true", "/api/syncs"),  # generated from Polytomic's document
                ("GET", "/v1/api/syncs?active=true", "/api/syncs"),  # the hand-written file's route
                ("DELETE", f"/api/audit/{SYNC_ID}", f"/api/audit/{SYNC_ID}"),
            ]:
                upstream.requests.clear()
                response = await rest.request(method, route)
                assert response.status_code == 200, (route, response.text)
                assert (upstream.last.method, upstream.last.path) == (method, upstream_path), route


def test_a_collision_within_the_document_is_reported_before_writing(tmp_path, capsys):
    document = area_document("things")
    document["paths"]["/api/things/{id}/status"]["get"]["operationId"] = "getStatus"
    document["paths"]["/api/other"] = {"get": {"operationId": "get_status"}}
    out = tmp_path / "things.yaml"
    source = write_yaml(tmp_path / "things.yml", document)
    assert import_command([str(source), "--namespace", "t", "--out", str(out)]) == 1
    stderr = capsys.readouterr().err
    # The YAML dump sorted the paths: /api/other is the document's first.
    assert (
        "tool 't-get-status': GET /api/other (operationId 'get_status') and "
        "GET /api/things/{id}/status (operationId 'getStatus') both give this name"
    ) in stderr
    assert not out.exists(), "nothing is written"


def test_a_collision_with_a_file_in_the_output_folder_is_reported_before_writing(tmp_path, capsys):
    """The same prefix for two areas: the second import names the first file's tool, line and column."""
    target = tmp_path / "generated"
    target.mkdir()
    first, out = target / "users.yaml", target / "webhooks.yaml"
    users, webhooks = (write_yaml(tmp_path / f"{area}.yml", area_document(area)) for area in ("users", "webhooks"))
    assert import_command([str(users), "--namespace", "u", "--tool-prefix", "p", "--out", str(first)]) == 0
    arguments = [str(webhooks), "--namespace", "w", "--tool-prefix", "p", "--out", str(out)]
    capsys.readouterr()
    assert import_command(arguments) == 1
    stderr = capsys.readouterr().err
    match = re.search(
        r"tool 'p-list' of GET /api/webhooks \(operationId 'list'\) is already defined at (.+):(\d+):(\d+) "
        r"\(the tool calling u\.list, MCP port 9090\)",
        stderr,
    )
    assert match, stderr
    assert Path(match[1]) == first
    assert first.read_text().splitlines()[int(match[2]) - 1][int(match[3]) - 1 :] == "name: p-list"
    assert stderr.count("is already defined") == 6, "every colliding tool is listed"
    assert not out.exists(), "nothing is written"
    again = [str(users), "--namespace", "u", "--tool-prefix", "p", "--out", str(first)]
    assert import_command(again) == 0, "the file being replaced is not a neighbour of itself"


def test_a_collision_with_a_named_file_is_reported(tmp_path, capsys):
    """`--served-with` names the files served together; the hand-written tool `list-bulk-syncs` is taken."""
    document = area_document("bulk-syncs")
    document["paths"]["/api/bulk-syncs"]["get"]["operationId"] = "listBulkSyncs"
    source = write_yaml(tmp_path / "bulk.yml", document)
    arguments = [str(source), "--namespace", "b", "--tool-prefix", "", "--served-with", *map(str, CAPABILITIES)]
    assert import_command(arguments) == 1
    captured = capsys.readouterr()
    assert captured.out == "", "nothing is written"
    bulk = next(path for path in CAPABILITIES if "bulksync" in path.name)
    assert (
        f"tool 'list-bulk-syncs' of GET /api/bulk-syncs (operationId 'listBulkSyncs') is already defined at {bulk}:"
        in captured.err
    )
    assert "(the tool calling polytomic-subpackage-bulksync.list, MCP port 9090)" in captured.err


def test_an_unreadable_named_file_is_an_error(tmp_path, capsys):
    source = write_yaml(tmp_path / "a.yml", area_document("a"))
    assert import_command([str(source), "--namespace", "a", "--served-with", str(tmp_path / "missing.yaml")]) == 1
    assert "missing.yaml: cannot be read" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("operation", "name"),
    [
        ({"operationId": "getSourceFields", "summary": "Get Source Fields"}, "n-get-source-fields"),
        ({"summary": "List Bulk Syncs"}, "n-list-bulk-syncs"),
        ({"summary": "Lists every bulk sync of the organization, newest first"}, "n-get-api-x-id"),
        ({}, "n-get-api-x-id"),
    ],
)
def test_a_tool_is_named_from_its_operation_id_else_a_short_summary_else_its_route(operation, name):
    document = {
        "openapi": "3.1.0",
        "info": {"title": "N", "version": "1"},
        "servers": [{"url": "https://api.example.com"}],
        "paths": {"/api/x/{id}": {"get": operation}},
    }
    imported = import_openapi(document, "n")
    assert [tool.name for tool in imported.tools] == [name]
    assert tool_names_of(imported.text) == [name]


def tool_names_of(text: str) -> list[str]:
    return [tool["name"] for tool in YAML(typ="safe").load(text)["capability"]["exposes"][1]["tools"]]


def test_a_name_beyond_the_mcp_limit_is_refused():
    document = area_document("things")
    with pytest.raises(
        OpenAPIImportError, match=r"tool 'x{120}-get-status' of GET .*: 131 characters, the MCP limit is 128"
    ):
        import_openapi(document, "n", tool_prefix="x" * 120)
