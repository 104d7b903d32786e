"""Issue 11: the Ikanos 1.0.0-beta4/beta5 dialect, read into the one model (CONTRACT D70, D72).

- normalisation: maps keyed by name become the builder's lists, every changed path remembered;
- positions: every diagnostic points at the line and column of the file as the user wrote it;
- the 11-step Shipyard tutorial the spec ships, served: tests/integration/test_dialects_tutorial.py.

Decisions a dialect changes, cited where tested: D3 -> D72 (a beta4 schema violation is an error,
not a warning), D2 -> D72 (an unknown ikanos version is refused), D71 (imports, test_imports.py).
"""

from __future__ import annotations

import json
from pathlib import Path

from naftiko_runtime import Settings
from naftiko_runtime.serving.loading import load_source
from naftiko_runtime.spec.dialects import detect, normalise
from naftiko_runtime.spec.imports import prepare
from naftiko_runtime.spec.source import parse_text

TOOL = """\
ikanos: 1.0.0-beta4
capability:
  consumes:
  - type: http
    namespace: api
    baseUri: http://127.0.0.1:9
    resources:
      items:
        path: /items/{{id}}
        operations:
          get:
            method: GET
            inputParameters:
              id: {in: path}
  exposes:
  - type: mcp
    namespace: api-mcp
    port: 9090
    tools:
      get-item:
        display: One item
        description: One item by id.
        call: api.get
        with: {id: api-mcp.id}
      bad_name:
        description: A tool name with an underscore.
        call: api.nowhere
"""


def test_dialect_is_the_root_key():
    assert detect({"ikanos": "1.0.0-beta4"}).keyed_by_name
    assert not detect({"naftiko": "1.0.0-alpha2"}).keyed_by_name
    assert detect({"naftiko": 0.5}).version == "0.5"


def test_normalised_beta4_is_the_builders_alpha2_shape_with_origins():
    """D70: a tool at tools.get-item is tools[0] for the builder; its name is the map key."""
    data = parse_text(TOOL, Path("t.yaml")).data
    normalised, origins = normalise(data, detect(data))
    tool = normalised["capability"]["exposes"][0]["tools"][0]
    assert tool["name"] == "get-item" and tool["label"] == "One item" and "display" not in tool
    operation = normalised["capability"]["consumes"][0]["resources"][0]["operations"][0]
    assert operation["name"] == "get" and operation["inputParameters"] == [{"in": "path", "name": "id"}]
    assert normalised["naftiko"] == "1.0.0-beta4"
    tools_at = ("capability", "exposes", 0, "tools")
    assert origins[tools_at + (0,)] == tools_at + ("get-item",)
    assert origins[tools_at + (0, "name")] == tools_at + ("get-item",)
    assert origins[tools_at + (0, "label")] == tools_at + ("get-item", "display")
    assert data["capability"]["exposes"][0]["tools"]["get-item"]["display"] == "One item", "input left intact"


def test_origins_of_renamed_keys_in_lists():
    """Step mappings say `target`, aggregates hold `flows` (D70)."""
    data = {
        "ikanos": "1.0.0-beta4",
        "capability": {
            "aggregates": [
                {"display": "Ag", "flows": {"f": {"description": "d", "mappings": [{"target": "x", "value": "$"}]}}}
            ]
        },
    }
    normalised, origins = normalise(data, detect(data))
    flow = normalised["capability"]["aggregates"][0]["functions"][0]
    assert flow["name"] == "f" and flow["mappings"] == [{"targetName": "x", "value": "$"}]
    written = prepare(parse_text(json.dumps(data), Path("a.json"))).written
    assert written(("capability", "aggregates", 0, "functions", 0, "mappings", 0, "targetName")) == (
        "capability",
        "aggregates",
        0,
        "flows",
        "f",
        "mappings",
        0,
        "target",
    )


def test_builder_and_compiler_findings_point_into_the_written_file():
    """D70, D1: errors found on the normalised data are positioned where the user wrote them."""
    report = load_source(parse_text(TOOL, Path("tool.yaml")), Settings(), {})
    found = {(d.line, d.column, d.severity.value): d.message for d in report.diagnostics}
    assert any(k[:2] == (25, 7) and "bad_name" in m and k[2] == "error" for k, m in found.items()), found  # D72
    assert any(k[:2] == (27, 9) and "api.nowhere" in m for k, m in found.items()), found  # D4


def test_beta4_schema_violation_is_an_error_where_alpha2_warns():
    """D3 (alpha2: a warning) -> D72 (beta4: refused by name)."""
    alpha2 = "naftiko: 1.0.0-alpha2\ninfo: {label: A, description: B}\ncapability:\n  consumes: []\n  colour: red\n"
    beta4 = "ikanos: 1.0.0-beta4\ncapability:\n  consumes: []\n  colour: red\n"
    warned = load_source(parse_text(alpha2, Path("a.yaml")), Settings(), {})
    refused = load_source(parse_text(beta4, Path("b.yaml")), Settings(), {})
    assert [d.severity.value for d in warned.diagnostics if "colour" in d.message] == ["warning"]
    assert [(d.line, d.column, d.severity.value) for d in refused.diagnostics if "colour" in d.message] == [
        (4, 3, "error")
    ]


def test_never_a_traceback_on_odd_beta4_data():
    for text in ("ikanos: 1.0.0-beta4\ncapability: 5\n", "ikanos: [1]\n", "ikanos: 1.0.0-beta4\nconsumes: {a: 1}\n"):
        report = load_source(parse_text(text, Path("odd.yaml")), Settings(), {})
        assert report.errors and all(d.line >= 1 for d in report.diagnostics)


# ---------------------------------------------------------------------------------------------------
# The tutorial
