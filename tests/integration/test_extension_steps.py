"""Issue 21 item 1 (D120): the conditional, for-each and parallel-join step kinds, over REST
(httpx) and MCP (the ``mcp`` client), against a real loopback upstream that counts the requests
it holds at once - so the for-each's concurrency bound is measured, not assumed."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mcp import Client
from support import Canned, Recorded, running_gateway

from naftiko_runtime import Settings, load
from naftiko_runtime.core.stepkinds.guards import ORDERS, parse_guard
from naftiko_runtime.core.steps import StepRun, compile_step_value
from naftiko_runtime.spec.expressions import Literal

FLEET = """\
naftiko: 1.0.0-alpha2
info: {label: Fleet, description: Extension steps.}
capability:
  consumes:
  - type: http
    namespace: registry
    baseUri: "UPSTREAM/api"
    resources:
    - {name: ships, path: /ships, operations: [{name: list-ships}]}
    - {name: ship, path: "/ships/{imo}", operations: [{name: get-ship, inputParameters: [{name: imo, in: path}]}]}
    - {name: owner, path: "/owners/{id}", operations: [{name: get-owner, inputParameters: [{name: id, in: path}]}]}
    - {name: crew, path: /crew, operations: [{name: list-crew, inputParameters: [{name: id, in: query}]}]}
  exposes:
  - type: rest
    namespace: fleet
    port: 8080
    resources:
    - path: /fleet
      operations:
      - method: GET
        steps:
        - {name: list, type: call, call: registry.list-ships}
        - name: details
          type: x-naftiko-foreach
          in: $.list.ships
          as: ship
          concurrency: 3
          do: {type: call, call: registry.get-ship, with: {imo: $.ship.imo}}
    - path: "/ships/{imo}"
      operations:
      - method: GET
        inputParameters: [{name: imo, in: path, type: string, description: IMO.}]
        steps:
        - {name: ship, type: call, call: registry.get-ship, with: {imo: fleet.imo}}
        - name: owner
          type: x-naftiko-if
          if: "$.ship.ownerId != null"
          then: {type: call, call: registry.get-owner, with: {id: $.ship.ownerId}}
        mappings: [{targetName: name, value: $.ship.name}, {targetName: owner, value: $.owner}]
        outputParameters:
        - {name: name, type: string}
        - {name: owner, type: object}
    - path: "/both/{imo}"
      operations:
      - method: GET
        inputParameters: [{name: imo, in: path, type: string, description: IMO.}]
        steps:
        - name: both
          type: x-naftiko-parallel
          branches:
            ship: {type: call, call: registry.get-ship, with: {imo: fleet.imo}}
            crew: {type: call, call: registry.list-crew, with: {id: fleet.imo}}
  - type: mcp
    namespace: fleet-mcp
    port: 9090
    tools:
    - name: fleet-details
      description: Every ship of the fleet, in detail.
      steps:
      - {name: list, type: call, call: registry.list-ships}
      - name: details
        type: x-naftiko-foreach
        in: $.list.ships
        as: ship
        concurrency: 2
        do: {type: call, call: registry.get-ship, with: {imo: $.ship.imo}}
      mappings: [{targetName: ships, value: $.details}]
      outputParameters: [{name: ships, type: array}]
    - name: ships-by-imo
      description: The ships of the given IMOs.
      inputParameters: [{name: imos, type: array, description: IMO numbers.}]
      steps:
      - name: ships
        type: x-naftiko-foreach
        in: fleet-mcp.imos
        as: imo
        do: {type: call, call: registry.get-ship, with: {imo: $.imo}}
