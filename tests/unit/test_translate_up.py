"""Issue 19, item 1: the current dialect is the model's native form; alpha2 is translated up into it
(CONTRACT D70, decisions D125, D126).

- direction: a beta4 document reaches the builder as written (the very object, no origins); an
  alpha2 document reaches it with no list of named objects left that the native form keys by name;
- positions: alpha2 documents generated with an injected mistake (hypothesis) get the diagnostic
  at the line and column of the injected node as written, through the translation's origins,
  including an entry's ``name:`` (a map key natively);
- the published alpha2 files (``capabilities/``) translate to the native shape everywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from naftiko_runtime import Settings
from naftiko_runtime.serving.loading import load_source
from naftiko_runtime.spec.dialects import detect, translate_up
from naftiko_runtime.spec.imports import prepare
from naftiko_runtime.spec.source import parse_text
from naftiko_runtime.spec.translation import ADAPTER_RULES, LABEL, named, obj, register_adapter_rule

ROOT = Path(__file__).resolve().parents[2]
NAMED = {"resources", "operations", "inputParameters", "tools", "steps", "prompts", "arguments", "skills", "flows"}
"""Keys whose entries the native form keys by name."""


def lists_of_named(node: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of lists, under a key the native form keys by name, whose items all carry a name."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if (
                key in NAMED
                and isinstance(value, list)
                and value
                and all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in value)
            ):
                found.append(at + (key,))
            found += lists_of_named(value, at + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += lists_of_named(value, at + (index,))
    return found


def test_a_beta4_document_reaches_the_builder_unchanged():
    text = "ikanos: 1.0.0-beta4\ncapability:\n  consumes: []\n  exposes:\n  - {type: mcp, namespace: m, tools: {}}\n"
    source = parse_text(text, Path("b.yaml"))
    prepared = prepare(source)
    assert prepared.data is source.data and prepared.origins == {}


def test_published_alpha2_files_leave_no_named_list():
    files = sorted((ROOT / "capabilities").glob("*.y*ml"))
    assert files
    for file in files:
        source = parse_text(file.read_text(encoding="utf-8"), file)
        assert lists_of_named(source.data), f"{file.name}: an alpha2 file writes named lists"
        assert lists_of_named(prepare(source).data) == [], file.name


NAMES = st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True)


@st.composite
def alpha2_documents(draw: st.DrawFn) -> tuple[str, str, str]:
    """An alpha2 capability (text), the marker of its injected mistake and the key that holds it."""
    operations = draw(st.lists(NAMES, min_size=1, max_size=4, unique=True))
    resources = []
    for index, chunk in enumerate([operations[:2], operations[2:]]):
        if chunk:
            ops = [
                {"name": op, "method": "GET", "inputParameters": [{"name": "q", "in": "query", "label": "Q"}]}
                for op in chunk
            ]
            resources.append({"name": f"r{index}", "label": "R", "path": f"/r{index}", "operations": ops})
    tool_names = draw(st.lists(NAMES, min_size=1, max_size=4, unique=True))
    tools: list[dict[str, Any]] = [
        {"name": t, "label": "T", "description": "d", "call": f"api.{draw(st.sampled_from(operations))}"}
        for t in tool_names
    ]
    if draw(st.booleans()):
        marker, key = "api.nowhere", "call"  # D4: a call that names no consumed operation
        tools[draw(st.integers(0, len(tools) - 1))]["call"] = marker
    else:
        marker, key = "bad header", "name"  # a header name that is no RFC 9110 token, at its `name:`
        resource = draw(st.sampled_from(resources))
        operation = draw(st.sampled_from(resource["operations"]))
        operation["inputParameters"].append({"name": marker, "in": "header"})
    document = {
        "naftiko": "1.0.0-alpha2",
        "info": {"label": "Generated", "description": "d"},
        "capability": {
            "consumes": [{"type": "http", "namespace": "api", "baseUri": "http://127.0.0.1:9", "resources": resources}],
            "exposes": [{"type": "mcp", "namespace": "mcp", "port": 9090, "tools": tools}],
        },
    }
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False), marker, key


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(alpha2_documents())
def test_diagnostics_land_on_the_injected_alpha2_node(generated: tuple[str, str, str]):
    text, marker, key = generated
    lines = text.splitlines()
    line = next(i for i, t in enumerate(lines, 1) if t.strip().lstrip("- ").startswith(f"{key}: {marker}"))
    column = lines[line - 1].index(f"{key}:") + 1
    report = load_source(parse_text(text, Path("g.yaml")), Settings(), {})
    errors = [d for d in report.diagnostics if d.severity.value == "error"]
    assert [(d.line, d.column) for d in errors] == [(line, column)], (text, errors)
    assert marker in errors[0].message or "header" in errors[0].message


def test_a_kind_brings_its_own_translation_rule():
    """A new adapter kind (a2a, webhook...) whose alpha2 form writes named lists registers its rule;
    without one its entry is read as written."""
    data = {"naftiko": "1.0.0-alpha2", "capability": {"exposes": [{"type": "demo", "skills": [{"name": "a"}]}]}}
    as_written, _ = translate_up(data, detect(data))
    assert as_written["capability"]["exposes"][0] == data["capability"]["exposes"][0]
    register_adapter_rule("demo", obj(skills=named(obj(LABEL))))
    try:
        native, origins = translate_up(data, detect(data))
    finally:
        del ADAPTER_RULES["demo"]
    assert native["capability"]["exposes"][0]["skills"] == {"a": {}}
    assert origins[("capability", "exposes", 0, "skills", "a", "name")] == (
        "capability",
        "exposes",
        0,
        "skills",
        0,
        "name",
    )
