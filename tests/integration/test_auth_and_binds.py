"""Consumed authentication of every type, and binds from files (D10-D13, D29, D33)."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import httpx
import pytest
from support import Canned, running_gateway

CAPABILITY = """
naftiko: 1.0.0-alpha2
info: {{label: Auth, description: One operation behind each authentication type.}}
binds:
- namespace: secrets
  location: file:///./secrets.json
  keys: {{USER: user, PASSWORD: password, TOKEN: token}}
capability:
  consumes:
  - type: http
    namespace: api
    baseUri: {upstream}
    authentication: {auth}
    resources:
    - name: items
      path: /items
      operations:
      - name: list
        method: GET
        inputParameters:
        - {{name: Authorization, in: header, type: string, required: true}}
        - {{name: X-Api-Key, in: header, type: string, required: true}}
  exposes:
  - type: rest
    namespace: api-rest
    port: 8080
    resources:
    - path: /items
      operations:
      - method: GET
        call: api.list
        with: {{Authorization: rest.Authorization, X-Api-Key: rest.X-Api-Key}}
  - type: mcp
    namespace: api-mcp
    port: 9090
    tools:
    - name: list-items
      description: List items.
      call: api.list
      with: {{Authorization: tools.Authorization, X-Api-Key: tools.X-Api-Key}}
"""
SECRETS = {"user": "ada", "password": "p@ss:wörd", "token": "tok-123"}


def serve(tmp_path, upstream, auth: str):
    (tmp_path / "secrets.json").write_text(json.dumps(SECRETS))
    path = tmp_path / "auth.yml"
    path.write_text(CAPABILITY.format(upstream=upstream.url, auth=auth))
    return running_gateway([path])


@pytest.mark.parametrize(
    "auth, header, expected",
    [
        ("{type: bearer, token: '{{TOKEN}}'}", "authorization", "Bearer tok-123"),
        (
            "{type: basic, username: '{{secrets.USER}}', password: '{{PASSWORD}}'}",
            "authorization",
            "Basic " + base64.b64encode("ada:p@ss:wörd".encode()).decode(),
        ),
        ("{type: apikey, key: X-Api-Key, value: '{{TOKEN}}', placement: header}", "x-api-key", "tok-123"),
    ],
)
def test_header_credentials_come_from_the_bind_file(tmp_path, upstream, auth, header, expected):
    """D10: a relative file location is read next to the capability; D33: the bind wins."""
    with serve(tmp_path, upstream, auth) as gateway:
        response = httpx.get(
            gateway.url(8080) + "/items", headers={"Authorization": "Bearer caller", "X-Api-Key": "caller"}
        )
    assert response.status_code == 200
    assert upstream.last.headers[header] == expected


def test_apikey_in_query(tmp_path, upstream):
    with serve(tmp_path, upstream, "{type: apikey, key: api_key, value: '{{TOKEN}}', placement: query}") as gateway:
        httpx.get(gateway.url(8080) + "/items", headers={"Authorization": "x", "X-Api-Key": "y"})
    assert upstream.last.query == [("api_key", "tok-123")]


def test_credential_headers_are_not_required_and_not_shown_to_agents(tmp_path, upstream):
    """D29: the header the authentication fills is neither required from REST callers nor an MCP argument."""
    from mcp_schema_probe import tool_schema

    with serve(tmp_path, upstream, "{type: bearer, token: '{{TOKEN}}'}") as gateway:
        response = httpx.get(gateway.url(8080) + "/items", headers={"X-Api-Key": "k"})
        assert response.status_code == 200, response.text
        schema = tool_schema(gateway.url(9090) + "/mcp", "list-items")
    assert "Authorization" not in schema["properties"]
    assert schema["required"] == ["X-Api-Key"]


def digest_upstream(request):
    """A real digest challenge (RFC 7616, MD5, qop=auth) checked against the real password."""
    header = request.headers.get("authorization", "")
    if not header.startswith("Digest "):
        return Canned(
            401,
            b"{}",
            {
                "WWW-Authenticate": 'Digest realm="api", qop="auth", nonce="n0nce", opaque="op"',
                "Content-Type": "application/json",
            },
        )
    fields = dict(re.findall(r'(\w+)="?([^",]+)"?', header[len("Digest ") :]))
    ha1 = hashlib.md5(f"{SECRETS['user']}:api:{SECRETS['password']}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{request.method}:{fields['uri']}".encode()).hexdigest()
    expected = hashlib.md5(f"{ha1}:n0nce:{fields['nc']}:{fields['cnonce']}:auth:{ha2}".encode()).hexdigest()
    return Canned(200 if fields.get("response") == expected else 403, b'{"ok": true}')


def test_digest_answers_the_challenge(tmp_path, upstream):
    upstream.reset(digest_upstream)
    with serve(tmp_path, upstream, "{type: digest, username: '{{USER}}', password: '{{PASSWORD}}'}") as gateway:
        response = httpx.get(gateway.url(8080) + "/items", headers={"X-Api-Key": "k"})
    assert response.status_code == 200, response.text
    assert [r.headers.get("authorization", "")[:6] for r in upstream.requests] == ["", "Digest"]


def test_missing_bind_file_is_a_positioned_error(tmp_path, upstream):
    path = tmp_path / "auth.yml"
    path.write_text(CAPABILITY.format(upstream=upstream.url, auth="{type: bearer, token: '{{TOKEN}}'}"))
    from naftiko_runtime.serving.loading import load_file
    from naftiko_runtime.settings import Settings

    report = load_file(path, Settings(), environ={})
    assert not report.ok
    [error] = report.errors
    assert (error.line, error.column) == (6, 3) and "secrets.json" in error.message
