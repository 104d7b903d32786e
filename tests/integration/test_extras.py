"""Issue 19, item 5: the optional extras, and what a capability file gets when one is missing.

The refusal is tested without uninstalling anything: the subprocess's ``sitecustomize`` puts a
finder first on ``sys.meta_path`` that refuses the extras' modules, so their imports fail there
exactly as they would where the extra was never installed.

The first three tests run in-process and open no socket; the others start ``naftiko`` processes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
from mcp import Client
from support import ROOT, served

from naftiko_runtime.core.codecs import DECODERS
from naftiko_runtime.extras import EXTRAS, PACKAGE

BLOCKER = '''\
import os, sys

BLOCKED = frozenset(os.environ["NAFTIKO_TEST_BLOCKED"].split(","))


class NotInstalled:
    """Every module of a blocked top-level package is one that is not installed."""

    def find_spec(self, fullname, path=None, target=None):
        if any(fullname == name or fullname.startswith(name + ".") for name in BLOCKED):
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


sys.meta_path.insert(0, NotInstalled())
'''
EXTRA_MODULES = "google,grpc,grpc_tools,fastavro,selectolax,markdown_it,quickjs,opentelemetry.exporter,a2a"
"""The packages the extras bring (protobuf's is ``google``; otlp's lives beside the core's
opentelemetry API and SDK)."""

USES_EVERY_EXTRA = """\
naftiko: 1.0.0-alpha2
info: {label: Extras, description: One operation per optional feature.}
capability:
  consumes:
  - type: http
    namespace: api
    baseUri: http://127.0.0.1:9
    resources:
    - name: things
      path: /things
      operations:
      - name: as-protobuf
        method: GET
        outputRawFormat: protobuf
        outputSchema: things.proto
      - name: as-avro
        method: GET
        outputRawFormat: avro
        outputSchema: things.avsc
      - name: as-html
        method: GET
        outputRawFormat: html
      - name: as-markdown
        method: GET
        outputRawFormat: markdown
      - name: as-json
        method: GET
  exposes:
  - type: rest
    namespace: things-rest
    port: 8080
    resources:
    - path: /protobuf
      operations: [{method: GET, call: api.as-protobuf}]
    - path: /avro
      operations: [{method: GET, call: api.as-avro}]
    - path: /html
      operations: [{method: GET, call: api.as-html}]
    - path: /markdown
      operations: [{method: GET, call: api.as-markdown}]
    - path: /scripted
      operations:
      - method: GET
        steps:
        - {name: fetch, type: call, call: api.as-json}
        - name: shape
          type: script
          language: javascript
          location: LOCATION
          file: shape.js
        mappings: [{targetName: answer, value: $.shape}]
  - namespace: things-agent
    type: x-naftiko-a2a
    port: 9292
    sourceNamespaces: [things-rest]
  - type: control
    port: 9191
    observability:
      exporters:
        otlp:
          endpoint: http://127.0.0.1:4318/v1/traces
"""


def blocked_environment(tmp_path: Path) -> dict[str, str]:
    """The environment of a Python that cannot import any extra's module."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("NAFTIKO_")}
    environment.update(PYTHONPATH=str(site), NAFTIKO_TEST_BLOCKED=EXTRA_MODULES)
    return environment


def every_extra_file(tmp_path: Path) -> Path:
    (tmp_path / "things.proto").write_text('syntax = "proto3";\nmessage Thing { string name = 1; }\n')
    (tmp_path / "things.avsc").write_text('{"type": "record", "name": "Thing", "fields": []}')
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "shape.js").write_text("result = context.fetch;\n")
    path = tmp_path / "extras.yaml"
    path.write_text(USES_EVERY_EXTRA.replace("LOCATION", (tmp_path / "scripts").as_uri()))
    return path


def position(text: str, key_and_value: str) -> str:
    """``line:column`` of the key of ``key: value`` in ``text``."""
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row.strip() == key_and_value)
    column = text.splitlines()[line - 1].index(key_and_value) + 1
    return f"{line}:{column}"


