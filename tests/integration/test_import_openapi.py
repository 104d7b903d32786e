"""Issue 14, part 3: `naftiko import openapi` turns Polytomic's own OpenAPI documents into capabilities
that the official `polytomic` SDK drives exactly as it drives the hand-written files.

The oracles are independent of the importer: the runtime's own `naftiko validate`, the official
JSON Schema of each dialect (`../shared/spec`), the hand-written capability files (the upstream
must receive byte-identical requests) and the `mcp` package's client.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from polytomic_cases import CASES, SYNC_ID
from ruamel.yaml import YAML
from support import API_KEY, ROOT, SHARED, Canned, Gateway, running_gateway

from naftiko_runtime import load
from naftiko_runtime.importing.openapi import OpenAPIImportError, import_openapi
from naftiko_runtime.settings import Settings

polytomic_sdk = pytest.importorskip("polytomic")
from test_polytomic_sdk import calls  # noqa: E402  (the 23 SDK calls of the hand-written files' test)

POLYTOMIC = SHARED / "polytomic"
ALPHA2_SCHEMA = SHARED / "spec" / "naftiko-schema-alpha2.json"
BETA4_SCHEMA = SHARED / "spec" / "ikanos-1.0.0-beta4" / "schemas" / "ikanos-schema.json"
ABSENT = "../shared (Polytomic OpenAPI, official schemas) absent"
needs_shared = pytest.mark.skipif(not POLYTOMIC.is_dir(), reason=ABSENT)
SPLIT = {  # namespace -> (OpenAPI document, import options): the hand-written files' namespaces
    "polytomic-subpackage-modelsync": ("polytomic-subpackage-modelsync-api-openapi.yml", []),
    # Both documents name their operations `list`, `get`, ...: the tools are prefixed by the namespace
    # (the default) or by --tool-prefix (issue 20).
    "polytomic-subpackage-bulksync": ("polytomic-subpackage-bulksync-api-openapi.yml", ["--tool-prefix", "bulk"]),
}
MERGED = "polytomic-syncs-merged.examples.security.yml"
ENVIRON = {"POLYTOMIC_API_KEY": API_KEY}


def naftiko(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "naftiko_runtime", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=dict(os.environ, **(env or {})),
        timeout=60,
    )


def read_yaml(path: Path):
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


def schema_validator(path: Path):
    jsonschema = pytest.importorskip("jsonschema")
    return jsonschema.Draft202012Validator(json.loads(path.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> dict[str, list[Path]]:
    """The three Polytomic documents imported once, the split ones through the real command."""
    if not POLYTOMIC.is_dir():
        pytest.skip(ABSENT)
    out = tmp_path_factory.mktemp("imported")
    split = []
    for namespace, (document, options) in SPLIT.items():
        target = out / f"{namespace}.yaml"
        result = naftiko(
            "import", "openapi", str(POLYTOMIC / document), "--namespace", namespace, "--out", str(target), *options
        )
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        split.append(target)
    merged = out / "polytomic.yaml"
    merged.write_text(
        import_openapi(read_yaml(POLYTOMIC / MERGED), "polytomic", rest_prefix="/v1").text, encoding="utf-8"
    )
    return {"split": split, "merged": [merged]}


# ------------------------------------------------------------------------------------------------
# Valid for the runtime and for the official schemas


@pytest.mark.parametrize("variant", ["split", "merged"])
def test_generated_files_pass_naftiko_validate_without_a_finding(imported, variant):
    """The split files are checked together: they share ports 8080 and 9090, as they are served."""
    files = imported[variant]
    result = naftiko("validate", *map(str, files), env=ENVIRON)
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip() == f"{len(files)} of {len(files)} files valid; 0 errors, 0 warnings"


def test_generated_alpha2_is_valid_against_the_official_schema(imported):
    """Unlike the hand-written files (valid only with the D3 dialect), the import needs no extension."""
    official = schema_validator(ALPHA2_SCHEMA)
    for path in imported["split"] + imported["merged"]:
        errors = [f"{e.json_path}: {e.message[:200]}" for e in official.iter_errors(read_yaml(path))]
        assert errors == [], path.name
    hand_written = read_yaml(ROOT / "capabilities" / "polytomic-subpackage-modelsync.yaml")
    assert list(official.iter_errors(hand_written)), "the oracle accepts the D3 dialect: it would prove nothing"


@needs_shared
@pytest.mark.parametrize("document", [doc for doc, _ in SPLIT.values()] + [MERGED])
def test_generated_beta4_is_valid_against_the_official_beta4_schema(document):
    """beta4 keys resources, operations, inputs and tools by name; the runtime cannot load it yet."""
    text = import_openapi(read_yaml(POLYTOMIC / document), "polytomic", dialect="beta4").text
    doc = YAML(typ="safe").load(text)
    assert [e.message for e in schema_validator(BETA4_SCHEMA).iter_errors(doc)] == []
    assert doc["ikanos"] == "1.0.0-beta4" and "display" in doc["info"]
    rest, mcp = doc["capability"]["exposes"]
    assert isinstance(mcp["tools"], dict) and isinstance(rest["resources"], dict)
    assert all(isinstance(tool["inputParameters"], dict) for tool in mcp["tools"].values() if "inputParameters" in tool)


def test_security_scheme_becomes_an_env_bind_like_the_hand_written_files(imported):
    doc = read_yaml(imported["split"][0])
    assert doc["binds"] == [{"namespace": "env", "keys": {"POLYTOMIC_API_KEY": "POLYTOMIC_API_KEY"}}]
    consumes = doc["capability"]["consumes"][0]
    assert consumes["authentication"] == {"type": "bearer", "token": "{{env.POLYTOMIC_API_KEY}}"}
    assert consumes["baseUri"] == "https://app.polytomic.com"


@pytest.mark.parametrize(
    "scheme, environ, sent",
    [
        ({"type": "apiKey", "in": "header", "name": "X-Api-Key"}, {"EXAMPLE_API_KEY": "k-123"}, ("header", "k-123")),
        ({"type": "apiKey", "in": "query", "name": "api_key"}, {"EXAMPLE_API_KEY": "k-123"}, ("query", "k-123")),
        (
            {"type": "http", "scheme": "basic"},
            {"EXAMPLE_USERNAME": "u", "EXAMPLE_PASSWORD": "p"},
            ("header", "Basic dTpw"),
        ),
    ],
    ids=["apikey-header", "apikey-query", "basic"],
)
async def test_security_scheme_is_filled_from_the_gateway_environment(tmp_path, upstream, scheme, environ, sent):
    """security -> binds: the upstream gets the credential from the gateway's environment, and no
    caller (REST) or agent (MCP) is asked for it."""
    document = {
        "openapi": "3.0.3",
        "info": {"title": "Example", "version": "1"},
        "servers": [{"url": "https://api.example.com/v1"}],
        "security": [{"key": []}],
        "components": {"securitySchemes": {"key": scheme}},
        "paths": {
            "/things/{id}": {
                "get": {
                    "operationId": "getThing",
                    "parameters": [{"name": "api_key", "in": "query", "schema": {"type": "string"}}],
                }
            }
        },
    }
    path = tmp_path / "example.yaml"
    path.write_text(import_openapi(document, "example").text, encoding="utf-8")
    upstream.reset(lambda request: Canned(200, b"{}"))
    with running_gateway([path], environ, base_uris={"example": upstream.url}) as gateway:
        async with httpx.AsyncClient() as client:  # the REST route keeps the server URL's path (/v1)
            assert (await client.get(gateway.url(8080) + "/v1/things/7")).status_code == 200
        async with Client(gateway.url(9090) + "/mcp") as client:
            (tool,) = (await client.list_tools()).tools
    received = upstream.last
    assert received.path == "/things/7"
    where, value = sent
    if where == "query":
        assert received.query == [("api_key", value)]  # the gateway's key only, the document's parameter dropped
    else:
        assert received.headers[scheme.get("name", "Authorization").lower()] == value
    assert tool.name == "example-get-thing" and set(tool.input_schema["properties"]) == (
        {"id"} if where == "query" else {"id", "api_key"}
    )


# ------------------------------------------------------------------------------------------------
# The official SDK: the same 23 calls, the same upstream requests as with the hand-written files


@dataclass
class Served:
    gateway: Gateway
    files: list[Path]
    sdk_base_url: str


@pytest.fixture(scope="module", params=["split", "merged"])
def generated(request, imported, upstream) -> Served:
    """The generated files served against the recording upstream."""
    files = imported[request.param]
    namespaces = list(SPLIT) if request.param == "split" else ["polytomic"]
    with running_gateway(
        files, ENVIRON, base_uris={ns: upstream.url for ns in namespaces}, read_timeout=2.0, total_timeout=3.0
    ) as gateway:
        prefix = "" if request.param == "split" else "/v1"  # the merged import used rest_prefix="/v1"
        yield Served(gateway, files, gateway.url(8080) + prefix)


def sdk(base_url: str):
    return polytomic_sdk.Polytomic(base_url=base_url, token="caller-token", version="2024-02-08", max_retries=0)


def record(upstream, client) -> list:
    upstream.reset(lambda request: Canned(200, b"{}"))
    seen = []
    for name, call, _, _ in calls(client):
        upstream.requests.clear()
        call()
        assert len(upstream.requests) == 1, name
        received = upstream.last
        seen.append(
            (
                name,
                received.method,
                received.path,
                sorted(received.query),
                received.body,
                received.headers.get("authorization"),
                received.headers.get("x-polytomic-version"),
                received.headers.get("content-type"),
            )
        )
    return seen


def test_sdk_makes_the_same_23_upstream_calls_as_with_the_hand_written_files(polytomic, generated, upstream):
    hand_written = record(upstream, sdk(polytomic.url(8080) + "/v1"))
    imported_calls = record(upstream, sdk(generated.sdk_base_url))
    assert len(imported_calls) == 23
    assert imported_calls == hand_written
    for name, *_, authorization, version, _ in imported_calls:
        assert authorization == f"Bearer {API_KEY}", name  # the gateway's key, not the caller's (D33)
        assert version == "2024-02-08", name


# ------------------------------------------------------------------------------------------------
# MCP: typed tools, and the same upstream requests as the hand-written tools


def tool_names(paths: list[Path]) -> dict[tuple[str, str], str]:
    """(method, consumed path) -> generated tool name, read from the generated files."""
    names = {}
    for path in paths:
        capability = read_yaml(path)["capability"]
        operations = {
            f"{c['namespace']}.{o['name']}": (o["method"], r["path"])
            for c in capability["consumes"]
            for r in c["resources"]
            for o in r["operations"]
        }
        names.update({operations[t["call"]]: t["name"] for t in capability["exposes"][1]["tools"]})
    return names


async def test_mcp_tools_have_typed_input_schemas(generated):
    async with Client(generated.gateway.url(9090) + "/mcp") as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert len(tools) == 23
    for tool in tools.values():
        properties = tool.input_schema["properties"]
        assert properties, tool.name
        assert all(p.get("type") in ("string", "integer", "boolean", "object") for p in properties.values()), tool.name
        assert "Authorization" not in properties, tool.name  # D29: the gateway holds the key
    list_syncs = next(t for t in tools.values() if "limit" in t.input_schema["properties"])
    assert list_syncs.input_schema["properties"]["limit"]["type"] == "integer"
    assert list_syncs.input_schema["properties"]["active"]["type"] == "boolean"
    assert list_syncs.annotations.read_only_hint is True
    get_source = next(t for t in tools.values() if "params" in t.input_schema["properties"])
    assert get_source.input_schema["properties"]["params"]["type"] == "object"
    assert get_source.input_schema["required"] == ["id"]
    deletes = [t for t in tools.values() if t.annotations.destructive_hint]
    assert len(deletes) == 2 and all(t.annotations.idempotent_hint for t in deletes)


async def test_generated_tools_send_what_the_hand_written_tools_send(polytomic, generated, upstream):
    """The 23 cases of the hand-written tools' test, each also sent to the generated tool of the same operation."""
    names = tool_names(generated.files)
    async with (
        Client(polytomic.url(9090) + "/mcp") as hand_written,
        Client(generated.gateway.url(9090) + "/mcp") as imported_tools,
    ):
        for case in CASES:
            arguments = dict(case.arguments, **{"X-Polytomic-Version": "2024-02-08"})
            assert (await hand_written.call_tool(case.tool, arguments)).is_error is False, case.tool
            expected = upstream.last
            upstream.requests.clear()
            name = names[(case.method, case.upstream_path.replace(SYNC_ID, "{id}"))]
            result = await imported_tools.call_tool(name, arguments)
            assert result.is_error is False, (name, result.content)
            received = upstream.last
            assert (received.method, received.target, received.body) == (
                expected.method,
                expected.target,
                expected.body,
            ), name
            for header in ("authorization", "x-polytomic-version", "content-type"):
                assert received.headers.get(header) == expected.headers.get(header), (name, header)


