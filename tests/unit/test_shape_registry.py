"""Issue 19, items 2-4: one shape table for every dialect, grown by registration, and what it loads.

- a kind registered in ``spec.shape_kinds`` (adapter, step, consumed or exposed authentication) is
  checked in every dialect, spelt as that dialect spells collections, with the same messages as a
  built-in kind (position, key, what was expected, "did you mean");
- consumed and exposed authentication are separate registries;
- what the official schemas accept and the runtime refused before loads into the model as typed
  fields: alpha2 ``items: [{name, type}, ...]``, beta5 MCP ``ttlMs``/``cacheScope``, ``b3``
  propagation and the control port's ``scripting`` governance.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from naftiko_runtime import Settings
from naftiko_runtime.adapters.control.model import ControlAdapter, Scripting
from naftiko_runtime.adapters.mcp.model import CacheHints, McpAdapter
from naftiko_runtime.serving.loading import load_source
from naftiko_runtime.spec import shape_kinds
from naftiko_runtime.spec.model import OutputParameter
from naftiko_runtime.spec.profiles import ALPHA2, IKANOS, Profile
from naftiko_runtime.spec.schema import check_shape
from naftiko_runtime.spec.shape_parts import KEBAB, NAME_KEYS, STR, adapter_common
from naftiko_runtime.spec.shapes import Obj
from naftiko_runtime.spec.source import parse_text


def echo_adapter(d: Profile) -> Obj:
    """A plugin's adapter kind: a namespace and replies, a collection of named entries."""
    reply = Obj("echo reply", {**d.name(KEBAB), "text": STR}, (*d.needs_name, "text"))
    return Obj(
        "echo adapter",
        {**adapter_common(d), "namespace": KEBAB, "replies": d.many(reply, keys=NAME_KEYS, min_items=1)},
        ("type", "port", "namespace"),
    )


@pytest.fixture
def registered() -> Iterator[None]:
    shape_kinds.register_adapter_shape("echo", echo_adapter)
    shape_kinds.register_step_shape("wait", lambda d: Obj("wait step", {"type": STR, **d.name(KEBAB)}))
    shape_kinds.register_consumed_auth_shape("hmac", lambda d: Obj("hmac authentication", {"type": STR}))
    yield
    shape_kinds.ADAPTERS.unregister("echo")
    shape_kinds.STEPS.unregister("wait")
    shape_kinds.CONSUMED_AUTHENTICATION.unregister("hmac")


def document(d: Profile, adapter: dict[str, Any]) -> dict[str, Any]:
    return {d.root: d.versions[0], "info": {d.label: "Echo", "description": "d"}, "capability": {"exposes": [adapter]}}


ECHO = {
    ALPHA2: {"type": "echo", "port": 8080, "namespace": "echo", "replies": [{"name": "hi", "text": "hello"}]},
    IKANOS: {"type": "echo", "port": 8080, "namespace": "echo", "replies": {"hi": {"text": "hello"}}},
}


@pytest.mark.parametrize("d", [ALPHA2, IKANOS], ids=lambda d: d.root)
def test_an_unregistered_kind_is_refused_with_the_registered_ones_named(d):
    (finding,) = check_shape(document(d, ECHO[d]), d)
    assert finding.path == ("capability", "exposes", 0, "type")
    assert "unsupported adapter type 'echo'" in finding.message and "rest, mcp, skill, control" in finding.message


@pytest.mark.parametrize("d", [ALPHA2, IKANOS], ids=lambda d: d.root)
def test_a_registered_adapter_kind_is_checked_in_each_dialects_spelling(registered, d):
    assert check_shape(document(d, ECHO[d]), d) == []
    other = ECHO[IKANOS if d is ALPHA2 else ALPHA2]
    assert check_shape(document(d, other), d) != []  # a list where a map is due, or the reverse
    typo = {**ECHO[d], "namesapce": "x"}
    (finding,) = check_shape(document(d, typo), d)
    assert finding.path == ("capability", "exposes", 0, "namesapce")
    assert "unknown key 'namesapce' in capability.exposes[0] (echo adapter)" in finding.message
    assert "did you mean 'namespace'?" in finding.message


def test_step_kinds_and_each_sides_authentication_are_registries(registered):
    consumes = {
        "type": "http",
        "namespace": "api",
        "baseUri": "http://127.0.0.1:9",
        "authentication": {"type": "hmac"},
        "resources": {"all": {"path": "/", "operations": {"list": {"method": "GET"}}}},
    }
    tool = {"description": "t", "steps": {"pause": {"type": "wait"}}}
    mcp = {"type": "mcp", "namespace": "m", "port": 9000, "tools": {"t": tool}}
    doc = {"ikanos": "1.0.0-beta5", "info": {"display": "x", "description": "d"}}
    assert check_shape({**doc, "capability": {"consumes": [consumes], "exposes": [mcp]}}, IKANOS) == []
    exposed = {**mcp, "authentication": {"type": "hmac"}}
    (finding,) = check_shape({**doc, "capability": {"exposes": [exposed]}}, IKANOS)
    assert finding.path == ("capability", "exposes", 0, "authentication", "type")
    assert "unsupported authentication type 'hmac'" in finding.message