"""
SHIPS = [str(9000 + n) for n in range(10)]
OWNED = {"9000": "o1"}
"""Ship 9000 has an owner; the others have ``ownerId: null``."""


class Fleet:
    """The upstream's answers, each ship held ``delay`` seconds (slower for low IMOs, so that the
    answers finish out of order), counting the ship requests in flight at once."""

    def __init__(self, failing: str | None = None, delay: float = 0.15):
        self.failing = failing
        self.delay = delay
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most = 0

    def __call__(self, request: Recorded) -> Canned:
        path = request.path.split("?")[0]
        if path == "/api/ships":
            return _json({"ships": [{"imo": imo} for imo in SHIPS]})
        if path.startswith("/api/owners/"):
            return _json({"id": path.rsplit("/", 1)[1], "name": "Blue Line"})
        if path == "/api/crew":
            self._hold(self.delay)
            return _json({"total": 4})
        imo = path.rsplit("/", 1)[1]
        self._hold(self.delay * (1 + (9999 - int(imo)) % 3) / 2)
        if imo == self.failing:
            return Canned(409, b'{"error": "ship is in dry dock"}')
        return _json({"imo": imo, "name": f"Ship {imo}", "ownerId": OWNED.get(imo)})

    def _hold(self, seconds: float) -> None:
        """Answer after ``seconds``, counted among the requests in flight meanwhile."""
        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        try:
            time.sleep(seconds)
        finally:
            with self.lock:
                self.in_flight -= 1


def _json(document: object) -> Canned:
    return Canned(200, json.dumps(document).encode())


def fleet_file(tmp_path: Path, upstream_url: str, text: str = FLEET) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(text.replace("UPSTREAM", upstream_url))
    return path


def test_foreach_keeps_input_order_and_holds_the_concurrency_bound(upstream, tmp_path):
    fleet = Fleet()
    upstream.reset(fleet)
    with running_gateway([fleet_file(tmp_path, upstream.url)], {}) as gateway:
        answer = httpx.get(gateway.url(8080) + "/fleet", timeout=20)
    assert answer.status_code == 200, answer.text
    assert [ship["imo"] for ship in answer.json()] == SHIPS, "input order, although low IMOs answer last"
    assert fleet.most == 3, "concurrency: 3 is both reached and never exceeded"


async def test_foreach_over_mcp_with_a_bound_of_two(upstream, tmp_path):
    fleet = Fleet(delay=0.05)
    upstream.reset(fleet)
    with running_gateway([fleet_file(tmp_path, upstream.url)], {}) as gateway:
        async with Client(gateway.url(9090) + "/mcp") as client:
            result = await client.call_tool("fleet-details", {})
    assert not result.is_error, result.content
    assert [ship["name"] for ship in result.structured_content["ships"]] == [f"Ship {imo}" for imo in SHIPS]
    assert fleet.most == 2


async def test_foreach_over_an_input_list(upstream, tmp_path):
    """The list may be the caller's own input; each element is read as ``$.<as>``."""
    upstream.reset(Fleet(delay=0))
    with running_gateway([fleet_file(tmp_path, upstream.url)], {}) as gateway:
        async with Client(gateway.url(9090) + "/mcp") as client:
            result = await client.call_tool("ships-by-imo", {"imos": ["9005", "9001"]})
            empty = await client.call_tool("ships-by-imo", {"imos": []})
    assert not result.is_error, result.content
    names = [ship["name"] for ship in json.loads(result.content[0].text)]
    assert names == ["Ship 9005", "Ship 9001"]
    assert json.loads(empty.content[0].text) == []


def test_a_failing_element_is_the_answer_naming_step_and_index(upstream, tmp_path):
    """D80: the failing element's upstream status and body, named ``details[4]``; elements not yet
    started when it failed are never called."""
    fleet = Fleet(failing="9004")
    upstream.reset(fleet)
    with running_gateway([fleet_file(tmp_path, upstream.url)], {}) as gateway:
        answer = httpx.get(gateway.url(8080) + "/fleet", timeout=20)
    assert answer.status_code == 409
    assert answer.headers["naftiko-failed-step"] == "details[4]"
    assert "dry dock" in answer.text
    called = {r.path.rsplit("/", 1)[1] for r in upstream.requests if r.path.startswith("/api/ships/")}
    assert "9009" not in called


@pytest.mark.parametrize(("imo", "owner"), [("9000", {"id": "o1", "name": "Blue Line"}), ("9001", None)])
def test_conditional_runs_its_step_only_when_the_guard_holds(upstream, tmp_path, imo, owner):
    upstream.reset(Fleet(delay=0))
    with running_gateway([fleet_file(tmp_path, upstream.url)], {}) as gateway:
        answer = httpx.get(gateway.url(8080) + f"/ships/{imo}", timeout=20)
    assert answer.json() == {"name": f"Ship {imo}", "owner": owner}
    owners = [r for r in upstream.requests if r.path.startswith("/api/owners/")]
    assert len(owners) == (1 if owner else 0), "a false guard calls nothing"


def test_parallel_branches_run_together_into_an_object(upstream, tmp_path):
    fleet = Fleet(delay=0.3)
    upstream.reset(fleet)
    with running_gateway([fleet_file(tmp_path, upstream.url)], {}) as gateway:
        answer = httpx.get(gateway.url(8080) + "/both/9002", timeout=20)
    assert answer.json() == {"ship": {"imo": "9002", "name": "Ship 9002", "ownerId": None}, "crew": {"total": 4}}
    assert fleet.most == 2, "both branches were at the upstream at once"


