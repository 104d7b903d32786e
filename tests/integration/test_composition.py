"""Issue 12: what the conformance cases of ``cases/composition`` cannot say - logs, the
``--mock`` option, script files and their limits (D80, D81, D83, D55)."""

from __future__ import annotations

import concurrent.futures
import gzip
import json
import logging
import time
from pathlib import Path

import httpx
import pytest
from mcp import Client
from support import API_KEY, Canned, Recorded, needs_extra, running_gateway

from naftiko_runtime import Settings, load
from naftiko_runtime.cli import parser, settings_from

CHAIN = """\
naftiko: 1.0.0-alpha2
info: {label: Chain, description: Two steps.}
binds: [{namespace: env, keys: {KEY: FLEET_KEY}}]
capability:
  consumes:
  - type: http
    namespace: registry
    baseUri: "UPSTREAM/api"
    authentication: {type: bearer, token: "{{KEY}}"}
    resources:
    - {name: ship, path: "/ships/{imo}", operations: [{name: get-ship, inputParameters: [{name: imo, in: path}]}]}
    - {name: crew, path: /crew, operations: [{name: list-crew, inputParameters: [{name: id, in: query}]}]}
  exposes:
  - type: rest
    namespace: fleet
    port: 8080
    resources:
    - path: "/ships/{imo}"
      operations:
      - method: GET
        inputParameters: [{name: imo, in: path, type: string, description: IMO.}]
        steps:
        - {name: ship, type: call, call: registry.get-ship, with: {imo: fleet.imo}}
        - {name: crew, type: call, call: registry.list-crew, with: {id: $.ship.crewId}}
        mappings: [{targetName: name, value: $.ship.name}, {targetName: crew, value: $.crew.total}]
        outputParameters:
        - {name: name, type: string, value: Mocked Star}
        - {name: crew, type: number, value: "4"}
"""


def chain_file(tmp_path: Path, upstream_url: str) -> Path:
    path = tmp_path / "chain.yaml"
    path.write_text(CHAIN.replace("UPSTREAM", upstream_url))
    return path


def ship_then_crew(request: Recorded) -> Canned:
    if request.path.startswith("/api/ships/"):
        return Canned(200, json.dumps({"name": "Aurora", "crewId": "c7"}).encode())
    return Canned(200, json.dumps({"total": 3}).encode())


def test_a_chain_logs_each_upstream_request_with_one_correlation_id(upstream, tmp_path, caplog):
    """D80: the upstream requests of one chain share a correlation id in the log; no secret in it."""
    upstream.reset(ship_then_crew)
    caplog.set_level(logging.INFO, logger="naftiko_runtime.steps")
    with running_gateway([chain_file(tmp_path, upstream.url)], {"FLEET_KEY": API_KEY}) as gateway:
        answer = httpx.get(gateway.url(8080) + "/ships/9", timeout=10)
        second = httpx.get(gateway.url(8080) + "/ships/10", timeout=10)
    assert answer.json() == {"name": "Aurora", "crew": 3}
    assert second.status_code == 200
    assert [r.query for r in upstream.requests if r.path == "/api/crew"] == [[("id", "c7")]] * 2
    lines = [r.getMessage() for r in caplog.records if r.name == "naftiko_runtime.steps"]
    assert len(lines) == 4
    chains = [line.split()[1] for line in lines]
    assert chains[0] == chains[1] != chains[2] == chains[3]
    assert "step ship: GET registry.get-ship -> 200" in lines[0]
    assert not any(API_KEY in line for line in lines)


def test_mock_mode_serves_outputs_and_never_calls_the_upstream(upstream, tmp_path):
    """D81: ``Settings.mock`` (``serve --mock``) answers from the outputs' static values."""
    with running_gateway([chain_file(tmp_path, upstream.url)], {"FLEET_KEY": API_KEY}, mock=True) as gateway:
        answer = httpx.get(gateway.url(8080) + "/ships/9", timeout=10)
    assert answer.status_code == 200
    assert answer.json() == {"name": "Mocked Star", "crew": 4}
    assert upstream.requests == []


