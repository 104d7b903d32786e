"""Issue 11: the Ikanos 1.0.0-beta4/beta5 dialect, read into the one model (CONTRACT D70, D72).

- translation up: alpha2 lists of named objects become the native maps, every changed path remembered;
- positions: every diagnostic points at the line and column of the file as the user wrote it;
- the served 11-step tutorial is tests/integration/test_dialects_tutorial.py.

Decisions a dialect changes, cited where tested: D3 -> D72 (a beta4 schema violation is an error,
not a warning), D2 -> D72 (an unknown ikanos version is refused), D71 (imports, test_imports.py).
"""

from __future__ import annotations

import json
from pathlib import Path

from naftiko_runtime import Settings
from naftiko_runtime.serving.loading import load_source
from naftiko_runtime.spec.dialects import detect, translate_up
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


ALPHA2_TOOL = """\
naftiko: 1.0.0-alpha2
capability:
  consumes:
  - type: http
    namespace: api
    baseUri: http://127.0.0.1:9
    resources:
    - name: items
      path: /items/{{id}}
      operations:
      - name: get
        method: GET
        inputParameters:
        - {name: id, in: path}
  exposes:
  - type: mcp
    namespace: api-mcp
    port: 9090
    tools:
    - name: get-item
      label: One item
      description: One item by id.
      call: api.get
      with: {id: api-mcp.id}
"""


def test_beta4_is_native_and_reaches_the_builder_as_written():
    """D70, D125: the current dialect is the model's form; nothing is rewritten, nothing recorded."""
    data = parse_text(TOOL, Path("t.yaml")).data
    native, origins = translate_up(data, detect(data))
    assert native is data and origins == {}


def test_alpha2_is_translated_up_with_origins():
    """D70, D125: a tool at tools[0] is tools.get-item natively; its key's name is tools[0].name."""
    data = parse_text(ALPHA2_TOOL, Path("t.yaml")).data
    native, origins = translate_up(data, detect(data))
    beta4 = parse_text(TOOL, Path("t.yaml")).data["capability"]
    tool = native["capability"]["exposes"][0]["tools"]["get-item"]
    assert tool == beta4["exposes"][0]["tools"]["get-item"], "the very data a beta4 file writes"
    assert tool["display"] == "One item" and "label" not in tool and "name" not in tool
    assert native["capability"]["consumes"] == beta4["consumes"]
    tools_at = ("capability", "exposes", 0, "tools")
    assert origins[tools_at + ("get-item",)] == tools_at + (0,)
    assert origins[tools_at + ("get-item", "name")] == tools_at + (0, "name")
    assert origins[tools_at + ("get-item", "display")] == tools_at + (0, "label")
    assert data["capability"]["exposes"][0]["tools"][0]["label"] == "One item", "input left intact"


def test_origins_of_renamed_keys_in_lists():
    """Step mappings say `target`, aggregates hold `flows` (D70)."""
    data = {
        "naftiko": "1.0.0-alpha2",
        "capability": {
            "aggregates": [
                {
                    "label": "Ag",
                    "functions": [{"name": "f", "description": "d", "mappings": [{"targetName": "x", "value": "$"}]}],
                }
            ]
        },
    }
    native, _ = translate_up(data, detect(data))
    flow = native["capability"]["aggregates"][0]["flows"]["f"]
    assert flow["mappings"] == [{"target": "x", "value": "$"}]
    written = prepare(parse_text(json.dumps(data), Path("a.json"))).written
    assert written(("capability", "aggregates", 0, "flows", "f", "mappings", 0, "target")) == (
        "capability",
        "aggregates",
        0,
        "functions",
        0,
        "mappings",
        0,
        "targetName",
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