async def test_a_failing_branch_is_an_mcp_error_naming_it(upstream, tmp_path):
    """D80 over MCP: the parallel step's failing branch, ``both.ship``, is named in the error."""
    text = FLEET.replace("    - name: fleet-details", PARALLEL_TOOL + "    - name: fleet-details")
    upstream.reset(Fleet(failing="9003", delay=0))
    with running_gateway([fleet_file(tmp_path, upstream.url, text)], {}) as gateway:
        async with Client(gateway.url(9090) + "/mcp") as client:
            result = await client.call_tool("both", {"imo": "9003"})
    assert result.is_error
    assert "both.ship" in result.content[0].text


PARALLEL_TOOL = """\
    - name: both
      description: A ship and its crew.
      inputParameters: [{name: imo, type: string, description: IMO.}]
      steps:
      - name: both
        type: x-naftiko-parallel
        branches:
          ship: {type: call, call: registry.get-ship, with: {imo: fleet-mcp.imo}}
          crew: {type: call, call: registry.list-crew, with: {id: fleet-mcp.imo}}
"""


def test_extension_types_warn_at_their_position_and_strict_refuses(tmp_path):
    """D97, D120: each ``x-naftiko-`` type warns at its line; ``--strict`` makes it an error."""
    path = fleet_file(tmp_path, "http://127.0.0.1:9")
    loaded = load([path], Settings(), {})
    warnings = [d for d in loaded.diagnostics if "not in the official schema" in str(d)]
    lines = {str(d).split(":")[1] for d in warnings}
    assert len(warnings) == len(lines) == 5, [str(d) for d in warnings]
    assert all("type: x-naftiko-" in str(d) for d in warnings)
    assert not loaded.rejected
    strict = load([path], Settings(strict=True), {})
    assert strict.rejected


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (('if: "$.ship.ownerId != null"', 'if: "$.ship.ownerId != nul"'), "is not a literal"),
        (("concurrency: 3", "concurrency: 0"), "concurrency must be a positive integer"),
        (("as: ship\n          concurrency: 3", "as: list\n          concurrency: 3"), "already the name"),
        (("do: {type: call, call: registry.get-ship", "do: {type: call, call: registry.nope"), "does not resolve"),
        (("ship: {type: call", "ship: {type: calll"), "calll"),
        (("in: $.list.ships", "in: $.lists.ships"), "reads neither an earlier step"),
        (("in: fleet-mcp.imos", "in: flet-mcp.imos"), "reads neither an earlier step"),
        (('if: "$.ship.ownerId != null"', 'if: "$.shipp.ownerId != null"'), "reads neither an earlier step"),
    ],
)
def test_bad_extension_steps_are_refused_with_a_position(tmp_path, edit, message):
    path = fleet_file(tmp_path, "http://127.0.0.1:9", FLEET.replace(*edit))
    loaded = load([path], Settings(), {})
    assert loaded.rejected
    errors = [str(d) for d in loaded.diagnostics if "error" in str(d)]
    assert any(message in e and str(path) in e for e in errors), errors


def _guard_run(value: object) -> StepRun:
    async def send(step: object, run: StepRun) -> None:
        raise AssertionError("a guard sends nothing")

    return StepRun({}, {"s": {"v": value}}, lambda reference: (False, None), send)


@given(st.integers(-5, 5) | st.floats(-5, 5, allow_nan=False), st.integers(-5, 5), st.sampled_from(sorted(ORDERS)))
def test_a_numeric_guard_decides_as_python_compares(value, literal, op):
    guard = parse_guard(f"$.s.v {op} {literal}", lambda text: compile_step_value(text, {"s": 0}) or Literal(text))
    assert guard.holds(_guard_run(value)) is ORDERS[op](value, literal)


@given(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=3)), st.text(max_size=3))
def test_equality_guards_never_mix_types(value, text):
    """``'1' == 1`` and ``true == 1`` are false: a guard compares what the upstream said, typed."""
    source = lambda text: compile_step_value(text, {"s": 0}) or Literal(text)  # noqa: E731
    equal = parse_guard(f"$.s.v == {json.dumps(text)}", source)
    different = parse_guard(f"$.s.v != '{text}'", source) if "'" not in text else None
    assert equal.holds(_guard_run(value)) is (value == text)
    if different is not None:
        assert different.holds(_guard_run(value)) is (value != text)
    truthy = parse_guard("$.s.v", source)
    assert truthy.holds(_guard_run(value)) is bool(value)


def test_a_concurrency_above_the_cap_warns_and_is_capped(tmp_path):
    """D122: a file cannot lift the fan-out bound; it is told so at the key."""
    path = fleet_file(tmp_path, "http://127.0.0.1:9", FLEET.replace("concurrency: 3", "concurrency: 50"))
    loaded = load([path], Settings(), {})
    capped = [str(d) for d in loaded.diagnostics if "above this runtime's cap: 16 used" in str(d)]
    assert len(capped) == 1 and ":27:11:" in capped[0], capped
    assert not loaded.rejected
