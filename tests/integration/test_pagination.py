"""Issue 21 item 2 (D121): ``x-naftiko-pagination`` against a loopback upstream the test controls
(page counts, cursor following, the cap, ``Link`` parsing, stop on an empty page or a missing
cursor, loop protection on a repeated cursor) and, on Polytomic's ``page_token`` list, against
Prism serving Polytomic's own OpenAPI document."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mcp import Client
from support import ROOT, SHARED, Canned, Recorded, running_gateway

from naftiko_runtime import Settings, load
from naftiko_runtime.core.pagination import next_link

ROWS = [{"n": n} for n in range(8)]
PAGED = """\
naftiko: 1.0.0-alpha2
info: {label: Paged, description: Every style of pagination.}
capability:
  consumes:
  - type: http
    namespace: api
    baseUri: "UPSTREAM/api"
    resources:
    - name: cursor
      path: /cursor
      operations:
      - name: by-cursor
        x-naftiko-pagination: {style: cursor, items: $.data, cursor: $.next, cursorParameter: token}
    - name: loop
      path: /loop
      operations:
      - name: looping
        x-naftiko-pagination: {style: cursor, items: $.data, cursor: $.next, cursorParameter: token}
    - name: failing
      path: /failing
      operations:
      - name: failing
        x-naftiko-pagination: {style: cursor, items: $.data, cursor: $.next, cursorParameter: token}
    - name: offset
      path: /offset
      operations:
      - name: by-offset
        inputParameters: [{name: sort, in: query}]
        x-naftiko-pagination: {style: offset, limit: 3, offsetParameter: skip, limitParameter: take}
    - name: page
      path: /page
      operations:
      - name: by-page
        x-naftiko-pagination: {style: page, items: $.results, pageParameter: p}
    - name: link
      path: /link
      operations:
      - name: by-link
        x-naftiko-pagination: {style: link}
    - name: elsewhere
      path: /elsewhere
      operations:
      - name: elsewhere
        x-naftiko-pagination: {style: link}
    - name: circle
      path: /circle
      operations:
      - name: circle
        x-naftiko-pagination: {style: link}
  exposes:
  - type: rest
    namespace: paged
    port: 8080
    resources:
    - {path: /cursor, operations: [{method: GET, call: api.by-cursor, x-naftiko-pagination: {pages: all}}]}
    - {path: /capped, operations: [{method: GET, call: api.by-cursor, x-naftiko-pagination: {pages: all, maxPages: 2}}]}
    - {path: /one, operations: [{method: GET, call: api.by-cursor}]}
    - {path: /loop, operations: [{method: GET, call: api.looping, x-naftiko-pagination: {pages: all}}]}
    - {path: /failing, operations: [{method: GET, call: api.failing, x-naftiko-pagination: {pages: all}}]}
    - path: /offset
      operations:
      - method: GET
        inputParameters: [{name: sort, in: query, type: string, description: Order.}]
        call: api.by-offset
        with: {sort: paged.sort}
        x-naftiko-pagination: {pages: all}
    - {path: /page, operations: [{method: GET, call: api.by-page, x-naftiko-pagination: {pages: all}}]}
    - {path: /link, operations: [{method: GET, call: api.by-link, x-naftiko-pagination: {pages: all}}]}
    - {path: /elsewhere, operations: [{method: GET, call: api.elsewhere, x-naftiko-pagination: {pages: all}}]}
    - {path: /circle, operations: [{method: GET, call: api.circle, x-naftiko-pagination: {pages: all}}]}
