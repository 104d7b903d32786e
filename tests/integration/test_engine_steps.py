"""Issue 20 item 6 and issue 23: step results, step templates and mock values as the reference
engine's own tests pin them (conformance/cases/composition/engine-steps.yaml has the cases in both
dialects). Here: the shaping as a property, the concurrent waves a path template orders, and
nested mock values served from a native beta4 file with ``serve --mock``."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from support import Canned, Recorded, running_gateway

from naftiko_runtime.core.steps import compile_step_shape
from naftiko_runtime.spec.model import OutputParameter

PROJECTION = (OutputParameter("string", "imo-number", value="$.imo_number"),)
ROWS = st.lists(
    st.dictionaries(st.sampled_from(["imo_number", "vessel_name", "flag"]), st.text("ab", max_size=3) | st.integers()),
    max_size=6,
)
QUICK = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
"""A loaded CI machine (2 cores, many jobs) must not fail a property for being slow to generate."""


def no_lookup(reference):
    return False, None


@QUICK
@given(ROWS)
def test_a_list_result_keeps_every_element_and_adds_the_projected_field(rows):
    """OperationStepExecutorBranchTest (#329): the array is augmented, never collapsed."""
    shape, findings = compile_step_shape(PROJECTION)
    assert findings == [] and shape is not None
    shaped = shape.apply(rows, no_lookup)
    assert [{k: v for k, v in element.items() if k != "imo-number"} for element in shaped] == rows
    assert [element["imo-number"] for element in shaped] == [row.get("imo_number") for row in rows]


@QUICK
@given(st.dictionaries(st.sampled_from(["imo_number", "other"]), st.integers()))
def test_an_object_result_is_the_object_of_the_named_outputs(row):
    """resolveStepOutput: named outputs project an object (a missing value is null); with only an
    unnamed output, the result is that output's value."""
    shape, _ = compile_step_shape(PROJECTION)
    assert shape is not None and shape.apply(row, no_lookup) == {"imo-number": row.get("imo_number")}
    unnamed, _ = compile_step_shape((OutputParameter("number", value="$.imo_number"),))
    assert unnamed is not None and unnamed.apply(row, no_lookup) == row.get("imo_number")


def test_no_consumed_outputs_leaves_the_result_as_decoded():
    assert compile_step_shape(()) == (None, [])


STEPS = """\
naftiko: 1.0.0-alpha2
info: {label: Chained paths, description: A path reads an earlier result.}
capability:
  consumes:
  - type: http
    namespace: registry
    baseUri: "UPSTREAM/api"
    resources:
    - name: voyage
      path: "/voyages/{{id}}"
      operations: [{name: get-voyage, method: GET, inputParameters: [{name: id, in: path}]}]
    - {name: ship, path: "/ships/{{get-voyage.shipImo}}", operations: [{name: get-ship, method: GET}]}
    - {name: ports, path: /ports, operations: [{name: list-ports, method: GET}]}
  exposes:
  - type: rest
    namespace: fleet
    port: 8080
    resources:
    - path: "/voyages/{id}/ship"
      operations:
      - method: GET
        steps:
        - {name: get-voyage, type: call, call: registry.get-voyage}
        - {name: get-ship, type: call, call: registry.get-ship}
        - {name: ports, type: call, call: registry.list-ports}
        mappings: [{targetName: ship, value: $.get-ship.name}, {targetName: ports, value: $.ports.count}]
"""


def voyage_ship_ports(request: Recorded) -> Canned:
    bodies = {"/api/voyages/V-1": {"shipImo": "IMO 9"}, "/api/ships/IMO%209": {"name": "Dawn"}}
    return Canned(200, json.dumps(bodies.get(request.path, {"count": 4})).encode())


def test_a_path_reading_an_earlier_step_waits_for_it_even_with_concurrent_steps(upstream, tmp_path):
    """D80: with concurrent steps on, get-ship reads get-voyage through its consumed path, so it
    runs after it; list-ports reads nothing and joins get-ship's wave. The exposed path's `id`
    fills the consumed `{{id}}` by name, with no `with` (the engine's by-name parameters)."""
    upstream.reset(voyage_ship_ports)
    capability = tmp_path / "steps.yaml"
    capability.write_text(STEPS.replace("UPSTREAM", upstream.url))
    with running_gateway([capability], concurrent_steps=True) as gateway:
        answer = httpx.get(gateway.url(8080) + "/voyages/V-1/ship", timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"ship": "Dawn", "ports": 4}
    paths = [r.path for r in upstream.requests]
    assert paths[0] == "/api/voyages/V-1" and sorted(paths[1:]) == ["/api/ports", "/api/ships/IMO%209"]


MOCKED_BETA4 = """\
ikanos: 1.0.0-beta4
info: {display: Mocked, description: Nested outputs of a call served mocked.}
capability:
  consumes:
  - type: http
    namespace: registry
    baseUri: "http://127.0.0.1:9/api"
    resources:
      ship:
        path: "/ships/{imo}"
        inputParameters: {imo: {in: path}}
        operations: {get-ship: {method: GET}}
  exposes:
  - type: mcp
    namespace: fleet-mcp
    port: 9090
    tools:
      get-ship:
        description: A ship.
        inputParameters: {imo: {type: string, description: IMO.}}
        call: registry.get-ship
        with: {imo: fleet-mcp.imo}
        outputParameters:
        - type: object
          properties:
            imo: {type: string, value: "{{imo}}"}
            specs: {type: object, properties: {tonnage: {type: number, value: "1200"}}}
            crew: {type: array, items: {type: string, value: Ada}}
            name: {type: string, mapping: $.vessel_name}
"""


async def test_serve_mock_builds_nested_values_of_a_native_beta4_file(upstream, tmp_path):
    """D81 with nested values (Resolver.buildMockValue): an object of its properties' values, an
    array of its item's value, a mapping-only property left out; nothing is called."""
    capability = tmp_path / "mocked.yaml"
    capability.write_text(MOCKED_BETA4)
    with running_gateway([capability], mock=True) as gateway:
        async with Client(gateway.url(9090) + "/mcp") as client:
            result = await client.call_tool("get-ship", {"imo": "7"})
    assert not result.is_error
    assert result.structured_content == {"imo": "7", "specs": {"tonnage": 1200}, "crew": ["Ada"]}
    assert upstream.requests == []


def test_a_script_location_is_read_beside_the_capability_whatever_the_working_folder(tmp_path, monkeypatch):
    """Issue 23, item 2: `file:///./scripts` is the capability's folder's scripts, not /scripts
    nor the working folder's."""
    from naftiko_runtime import Settings, load

    folder = tmp_path / "cap"
    (folder / "scripts").mkdir(parents=True)
    (folder / "scripts" / "one.js").write_text("result = {count: 1};\n")
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "one.js").write_text("result = {;\n")  # the working folder's: never read
    capability = folder / "script.yaml"
    capability.write_text(
        STEPS.replace("UPSTREAM", "http://127.0.0.1:9").replace(
            "        - {name: ports, type: call, call: registry.list-ports}\n",
            "        - {name: ports, type: script, language: javascript,"
            ' location: "file:///./scripts", file: one.js}\n',
        )
    )
    monkeypatch.chdir(Path(tmp_path))
    loaded = load([capability], Settings(), {})
    assert [r.ok for r in loaded.reports] == [True], loaded.diagnostics
