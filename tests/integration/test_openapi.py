"""OpenAPI export (issue 14, item 1): every REST port serves `GET /openapi.json`, `naftiko openapi`
prints it; the document validates (openapi-spec-validator) and Schemathesis, run against the served
document and the recording upstream, finds neither a server error nor a response off its schema.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest
from openapi_spec_validator import validate
from support import CAPABILITIES, ROOT, running_gateway

from naftiko_runtime.cli import main, parser, settings_from
from naftiko_runtime.serving.catalog import openapi_documents
from naftiko_runtime.serving.loading import load
from naftiko_runtime.settings import Settings

SYNC = "/v1/api/syncs/{id}"


def test_served_document_is_valid_openapi_31_and_matches_the_cli(polytomic, capsys):
    served = httpx.get(polytomic.url(8080) + "/openapi.json", timeout=10)
    assert served.status_code == 200 and served.headers["content-type"] == "application/json"
    document = served.json()
    validate(document)
    assert document["openapi"] == "3.1.0"
    assert main(["openapi", "--port-offset", str(polytomic.offset), *map(str, CAPABILITIES)]) == 0
    assert json.loads(capsys.readouterr().out) == document


def test_inputs_responses_and_problems_come_from_the_plans(polytomic):
    document = httpx.get(polytomic.url(8080) + "/openapi.json", timeout=10).json()
    get_sync = document["paths"][SYNC]["get"]
    by_name = {(p["name"], p["in"]): p for p in get_sync["parameters"]}
    assert by_name[("id", "path")]["required"] is True
    assert by_name[("id", "path")]["schema"]["type"] == "string"
    # D29: the credential header the gateway fills is not asked of callers.
    assert not any(p["in"] == "header" and p["name"].lower() == "authorization" for p in get_sync["parameters"])
    assert get_sync["responses"]["400"] == {"$ref": "#/components/responses/400"}
    assert "415" not in get_sync["responses"], "no body is read, so no 415"
    problem = document["components"]["responses"]["502"]["content"]["application/problem+json"]
    assert problem["schema"] == {"$ref": "#/components/schemas/Problem"}
    bodies = [op for path in document["paths"].values() for op in path.values() if "requestBody" in op]
    assert bodies and all("415" in op["responses"] for op in bodies)
    create = document["paths"]["/v1/api/syncs"]["post"]["requestBody"]["content"]["application/json"]
    assert create["schema"]["type"] == "object"
    queries = [p for path in document["paths"].values() for op in path.values() for p in op.get("parameters", [])]
    assert any(p["in"] == "query" for p in queries), "query inputs are listed with their location"


def test_the_cli_asks_for_a_port_when_there_are_several(tmp_path, capsys):
    assert main(["openapi", "--port", "1", *map(str, CAPABILITIES)]) == 1
    assert "no REST adapter on port 1 (REST ports: 8080)" in capsys.readouterr().err


DECLARED = """naftiko: 1.0.0-alpha2
info: {{label: Declared, description: declares its own /openapi.json}}
capability:
  consumes:
    - type: http
      namespace: up
      baseUri: {upstream}
      resources:
        - {{name: spec, path: /spec, operations: [{{name: get, method: GET}}]}}
  exposes:
    - type: rest
      namespace: declared
      port: 8080
      resources:
        - path: /openapi.json
          operations:
            - {{method: GET, call: up.get}}
