"""The reference engine's own dashboards and alert rules read this runtime's ``/metrics`` (issue 20,
item 5): every PromQL expression of its Prometheus alert rules and Grafana dashboard, and every
metric of its Datadog dashboard, finds series after REST, MCP and orchestrated traffic with one
failing upstream. A real Prometheus (Debian's ``prometheus``) scrapes the control port and loads
the engine's ``alerts.yml`` as it is."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client
from ruamel.yaml import YAML
from support import SHARED, Canned, Recorded, echo, running_gateway

OBSERVABILITY = SHARED / "spec" / "ikanos-1.0.0-beta4" / "ikanos-docs" / "demo" / "observability"
RATE_INTERVAL = "30s"
"""Grafana's ``$__rate_interval`` for a 1 s scrape: several samples in every window."""
COMPARISON = re.compile(r"\s*(?:>|<|>=|<=|==|!=)\s*[0-9.]+\s*$")

CAPABILITY = """
naftiko: 1.0.0-alpha2
info: {{label: Observed, description: REST, MCP and orchestrated operations with a control port.}}
capability:
  consumes:
  - type: http
    namespace: api
    baseUri: {upstream}
    resources:
    - {{name: a, path: /a, operations: [{{name: get, method: GET}}]}}
    - {{name: crew, path: /crew, operations: [{{name: crew, method: GET}}]}}
  - type: http
    namespace: broken
    baseUri: {upstream}/fail
    resources: [{{name: b, path: /b, operations: [{{name: get, method: GET}}]}}]
  exposes:
  - type: rest
    namespace: api-rest
    port: 8080
    resources:
    - {{path: /a, operations: [{{method: GET, call: api.get}}]}}
    - {{path: /b, operations: [{{method: GET, call: broken.get}}]}}
    - path: /joined
      operations:
      - method: GET
        steps:
        - {{name: crew, type: call, call: api.crew}}
        - {{name: first, type: lookup, index: crew, match: id, lookupValue: "1", outputParameters: [name]}}
        mappings: [{{targetName: name, value: $.first.name}}]
        outputParameters: [{{name: name, type: string}}]
  - type: mcp
    namespace: api-mcp
    port: 9090
    tools: [{{name: get-a, description: The a resource., call: api.get}}]
  - type: control
    port: 7070
"""


def answer(request: Recorded) -> Canned:
    if request.path.startswith("/fail"):
        return Canned(503, b'{"error": "down"}')
    if request.path == "/crew":
        return Canned(200, json.dumps([{"id": "1", "name": "Ada"}, {"id": "2", "name": "Grace"}]).encode())
    return echo(request)