"""


def pages(request: Recorded) -> Canned:
    """Eight rows, three a page, in every style; ``/loop`` always names the same next cursor."""
    url = urlsplit(request.target)
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    if url.path in ("/api/cursor", "/api/failing"):
        start = int(query.get("token", "0"))
        if url.path == "/api/failing" and start:
            return Canned(503, b'{"error": "page 2 is down"}')
        nxt = start + 3
        return _json({"data": ROWS[start:nxt], **({"next": str(nxt)} if nxt < len(ROWS) else {})})
    if url.path == "/api/loop":
        return _json({"data": [{"n": query.get("token", "-")}], "next": "again"})
    if url.path == "/api/offset":
        skip, take = int(query.get("skip", "0")), int(query["take"])
        return _json(ROWS[skip : skip + take])
    if url.path == "/api/page":
        p = int(query.get("p", "1"))
        return _json({"results": ROWS[(p - 1) * 3 : p * 3]})
    if url.path == "/api/link":
        p = int(query.get("p", "1"))
        link = (
            f'</api/link?p={p + 1}>; rel="next", </api/link?p=1>; rel="first"'
            if p < 3
            else "</api/link?p=1>; rel=first"
        )
        return Canned(
            200, json.dumps(ROWS[(p - 1) * 3 : p * 3]).encode(), {"Content-Type": "application/json", "Link": link}
        )
    if url.path == "/api/elsewhere":
        link = '<http://203.0.113.9/api/elsewhere?p=2>; rel="next"'
        return Canned(200, json.dumps(ROWS[:3]).encode(), {"Content-Type": "application/json", "Link": link})
    if url.path == "/api/circle":
        return Canned(200, b"[1]", {"Content-Type": "application/json", "Link": '</api/circle>; rel="next"'})
    return Canned(404, b"{}")


def _json(document: object) -> Canned:
    return Canned(200, json.dumps(document).encode())


@pytest.fixture
def paged(upstream, tmp_path):
    upstream.reset(pages)
    path = tmp_path / "paged.yaml"
    path.write_text(PAGED.replace("UPSTREAM", upstream.url))
    with running_gateway([path], {}) as gateway:
        yield gateway


def _requested(upstream, path: str) -> list[str]:
    return [r.target for r in upstream.requests if r.path == path]


@pytest.mark.parametrize("route", ["/cursor", "/page", "/link"])
def test_every_page_is_gathered_in_order(paged, upstream, route):
    answer = httpx.get(paged.url(8080) + route, timeout=20)
    assert answer.status_code == 200, answer.text
    assert answer.json() == ROWS
    fetched = 4 if route == "/page" else 3  # page numbers stop on the first empty page
    assert len(_requested(upstream, "/api" + route)) == fetched
    assert answer.headers["naftiko-pages"] == str(fetched)


def test_cursor_following_sends_each_cursor_back(paged, upstream):
    httpx.get(paged.url(8080) + "/cursor", timeout=20)
    assert _requested(upstream, "/api/cursor") == ["/api/cursor", "/api/cursor?token=3", "/api/cursor?token=6"]


def test_offset_pages_stop_on_a_short_page_and_keep_the_callers_query(paged, upstream):
    answer = httpx.get(paged.url(8080) + "/offset", params={"sort": "a b"}, timeout=20)
    assert answer.json() == ROWS
    sent = _requested(upstream, "/api/offset")
    assert [parse_qs(urlsplit(p).query)["skip"] for p in sent[1:]] == [["3"], ["6"]]
    assert all(parse_qs(urlsplit(p).query)["sort"] == ["a b"] for p in sent)
    assert len(sent) == 3, "the third page held 2 < 3 rows: no fourth request"


def test_the_cap_stops_the_walk(paged, upstream):
    answer = httpx.get(paged.url(8080) + "/capped", timeout=20)
    assert answer.json() == ROWS[:6]
    assert answer.headers["naftiko-pages"] == "2"
    assert len(_requested(upstream, "/api/cursor")) == 2


def test_a_repeated_cursor_is_not_followed_twice(paged, upstream):
    answer = httpx.get(paged.url(8080) + "/loop", timeout=20)
    assert answer.json() == [{"n": "-"}, {"n": "again"}]
    assert len(_requested(upstream, "/api/loop")) == 2


def test_a_link_back_to_the_first_page_is_not_followed(paged, upstream):
    answer = httpx.get(paged.url(8080) + "/circle", timeout=20)
    assert answer.json() == [1]
    assert len(_requested(upstream, "/api/circle")) == 1


def test_a_link_to_another_origin_is_not_followed(paged, upstream):
    """The gateway's credentials go only to the consumed baseUri's origin."""
    answer = httpx.get(paged.url(8080) + "/elsewhere", timeout=20)
    assert answer.json() == ROWS[:3]
    assert answer.headers["naftiko-pages"] == "1"


def test_an_error_page_is_the_answer(paged, upstream):
    answer = httpx.get(paged.url(8080) + "/failing", timeout=20)
    assert answer.status_code == 503
    assert answer.json() == {"error": "page 2 is down"}


def test_one_page_passes_its_cursor_through(paged, upstream):
    answer = httpx.get(paged.url(8080) + "/one", timeout=20)
    assert answer.json() == {"data": ROWS[:3], "next": "3"}
    assert len(_requested(upstream, "/api/cursor")) == 1


@given(st.lists(st.sampled_from(["next", "prev", "first", "last", "alternate"]), min_size=1, max_size=4))
def test_next_link_finds_rel_next_among_several_relations(relations):
    header = ", ".join(f'<https://x.test/{i}>; title="a, b"; rel="{r} other"' for i, r in enumerate(relations))
    expected = f"https://x.test/{relations.index('next')}" if "next" in relations else None
    assert next_link(header) == expected


def test_pagination_warns_at_its_position_and_strict_refuses(tmp_path):
    path = tmp_path / "paged.yaml"
    path.write_text(PAGED.replace("UPSTREAM", "http://127.0.0.1:9"))
    loaded = load([path], Settings(), {})
    warnings = [str(d) for d in loaded.diagnostics if "x-naftiko-pagination" in str(d) and "warning" in str(d)]
    assert len(warnings) == 8 + 9, "each consumed and each exposed use, at its own line"
    assert len({w.split(":")[1] for w in warnings}) == 17
    assert not loaded.rejected
    assert load([path], Settings(strict=True), {}).rejected


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("style: page,", "style: pages,"), "is not one of cursor, offset, page, link"),
        (
            (
                "{method: GET, call: api.by-cursor}",
                "{method: GET, steps: [{name: s, type: call, call: api.by-cursor}], x-naftiko-pagination: {pages: all}}",  # noqa: E501
            ),
            "pages: all applies to an operation with 'call'",
        ),
        (("{style: link}", "{style: link, cursorr: x}"), "unknown key 'cursorr'"),
        (("pages: all, maxPages: 2", "pages: every, maxPages: 2"), "pages must be 'all' or 'one'"),
        (("pages: all, maxPages: 2", "pages: all, maxPages: 0"), "maxPages must be a positive integer"),
        ((", cursorParameter: token}", "}"), "cursorParameter"),
        (("items: $.results", "items: '$.[?'"), "invalid JSONPath"),
        (
            ("{method: GET, call: api.by-cursor}", "{method: GET, call: api.by-cursor, x-naftiko-pagination: 3}"),
            "'x-naftiko-pagination' must be",
        ),
    ],
)
def test_bad_pagination_is_refused_at_its_position(tmp_path, edit, message):
    path = tmp_path / "paged.yaml"
    path.write_text(PAGED.replace("UPSTREAM", "http://127.0.0.1:9").replace(*edit, 1))
    loaded = load([path], Settings(), {})
    errors = [str(d) for d in loaded.diagnostics if ": error:" in str(d)]
    if message is None:
        assert not errors
        return
    assert loaded.rejected
    assert any(message in e and str(path) in e for e in errors), errors


# -- Polytomic's page_token list against Prism serving Polytomic's OpenAPI document --------------

PRISM_DIR = ROOT / ".prism"
PRISM_VERSION = "5.14.2"
"""The newest release that installs on Node 20 (../shared/polytomic/README.md)."""
POLYTOMIC_DOCUMENT = SHARED / "polytomic" / "polytomic-syncs-merged.examples.security.yml"
PAGED_SYNCS = ROOT / "tests" / "fixtures" / "polytomic-paged-syncs.yaml"


def _prism() -> Path | None:
    """Prism, installed once into the checkout's own ``.prism`` (git-ignored, like ``.venv``)."""
    binary = PRISM_DIR / "node_modules" / ".bin" / "prism"
    if not binary.exists() and shutil.which("npm"):
        subprocess.run(
            ["npm", "install", "--prefix", str(PRISM_DIR), f"@stoplight/prism-cli@{PRISM_VERSION}"],
            capture_output=True,
            timeout=300,
            check=False,
        )
    return binary if binary.exists() else None


