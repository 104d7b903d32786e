"""Exposed authentication (issue 13 item 1, D90): every scheme refuses what it must, lets the right
credential in, and never forwards the caller's credential upstream. The oauth2 adapter checks JWTs
against a real local authorization server (metadata + JWKS) that the test starts and rotates.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from support import running_gateway

from naftiko_runtime import Settings
from naftiko_runtime.serving.loading import load

SECRETS = {"GATE_TOKEN": "gate-secret", "GATE_USER": "ada", "GATE_PASSWORD": "löve:lace"}
AUDIENCE = "https://gateway.example/mcp"
ROUTE = "resources: [{path: /a, operations: [{method: GET, call: api.get, with: {Authorization: rest.Authorization}}]}]"
CAPABILITY = """
naftiko: 1.0.0-alpha2
info: {{label: Gates, description: One adapter behind each exposed authentication.}}
binds: [{{namespace: env, keys: {{GATE_TOKEN: GATE_TOKEN, GATE_USER: GATE_USER, GATE_PASSWORD: GATE_PASSWORD}}}}]
capability:
  consumes:
  - type: http
    namespace: api
    baseUri: {upstream}
    resources:
    - name: a
      path: /a
      operations:
      - name: get
        method: GET
        inputParameters: [{{name: Authorization, in: header, type: string}}]
  exposes:
  - type: rest
    namespace: bearer
    port: 8080
    authentication: {{type: bearer, token: "{{{{GATE_TOKEN}}}}"}}
    {route}
  - type: rest
    namespace: key-header
    port: 8081
    authentication: {{type: apikey, key: X-Api-Key, value: "{{{{GATE_TOKEN}}}}", placement: header}}
    {route}
  - type: rest
    namespace: key-query
    port: 8082
    authentication: {{type: apikey, key: api_key, value: "{{{{GATE_TOKEN}}}}", placement: query}}
    {route}
  - type: rest
    namespace: basic
    port: 8083
    authentication: {{type: basic, username: "{{{{GATE_USER}}}}", password: "{{{{GATE_PASSWORD}}}}"}}
    {route}
  - type: rest
    namespace: digest
    port: 8084
    authentication: {{type: digest, username: "{{{{GATE_USER}}}}", password: "{{{{GATE_PASSWORD}}}}"}}
    {route}
  - type: rest
    namespace: oauth
    port: 8085
    authentication: {{type: oauth2, authorizationServerUri: "{issuer}", resource: "{audience}", scopes: [tools.read]}}
    {route}
  - type: mcp
    namespace: oauth-mcp
    port: 9090
    authentication: {{type: oauth2, authorizationServerUri: "{issuer}", resource: "{audience}", scopes: [tools.read]}}
    tools: [{{name: get-a, description: A., call: api.get}}]