@pytest.mark.parametrize(("argv", "mock"), [(["serve", "x.yaml"], False), (["serve", "--mock", "x.yaml"], True)])
def test_serve_mock_option_is_a_setting(argv, mock):
    """Every default lives in ``Settings``; the CLI only parses (D81)."""
    assert settings_from(parser().parse_args(argv)).mock is mock


def test_step_options_are_settings():
    """D80, D83: the concurrency and script limit options fill ``Settings`` fields."""
    args = parser().parse_args(["serve", "--concurrent-steps", "--script-timeout", "2.5", "x.yaml"])
    settings = settings_from(args)
    assert (settings.concurrent_steps, settings.script_timeout) == (True, 2.5)
    assert settings_from(parser().parse_args(["serve", "x.yaml"])).script_timeout == Settings().script_timeout


SCRIPTED = """\
naftiko: 1.0.0-alpha2
info: {label: Scripts, description: Script steps.}
capability:
  consumes:
  - type: http
    namespace: registry
    baseUri: "UPSTREAM/api"
    resources: [{name: crew, path: /crew, operations: [{name: list-crew}]}]
  exposes:
  - type: rest
    namespace: fleet
    port: 8080
    resources:
    - path: "/script/{kind}"
      operations:
      - method: GET
        inputParameters: [{name: kind, in: path, type: string, description: Which script.}]
        steps:
        - {name: crew, type: call, call: registry.list-crew}
        - {name: calc, type: script, language: javascript, location: "LOCATION", file: main.js,
           dependencies: [lib/helpers.js], with: {bonus: $.crew.total}}
        mappings: [{targetName: answer, value: $.calc}]
  - type: mcp
    namespace: fleet-mcp
    port: 9090
    tools:
    - name: calc
      description: The same script as a tool.
      inputParameters: [{name: kind, type: string, description: Which script.}]
      steps:
      - {name: crew, type: call, call: registry.list-crew}
      - {name: calc, type: script, language: javascript, location: "LOCATION", file: main.js,
         dependencies: [lib/helpers.js], with: {bonus: $.crew.total}}
"""

MAIN_JS = """
if (context.kind === "loop") { while (true) {} }
if (context.kind === "throw") { throw new Error("no such crew"); }
if (context.kind === "memory") { var hog = []; while (true) { hog.push(new Array(100000).fill(7)); } }
if (context.kind === "escape") {
  result = [typeof require, typeof std, typeof os, typeof fetch, typeof XMLHttpRequest, typeof process];
} else {
  result = {total: double(context.crew.total) + context.bonus, kind: context.kind};
}
"""


def scripted_file(tmp_path: Path, upstream_url: str) -> Path:
    (tmp_path / "scripts" / "lib").mkdir(parents=True)
    (tmp_path / "scripts" / "main.js").write_text(MAIN_JS)
    (tmp_path / "scripts" / "lib" / "helpers.js").write_text("function double(x) { return 2 * x; }\n")
    path = tmp_path / "scripted.yaml"
    location = (tmp_path / "scripts").as_uri()
    path.write_text(SCRIPTED.replace("UPSTREAM", upstream_url).replace("LOCATION", location))
    return path


def crew_total(request: Recorded) -> Canned:
    return Canned(200, b'{"total": 5}')


