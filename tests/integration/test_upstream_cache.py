"""The shared upstream cache (issue 21 item 3, D123): RFC 9111 for consumed GETs, turned on per
namespace in the runtime configuration, against a real loopback upstream that counts requests and
sets the caching headers, through the REST adapter and a real HTTP client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support import Canned, Recorded, RecordingUpstream, Responder, running_gateway

from naftiko_runtime import Settings
from naftiko_runtime.serving.config import ConfigError, apply_config
from naftiko_runtime.serving.loading import load_file

CAPABILITY = """\
naftiko: 1.0.0-alpha2
info: {{label: Catalog, description: Answers a shared cache may keep.}}
capability:
  consumes:
  - type: http
    namespace: catalog
    baseUri: {upstream}
    resources:
    - name: item
      path: /items/{{{{kind}}}}
      operations:
      - name: get
        method: GET{rule}
        inputParameters:
        - {{name: kind, in: path}}
        - {{name: Authorization, in: header}}
      - name: put
        method: PUT
        inputParameters:
        - {{name: kind, in: path}}
  exposes:
  - type: rest
    namespace: catalog-rest
    port: 8080
    resources:
    - path: /items/{{{{kind}}}}
      operations:
      - {{method: GET, call: catalog.get, with: {{kind: rest.kind, Authorization: rest.Authorization}}}}
      - {{method: PUT, call: catalog.put, with: {{kind: rest.kind}}}}
"""

HEADERS = {
    "fresh": {"Cache-Control": "max-age=60"},
    "shared": {"Cache-Control": "s-maxage=60"},
    "public": {"Cache-Control": "public, max-age=60"},
    "no-store": {"Cache-Control": "no-store, max-age=60"},
    "private": {"Cache-Control": "private, max-age=60"},
    "etag": {"Cache-Control": "no-cache", "ETag": '"v1"'},
    "modified": {"Cache-Control": "max-age=0", "Last-Modified": "Sun, 06 Dec 2026 10:00:00 GMT"},
    "silent": {},
}


def caching_headers(server: RecordingUpstream) -> Responder:
    """Each path's caching headers; a matching validator gets a 304 and no body; a body counts the
    requests for its path before it (``served``), so a stored body is told from a fresh one."""

    def respond(request: Recorded) -> Canned:
        kind = request.path.rsplit("/", 1)[-1]
        headers = {"Content-Type": "application/json", **HEADERS[kind]}
        if request.headers.get("if-none-match") == '"v1"' or request.headers.get("if-modified-since"):
            return Canned(304, b"", {name: value for name, value in headers.items() if name != "Content-Type"})
        served = sum(1 for seen in server.requests if seen.path == request.path) - 1
        body = json.dumps({"kind": kind, "served": served, "auth": request.headers.get("authorization")}).encode()
        return Canned(200, body, headers)

    return respond


@pytest.fixture
def origin() -> Iterator[RecordingUpstream]:
    """Not ``upstream``: conftest resets that one's responder to echo before each test."""
    with RecordingUpstream() as server:
        server.reset(caching_headers(server))
        yield server


def write(tmp_path: Path, upstream: RecordingUpstream, rule: str = "") -> Path:
    """The capability; ``rule``: the get operation's ``x-naftiko-cache`` (flow YAML)."""
    path = tmp_path / "catalog.yml"
    path.write_text(CAPABILITY.format(upstream=upstream.url, rule=f"\n        x-naftiko-cache: {rule}" if rule else ""))
    return path


def gateway(
    tmp_path: Path,
    upstream: RecordingUpstream,
    config: str = "[namespaces.catalog.cache]\nenabled = true\n",
    rule: str = "",
):
    path = write(tmp_path, upstream, rule)
    toml = tmp_path / "naftiko.toml"
    toml.write_text(config)
    settings = apply_config(toml, Settings(), set())
    return running_gateway([path], {}, namespaces=settings.namespaces, upstream=settings.upstream)


def reached(upstream: RecordingUpstream, kind: str) -> list[Recorded]:
    return [request for request in upstream.requests if request.path == f"/items/{kind}"]


