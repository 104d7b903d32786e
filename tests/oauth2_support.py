"""Consumed OAuth2 client credentials for the tests: a billing capability declaring the grant with the
``x-naftiko-oauth2-client-credentials`` extension, a loopback token endpoint and the API behind it.
Shared by tests/integration/test_consumed_oauth2.py and the configuration-declared grant's tests
(tests/unit/test_configured_oauth2.py, tests/integration/test_configured_oauth2_served.py)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from urllib.parse import parse_qsl

from support import Canned, Recorded, RecordingUpstream

from naftiko_runtime import Settings
from naftiko_runtime.serving.config import apply_config

CLIENT_ID = "billing-gateway"
SECRET = "cs-7f3a9b2c1d0e-TOP-SECRET"
ENVIRON = {"BILLING_CLIENT_ID": CLIENT_ID, "BILLING_CLIENT_SECRET": SECRET}
EXTENSION = "x-naftiko-oauth2-client-credentials"

CAPABILITY = """\
naftiko: 1.0.0-alpha2
info: {{label: Billing, description: An API behind client credentials.}}
binds:
- namespace: env
  keys: {{BILLING_CLIENT_ID: BILLING_CLIENT_ID, BILLING_CLIENT_SECRET: BILLING_CLIENT_SECRET}}
capability:
  consumes:
  - type: http
    namespace: billing
    baseUri: {upstream}
    x-naftiko-oauth2-client-credentials:
      tokenUrl: {token_url}
      clientId: "{{{{BILLING_CLIENT_ID}}}}"
      clientSecret: "{{{{BILLING_CLIENT_SECRET}}}}"
      scope: "invoices:read"{extra}
    resources:
    - name: invoices
      path: /invoices
      operations:
      - name: list
        method: GET
        inputParameters:
        - {{name: Authorization, in: header}}
      - name: pdf
        method: GET
        outputRawFormat: binary
  exposes:
  - type: rest
    namespace: billing-rest
    port: 8080
    resources:
    - path: /invoices
      operations:
      - {{method: GET, call: billing.list, with: {{Authorization: rest.Authorization}}}}
    - path: /pdf
      operations:
      - {{method: GET, call: billing.pdf}}
    - {{path: "/raw/{{path}}", forward: {{targetNamespace: billing, trustedHeaders: [Authorization]}}}}
  - type: mcp
    namespace: billing-mcp
    port: 9090
    tools:
    - {{name: list-invoices, description: List invoices., call: billing.list}}
"""


class TokenEndpoint(RecordingUpstream):
    """A loopback token endpoint issuing ``tok-1``, ``tok-2``... (or ``reply`` when set)."""

    def __init__(self, expires_in: int = 3600, delay: float = 0.0):
        super().__init__()
        self.expires_in, self.delay = expires_in, delay
        self.reply: Canned | None = None
        self.responder = self.issue
        self._lock = threading.Lock()

    def issue(self, request: Recorded) -> Canned:
        if self.reply is not None:
            return self.reply
        with self._lock:
            number = len(self.requests)
        document = {"access_token": f"tok-{number}", "token_type": "bearer", "expires_in": self.expires_in}
        return Canned(200, json.dumps(document).encode(), delay=self.delay)

    def form(self, index: int = 0) -> dict[str, str]:
        return dict(parse_qsl(self.requests[index].body.decode()))


class Api(RecordingUpstream):
    """The upstream: accepts the tokens in ``valid`` (any when ``None``) and echoes what it got."""

    def __init__(self) -> None:
        super().__init__()
        self.valid: set[str] | None = None
        self.responder = self.answer

    def answer(self, request: Recorded) -> Canned:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if self.valid is not None and token not in self.valid:
            return Canned(401, b'{"error": "invalid_token"}')
        return Canned(200, json.dumps({"authorization": request.headers.get("authorization")}).encode())

    @property
    def tokens(self) -> list[str]:
        return [r.headers.get("authorization", "") for r in self.requests]


def write(tmp_path: Path, api: str, token_url: str, extra: str = "") -> Path:
    path = tmp_path / "billing.yml"
    path.write_text(CAPABILITY.format(upstream=api, token_url=token_url, extra=extra))
    return path


# The same grant declared the D91 way, in the runtime configuration (--config).

BULKSYNC = "polytomic-subpackage-bulksync"
GRANT_TABLE = '[namespaces."{namespace}".oauth2_client_credentials]'
POLYTOMIC_ENV = {"POLYTOMIC_API_KEY": "static-key"}


def grant_config(tmp_path: Path, token_url: str, namespace: str = "billing", extra: str = "") -> Path:
    """A runtime configuration declaring one namespace's grant, its secret named, never written."""
    path = tmp_path / "naftiko.toml"
    path.write_text(
        f"{GRANT_TABLE.format(namespace=namespace)}\n"
        f'token_url = "{token_url}"\n'
        f'client_id = "{CLIENT_ID}"\n'
        'client_secret_env = "BILLING_CLIENT_SECRET"\n'
        f'scope = "invoices:read"\n{extra}'
    )
    return path


def namespaces_of(config: Path) -> dict:
    return {"namespaces": apply_config(config, Settings(), set()).namespaces}
