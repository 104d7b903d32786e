"""The control adapter (issue 13, item 5): health, info, validate, reload, log level and Prometheus
metrics, against a real gateway and upstream; ``promtool`` checks the exposition when installed."""

from __future__ import annotations

import shutil
import subprocess

import httpx
import pytest
from support import Canned, running_gateway

CAPABILITY = """
naftiko: 1.0.0-alpha2
info: {{label: Controlled, description: A REST adapter and its control port.}}
capability:
  consumes:
  - type: http
    namespace: api
    baseUri: {upstream}
    resources: [{{name: a, path: /a, operations: [{{name: get, method: GET}}]}}]
  exposes:
  - type: rest
    namespace: api-rest
    port: 8080
    resources: [{{path: {path}, operations: [{{method: GET, call: api.get}}]}}]
  - type: control
    port: 7070
    management: {management}
"""
ALL_ON = "{health: true, info: true, validate: true, reload: true, logs: true}"


@pytest.fixture
def controlled(tmp_path, upstream):
    path = tmp_path / "controlled.yml"
    path.write_text(CAPABILITY.format(upstream=upstream.url, path="/a", management=ALL_ON))
    with running_gateway([path], reloadable=True, read_timeout=2.0, total_timeout=3.0) as gateway:
        yield gateway, path


def test_health_and_readiness_follow_the_upstream(controlled, upstream):
    gateway, _ = controlled
    control = gateway.url(7070)
    assert httpx.get(control + "/health/live").json() == {"status": "UP"}
    assert httpx.get(control + "/health/ready").status_code == 200
    upstream.reset(lambda request: Canned(503, b"{}"))
    assert httpx.get(gateway.url(8080) + "/a").status_code == 503
    ready = httpx.get(control + "/health/ready")
    assert ready.status_code == 503 and "api" in ready.json()["reason"]
    upstream.reset()
    assert httpx.get(gateway.url(8080) + "/a").status_code == 200
    assert httpx.get(control + "/health/ready").status_code == 200


def test_a_call_that_fails_without_an_answer_is_counted_under_the_problems_status(controlled, upstream):
    """D178: a simple plan's call observed in the execution's frame ends with the status of the
    problem it raised (here the read timeout's 504), as ``_observed`` ended it, and so does its
    request; nothing is left in flight."""
    gateway, _ = controlled
    upstream.reset(lambda request: Canned(200, b"{}", delay=2.5))
    assert httpx.get(gateway.url(8080) + "/a", timeout=10).status_code == 504
    upstream.reset()
    text = httpx.get(gateway.url(7070) + "/metrics").text
    rest = 'naftiko_adapter_type="rest",naftiko_namespace="api-rest",naftiko_operation_id="GET /a"'
    client = 'http_request_method="GET",http_response_status_code="504",naftiko_namespace="api",'
    assert f'naftiko_http_client_total{{{client}server_address="127.0.0.1"}} 1.0' in text
    assert f'naftiko_request_total{{{rest},status="504"}} 1.0' in text
    assert 'naftiko_requests_in_flight{naftiko_namespace="api-rest"} 0.0' in text