@pytest.mark.parametrize(
    ("kind", "sent"), [("fresh", 1), ("shared", 1), ("no-store", 3), ("private", 3), ("silent", 3)]
)
def test_cache_control_decides_what_is_stored(tmp_path, origin, kind, sent):
    """``max-age``/``s-maxage`` answers are served from memory; ``no-store`` is never stored, nor is
    ``private`` (a shared cache), nor an answer with no lifetime and no validator."""
    with gateway(tmp_path, origin) as served:
        answers = [httpx.get(served.url(8080) + f"/items/{kind}", timeout=10) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200] * 3
    assert len(reached(origin, kind)) == sent
    assert {answer.json()["kind"] for answer in answers} == {kind}


def test_off_unless_the_configuration_asks(tmp_path, origin):
    """D123: a namespace the configuration does not name is never cached, whatever the upstream allows."""
    with gateway(tmp_path, origin, config="") as served:
        for _ in range(3):
            assert httpx.get(served.url(8080) + "/items/fresh", timeout=10).status_code == 200
    assert len(reached(origin, "fresh")) == 3


def test_an_etag_is_revalidated_and_a_304_serves_the_stored_body(tmp_path, origin):
    """``no-cache`` + ``ETag``: every call asks the upstream with ``If-None-Match``; its 304 (no body)
    reaches the caller as the stored 200 and its body."""
    with gateway(tmp_path, origin) as served:
        answers = [httpx.get(served.url(8080) + "/items/etag", timeout=10) for _ in range(3)]
    sent = reached(origin, "etag")
    assert [request.headers.get("if-none-match") for request in sent] == [None, '"v1"', '"v1"']
    assert [answer.status_code for answer in answers] == [200] * 3
    assert [answer.json()["served"] for answer in answers] == [0, 0, 0]


def test_last_modified_is_revalidated_with_if_modified_since(tmp_path, origin):
    with gateway(tmp_path, origin) as served:
        answers = [httpx.get(served.url(8080) + "/items/modified", timeout=10) for _ in range(2)]
    sent = reached(origin, "modified")
    assert [request.headers.get("if-modified-since") for request in sent] == [
        None,
        "Sun, 06 Dec 2026 10:00:00 GMT",
    ]
    assert answers[1].status_code == 200 and answers[1].json() == answers[0].json()


def test_one_callers_answer_never_reaches_another(tmp_path, origin):
    """The key holds a digest of the credentials sent: Alice's stored answer is served to Alice
    again, never to Bob; an Authorization request is stored only if the answer allows a shared
    cache to (``public``, ``s-maxage``; RFC 9111 §3.5), so ``max-age`` alone is not."""
    alice, bob = {"Authorization": "Bearer alice"}, {"Authorization": "Bearer bob"}
    with gateway(tmp_path, origin) as served:
        url = served.url(8080) + "/items/public"
        first, second, third = (httpx.get(url, headers=who, timeout=10) for who in (alice, bob, alice))
        private = [httpx.get(served.url(8080) + "/items/fresh", headers=alice, timeout=10) for _ in range(2)]
    assert first.json()["auth"] == "Bearer alice" and second.json()["auth"] == "Bearer bob"
    assert third.json() == first.json()
    assert len(reached(origin, "public")) == 2
    assert len(reached(origin, "fresh")) == 2 and all(answer.status_code == 200 for answer in private)


def test_a_successful_put_makes_the_stored_get_stale(tmp_path, origin):
    """RFC 9111 §4.4: an unsafe request to the URL drops what was stored for it."""
    with gateway(tmp_path, origin) as served:
        url = served.url(8080) + "/items/fresh"
        httpx.get(url, timeout=10)
        httpx.get(url, timeout=10)
        assert httpx.put(url, timeout=10).status_code == 200
        after = httpx.get(url, timeout=10)
    assert [request.method for request in reached(origin, "fresh")] == ["GET", "PUT", "GET"]
    assert after.json()["served"] == 2


def test_a_ttl_keeps_answers_that_state_no_lifetime(tmp_path, origin):
    with gateway(tmp_path, origin, "[upstream.cache]\nenabled = true\nttl = 60\n") as served:
        for _ in range(3):
            httpx.get(served.url(8080) + "/items/silent", timeout=10)
            httpx.get(served.url(8080) + "/items/no-store", timeout=10)
    assert len(reached(origin, "silent")) == 1
    assert len(reached(origin, "no-store")) == 3


