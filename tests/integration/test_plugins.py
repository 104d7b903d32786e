"""Issue 19, item 4: a plugin package adds a step kind, a response format, a consumed and an
exposed authentication type and an adapter kind through the entry-point group
``naftiko_runtime.plugins``, editing nothing in ``naftiko_runtime``.

The plugin (``tests/plugins/naftiko_demo_plugin``) is installed as pip installs a package: its
``*.dist-info`` (``entry_points.txt`` written from its own ``pyproject.toml``) on a directory of
``PYTHONPATH``, next to its source. ``naftiko serve`` finds it there by ``importlib.metadata``
alone, serves a capability that uses all four against a real upstream on loopback, and is called
over REST (httpx), MCP (the ``mcp`` package's client) and the plugin's own adapter kind.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from support import Canned, Recorded, served

PLUGIN = Path(__file__).parents[1] / "plugins" / "naftiko_demo_plugin"
SECRET, PHRASE = "sig-7d1e-SECRET", "open sesame"
ENVIRON = {"DEMO_SECRET": SECRET, "DEMO_PHRASE": PHRASE}

CAPABILITY = """\
naftiko: 1.0.0-alpha2
info: {label: Plugged, description: One of each kind a plugin adds.}
binds: [{namespace: env, keys: {SIGNING: DEMO_SECRET, PHRASE: DEMO_PHRASE}}]
capability:
  consumes:
  - type: http
    namespace: registry
    baseUri: "UPSTREAM"
    authentication: {type: demo-signature, secret: "{{SIGNING}}"}
    resources:
    - name: ship
      path: "/ships/{imo}"
      operations: [{name: get-ship, method: GET, outputRawFormat: kv, inputParameters: [{name: imo, in: path}]}]
  exposes:
  - type: rest
    namespace: fleet
    port: 8080
    authentication: {type: demo-pass, phrase: "{{PHRASE}}"}
    resources:
    - path: "/ships/{imo}"
      operations:
      - method: GET
        inputParameters: [{name: imo, in: path, type: string, description: IMO.}]
        steps:
        - {name: ship, type: call, call: registry.get-ship, with: {imo: fleet.imo}}
        - {name: loud, type: upper, value: $.ship.name}
        mappings: [{targetName: name, value: $.loud}, {targetName: flag, value: $.ship.flag}]
  - type: mcp
    namespace: fleet-mcp
    port: 9090
    authentication: {type: demo-pass, phrase: "{{PHRASE}}"}
    tools:
    - name: shout-ship
      description: A ship's name in capitals.
      inputParameters: [{name: imo, type: string, description: IMO.}]
      steps:
      - {name: ship, type: call, call: registry.get-ship, with: {imo: fleet-mcp.imo}}
      - {name: loud, type: upper, value: $.ship.name}
      mappings: [{targetName: name, value: $.loud}, {targetName: flag, value: $.ship.flag}]
  - type: text
    namespace: plain
    port: 8082
    lines:
    - name: ship
      inputParameters: [{name: imo, in: query, type: string, description: IMO.}]
      steps:
      - {name: ship, type: call, call: registry.get-ship, with: {imo: plain.imo}}
      - {name: loud, type: upper, value: $.ship.name}
      mappings: [{targetName: name, value: $.loud}, {targetName: flag, value: $.ship.flag}]
"""


def installed(site: Path, name: str = "naftiko-demo-plugin", entry_points: str | None = None) -> dict[str, str]:
    """The environment of a process in which the plugin is installed: its dist-info in ``site``,
    with the entry points its ``pyproject.toml`` declares (or ``entry_points``, for a broken one)."""
    project = tomllib.loads((PLUGIN / "pyproject.toml").read_text())["project"]
    if entry_points is None:
        declared = project["entry-points"]["naftiko_runtime.plugins"]
        entry_points = "".join(f"{key} = {value}\n" for key, value in declared.items())
    info = site / f"{name.replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {project['version']}\n")
    (info / "entry_points.txt").write_text(f"[naftiko_runtime.plugins]\n{entry_points}")
    path = os.pathsep.join((str(site), str(PLUGIN), os.environ.get("PYTHONPATH", "")))
    return {"PYTHONPATH": path, **ENVIRON}


def ships(request: Recorded) -> Canned:
    """The upstream answers ``key=value`` lines, only to the plugin's signature."""
    if request.headers.get("authorization") != f"Demo {SECRET}":
        return Canned(401, b"error=unsigned\n", {"Content-Type": "text/plain"})
    imo = request.path.rsplit("/", 1)[-1]
    return Canned(200, f"name=Aurora {imo}\nflag=NO\n".encode(), {"Content-Type": "text/plain"})


def validate(tmp_path: Path, text: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "plugged.yaml"
    path.write_text(text)
    command = [sys.executable, "-m", "naftiko_runtime", "validate", "--strict", str(path)]
    return subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env}, timeout=60)