def promql_queries() -> dict[str, str]:
    """Every PromQL expression of the engine's alert rules and Grafana dashboard, by where it is.
    An alert's threshold comparison is dropped: its operand must find series, firing is not asked."""
    queries: dict[str, str] = {}
    rules = YAML(typ="safe").load((OBSERVABILITY / "alerts.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            queries[f"alerts.yml {rule['alert']}"] = COMPARISON.sub("", " ".join(rule["expr"].split()))

    def walk(node: Any, where: str) -> Iterator[tuple[str, str]]:
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                yield where, node["expr"]
            for key, value in node.items():
                yield from walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                yield from walk(value, f"{where}[{index}]")

    grafana = json.loads((OBSERVABILITY / "grafana-ikanos.json").read_text())
    for where, expr in walk(grafana, "grafana-ikanos.json"):
        queries[where] = expr.replace("$__rate_interval", RATE_INTERVAL)
    return queries


def datadog_metrics() -> dict[str, tuple[str, tuple[str, ...]]]:
    """The Datadog dashboard's queries (``p95:naftiko_x{*} by {tag}``): for each, the Prometheus
    series it reads once the OpenMetrics check has ingested ``/metrics`` (a percentile reads a
    histogram's buckets) and the tags it groups by."""
    dashboard = json.loads((OBSERVABILITY / "datadog-ikanos.json").read_text())
    found = {}
    for widget in dashboard["widgets"]:
        for request in widget["definition"].get("requests", []):
            match = re.fullmatch(r"(\w+):(\w+)\{\*\}(?: by \{([\w,]+)\})?(?:\.as_rate\(\))?", request["q"])
            assert match, f"a Datadog query of an unknown form: {request['q']}"
            aggregation, metric, tags = match.groups()
            series = f"{metric}_bucket" if aggregation.startswith("p") else metric
            found[request["q"]] = (series, tuple(tags.split(",")) if tags else ())
    return found


@pytest.fixture
def observed(tmp_path, upstream) -> Iterator[Any]:
    upstream.reset(answer)
    path = tmp_path / "observed.yml"
    path.write_text(CAPABILITY.format(upstream=upstream.url))
    with running_gateway([path]) as gateway:
        yield gateway


async def traffic(gateway: Any) -> None:
    """REST answered and failing (the ``broken`` upstream answers 503), an orchestrated call and
    lookup, and an MCP tool call through the ``mcp`` package's client."""
    async with httpx.AsyncClient(timeout=10) as client:
        for _ in range(3):
            assert (await client.get(gateway.url(8080) + "/a")).status_code == 200
            assert (await client.get(gateway.url(8080) + "/b")).status_code == 503
            assert (await client.get(gateway.url(8080) + "/joined")).json() == {"name": "Ada"}
    async with Client(gateway.url(9090) + "/mcp") as mcp:
        assert not (await mcp.call_tool("get-a", {})).is_error


def test_the_engine_files_hold_the_queries_checked():
    """Nothing checked vacuously: the files are where the brief says and hold what it lists."""
    queries = promql_queries()
    assert len(queries) == 7 + 16
    text = " ".join(queries.values())
    for name in ("naftiko_request_total", "naftiko_request_errors", "naftiko_request_duration_seconds_bucket",
                 "naftiko_http_client_total", "naftiko_http_client_duration_seconds_bucket",
                 "naftiko_step_duration_seconds_bucket", "naftiko_capability_active"):  # fmt: skip
        assert name in text
    assert len(datadog_metrics()) == 12


async def test_datadog_dashboard_metrics_and_tags_are_served(observed):
    await traffic(observed)
    exposition = httpx.get(observed.url(7070) + "/metrics").text
    for kind in ("rest", "mcp"):
        assert f'naftiko_request_total{{naftiko_adapter_type="{kind}"' in exposition, kind
    for step in ("call", "lookup"):
        labels = f'naftiko_namespace="api-rest",step_type="{step}"'
        assert f"naftiko_step_duration_seconds_count{{{labels}}} 3.0" in exposition
    for query, (series, tags) in datadog_metrics().items():
        lines = [line for line in exposition.splitlines() if line.startswith(series + "{")]
        assert lines, f"{query}: no {series} series on /metrics"
        for tag in tags:
            assert all(f'{tag}="' in line for line in lines), f"{query}: {series} lacks the label {tag}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def prometheus(tmp_path: Path, target: str) -> Iterator[str]:
    """A real Prometheus scraping ``target`` every second, with the engine's alert rules loaded."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is absent (Debian package `prometheus`): the engine's queries were not run")
    shutil.copy(OBSERVABILITY / "alerts.yml", tmp_path / "alerts.yml")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["alerts.yml"],
        "scrape_configs": [
            {"job_name": "naftiko", "metrics_path": "/metrics", "static_configs": [{"targets": [target]}]}
        ],
    }
    (tmp_path / "prometheus.yml").write_text(json.dumps(config))
    address = f"127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        [binary, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address={address}"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("wb"),
    )  # fmt: skip
    try:
        url = f"http://{address}"
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/-/ready", timeout=1).status_code == 200:
                    break
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "prometheus.log").read_text()
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def series_found(url: str, query: str) -> int:
    answer = httpx.get(url + "/api/v1/query", params={"query": query}, timeout=5).json()
    assert answer["status"] == "success", f"{query}: {answer}"
    return len(answer["data"]["result"])


async def test_engine_alerts_and_grafana_queries_find_series(observed, tmp_path):
    target = observed.url(7070).removeprefix("http://")
    with prometheus(tmp_path, target) as url:
        queries = promql_queries()
        await traffic(observed)
        time.sleep(2.5)
        await traffic(observed)
        deadline = time.monotonic() + 30
        while True:
            empty = [f"{where}: {query}" for where, query in queries.items() if not series_found(url, query)]
            if not empty or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert not empty, "queries of the engine's dashboards that find no series:\n" + "\n".join(empty)
        rules = httpx.get(url + "/api/v1/rules", timeout=5).json()["data"]["groups"][0]["rules"]
        assert len(rules) == 7 and all(rule["health"] in ("ok", "unknown") for rule in rules), rules