"""


def test_a_declared_route_at_openapi_json_wins(tmp_path, upstream):
    """The file is the contract: its own route is served; the built-in one is not."""
    capability = tmp_path / "declared.yaml"
    capability.write_text(DECLARED.format(upstream=upstream.url))
    with running_gateway([capability]) as gateway:
        assert httpx.get(gateway.url(8080) + "/openapi.json", timeout=10).status_code == 200
        assert upstream.last.path == "/spec"
        for path in ("/docs", "/docs/", "/docs/swagger-ui-bundle.js"):
            assert httpx.get(gateway.url(8080) + path, timeout=10).status_code == 200


def test_no_docs_is_a_serve_option():
    assert settings_from(parser().parse_args(["serve", "--no-docs", "x.yaml"])).docs is False
    assert settings_from(parser().parse_args(["serve", "x.yaml"])).docs is True


def test_no_docs_serves_neither(upstream):
    with running_gateway(CAPABILITIES[:1], docs=False) as gateway:
        for path in ("/openapi.json", "/docs", "/docs/swagger-ui-bundle.js"):
            assert httpx.get(gateway.url(8080) + path, timeout=10).status_code == 404


@pytest.mark.slow
@pytest.mark.timeout(420)  # Schemathesis' own run is bounded at 240 s
def test_schemathesis_finds_no_server_error_and_no_schema_violation(polytomic, tmp_path):
    """Bounded: a few examples per operation, one worker, a request timeout, a time limit."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            polytomic.url(8080) + "/openapi.json",
            "--checks",
            "not_a_server_error,response_schema_conformance",
            "--max-examples",
            "5",
            "--workers",
            "1",
            "--request-timeout",
            "10",
            "--seed",
            "14",
            "--no-shrink",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
        env=dict(os.environ, SCHEMATHESIS_HOOKS="", NO_COLOR="1"),
    )
    summary = "\n".join(result.stdout.splitlines()[-25:])
    print(summary)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


CONFORMANCE = sorted((ROOT / "conformance" / "capabilities").glob("*.y*ml"))


@pytest.mark.parametrize("capability", CONFORMANCE, ids=lambda path: path.name)
def test_every_conformance_capability_gives_a_valid_document(capability):
    loaded = load([capability], Settings(), {})
    for document in openapi_documents(loaded.listeners).values():
        validate(document)


def test_response_schemas_come_from_the_output_parameters():
    loaded = load([ROOT / "conformance" / "capabilities" / "outputs.yaml"], Settings(), {})
    (document,) = openapi_documents(loaded.listeners).values()
    schema = document["paths"]["/object-properties"]["get"]["responses"]["200"]["content"]["application/json"]
    properties = schema["schema"]["properties"]
    assert properties["id"] == {"type": ["string", "null"]}, "a mapped value is null when nothing matches (D41)"
    assert properties["address"]["properties"]["city"] == {"type": ["string", "null"]}


def test_exposed_authentication_becomes_security_schemes(tmp_path):
    """Issue 14, item 1: each REST adapter's exposed authentication (D90) is a security scheme its
    operations require; the secret never appears in the document."""
    from test_exposed_auth import AUDIENCE, CAPABILITY, ROUTE, SECRETS

    path = tmp_path / "gates.yaml"
    path.write_text(
        CAPABILITY.format(upstream="http://127.0.0.1:9", issuer="http://127.0.0.1:9", audience=AUDIENCE, route=ROUTE)
    )
    loaded = load([path], Settings(), SECRETS)
    assert not loaded.rejected, [str(d) for d in loaded.diagnostics]
    documents = openapi_documents(loaded.listeners)
    expected = {
        8080: {"type": "http", "scheme": "bearer"},
        8081: {"type": "apiKey", "name": "X-Api-Key", "in": "header"},
        8082: {"type": "apiKey", "name": "api_key", "in": "query"},
        8083: {"type": "http", "scheme": "basic"},
        8084: {"type": "http", "scheme": "digest"},
    }
    for port, scheme in expected.items():
        document = documents[port]
        validate(document)
        [(name, declared)] = document["components"]["securitySchemes"].items()
        assert declared == scheme
        assert document["paths"]["/a"]["get"]["security"] == [{name: []}]
        assert "gate-secret" not in json.dumps(document)
    oauth = documents[8085]["components"]["securitySchemes"]["oauth"]
    assert (oauth["scheme"], oauth["bearerFormat"]) == ("bearer", "JWT")
