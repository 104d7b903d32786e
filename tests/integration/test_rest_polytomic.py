"""Issue 2, acceptance 1: every Polytomic operation through the REST adapter, against a real
recording upstream, through a real HTTP client."""

from __future__ import annotations

import json

import httpx
import pytest
from polytomic_cases import CASES, SYNC_ID, Case
from support import API_KEY, Canned


def rest_request(gateway, case: Case, **overrides) -> httpx.Response:
    params = []
    for name, value in case.query.items():
        if isinstance(value, dict):
            params += [(f"{name}[{k}]", v) for k, v in value.items()]
        else:
            params.append((name, json.dumps(value) if isinstance(value, bool) else str(value)))
    headers = {"Authorization": "Bearer caller-token", "X-Polytomic-Version": "2024-02-08"}
    return httpx.request(
        case.method, gateway.url(8080) + case.rest_path, params=params, headers=headers, json=case.body, **overrides
    )


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.tool)
def test_operation_reaches_upstream_as_declared(polytomic, upstream, case: Case):
    """D15-D17, D33: method, path, query, headers and body as the capability declares them."""
    response = rest_request(polytomic, case)
    assert response.status_code == 200, response.text
    received = upstream.last
    assert len(upstream.requests) == 1
    assert received.method == case.method
    assert received.path == case.upstream_path
    assert received.query == case.expected_query
    # D33: the gateway's configured key wins over the caller's token.
    assert received.headers["authorization"] == f"Bearer {API_KEY}"
    assert received.headers["x-polytomic-version"] == "2024-02-08"
    assert received.json() == case.body
    if case.body is not None:
        assert received.headers["content-type"] == "application/json"
    # D50: pass-through mapping returns the upstream bytes unchanged.
    assert response.content == upstream.responder(received).body
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize("hostile", ["../x", "a/b", "..%2F..", "x?y=1", "x#frag", "%2F", "über id", "a;b"])
def test_path_value_stays_one_segment(polytomic, upstream, hostile):
    """D15: whatever a path value holds, it is one percent-encoded segment upstream."""
    response = httpx.get(polytomic.url(8080) + "/v1/api/syncs/" + _quote(hostile))
    assert response.status_code == 200, response.text
    raw = upstream.last.target.partition("?")[0]
    prefix = "/api/syncs/"
    assert raw.startswith(prefix)
    segment = raw[len(prefix) :]
    assert "/" not in segment and "?" not in segment and "#" not in segment
    from urllib.parse import unquote

    assert unquote(segment) == hostile
    assert upstream.last.query == []


@pytest.mark.parametrize("dots", [".", ".."])
def test_dot_segments_are_refused(polytomic, upstream, dots):
    """D15: a value of '.' or '..' would change the upstream path: 400, nothing sent."""
    response = httpx.get(polytomic.url(8080) + "/v1/api/syncs/" + dots.replace(".", "%2E"))
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert upstream.requests == []


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def test_empty_bodied_delete_stays_empty(polytomic, upstream):
    """D50: an empty upstream body stays empty, with the upstream status."""
    upstream.reset(lambda request: Canned(204, b"", {}))
    response = httpx.delete(polytomic.url(8080) + f"/v1/api/syncs/{SYNC_ID}")
    assert response.status_code == 204
    assert response.content == b""
    assert upstream.last.method == "DELETE"


@pytest.mark.parametrize("status", [404, 422, 401, 500])
def test_upstream_error_passes_through_unchanged(polytomic, upstream, status):
    """D51: the upstream status and body unchanged, so the SDK can parse them."""
    body = json.dumps({"message": "nope", "status": status, "metadata": {"id": SYNC_ID}}).encode()
    upstream.reset(
        lambda request: Canned(
            status, body, {"Content-Type": "application/json", "Retry-After": "7", "X-Internal": "secret-host"}
        )
    )
    response = httpx.get(polytomic.url(8080) + f"/v1/api/syncs/{SYNC_ID}")
    assert response.status_code == status
    assert response.content == body
    # D52: allowlisted headers pass back, others do not.
    assert response.headers["retry-after"] == "7"
    assert "x-internal" not in response.headers


def test_caller_cannot_add_query_parameters(polytomic, upstream):
    """D14: a query value cannot smuggle another parameter."""
    response = httpx.get(polytomic.url(8080) + "/v1/api/syncs", params={"mode": "create&limit=1000&evil=1"})
    assert response.status_code == 200
    assert upstream.last.query == [("mode", "create&limit=1000&evil=1")]


def test_undeclared_query_parameters_are_not_forwarded(polytomic, upstream):
    """Only parameters the capability declares reach the upstream (D52)."""
    httpx.get(
        polytomic.url(8080) + "/v1/api/syncs",
        params={"limit": 3, "admin": "true"},
        headers={"X-Forwarded-For": "1.2.3.4", "Cookie": "session=abc"},
    )
    assert upstream.last.query == [("limit", "3")]
    assert "x-forwarded-for" not in upstream.last.headers
    assert "cookie" not in upstream.last.headers


def test_routes_are_matched_most_specific_first(polytomic, upstream):
    """D32a: /syncs/schedules is its own route, not /syncs/{id} with id=schedules."""
    httpx.get(polytomic.url(8080) + "/v1/api/syncs/schedules")
    assert upstream.last.path == "/api/syncs/schedules"
    httpx.put(polytomic.url(8080) + "/v1/api/syncs/schedules", json={})
    assert (upstream.last.method, upstream.last.path) == ("PUT", "/api/syncs/schedules")
