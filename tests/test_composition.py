"""Issue 12: what the conformance cases of ``cases/composition`` cannot say - logs, the
``--mock`` option, secrets around steps (D80, D81, D55)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest
from support import API_KEY, Canned, Recorded, running_gateway

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