def test_cache_configuration_errors_are_positioned(tmp_path):
    toml = tmp_path / "naftiko.toml"
    toml.write_text(
        '[namespaces.catalog.cache]\nenabled = "yes"\nttl = -1\nvary = "Accept"\ncolour = 1\n[cache]\nmax_entries = 0\n'
    )
    with pytest.raises(ConfigError) as raised:
        apply_config(toml, Settings(), set())
    assert str(raised.value).splitlines() == [
        f"{toml}:2:1: namespaces.catalog.cache.enabled: must be true or false, not 'yes'",
        f"{toml}:3:1: namespaces.catalog.cache.ttl: must be a positive number of seconds, not -1",
        f"{toml}:4:1: namespaces.catalog.cache.vary: must be a list of header names, not 'Accept'",
        f"{toml}:5:1: namespaces.catalog.cache.colour: unknown key; known: enabled, ttl, vary",
        f"{toml}:7:1: cache.max_entries: must be at least 1",
    ]
    toml.write_text("[cache]\nmax_entries = 3\nmax_bytes = 4096\n")
    settings = apply_config(toml, Settings(), set())
    assert (settings.cache_entries, settings.cache_bytes) == (3, 4096)


def test_an_operations_rule_turns_the_cache_on_and_strict_refuses_it(tmp_path, origin):
    """``x-naftiko-cache`` on a consumed GET (capability semantics, D97): its ``ttl`` keeps an
    answer that states no lifetime, with no configuration at all; it is warned about at its line,
    so ``--strict`` refuses the file."""
    with gateway(tmp_path, origin, config="", rule="{ttl: 60}") as served:
        for _ in range(3):
            assert httpx.get(served.url(8080) + "/items/silent", timeout=10).status_code == 200
    assert len(reached(origin, "silent")) == 1
    path = write(tmp_path, origin, "{ttl: 60}")
    warnings = [str(finding) for finding in load_file(path, Settings(), {}).diagnostics]
    assert warnings == [
        f"{path}:14:9: warning: 'x-naftiko-cache' is a naftiko-runtime extension, not in the official schema: "
        "the reference engine does not know it, and --strict refuses it; turn the cache on per namespace in the "
        "runtime configuration ([namespaces.NAME.cache], D91)"
    ]
    assert not load_file(path, Settings(strict=True), {}).ok


def test_an_operations_rule_turns_the_namespaces_cache_off(tmp_path, origin):
    with gateway(tmp_path, origin, rule="{enabled: false}") as served:
        for _ in range(2):
            httpx.get(served.url(8080) + "/items/fresh", timeout=10)
    assert len(reached(origin, "fresh")) == 2


def test_a_bad_rule_is_refused_where_it_is_written(tmp_path, origin):
    path = write(tmp_path, origin, "{enabled: 1, ttl: 0, vary: [''], colour: red}")
    errors = [str(finding) for finding in load_file(path, Settings(), {}).errors]
    assert errors == [
        f"{path}:14:27: error: 'x-naftiko-cache' enabled must be true or false, not 1",
        f"{path}:14:39: error: 'x-naftiko-cache' ttl must be a positive number of seconds, not 0",
        f"{path}:14:47: error: 'x-naftiko-cache' vary must be a list of header names, not ['']",
        f"{path}:14:59: error: unknown key 'colour' in 'x-naftiko-cache'; allowed: enabled, ttl, vary",
    ]


def test_hits_and_misses_are_on_the_control_ports_metrics(tmp_path, origin):
    path = write(tmp_path, origin)
    path.write_text(path.read_text() + "  - {type: control, port: 7070, management: {health: true}}\n")
    toml = tmp_path / "naftiko.toml"
    toml.write_text("[namespaces.catalog.cache]\nenabled = true\n")
    settings = apply_config(toml, Settings(), set())
    with running_gateway([path], {}, namespaces=settings.namespaces) as served:
        for kind in ("fresh", "fresh", "fresh", "etag", "etag"):
            httpx.get(served.url(8080) + f"/items/{kind}", timeout=10)
        metrics = httpx.get(served.url(7070) + "/metrics", timeout=10).text
    assert 'naftiko_upstream_cache_lookups_total{result="hit"} 2.0' in metrics
    assert 'naftiko_upstream_cache_lookups_total{result="revalidated"} 1.0' in metrics
    assert 'naftiko_upstream_cache_lookups_total{result="miss"} 2.0' in metrics
    assert "naftiko_upstream_cache_entries 2.0" in metrics