@pytest.fixture(scope="module")
def prism():
    binary = _prism()
    if binary is None or not POLYTOMIC_DOCUMENT.exists():
        pytest.skip("Prism (npm @stoplight/prism-cli) or Polytomic's OpenAPI document is unavailable")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [str(binary), "mock", "-h", "127.0.0.1", "-p", str(port), "-v", "warn", str(POLYTOMIC_DOCUMENT)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/api/syncs", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, "Prism did not start"
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.slow
def test_polytomic_pages_against_prism(prism):
    """Prism answers every page with the document's example, whose ``next_page_token`` never
    changes: the walk follows it once and stops on the repeated cursor, with two pages of syncs."""
    one_page = httpx.get(prism + "/api/syncs", headers={"Authorization": "Bearer k"}, timeout=10).json()
    assert one_page["pagination"]["next_page_token"], "the example names a next page"
    with running_gateway([PAGED_SYNCS], {"POLYTOMIC_API_KEY": "k"}, base_uris={"polytomic": prism}) as gateway:
        every = httpx.get(gateway.url(8080) + "/syncs", timeout=20)
        single = httpx.get(gateway.url(8080) + "/syncs/page", params={"page_token": "x"}, timeout=20)
    assert every.status_code == 200, every.text
    assert every.json() == one_page["data"] * 2
    assert every.headers["naftiko-pages"] == "2"
    assert single.json() == one_page, "one page passes through with its cursor"


async def test_polytomic_pages_over_mcp_against_prism(prism):
    one_page = httpx.get(prism + "/api/syncs", headers={"Authorization": "Bearer k"}, timeout=10).json()
    with running_gateway([PAGED_SYNCS], {"POLYTOMIC_API_KEY": "k"}, base_uris={"polytomic": prism}) as gateway:
        async with Client(gateway.url(9090) + "/mcp") as client:
            result = await client.call_tool("all-syncs", {})
    assert not result.is_error, result.content
    assert result.structured_content == {"syncs": one_page["data"] * 2}
