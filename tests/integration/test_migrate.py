"""Issue 11, item 6: `naftiko migrate` rewrites alpha2 files into Ikanos beta4 (CONTRACT D70).

The two Polytomic files are migrated with the command line; the results validate against the
official beta4 schema (read from ../shared, skipped when absent) and serve identically: the
existing Polytomic REST, MCP and SDK tests run unchanged against a gateway serving them.
Decisions the dialect changes are cited where they apply: D3 (beta4 has no place for the
published alpha2 extensions, so migrate moves them), D40 (a pass-through object output is written
`properties: {}`), D26 (declared tool inputs default to required, so migrate says `required`).
"""

from __future__ import annotations

import json
import re

import pytest
import test_mcp_polytomic as mcp_tests
import test_polytomic_sdk as sdk_tests
import test_rest_polytomic as rest_tests
from polytomic_cases import CASES, Case
from ruamel.yaml import YAML
from support import API_KEY, CAPABILITIES, NAMESPACES, SHARED, running_gateway

from naftiko_runtime import Settings, load
from naftiko_runtime.cli import main
from naftiko_runtime.serving.catalog import route_rows
from naftiko_runtime.spec.migrate import migrate_text

BETA4_SCHEMA = SHARED / "spec" / "ikanos-1.0.0-beta4" / "schemas" / "ikanos-schema.json"


@pytest.fixture(scope="module")
def migrated(tmp_path_factory):
    out = tmp_path_factory.mktemp("beta4")
    assert main(["migrate", *map(str, CAPABILITIES), "--to", "1.0.0-beta4", "--out", str(out)]) == 0
    return sorted(out.glob("*.yaml"))


@pytest.fixture(scope="module")
def beta4_gateway(upstream, migrated):
    environ = {"POLYTOMIC_API_KEY": API_KEY}
    with running_gateway(
        migrated, environ, base_uris={ns: upstream.url for ns in NAMESPACES}, read_timeout=2.0, total_timeout=3.0
    ) as gateway:
        yield gateway


def test_migrated_files_are_beta4_and_validate_against_the_official_schema(migrated):
    jsonschema = pytest.importorskip("jsonschema")
    if not BETA4_SCHEMA.is_file():
        pytest.skip("shared reference folder absent")
    validator = jsonschema.Draft202012Validator(json.loads(BETA4_SCHEMA.read_text(encoding="utf-8")))
    assert [p.name for p in migrated] == [p.name for p in CAPABILITIES]
    for path in migrated:
        document = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
        assert document["ikanos"] == "1.0.0-beta4"
        errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(document)]
        assert errors == [], path.name


def test_migrated_files_load_cleanly_and_route_the_same(migrated):
    """The same REST routes and MCP tools, calling the same consumed operations."""
    settings, environ = Settings(), {"POLYTOMIC_API_KEY": API_KEY}
    before, after = load(CAPABILITIES, settings, environ), load(migrated, settings, environ)
    assert after.diagnostics == []
    assert [str(row) for row in route_rows(after.listeners)] == [str(row) for row in route_rows(before.listeners)]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.tool)
def test_rest_operation_on_migrated_files(beta4_gateway, upstream, case: Case):
    rest_tests.test_operation_reaches_upstream_as_declared(beta4_gateway, upstream, case)


async def test_mcp_tools_list_on_migrated_files(beta4_gateway):
    """D26/D28: the consumed typing moved to the tools gives the same input schemas."""
    await mcp_tests.test_tools_list_has_23_precise_tools(beta4_gateway.url(9090) + "/mcp")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.tool)
async def test_mcp_tool_call_on_migrated_files(beta4_gateway, upstream, case: Case):
    await mcp_tests.test_tool_call_sends_what_rest_sends(
        beta4_gateway, upstream, beta4_gateway.url(9090) + "/mcp", case
    )


def test_sdk_on_migrated_files(beta4_gateway, upstream):
    pytest.importorskip("polytomic")
    client = sdk_tests.polytomic_sdk.Polytomic(
        base_url=beta4_gateway.url(8080) + "/v1", token="anything", version="2024-02-08", max_retries=0
    )
    sdk_tests.test_sdk_drives_all_23_operations(client, upstream)
    sdk_tests.test_sdk_deep_object_params(client, upstream)
    sdk_tests.test_sdk_sees_upstream_errors(client, upstream)