@needs_extra("scripts")
def test_script_steps_compute_and_fail_clearly_while_the_server_keeps_serving(upstream, tmp_path):
    """D83: a script sees context (inputs, results, with) and sets result; a throw, a loop or a
    memory hog is a problem naming the step, and the next request is served as usual."""
    upstream.reset(crew_total)
    path = scripted_file(tmp_path, upstream.url)
    with running_gateway([path], {}, script_timeout=0.3, script_memory=16 * 1024 * 1024) as gateway:
        base = gateway.url(8080) + "/script/"
        assert httpx.get(base + "sum", timeout=10).json() == {"answer": {"total": 15, "kind": "sum"}}
        for kind, detail in [
            ("throw", "step 'calc': the script failed: Error: no such crew"),
            ("loop", "step 'calc': the script ran longer than its limit of 0.3 s and was stopped"),
            ("memory", "step 'calc': the script exceeded its memory limit of 16 MiB"),
        ]:
            answer = httpx.get(base + kind, timeout=10)
            assert answer.status_code == 500
            assert answer.json()["detail"] == detail
        assert httpx.get(base + "escape", timeout=10).json() == {"answer": ["undefined"] * 6}
        assert httpx.get(base + "sum", timeout=10).status_code == 200


@needs_extra("scripts")
async def test_script_step_error_is_an_mcp_tool_error(upstream, tmp_path):
    """D83 over MCP: the same core, an isError result naming the step."""
    upstream.reset(crew_total)
    path = scripted_file(tmp_path, upstream.url)
    with running_gateway([path], {}, script_timeout=0.3) as gateway:
        async with Client(gateway.url(9090) + "/mcp") as client:
            good = await client.call_tool("calc", {"kind": "sum"})
            bad = await client.call_tool("calc", {"kind": "throw"})
    assert good.structured_content == {"total": 15, "kind": "sum"}
    assert bad.is_error
    assert "step 'calc': the script failed: Error: no such crew" in bad.content[0].text


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("language: javascript", "language: groovy", 1), "groovy script steps are refused"),
        (("language: javascript", "language: python", 1), "python script steps are refused"),
        (("file: main.js", "file: ../main.js", 1), "script path '../main.js' must be relative segments"),
        (("file: main.js", "file: missing.js", 1), "cannot read script 'missing.js'"),
    ],
)
def test_script_steps_refused_at_load_with_a_position(upstream, tmp_path, edit, message):
    """D3/D83: what cannot run is refused by name at its line, before anything is served."""
    path = scripted_file(tmp_path, upstream.url)
    path.write_text(path.read_text().replace(*edit))
    loaded = load([path], Settings(), {})
    lines = [str(d) for d in loaded.diagnostics]
    assert any(message in line and ":20:" in line for line in lines), lines


@needs_extra("scripts")
def test_script_syntax_error_is_a_load_error(upstream, tmp_path):
    """Scripts are compiled once at load time: a syntax error never waits for a request."""
    path = scripted_file(tmp_path, upstream.url)
    (tmp_path / "scripts" / "main.js").write_text("result = ;")
    lines = [str(d) for d in load([path], Settings(), {}).diagnostics]
    assert any(":20:" in line and "script of step 'calc': SyntaxError" in line for line in lines), lines


INDEPENDENT = CHAIN.replace("with: {id: $.ship.crewId}", "with: {id: fleet.imo}")


def test_concurrent_steps_group_only_independent_call_steps(upstream, tmp_path):
    """D80: with ``concurrent_steps`` two call steps that read nothing of each other form one
    wave; a step reading an earlier result never joins its wave. The answer of a failing wave
    is its first failing step in declared order."""
    dependent = chain_file(tmp_path, upstream.url)
    independent = tmp_path / "independent.yaml"
    independent.write_text(INDEPENDENT.replace("UPSTREAM", upstream.url))
    settings = Settings(concurrent_steps=True)
    for path, sizes in ((dependent, [1, 1]), (independent, [2])):
        report = load([path], settings, {"FLEET_KEY": API_KEY}).reports[0]
        assert report.loaded is not None
        plan = report.loaded.plans["fleet"]["GET /ships/{imo}"]
        assert [len(wave) for wave in plan.waves] == sizes

    def ship_fails(request: Recorded) -> Canned:
        if request.path.startswith("/api/ships/"):
            return Canned(503, b'{"error": "down"}')
        return Canned(200, b'{"total": 3}')

    upstream.reset(ship_fails)
    with running_gateway([independent], {"FLEET_KEY": API_KEY}, concurrent_steps=True) as gateway:
        answer = httpx.get(gateway.url(8080) + "/ships/9", timeout=10)
    assert answer.status_code == 503
    assert answer.headers["naftiko-failed-step"] == "ship"
    assert sorted(r.path for r in upstream.requests) == ["/api/crew", "/api/ships/9"]