def test_the_extras_are_pyprojects_and_all_gathers_them():
    """naftiko_runtime.extras and pyproject.toml name the same extras; ``all`` installs each,
    ``test`` installs ``all``, and none of their packages is also a core dependency."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    optional = project["optional-dependencies"]
    assert {extra.name for extra in EXTRAS} <= set(optional)
    assert optional["all"] == [f"{PACKAGE}[{','.join(extra.name for extra in EXTRAS)}]"]
    assert f"{PACKAGE}[all]" in optional["test"]
    core = {re.split(r"[<>=\[ ]", requirement)[0].lower() for requirement in project["dependencies"]}
    for extra in EXTRAS:
        assert core.isdisjoint(re.split(r"[<>=\[ ]", r)[0].lower() for r in optional[extra.name]), extra.name


def test_every_format_with_a_parser_outside_the_core_names_its_extra():
    extra_of = {fmt.format: fmt.extra and fmt.extra.name for fmt in DECODERS.values()}
    assert {f: e for f, e in extra_of.items() if e} == {
        "protobuf": "protobuf",
        "avro": "avro",
        "html": "html",
        "markdown": "markdown",
    }


def test_py_typed_ships_as_package_data():
    assert (ROOT / "naftiko_runtime" / "py.typed").is_file()
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "py.typed" in package_data["naftiko_runtime"]


NEEDS = {
    "outputRawFormat: protobuf": ("outputRawFormat protobuf", "protobuf"),
    "outputRawFormat: avro": ("outputRawFormat avro", "avro"),
    "outputRawFormat: html": ("outputRawFormat html", "html"),
    "outputRawFormat: markdown": ("outputRawFormat markdown", "markdown"),
    "language: javascript": ("script step 'shape' (javascript)", "scripts"),
    "endpoint: http://127.0.0.1:4318/v1/traces": ("observability.exporters.otlp", "otlp"),
    "type: x-naftiko-a2a": ("the x-naftiko-a2a adapter", "a2a"),
}
"""Each line of ``USES_EVERY_EXTRA`` that needs an extra: what the error calls it, and the extra."""


def naftiko(environment: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "naftiko_runtime", *arguments],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_refused_at_each_key(path: Path, done: subprocess.CompletedProcess[str]) -> None:
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output and "ImportError" not in output, output
    text = path.read_text()
    for line, (what, extra) in NEEDS.items():
        pattern = (
            rf"{re.escape(str(path))}:{position(text, line)}: error: {re.escape(what)} needs the '{extra}' extra, "
            rf"which is not installed \(no module '[\w.]+'\): run " + re.escape(f"pip install '{PACKAGE}[{extra}]'")
        )
        assert re.search(pattern, output), (pattern, output)


def test_a_file_needing_missing_extras_is_refused_at_each_key_with_the_pip_command(tmp_path):
    """validate and serve both refuse the file: one positioned error per key that needs an extra
    (naming the exact pip install), no traceback, and serve binds no port (D5). The same file
    migrated to beta4 is refused at its own lines and columns (D70)."""
    path = every_extra_file(tmp_path)
    environment = blocked_environment(tmp_path)
    assert_refused_at_each_key(path, naftiko(environment, "validate", str(path)))
    assert_refused_at_each_key(path, naftiko(environment, "serve", "--port-offset", "31000", str(path)))
    beta4 = tmp_path / "beta4.yaml"
    beta4.write_text(naftiko(dict(os.environ), "migrate", str(path)).stdout)
    assert beta4.read_text().startswith("ikanos: 1.0.0-beta4")
    assert_refused_at_each_key(beta4, naftiko(environment, "validate", str(beta4)))


def test_without_any_extra_the_features_are_not_claimed(tmp_path):
    """The conformance suite's driver then reports their cases as not implemented, never failed."""
    script = "from naftiko_runtime.serving.features import IMPLEMENTED; print(sorted(IMPLEMENTED))"
    done = subprocess.run(
        [sys.executable, "-c", script], env=blocked_environment(tmp_path), capture_output=True, text=True, timeout=60
    )
    claimed = done.stdout
    assert done.returncode == 0, done.stderr
    for extra in EXTRAS:
        assert extra.feature is None or f"'{extra.feature}'" not in claimed
    assert "'formats.xml'" in claimed and "'orchestrated'" in claimed


async def test_the_polytomic_gateway_serves_with_no_extra_installed(tmp_path, upstream):
    """Nothing every serve needs is an extra: the Polytomic files load, answer over REST and MCP
    in a process that cannot import any extra's module."""
    with served(tmp_path, upstream.url, env=blocked_environment(tmp_path)) as gateway:
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.get(gateway.url(8080) + "/v1/api/syncs")
        assert answer.status_code == 200, answer.text
        assert upstream.last.path == "/api/syncs"
        async with Client(gateway.url(9090) + "/mcp") as mcp:
            tools = await mcp.list_tools()
        assert len(tools.tools) == 23
        assert gateway.alive()