# ------------------------------------------------------------------------------------------------
# A large document, and any small one


def large_document(operations: int) -> dict:
    """A document shaped like real ones: path-level parameters, queries, headers, $ref'd bodies."""
    paths = {}
    for i in range(operations // 2):
        paths[f"/things{i}/{{id}}"] = {
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "get": {
                "operationId": f"getThing{i}",
                "summary": f"Get thing {i}",
                "parameters": [
                    {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                    {"name": "X-Version", "in": "header", "schema": {"type": "string"}},
                ],
            },
            "put": {
                "operationId": f"putThing{i}",
                "summary": f"Replace thing {i}",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}},
                },
            },
        }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Large", "version": "1"},
        "servers": [{"url": "https://api.large.example/v2"}],
        "paths": paths,
        "components": {
            "schemas": {"Thing": {"type": "object", "properties": {"a": {"type": "string"}}}},
            "securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}},
        },
    }


@pytest.mark.slow
def test_a_1000_operation_document_imports_in_under_10_seconds(tmp_path, record_property):
    document = large_document(1000)
    started = time.perf_counter()
    imported = import_openapi(document, "large")
    elapsed = time.perf_counter() - started
    record_property("import_1000_operations_seconds", round(elapsed, 2))
    print(f"\n1,000-operation import: {elapsed:.2f} s, {len(imported.text.splitlines())} lines")
    assert imported.operations == 1000 and imported.skipped == ()
    # Timed, not asserted (machines are noisy): the issue's bound is 10 s; the figure is in the report.
    path = tmp_path / "large.yaml"
    path.write_text(imported.text, encoding="utf-8")
    loaded = load([path], Settings(), {"LARGE_API_KEY": "k"})
    assert loaded.reports[0].ok and loaded.diagnostics == []


