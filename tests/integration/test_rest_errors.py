"""Issue 2, acceptance 4: the runtime's own errors (D27, D53) and upstream faults (D54)."""

from __future__ import annotations

import socket

import httpx
from support import CAPABILITIES, Canned, running_gateway

NAMESPACES = ("polytomic-subpackage-modelsync", "polytomic-subpackage-bulksync")


def problem(response: httpx.Response) -> dict:
    assert response.headers["content-type"] == "application/problem+json"
    document = response.json()
    assert document["status"] == response.status_code
    return document


def test_non_integer_limit_is_400_and_nothing_is_sent(polytomic, upstream):
    """D27: a value that does not convert to the declared type."""
    response = httpx.get(polytomic.url(8080) + "/v1/api/syncs", params={"limit": "ten", "active": "maybe"})
    assert response.status_code == 400
    errors = {e["name"]: e for e in problem(response)["errors"]}
    assert set(errors) == {"limit", "active"}, "every problem is listed at once"
    assert errors["limit"]["in"] == "query"
    assert upstream.requests == []


def test_non_json_body_is_400(polytomic, upstream):
    response = httpx.post(
        polytomic.url(8080) + "/v1/api/syncs", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert problem(response)["errors"][0]["name"] == "body"
    assert upstream.requests == []


def test_missing_required_input_is_400(tmp_path, upstream):
    """D27: a required declared input that the caller did not give."""
    capability = tmp_path / "required.yml"
    capability.write_text(f"""
naftiko: 1.0.0-alpha2
info: {{label: Required inputs}}
capability:
  consumes:
  - type: http
    namespace: api
    baseUri: {upstream.url}
    resources:
    - name: items
      path: /items
      operations:
      - name: search
        method: GET
        inputParameters:
        - {{name: q, in: query, type: string, required: true}}
        - {{name: X-Tenant, in: header, type: string, required: true}}
  exposes:
  - type: rest
    namespace: api-rest
    port: 8080
    resources:
    - path: /search
      operations:
      - method: GET
        call: api.search
        with: {{q: rest.q, X-Tenant: rest.X-Tenant}}
""")
    with running_gateway([capability]) as gateway:
        response = httpx.get(gateway.url(8080) + "/search")
        assert response.status_code == 400
        assert {e["name"] for e in problem(response)["errors"]} == {"q", "X-Tenant"}
        assert upstream.requests == []
        ok = httpx.get(gateway.url(8080) + "/search", params={"q": "a b"}, headers={"x-tenant": "t1"})
        assert ok.status_code == 200
        assert upstream.last.query == [("q", "a b")]
        assert upstream.last.headers["x-tenant"] == "t1"


def test_wrong_method_is_405_with_allow(polytomic, upstream):
    response = httpx.patch(polytomic.url(8080) + "/v1/api/syncs")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    problem(response)
    assert upstream.requests == []


def test_unknown_path_is_404_problem(polytomic):
    response = httpx.get(polytomic.url(8080) + "/v1/api/nothing-here")
    assert response.status_code == 404
    assert "no operation" in problem(response)["detail"]


def test_oversized_body_is_413(tmp_path, upstream):
    with running_gateway(
        CAPABILITIES, {}, base_uris={ns: upstream.url for ns in NAMESPACES}, max_request_body=1024
    ) as gateway:
        response = httpx.post(gateway.url(8080) + "/v1/api/syncs", json={"name": "x" * 4096})
        assert response.status_code == 413
        problem(response)
        assert upstream.requests == []


def test_unreachable_upstream_is_502():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}"  # bound, never listening: connection refused
        with running_gateway(CAPABILITIES, {}, base_uris={ns: dead for ns in NAMESPACES}) as gateway:
            response = httpx.get(gateway.url(8080) + "/v1/api/syncs")
    assert response.status_code == 502
    assert "could not be reached" in problem(response)["detail"]


def test_slow_upstream_is_504(polytomic, upstream):
    """D54: the polytomic fixture allows 2 s to read; the upstream takes 4."""
    upstream.reset(lambda request: Canned(200, b"{}", delay=4))
    response = httpx.get(polytomic.url(8080) + "/v1/api/syncs", timeout=10)
    assert response.status_code == 504
    problem(response)


def test_non_json_success_is_502(polytomic, upstream):
    """D53: a 2xx body that does not decode as the declared outputRawFormat (json)."""
    upstream.reset(lambda request: Canned(200, b"<html>maintenance</html>", {"Content-Type": "text/html"}))
    response = httpx.get(polytomic.url(8080) + "/v1/api/syncs")
    assert response.status_code == 502
    assert "not JSON" in problem(response)["detail"]


def test_redirect_is_not_followed(polytomic, upstream):
    """No redirect is followed: the 3xx goes back to the caller with its Location (D52)."""
    upstream.reset(lambda request: Canned(302, b"", {"Location": "http://elsewhere.example/steal"}))
    response = httpx.get(polytomic.url(8080) + "/v1/api/syncs")
    assert response.status_code == 302
    assert response.headers["location"] == "http://elsewhere.example/steal"
    assert len(upstream.requests) == 1


def test_unset_key_passes_the_callers_token(upstream):
    """D13/D33: with POLYTOMIC_API_KEY unset, the caller's Authorization is passed on."""
    with running_gateway(CAPABILITIES, {}, base_uris={ns: upstream.url for ns in NAMESPACES}) as gateway:
        httpx.get(gateway.url(8080) + "/v1/api/syncs", headers={"Authorization": "Bearer callers-own"})
    assert upstream.last.headers["authorization"] == "Bearer callers-own"


def test_base_uri_from_environment(upstream, tmp_path):
    """D18: NAFTIKO_BASE_URI_<NAMESPACE> points a namespace elsewhere."""
    environ = {"NAFTIKO_BASE_URI_POLYTOMIC_SUBPACKAGE_MODELSYNC": upstream.url + "/prefix"}
    with running_gateway(CAPABILITIES[1:], environ) as gateway:
        httpx.get(gateway.url(8080) + "/v1/api/syncs/schedules")
    assert upstream.last.path == "/prefix/api/syncs/schedules"


def test_declared_rest_inputs_are_optional_unless_required(tmp_path, upstream):
    """A declared REST query input without `required` is optional; its pattern and type still apply."""
    capability = tmp_path / "declared.yml"
    capability.write_text(f"""
naftiko: 1.0.0-alpha2
info: {{label: Declared inputs, description: Declared inputs.}}
capability:
  consumes:
  - type: http
    namespace: api
    baseUri: {upstream.url}
    resources:
    - name: items
      path: /items
      operations:
      - name: list
        method: GET
        inputParameters:
        - {{name: q, in: query}}
  exposes:
  - type: rest
    namespace: api-rest
    port: 8080
    resources:
    - path: /items
      inputParameters:
      - {{name: q, in: query, type: string, description: Search text., pattern: "^[a-z]+$"}}
      operations:
      - method: GET
        call: api.list
        with: {{q: rest.q}}
""")
    with running_gateway([capability]) as gateway:
        assert httpx.get(gateway.url(8080) + "/items").status_code == 200
        assert upstream.last.query == []
        refused = httpx.get(gateway.url(8080) + "/items", params={"q": "NOT-LOWER"})
        assert refused.status_code == 400 and "pattern" in problem(refused)["detail"]