FORWARD = """\
naftiko: 1.0.0-alpha2
info: {label: Forward, description: A pass-through.}
capability:
  consumes:
  - {type: http, namespace: up, baseUri: "UPSTREAM/v1", resources: [{name: r, path: /r, operations: [{name: r}]}]}
  exposes:
  - type: rest
    namespace: proxy
    port: 8080
    resources:
    - {path: "/p/{path}", forward: {targetNamespace: up, trustedHeaders: [Accept-Encoding]}}
"""


def test_forward_answers_a_compressed_reply_decoded_and_says_so(upstream, tmp_path):
    """D82: the gateway reads the upstream body decoded, so it never claims the upstream's encoding."""
    upstream.reset(
        lambda request: Canned(
            200, gzip.compress(b'{"ok": true}'), {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        )
    )
    path = tmp_path / "forward.yaml"
    path.write_text(FORWARD.replace("UPSTREAM", upstream.url))
    with running_gateway([path], {}) as gateway:
        answer = httpx.get(gateway.url(8080) + "/p/x", headers={"Accept-Encoding": "gzip"}, timeout=10)
    assert upstream.last.path == "/v1/x"
    assert "content-encoding" not in answer.headers
    assert answer.json() == {"ok": True}


BETA4_SHAPES = """\
naftiko: 1.0.0-alpha2
info: {label: Keyed, description: Steps and flows keyed by name.}
capability:
  aggregates:
  - label: F
    namespace: ops
    flows:
      two-calls:
        description: Two calls.
        steps:
          ship: {type: call, call: registry.get-ship, with: {imo: "7"}}
          crew: {type: call, call: registry.list-crew, with: {id: $.ship.crewId}}
        mappings: [{target: name, value: $.ship.name}, {target: crew, value: $.crew.total}]
  consumes:
  - type: http
    namespace: registry
    baseUri: "UPSTREAM/api"
    resources:
    - {name: ship, path: "/ships/{imo}", operations: [{name: get-ship, inputParameters: [{name: imo, in: path}]}]}
    - {name: crew, path: /crew, operations: [{name: list-crew, inputParameters: [{name: id, in: query}]}]}
  exposes:
  - type: rest
    namespace: fleet
    port: 8080
    resources: [{path: /two, operations: [{method: GET, ref: ops.two-calls}]}]
"""


def test_steps_and_flows_keyed_by_name_as_beta4_writes_them(upstream, tmp_path):
    """Issue 12 in both dialects: beta4 keys ``steps`` and ``flows`` by name and says ``target``;
    the model is the same, whichever dialect's shape the builder reads."""
    upstream.reset(ship_then_crew)
    path = tmp_path / "keyed.yaml"
    path.write_text(BETA4_SHAPES.replace("UPSTREAM", upstream.url))
    with running_gateway([path], {}) as gateway:
        answer = httpx.get(gateway.url(8080) + "/two", timeout=10)
    assert answer.json() == {"name": "Aurora", "crew": 3}


@needs_extra("scripts")
def test_a_looping_script_does_not_stop_other_requests(upstream, tmp_path):
    """D83: while one script loops towards its limit, other requests (scripts included) are served."""
    upstream.reset(crew_total)
    path = scripted_file(tmp_path, upstream.url)
    with running_gateway([path], {}, script_timeout=2.0) as gateway:
        base = gateway.url(8080) + "/script/"
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            looping = pool.submit(httpx.get, base + "loop", timeout=30)
            while not upstream.requests:
                time.sleep(0.01)
            served = httpx.get(base + "sum", timeout=30)
            assert not looping.done()
            assert served.status_code == 200
            assert looping.result().status_code == 500