"""


class AuthorizationServer:
    """RFC 8414 metadata and a JWK set whose keys the test rotates."""

    def __init__(self) -> None:
        self.keys = [RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)]
        self.fetches = 0
        now = int(time.time())
        active = {"active": True, "iss": "", "aud": AUDIENCE, "exp": now + 300, "scope": "tools.read"}
        self.introspected: dict[str, dict[str, Any]] = {
            "opaque-good": active,
            "opaque-expired": {**active, "exp": now - 120},
            "opaque-elsewhere": {**active, "aud": "https://elsewhere.example"},
            "opaque-no-scope": {**active, "scope": "other"},
            "opaque-revoked": {"active": False},
        }
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                """RFC 7662 introspection: only for this test's client, only tokens it issued."""
                form = dict(parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
                client = base64.b64encode(b"gateway:client-secret").decode()
                if self.path != "/introspect" or self.headers.get("Authorization") != f"Basic {client}":
                    self.send_error(401)
                    return
                self.answer(server.introspected.get(form.get("token", ""), {"active": False}))

            def answer(self, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/.well-known/oauth-authorization-server":
                    body = {
                        "issuer": server.issuer,
                        "jwks_uri": server.issuer + "/jwks",
                        "introspection_endpoint": server.issuer + "/introspect",
                    }
                elif self.path == "/jwks":
                    server.fetches += 1
                    body = {"keys": [key.as_dict(private=False) for key in server.keys]}
                else:
                    self.send_error(404)
                    return
                self.answer(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        for verdict in self.introspected.values():
            if "iss" in verdict:
                verdict["iss"] = self.issuer
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def token(self, key: RSAKey | None = None, alg: str = "RS256", **overrides: Any) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": AUDIENCE, "exp": now + 300, "iat": now, "scope": "tools.read other"}
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        key = key or self.keys[-1]
        return jwt.encode({"alg": alg, "kid": key.kid}, claims, key)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unsigned(claims: dict[str, Any], header: dict[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"


@pytest.fixture(scope="module")
def auth_server() -> Iterator[AuthorizationServer]:
    server = AuthorizationServer()
    yield server
    server.httpd.shutdown()


@pytest.fixture(scope="module")
def gates(tmp_path_factory, upstream, auth_server):
    path = tmp_path_factory.mktemp("gates") / "gates.yml"
    path.write_text(CAPABILITY.format(upstream=upstream.url, route=ROUTE, issuer=auth_server.issuer, audience=AUDIENCE))
    with running_gateway([path], SECRETS, jwks_min_refresh=0.0) as gateway:
        yield gateway


def get(gateway, port: int, path: str = "/a", **kwargs: Any) -> httpx.Response:
    return httpx.get(gateway.url(port) + path, timeout=10, **kwargs)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_bearer(gates, upstream):
    missing = get(gates, 8080)
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    assert missing.headers["content-type"] == "application/problem+json"
    assert get(gates, 8080, headers=bearer("gate-secre")).status_code == 401
    assert get(gates, 8080, headers=bearer("gate-secret-")).status_code == 401
    assert not upstream.requests
    assert get(gates, 8080, headers=bearer("gate-secret")).status_code == 200
    assert "authorization" not in upstream.last.headers


def test_apikey_header_and_query(gates, upstream):
    assert get(gates, 8081, headers={"X-Api-Key": "wrong"}).status_code == 401
    assert get(gates, 8081, headers=[("X-Api-Key", "gate-secret")] * 2).status_code == 401
    assert get(gates, 8081, headers={"X-Api-Key": "gate-secret"}).status_code == 200
    assert "x-api-key" not in upstream.last.headers
    assert get(gates, 8082, params={"api_key": "nope"}).status_code == 401
    assert get(gates, 8082, params={"api_key": "gate-secret"}).status_code == 200
    assert "gate-secret" not in upstream.last.path


def test_basic(gates, upstream):
    def basic(user: str, password: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}

    assert get(gates, 8083).headers["www-authenticate"].startswith("Basic")
    assert get(gates, 8083, headers=basic("ada", "wrong")).status_code == 401
    assert get(gates, 8083, headers=basic("eve", "löve:lace")).status_code == 401
    assert get(gates, 8083, headers={"Authorization": "Basic !!!"}).status_code == 401
    assert get(gates, 8083, headers=basic("ada", "löve:lace")).status_code == 200
    assert "authorization" not in upstream.last.headers


def test_digest(gates, upstream):
    challenge = get(gates, 8084)
    assert challenge.status_code == 401 and "SHA-256" in challenge.headers["www-authenticate"]
    assert get(gates, 8084, auth=httpx.DigestAuth("ada", "wrong")).status_code == 401
    assert get(gates, 8084, auth=httpx.DigestAuth("ada", "löve:lace")).status_code == 200
    assert "authorization" not in upstream.last.headers
    forged = (
        'Digest username="ada", realm="naftiko", nonce="MTIzOmFiYw", uri="/a", response="00", qop=auth, nc=1, cnonce=x'
    )
    assert get(gates, 8084, headers={"Authorization": forged}).status_code == 401


def test_oauth2_valid_token_and_rotation(gates, upstream, auth_server):
    assert get(gates, 8085, headers=bearer(auth_server.token())).status_code == 200
    assert "authorization" not in upstream.last.headers
    old = auth_server.keys[0]
    auth_server.keys = [RSAKey.generate_key(2048, parameters={"kid": "k2"}, private=True)]
    assert get(gates, 8085, headers=bearer(auth_server.token())).status_code == 200, "unknown kid refetches"
    assert get(gates, 8085, headers=bearer(auth_server.token(key=old))).status_code == 401, "retired key"


def refused_tokens(server: AuthorizationServer) -> dict[str, str]:
    now = int(time.time())
    stranger = RSAKey.generate_key(2048, parameters={"kid": server.keys[-1].kid}, private=True)
    public_pem = server.keys[-1].as_pem(private=False)
    confused = unsigned(
        {"iss": server.issuer, "aud": AUDIENCE, "exp": now + 300, "scope": "tools.read"},
        {"alg": "HS256", "kid": server.keys[-1].kid},
    )
    signature = hmac.new(public_pem, confused.encode(), hashlib.sha256).digest()
    return {
        "expired": server.token(exp=now - 120),
        "not yet valid": server.token(nbf=now + 600),
        "no exp": server.token(exp=None),
        "wrong audience": server.token(aud="https://elsewhere.example"),
        "wrong issuer": server.token(iss="https://evil.example"),
        "wrong key, same kid": server.token(key=stranger),
        "alg none": unsigned({"iss": server.issuer, "aud": AUDIENCE, "exp": now + 300}, {"alg": "none"}) + ".",
        "HS256 keyed with the RSA public key": f"{confused}.{_b64(signature)}",
        "garbage": "not-a-jwt",
    }


def test_oauth2_refuses_bad_tokens(gates, upstream, auth_server):
    for kind, token in refused_tokens(auth_server).items():
        response = get(gates, 8085, headers=bearer(token))
        assert response.status_code == 401, kind
        assert 'error="invalid_token"' in response.headers["www-authenticate"], kind
    assert not upstream.requests


def test_oauth2_scope_and_metadata(gates, auth_server):
    short = get(gates, 8085, headers=bearer(auth_server.token(scope="other")))
    assert short.status_code == 403 and "insufficient_scope" in short.headers["www-authenticate"]
    metadata = get(gates, 9090, "/.well-known/oauth-protected-resource").json()
    assert metadata["authorization_servers"] == [auth_server.issuer] and metadata["resource"] == AUDIENCE
    listing = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Accept": "application/json, text/event-stream"}
    refused = httpx.post(gates.url(9090) + "/mcp", json=listing, headers=headers)
    assert refused.status_code == 401
    assert 'resource_metadata="http://127.0.0.1' in refused.headers["www-authenticate"]
    headers.update(bearer(auth_server.token()))
    assert httpx.post(gates.url(9090) + "/mcp", json=listing, headers=headers).json()["result"]["tools"]


@pytest.mark.parametrize("environ", [{}, {"GATE_TOKEN": ""}], ids=["unset", "empty"])
def test_unset_or_empty_secret_is_a_positioned_error(tmp_path, environ):
    path = tmp_path / "gate.yml"
    path.write_text(CAPABILITY.format(upstream="http://127.0.0.1:9", route=ROUTE, issuer="http://a", audience="x"))
    loaded = load([path], Settings(), environ)
    errors = [str(d) for d in loaded.diagnostics if d.severity.value == "error"]
    assert any("gate.yml:" in e and "GATE_TOKEN" in e and "unset or empty" in e for e in errors), errors
    assert loaded.rejected


def test_adapters_sharing_a_port_must_share_authentication(tmp_path):
    one, two = tmp_path / "one.yml", tmp_path / "two.yml"
    text = CAPABILITY.format(upstream="http://127.0.0.1:9", route=ROUTE, issuer="http://a", audience="x")
    one.write_text(text)
    two.write_text(
        text.replace("namespace: bearer", "namespace: bearer2")
        .replace("path: /a", "path: /b")
        .replace("type: bearer, token", "type: apikey, key: K, value")
    )
    loaded = load([one, two], Settings(port_offset=0), SECRETS)
    assert any("must declare the same authentication" in str(d) for d in loaded.diagnostics)


def test_secrets_never_in_problems(gates):
    body = get(gates, 8080, headers=bearer("gate-secre")).text
    assert "gate-secret" not in body and "gate-secre" not in body


def test_unreachable_authorization_server_is_503_never_open(tmp_path, upstream, auth_server):
    path = tmp_path / "gone.yml"
    text = CAPABILITY.format(upstream=upstream.url, route=ROUTE, issuer="http://127.0.0.1:9", audience=AUDIENCE)
    path.write_text(text)
    with running_gateway([path], SECRETS) as gateway:
        response = get(gateway, 8085, headers=bearer(auth_server.token()))
    assert response.status_code == 503 and response.headers["content-type"] == "application/problem+json"
    assert not upstream.requests


def test_oauth2_introspection(tmp_path, upstream, auth_server):
    """``tokenValidation: introspection``: the AS decides (RFC 7662), the gateway still checks it."""
    path = tmp_path / "introspect.yml"
    text = CAPABILITY.format(upstream=upstream.url, route=ROUTE, issuer=auth_server.issuer, audience=AUDIENCE)
    path.write_text(text.replace("scopes: [tools.read]}", "scopes: [tools.read], tokenValidation: introspection}"))
    loaded = load([path], Settings(), SECRETS)
    assert any("NAFTIKO_OAUTH_CLIENT_ID" in str(d) for d in loaded.diagnostics), "no client: a load error"
    client = {"NAFTIKO_OAUTH_CLIENT_ID": "gateway", "NAFTIKO_OAUTH_CLIENT_SECRET": "client-secret"}
    assert "client-secret" in load([path], Settings(), {**SECRETS, **client}).secrets, "scrubbed from logs"
    with running_gateway([path], {**SECRETS, **client}) as gateway:
        answers = {token: get(gateway, 8085, headers=bearer(token)).status_code for token in auth_server.introspected}
        answers["a signed JWT"] = get(gateway, 8085, headers=bearer(auth_server.token())).status_code
    assert answers == {
        "opaque-good": 200,
        "opaque-expired": 401,
        "opaque-elsewhere": 401,
        "opaque-no-scope": 403,
        "opaque-revoked": 401,
        "a signed JWT": 401,
    }


def test_skill_adapter_behind_authentication(tmp_path, upstream):
    """The skill kind gets the same gate as every kind: its catalogue needs the key too."""
    from test_skill_adapter import write

    path = write(tmp_path, upstream.url)
    text = path.read_text().replace(
        "  - type: skill\n",
        "  - type: skill\n    authentication: {type: apikey, key: X-Api-Key, value: '{{GATE_TOKEN}}'}\n",
    )
    path.write_text("binds: [{namespace: env, keys: {GATE_TOKEN: GATE_TOKEN}}]\n" + text)
    with running_gateway([path], SECRETS) as gateway:
        assert get(gateway, 9322, "/skills").status_code == 401
        assert get(gateway, 9322, "/skills", headers={"X-Api-Key": "gate-secret"}).json()["count"] == 2
        assert get(gateway, 9320, "/orders").status_code == 200, "the REST adapter has no authentication"