def test_metrics_count_requests_and_upstream_errors(controlled, upstream):
    gateway, _ = controlled
    for _ in range(3):
        assert httpx.get(gateway.url(8080) + "/a").status_code == 200
    upstream.reset(lambda request: Canned(502, b"{}"))
    httpx.get(gateway.url(8080) + "/a")
    metrics = httpx.get(gateway.url(7070) + "/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    rest = 'naftiko_adapter_type="rest",naftiko_namespace="api-rest",naftiko_operation_id="GET /a"'
    assert f'naftiko_request_total{{{rest},status="200"}} 3.0' in text
    assert f'naftiko_request_total{{{rest},status="502"}} 1.0' in text
    assert f'naftiko_request_errors{{error_type="502",{rest}}} 1.0' in text
    client = 'http_request_method="GET",http_response_status_code="{}",naftiko_namespace="api",'
    client += 'server_address="127.0.0.1"'
    assert f"naftiko_http_client_total{{{client.format(502)}}} 1.0" in text
    assert f"naftiko_http_client_duration_seconds_count{{{client.format(200)}}} 3.0" in text
    assert f'naftiko_request_duration_seconds_count{{{rest},status="200"}} 3.0' in text
    assert 'naftiko_requests_in_flight{naftiko_namespace="api-rest"} 0.0' in text
    assert 'naftiko_capability_active{naftiko_capability="Controlled"} 1.0' in text
    assert "process_resident_memory_bytes" in text
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is absent (Debian's prometheus package): the exposition was not linted")
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_info_validate_reload_and_log_level(controlled, upstream):
    gateway, path = controlled
    control = gateway.url(7070)
    info = httpx.get(control + "/status").json()
    assert {a["namespace"] for p in info["ports"] for a in p["adapters"]} == {"api-rest", "control"}
    assert httpx.post(control + "/config/validate").json()["valid"] is True
    good = path.read_text()
    path.write_text(good.replace("call: api.get", "call: api.nowhere"))
    assert httpx.post(control + "/config/validate").status_code == 422
    refused = httpx.post(control + "/config/reload", timeout=10)
    assert refused.status_code == 409 and any("nowhere" in d for d in refused.json()["diagnostics"])
    assert httpx.get(gateway.url(8080) + "/a").status_code == 200, "the last good files keep serving"
    path.write_text(good.replace("path: /a, operations: [{method", "path: /b, operations: [{method"))
    assert httpx.post(control + "/config/reload", timeout=10).json()["reloaded"] is True
    assert httpx.get(gateway.url(8080) + "/b").status_code == 200
    assert httpx.get(gateway.url(8080) + "/a").status_code == 404
    assert httpx.put(control + "/logs", json={"level": "debug"}).json() == {"level": "DEBUG"}
    assert httpx.get(control + "/logs").json() == {"level": "DEBUG"}
    assert httpx.put(control + "/logs", json={"level": "loud"}).status_code == 400
    httpx.put(control + "/logs", json={"level": "INFO"})


def test_groups_are_off_unless_the_schema_turns_them_on(tmp_path, upstream):
    path = tmp_path / "default.yml"
    path.write_text(CAPABILITY.format(upstream=upstream.url, path="/a", management="{}"))
    with running_gateway([path]) as gateway:
        control = gateway.url(7070)
        assert httpx.get(control + "/health/ready").status_code == 200
        for method, endpoint in (("GET", "/status"), ("POST", "/config/reload"), ("GET", "/logs")):
            assert httpx.request(method, control + endpoint).status_code == 404, endpoint
        assert httpx.get(control + "/metrics").status_code == 200
        assert httpx.delete(control + "/health/live").status_code == 405


def test_control_port_behind_authentication(tmp_path, upstream):
    """The control adapter takes the same exposed ``authentication`` as business adapters (D90)."""
    path = tmp_path / "gated.yml"
    text = CAPABILITY.format(upstream=upstream.url, path="/a", management=ALL_ON)
    text = text.replace("binds", "binds") + "    authentication: {type: bearer, token: '{{OPS_TOKEN}}'}\n"
    text = text.replace(
        "capability:\n  consumes:", "binds: [{namespace: env, keys: {OPS_TOKEN: OPS_TOKEN}}]\ncapability:\n  consumes:"
    )
    path.write_text(text)
    with running_gateway([path], {"OPS_TOKEN": "ops-secret"}) as gateway:
        control = gateway.url(7070)
        assert httpx.get(control + "/metrics").status_code == 401
        assert httpx.post(control + "/config/reload").status_code == 401
        ok = httpx.get(control + "/health/ready", headers={"Authorization": "Bearer ops-secret"})
        assert ok.status_code == 200
        assert httpx.get(gateway.url(8080) + "/a").status_code == 200, "the business port stays open"
