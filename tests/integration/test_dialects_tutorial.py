"""Issue 11: the 11-step Shipyard tutorial the spec ships (``../shared``, skipped when absent), read
in the Ikanos beta4 dialect (CONTRACT D70, D72): each step either serves, tested through the adapters
it exposes against a recording upstream written from what it consumes, or is refused only for
features that later issues implement. A table of the steps is printed (``pytest -s``). The
dialect's in-process checks are tests/unit/test_dialects.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from mcp import Client
from support import SHARED, Canned, running_gateway

from naftiko_runtime import Settings, load

TUTORIAL = SHARED / "spec" / "ikanos-1.0.0-beta4" / "ikanos-docs" / "tutorial"
needs_tutorial = pytest.mark.skipif(not TUTORIAL.is_dir(), reason="shared reference folder absent")

LATER_ISSUES = {
    "mock mode": "mock mode",
    "exposed authentication": "exposed auth",
    "response format": "response formats",
    "orchestrated mode": "orchestrated steps",
    "aggregate": "aggregates",
    "the 'skill' adapter": "skill/control adapters",
    "the 'control' adapter": "skill/control adapters",
    "MCP resources": "MCP resources/prompts",
    "MCP prompts": "MCP resources/prompts",
    "'forward'": "forward",
}
"""Features later issues implement, by the words of the refusal that names them."""


SHIPS = [
    {
        "imo_number": "IMO-9321483",
        "vessel_name": "Northern Star",
        "vessel_type": "cargo",
        "flag_code": "NO",
        "operational_status": "active",
        "year_built": 2009,
        "gross_tonnage": 51200,
        "dimensions": {"length_overall": 229.5},
    }
]


def registry(request) -> Canned:
    """The Maritime Registry as the tutorial consumes it: /ships?status= and /ships/{imo}."""
    if request.path == "/registry/ships":
        wanted = dict(request.query).get("status")
        return Canned(200, json.dumps([s for s in SHIPS if wanted in (None, s["operational_status"])]).encode())
    if request.path.startswith("/registry/ships/"):
        imo = request.path.rsplit("/", 1)[1]
        ship = next((s for s in SHIPS if s["imo_number"] == imo), None)
        return Canned(200, json.dumps(ship).encode()) if ship else Canned(404, b'{"error":"no such ship"}')
    return Canned(404, b"{}")


def step_files() -> list[Path]:
    return sorted(TUTORIAL.glob("step-*.yml"), key=lambda p: int(p.name.split("-")[1])) if TUTORIAL.is_dir() else []


def refusals(report) -> tuple[set[str], list[str]]:
    """The later-issue features a report's errors name, and any error that names none."""
    named, other = set(), []
    for diagnostic in report.errors:
        feature = next((f for words, f in LATER_ISSUES.items() if words in diagnostic.message), None)
        if feature is None or "not implemented" not in diagnostic.message:
            other.append(str(diagnostic))
        else:
            named.add(feature)
    return named, other


@needs_tutorial
async def test_tutorial_steps_serve_or_are_refused_for_later_features(upstream, capsys):
    """Issue 11, item 5: a table of the 11 steps; the serving ones are exercised over MCP."""
    rows, served = [], []
    for path in step_files():
        report = load([path], Settings(), {}).reports[0]
        named, other = refusals(report)
        assert not other, other
        assert report.ok or named, path.name
        rows.append((path.name, "serves" if report.ok else "refused: " + ", ".join(sorted(named))))
        if report.ok:
            served.append(path)
    with capsys.disabled():
        print("\n| step | outcome |\n|---|---|")
        for name, outcome in rows:
            print(f"| {name} | {outcome} |")
    assert len(rows) == 11
    # With the composition, exposed-auth, formats and skill issues in, every step loads to serve.
    assert [p.name for p in served] == [p.name for p in step_files()]
    await exercise_shipyard_tools(next(p for p in served if p.name == "step-2-shipyard-wiring.yml"), upstream)


async def exercise_shipyard_tools(path: Path, upstream) -> dict:
    """list-ships and get-ship over MCP against the recording registry; the shaped ship."""
    upstream.reset(registry)
    with running_gateway([path], {}, host="127.0.0.1", base_uris={"registry": upstream.url + "/registry"}) as gateway:
        async with Client(gateway.url(3001) + "/mcp") as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            assert {"list-ships", "get-ship"} <= set(tools)
            assert tools["get-ship"].input_schema["required"] == ["imo"]
            assert "required" not in tools["list-ships"].input_schema
            listed = await client.call_tool("list-ships", {"status": "active"})
            assert listed.structured_content == {
                "result": [
                    {"imo": "IMO-9321483", "name": "Northern Star", "type": "cargo", "flag": "NO", "status": "active"}
                ]
            }
            assert upstream.last.path == "/registry/ships" and upstream.last.query == [("status", "active")]
            ship = await client.call_tool("get-ship", {"imo": "IMO-9321483"})
            assert ship.is_error is False
            assert ship.structured_content["name"] == "Northern Star"
            assert upstream.last.path == "/registry/ships/IMO-9321483"
            missing = await client.call_tool("get-ship", {"imo": "IMO-0"})
            assert missing.is_error is True and "404" in missing.content[0].text
            return ship.structured_content


@needs_tutorial
@pytest.mark.parametrize("step", ["step-3-shipyard-auth.yml", "step-4-shipyard-output-shaping.yml"])
async def test_tutorial_steps_3_and_4_serve_without_their_exposed_authentication(step, upstream, tmp_path):
    """Once exposed authentication (a later issue) is taken out, steps 3-4 serve: the consumed
    bearer token and Registry-Version header come from the binds file, outputs are shaped."""
    shutil.copytree(TUTORIAL / "shared", tmp_path / "shared")
    text = (TUTORIAL / step).read_text(encoding="utf-8")
    head, _, tail = text.partition('    authentication:\n      type: bearer\n      token: "{{MCP_SERVER_TOKEN}}"\n')
    assert tail, "the step's exposed authentication block moved"
    (tmp_path / step).write_text(head + tail, encoding="utf-8")
    ship = await exercise_shipyard_tools(tmp_path / step, upstream)
    assert upstream.last.headers["authorization"] == "Bearer dummy-token"
    assert upstream.last.headers["registry-version"] == "1.0.0-alpha2"
    if step.startswith("step-4"):
        assert ship["specs"] == {"yearBuilt": 2009, "tonnage": 51200, "length": 229.5}
