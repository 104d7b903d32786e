"""Issue 10, item 3: the REST surface is safe from cross-origin and DNS-rebinding requests.

Before: with the gateway on 127.0.0.1, a web page's cross-origin POST (Content-Type: text/plain,
Origin: http://evil.example, no preflight needed) got 200 and the upstream received
``POST /api/syncs`` with ``Bearer <the gateway's key>``; ``Host: evil.example`` (DNS rebinding)
got 200 too. The MCP endpoints already refused both (421/403). Wanted on REST: allowed hosts and
origins (loopback-only defaults when bound to loopback: 421 for another Host, 403 for another
Origin), JSON bodies only with a JSON content type (415 otherwise), a CORS policy that is off by
default and answers preflights when on.

Options: ``--allowed-host HOST`` and ``--allowed-origin ORIGIN`` (repeatable; added to the
loopback defaults), ``--cors-origin ORIGIN`` (repeatable; enables CORS for that origin, which is
then also an allowed origin). The gateway's key must never travel because of a page (D33, D55).
"""

from __future__ import annotations

import httpx
import pytest
from edge_support import REST, served
from support import API_KEY

BODY = b'{"name": "nightly"}'
EVIL = "http://evil.example"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, raw_upstream):
    with served(tmp_path_factory.mktemp("origin"), raw_upstream.url) as served_gateway:
        yield served_gateway


def _post(gateway, headers: dict[str, str], content: bytes = BODY) -> httpx.Response:
    return httpx.post(gateway.url(REST) + "/v1/api/syncs", content=content, headers=headers, timeout=10)


def _forwarded(raw_upstream) -> str:
    return "; ".join(
        f"{s.method.decode()} {s.target.decode()} Authorization={s.header('Authorization')}" for s in raw_upstream.seen
    )


def test_a_cross_origin_simple_post_is_refused(gateway, raw_upstream):
    """The exact request a page on evil.example can send without a preflight."""
    response = _post(gateway, {"Origin": EVIL, "Content-Type": "text/plain"})
    assert response.status_code == 403, (response.status_code, _forwarded(raw_upstream))
    assert response.headers["content-type"] == "application/problem+json"
    assert raw_upstream.seen == [], f"the upstream was called with the gateway's key: {_forwarded(raw_upstream)}"


@pytest.mark.parametrize("origin", [EVIL, "null", "http://127.0.0.1.evil.example", "https://localhost.evil.example"])
def test_a_foreign_origin_is_refused_on_every_method(gateway, raw_upstream, origin):
    response = httpx.get(gateway.url(REST) + "/v1/api/syncs", headers={"Origin": origin}, timeout=10)
    assert response.status_code == 403, response.status_code
    assert raw_upstream.seen == []


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8080", "127.0.0.1.evil.example"])
def test_a_rebound_host_is_refused(gateway, raw_upstream, host):
    """DNS rebinding: the browser talks to 127.0.0.1 but names the attacker's host."""
    response = httpx.get(gateway.url(REST) + "/v1/api/syncs", headers={"Host": host}, timeout=10)
    assert response.status_code == 421, response.status_code
    assert raw_upstream.seen == []


def test_loopback_hosts_and_origins_are_served(gateway, raw_upstream):
    """What a local SDK, curl or a page served by the gateway's own host sends keeps working."""
    port = gateway.port(REST)
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", "127.0.0.1"):
        assert httpx.get(gateway.url(REST) + "/v1/api/syncs", headers={"Host": host}, timeout=10).status_code == 200
    for origin in (f"http://127.0.0.1:{port}", f"http://localhost:{port}"):
        assert _post(gateway, {"Origin": origin, "Content-Type": "application/json"}).status_code == 200
    assert len(raw_upstream.seen) == 6


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None]
)
def test_a_json_body_needs_a_json_content_type(gateway, raw_upstream, content_type):
    """Even without an Origin: a body a form or a page can send without preflight is refused."""
    headers = {"Content-Type": content_type} if content_type else {}
    response = _post(gateway, headers)
    assert response.status_code == 415, response.status_code
    assert response.headers["content-type"] == "application/problem+json"
    assert raw_upstream.seen == []


def test_json_bodies_and_empty_posts_are_served(gateway, raw_upstream):
    assert _post(gateway, {"Content-Type": "application/json"}).status_code == 200
    assert _post(gateway, {"Content-Type": "application/json; charset=utf-8"}).status_code == 200
    activate = httpx.post(gateway.url(REST) + "/v1/api/syncs/s-1/activate", timeout=10)
    assert activate.status_code == 200, "a POST without a body needs no content type"
    assert raw_upstream.seen[0].header("Authorization") == f"Bearer {API_KEY}"


def test_cors_is_off_by_default(gateway, raw_upstream):
    """No Access-Control-Allow-Origin for anyone: browsers keep other origins out."""
    preflight = httpx.options(
        gateway.url(REST) + "/v1/api/syncs",
        timeout=10,
        headers={"Origin": "https://app.example.test", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    assert preflight.status_code >= 400
    assert raw_upstream.seen == []


@pytest.fixture(scope="module")
def configured(tmp_path_factory, raw_upstream):
    with served(
        tmp_path_factory.mktemp("configured"),
        raw_upstream.url,
        "--allowed-host",
        "api.example.test",
        "--allowed-origin",
        "https://app.example.test",
        "--cors-origin",
        "https://spa.example.test",
    ) as gateway:
        yield gateway


def test_allowed_hosts_and_origins_are_configurable(configured, raw_upstream):
    url = configured.url(REST) + "/v1/api/syncs"
    assert httpx.get(url, headers={"Host": "api.example.test"}, timeout=10).status_code == 200
    assert httpx.get(url, headers={"Origin": "https://app.example.test"}, timeout=10).status_code == 200
    assert httpx.get(url, headers={"Host": "other.example.test"}, timeout=10).status_code == 421
    assert httpx.get(url, headers={"Origin": EVIL}, timeout=10).status_code == 403
    assert len(raw_upstream.seen) == 2


def test_cors_preflight_and_answers_when_enabled(configured, raw_upstream):
    url = configured.url(REST) + "/v1/api/syncs"
    preflight = httpx.options(
        url,
        timeout=10,
        headers={
            "Origin": "https://spa.example.test",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, authorization, x-polytomic-version",
        },
    )
    assert preflight.status_code in (200, 204), preflight.status_code
    assert preflight.headers["access-control-allow-origin"] == "https://spa.example.test"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    allowed_headers = preflight.headers["access-control-allow-headers"].lower()
    assert all(h in allowed_headers for h in ("content-type", "authorization", "x-polytomic-version"))
    assert "origin" in preflight.headers.get("vary", "").lower()
    assert raw_upstream.seen == [], "a preflight is answered by the gateway, never forwarded"

    actual = httpx.post(
        url,
        content=BODY,
        timeout=10,
        headers={"Origin": "https://spa.example.test", "Content-Type": "application/json"},
    )
    assert actual.status_code == 200
    assert actual.headers["access-control-allow-origin"] == "https://spa.example.test"

    foreign = httpx.options(url, timeout=10, headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in foreign.headers
    assert len(raw_upstream.seen) == 1