BETA5 = """\
ikanos: 1.0.0-beta5
info: {display: Cached, description: Loads what beta5 adds.}
capability:
  consumes:
  - type: http
    namespace: api
    baseUri: http://127.0.0.1:9
    resources:
      items:
        path: /items
        operations:
          list: {method: GET}
  exposes:
  - type: mcp
    namespace: api-mcp
    port: 9090
    ttlMs: 1500
    cacheScope: private
    tools:
      list: {description: All items., call: api.list}
  - type: control
    port: 9091
    management:
      scripting: {enabled: false, defaultLanguage: python, timeout: 500, allowedLanguages: [python]}
    observability:
      traces: {propagation: b3}
"""


def load_text(text: str, name: str = "capability.yaml") -> Any:
    return load_source(parse_text(text, Path(name)), Settings(), {})


def test_beta5_caching_b3_and_scripting_load_as_typed_fields():
    report = load_text(BETA5)
    assert report.errors == [], [str(d) for d in report.errors]
    adapters = {type(a): a for a in report.loaded.capability.adapters}
    assert adapters[McpAdapter].cache == CacheHints(1500, "private")
    control = adapters[ControlAdapter]
    assert control.observability.propagation == "b3"
    assert control.management.scripting == Scripting(
        declared=True, enabled=False, default_language="python", timeout_ms=500, allowed_languages=("python",)
    )


def test_wrong_caching_values_are_refused_at_their_line():
    report = load_text(BETA5.replace("ttlMs: 1500", "ttlMs: -1").replace("cacheScope: private", "cacheScope: all"))
    errors = sorted((d.line, d.column, d.message) for d in report.errors)
    assert [(line, column) for line, column, _ in errors] == [(17, 5), (18, 5)]
    assert "'ttlMs' must be an integer number of milliseconds" in errors[0][2] and "'cacheScope'" in errors[1][2]


ORCHESTRATED = """\
{header}
capability:
  consumes:
  - type: http
    namespace: registry
    baseUri: http://127.0.0.1:9
    resources:
      {resources}
  exposes:
  - type: mcp
    namespace: ships
    port: 9090
    tools:
      {tool}
"""
ALPHA2_ITEMS = ORCHESTRATED.format(
    header="naftiko: 1.0.0-alpha2\ninfo: {label: Crew, description: d}",
    resources="- {name: crew, path: /crew, operations: [{name: list, method: GET}]}",
    tool="""- name: crew
        description: The crew.
        steps: [{type: call, name: fetch, call: registry.list}]
        mappings: [{targetName: crew, value: $.fetch}]
        outputParameters:
        - name: crew
          type: array
          items:
          - {name: fullName, type: string}
          - {name: role, type: string}""",
)
BETA4_ITEMS = ORCHESTRATED.format(
    header="ikanos: 1.0.0-beta4\ninfo: {display: Crew, description: d}",
    resources="crew: {path: /crew, operations: {list: {method: GET}}}",
    tool="""crew:
        description: The crew.
        steps: {fetch: {type: call, call: registry.list}}
        mappings: [{target: crew, value: $.fetch}]
        outputParameters:
          crew:
            type: array
            items: {fullName: {type: string}, role: {type: string}}""",
)


def shape_of(output: OutputParameter | None) -> Any:
    """An output's meaning: its type and the shapes of its fields and items (not names or positions)."""
    if output is None:
        return None
    fields = {k: shape_of(v) for k, v in (output.properties or {}).items()}
    return (output.type, output.mapping, output.value, fields, shape_of(output.items))


def test_alpha2_items_listing_named_fields_load_as_beta4_writes_them():
    alpha2, beta4 = load_text(ALPHA2_ITEMS), load_text(BETA4_ITEMS)
    assert alpha2.errors == [] and beta4.errors == [], [str(d) for d in alpha2.errors + beta4.errors]
    (tool_a,) = alpha2.loaded.capability.adapters[0].operations
    (tool_b,) = beta4.loaded.capability.adapters[0].operations
    assert [shape_of(o) for o in tool_a.outputs] == [shape_of(o) for o in tool_b.outputs]
    assert shape_of(tool_a.outputs[0].items) == ("object", None, None, {"fullName": S, "role": S}, None)


S = ("string", None, None, {}, None)


def test_an_unnamed_field_of_alpha2_items_is_refused_at_its_line():
    report = load_text(ALPHA2_ITEMS.replace("- {name: role, type: string}", "- {type: string}"))
    assert [(d.line, "missing required field 'name'" in d.message) for d in report.errors] == [(24, True)]


@pytest.mark.parametrize("kind", [["rest", "rest"], {"a": 1}, 7, None])
def test_an_adapter_type_that_is_not_text_is_a_positioned_error_not_a_crash(kind):
    """Found by the loader fuzzer (tests/integration/hardening): ``type: [rest, rest]`` reached a
    dictionary lookup and crashed the load with TypeError."""
    text = f"naftiko: 1.0.0-alpha2\ninfo: {{label: T, description: d}}\ncapability:\n  exposes:\n  - type: {kind!r}\n"
    report = load_text(text.replace("None", "null"))
    assert report.errors and all(d.line >= 1 for d in report.errors), [str(d) for d in report.errors]