NAMES = st.sampled_from(
    [
        "id",
        "limit",
        "page-size",
        "page_size",
        "Authorization",
        "X-Api-Key",
        "Accept",
        "body",
        "filter[name]",
        "Content-Length",
        "user.id",
        "q",
    ]
)
SCHEMAS = st.sampled_from(
    [
        {"type": "string"},
        {"type": "integer"},
        {"type": ["boolean", "null"]},
        {"items": {}},
        {"type": "object", "additionalProperties": True},
        {"$ref": "#/components/schemas/Thing"},
        {"$ref": "#/components/schemas/Missing"},
        {"$ref": "https://elsewhere/x.json"},
        {"oneOf": [{"type": "string"}, {"type": "integer"}]},
        {"allOf": [{"type": "number"}]},
        {},
    ]
)
PARAMETER = st.fixed_dictionaries(
    {"name": NAMES, "in": st.sampled_from(["query", "header", "path", "cookie", "querystring"])},
    optional={"schema": SCHEMAS, "required": st.booleans(), "description": st.text(max_size=30)},
)
BODY = st.one_of(
    st.just({"$ref": "#/components/requestBodies/Thing"}),
    st.fixed_dictionaries(
        {
            "content": st.dictionaries(
                st.sampled_from(["application/json", "application/vnd.api+json", "text/plain", "multipart/form-data"]),
                st.fixed_dictionaries({}, optional={"schema": SCHEMAS}),
                max_size=2,
            )
        },
        optional={"required": st.booleans()},
    ),
)
OPERATION = st.fixed_dictionaries(
    {},
    optional={
        "operationId": st.sampled_from(["list", "getThing", "get_thing", "get-thing", "", "Ünïcode op"]),
        "summary": st.text(max_size=40),
        "parameters": st.lists(PARAMETER, max_size=4),
        "requestBody": BODY,
    },
)
SEGMENT = st.sampled_from(["things", "v1", "{id}", "{thing-id}", "{user.id}", "file.{ext}", "a b", "..", "%7E", ""])
PATH = st.lists(SEGMENT, min_size=1, max_size=3).map(lambda segments: "/" + "/".join(segments))
PATH_ITEM = st.dictionaries(
    st.sampled_from(["get", "post", "put", "delete", "patch", "head", "trace"]), OPERATION, min_size=1, max_size=3
)
SCHEMES = st.dictionaries(
    st.sampled_from(["bearer", "basic", "digest", "header", "query", "cookie", "oauth", "tls"]),
    st.just(None),
    max_size=3,
).map(
    lambda chosen: {
        name: {
            "bearer": {"type": "http", "scheme": "bearer"},
            "basic": {"type": "http", "scheme": "basic"},
            "digest": {"type": "http", "scheme": "digest"},
            "header": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
            "query": {"type": "apiKey", "in": "query", "name": "api_key"},
            "cookie": {"type": "apiKey", "in": "cookie", "name": "session"},
            "oauth": {"type": "oauth2", "flows": {}},
            "tls": {"type": "mutualTLS"},
        }[name]
        for name in chosen
    }
)
DOCUMENT = st.fixed_dictionaries(
    {
        "openapi": st.sampled_from(["3.0.3", "3.1.0", "3.2.0", "3.0.0", "3.1.1", "2.0"]),
        "info": st.fixed_dictionaries({"title": st.text(max_size=20), "version": st.just("1")}),
        "servers": st.sampled_from(
            [
                [{"url": "https://api.example.com/v1"}],
                [{"url": "http://example.com/"}],
                [{"url": "https://{region}.example.com", "variables": {"region": {"default": "eu"}}}],
                [{"url": "https://api.example.com"}],
                [],
                [{"url": "/relative"}],
            ]
        ),
        "paths": st.dictionaries(PATH, PATH_ITEM, min_size=1, max_size=4),
        "components": st.fixed_dictionaries(
            {
                "schemas": st.just({"Thing": {"type": "object"}}),
                "securitySchemes": SCHEMES,
                "requestBodies": st.just(
                    {"Thing": {"required": True, "content": {"application/json": {"schema": {}}}}}
                ),
            }
        ),
    }
)


OFFICIAL_ALPHA2 = schema_validator(ALPHA2_SCHEMA) if ALPHA2_SCHEMA.is_file() else None


@given(document=DOCUMENT)
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
def test_any_small_document_gives_a_valid_capability_or_a_clear_error(document, tmp_path):
    """Never a traceback: either OpenAPIImportError with a reason, or a file valid for the runtime and
    for the official schema, with one tool per imported operation."""
    try:
        imported = import_openapi(document, "generated")
    except OpenAPIImportError as error:
        assert str(error).strip()
        return
    path = tmp_path / "generated.yaml"
    path.write_text(imported.text, encoding="utf-8")
    environ = {
        name: "secret" for name in ("EXAMPLE_API_KEY", "EXAMPLE_USERNAME", "EXAMPLE_PASSWORD", "EXAMPLE_ACCESS_TOKEN")
    }
    loaded = load([path], Settings(), environ)
    assert [str(d) for d in loaded.diagnostics] == [], imported.text
    doc = YAML(typ="safe").load(imported.text)
    assert len(doc["capability"]["exposes"][1]["tools"]) == imported.operations
    if ALPHA2_SCHEMA.is_file():
        assert [e.message for e in OFFICIAL_ALPHA2.iter_errors(doc)] == [], imported.text