ALPHA2 = """\
# A capability in the alpha2 dialect.
naftiko: 1.0.0-alpha2
info:
  title: Items   # D3: title is a synonym of label
  description: Items by id.
capability:
  consumes:
  - type: http
    namespace: api
    baseUri: http://upstream.invalid
    resources:
    - name: item_by_id       # '_' is an alpha2 extension (D3)
      path: /items/{id}
      operations:
      - name: get_item
        method: GET
        inputParameters:
        - {name: id, in: path, type: string, description: The id., required: true}
        outputParameters:
        - {name: item, type: object, value: $.}
  exposes:
  - type: rest
    namespace: api-rest
    port: 8080
    description: The REST face.
    resources:
    - path: /items/{id}
      operations:
      - method: GET
        call: api.get_item
        with: {id: rest.id}
        outputParameters:
        - {type: object, mapping: $.}
  - type: mcp
    namespace: api-mcp
    port: 9090
    tools:
    - name: get-item
      label: Get an item
      description: One item.
      call: api.get_item
      with: {id: tools.id}
"""


def test_comments_key_order_and_renames():
    text, notes = migrate_text(ALPHA2)
    assert notes == []
    assert text.startswith("# A capability in the alpha2 dialect.\nikanos: 1.0.0-beta4\n")
    assert re.search(r"\n  display: Items +# D3: title is a synonym of label\n", text)
    assert re.search(r"\n      item-by-id: +# '_' is an alpha2 extension \(D3\)\n", text)
    assert "call: api.get-item" in text and "get_item" not in text
    assert "# description: The REST face." in text
    document = YAML(typ="safe").load(text)
    tool = document["capability"]["exposes"][1]["tools"]["get-item"]
    assert list(tool) == ["display", "description", "inputParameters", "call", "with"]
    assert tool["inputParameters"] == {"id": {"type": "string", "description": "The id.", "required": True}}
    rest = document["capability"]["exposes"][0]["resources"]["items-id"]["operations"]["get"]
    assert rest["inputParameters"] == {"id": {"in": "path", "type": "string", "description": "The id."}}
    assert rest["outputParameters"] == [{"type": "object", "mapping": "$.", "properties": {}}]  # D40
    consumed = document["capability"]["consumes"][0]["resources"]["item-by-id"]["operations"]["get-item"]
    assert consumed["inputParameters"] == {"id": {"in": "path"}}
    assert consumed["outputParameters"] == {"item": {"type": "object", "value": "$."}}


def test_what_beta4_cannot_say_is_noted_and_left(tmp_path, capsys):
    source = tmp_path / "literal.yaml"
    source.write_text(ALPHA2.replace("with: {id: tools.id}", "with: {id: tools.id, flag: true}"))
    assert main(["migrate", str(source)]) == 0
    captured = capsys.readouterr()
    assert "flag" in captured.err and "beta4 takes a string or a number" in captured.err
    assert captured.out.startswith("# A capability")


def test_an_unreadable_file_fails_the_command(tmp_path, capsys):
    broken = tmp_path / "broken.yaml"
    broken.write_text("naftiko: [\n")
    assert main(["migrate", str(broken), "--out", str(tmp_path / "out")]) == 1
    assert "cannot migrate" in capsys.readouterr().err


def test_a_skill_without_tools_migrates_without_a_tools_key(tmp_path):
    """Issue 23, item 3: a descriptive skill (no tools) had `tools: null`, which beta4 refuses."""
    alpha2 = """\
naftiko: 1.0.0-alpha2
info: {label: Skills, description: A descriptive skill.}
capability:
  exposes:
  - type: skill
    namespace: guides
    port: 9097
    skills:
    - {name: onboarding-guide, description: A purely descriptive skill with no tools}
"""
    text, notes = migrate_text(alpha2)
    assert notes == []
    skill = YAML(typ="safe").load(text)["capability"]["exposes"][0]["skills"]["onboarding-guide"]
    assert skill == {"description": "A purely descriptive skill with no tools"}
    migrated = tmp_path / "skills.yaml"
    migrated.write_text(text)
    loaded = load([migrated], Settings(), {})
    assert [report.ok for report in loaded.reports] == [True], loaded.diagnostics