async def test_a_plugin_adds_a_step_kind_a_format_auth_types_and_an_adapter_kind(upstream, tmp_path):
    """Served with ``--strict`` (every warning an error): the dialect's shape check knows each
    registered type's shape, or the load would fail on 'unsupported ... type'."""
    upstream.reset(ships)
    path = tmp_path / "plugged.yaml"
    path.write_text(CAPABILITY.replace("UPSTREAM", upstream.url))
    env = installed(tmp_path / "site")
    with served(tmp_path, upstream.url, "--strict", env=env, files=[path], ports=(8080, 9090, 8082)) as gateway:
        async with httpx.AsyncClient(timeout=10) as client:
            refused = await client.get(gateway.url(8080) + "/ships/9")
            answer = await client.get(gateway.url(8080) + "/ships/9", headers={"X-Demo-Pass": PHRASE})
            text = await client.get(gateway.url(8082) + "/ship", params={"imo": "12"})
        headers = {"X-Demo-Pass": PHRASE}
        async with httpx2.AsyncClient(headers=headers, timeout=10) as http:
            async with Client(streamable_http_client(gateway.url(9090) + "/mcp", http_client=http)) as mcp:
                tool = await mcp.call_tool("shout-ship", {"imo": "7"})
        async with httpx2.AsyncClient(timeout=10) as http:
            unauthenticated = await http.post(gateway.url(9090) + "/mcp", json={})
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("DemoPass")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"name": "AURORA 9", "flag": "NO"}
    assert not tool.is_error and tool.structured_content == {"name": "AURORA 7", "flag": "NO"}
    assert unauthenticated.status_code == 401
    assert (text.status_code, text.text) == (200, "name: AURORA 12\nflag: NO\n")
    assert {r.path for r in upstream.requests} == {"/ships/9", "/ships/7", "/ships/12"}
    assert all(r.headers["authorization"] == f"Demo {SECRET}" for r in upstream.requests)
    assert SECRET not in answer.text + text.text + str(tool.content)


def test_a_type_registered_on_one_side_is_not_valid_on_the_other(tmp_path):
    """Sent is not checked: ``demo-signature`` on an exposed adapter, ``demo-pass`` on a consumed
    API, are positioned errors naming what that side accepts (never a KeyError at load)."""
    sent, checked = "type: demo-signature, secret", "type: demo-pass, phrase"
    swapped = CAPABILITY.replace(sent, "SENT").replace(checked, sent).replace("SENT", checked)
    done = validate(tmp_path, swapped.replace("UPSTREAM", "http://127.0.0.1:9"), installed(tmp_path / "site"))
    assert done.returncode == 1, done.stdout + done.stderr
    errors = [line.split("plugged.yaml:", 1)[1] for line in done.stdout.splitlines() if "plugged.yaml:" in line]
    assert [line.split(":")[0] for line in errors] == ["9", "18", "31"]
    assert "unknown authentication type 'demo-pass' for a consumed API" in errors[0]
    assert "unknown authentication type 'demo-signature' for an exposed adapter" in errors[1]
    assert "Traceback" not in done.stdout + done.stderr


def test_a_step_of_a_plugin_kind_is_checked_where_it_is_written(tmp_path):
    """The plugin's shape and compile report at the step's line: a missing ``value``, a path
    that reads no earlier step."""
    bad = CAPABILITY.replace("{name: loud, type: upper, value: $.ship.name}", "{name: loud, type: upper}", 1)
    bad = bad.replace("{name: loud, type: upper, value: $.ship.name}", "{name: loud, type: upper, value: $.nope}", 1)
    done = validate(tmp_path, bad.replace("UPSTREAM", "http://127.0.0.1:9"), installed(tmp_path / "site"))
    assert done.returncode == 1
    assert "plugged.yaml:26:" in done.stdout and "'value'" in done.stdout
    assert "plugged.yaml:38:" in done.stdout and "'$.nope' reads no earlier step" in done.stdout


def test_a_broken_plugin_is_named_with_its_entry_point_and_why(tmp_path):
    cases = {
        "missing = naftiko_demo_plugin:nowhere\n": "AttributeError",
        "module = naftiko_demo_plugin.kv_format:KV\n": "is a Format, not a function register(plugins)",
        "absent = no_such_module:register\n": "ModuleNotFoundError: No module named 'no_such_module'",
    }
    for number, (entry, why) in enumerate(cases.items()):
        env = installed(tmp_path / f"site{number}", "naftiko-broken-plugin", entry)
        done = validate(tmp_path, "naftiko: 1.0.0-alpha2\n", env)
        name = entry.split(" = ")[0]
        assert done.returncode == 2, done.stderr
        assert f"plugin 'naftiko-broken-plugin', entry point '{entry.strip()}'" in done.stderr, name
        assert why in done.stderr and "Traceback" not in done.stderr


def test_a_plugin_cannot_take_a_type_already_registered(tmp_path):
    """A second registration of ``upper`` (the demo plugin installed twice, under two names) is
    refused, never silently replacing the first."""
    env = installed(tmp_path / "site")
    twice = installed(tmp_path / "site", "naftiko-demo-twice", "again = naftiko_demo_plugin:register\n")
    env["PYTHONPATH"] = twice["PYTHONPATH"]
    done = validate(tmp_path, "naftiko: 1.0.0-alpha2\n", env)
    assert done.returncode == 2
    assert "step kind 'upper' is already registered" in done.stderr and "Traceback" not in done.stderr
