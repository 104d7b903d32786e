"""Consumed OAuth2 client credentials (issue 15, item 3; the engine's issue #260): the runtime
extension ``x-naftiko-oauth2-client-credentials``, against a real loopback token endpoint and a
real upstream. Tokens are fetched once for concurrent calls, cached until shortly before expiry,
refreshed once on a 401, applied last whatever the caller sends (D33), and never shown (D55, D56).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import threading

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mcp import Client
from oauth2_support import CLIENT_ID, ENVIRON, EXTENSION, SECRET, Api, TokenEndpoint, write
from ruamel.yaml import YAML
from support import SHARED, Canned, running_gateway

from naftiko_runtime import Settings
from naftiko_runtime.core.problems import Problem
from naftiko_runtime.core.tokens import parse_token_reply
from naftiko_runtime.serving import logs
from naftiko_runtime.serving.loading import load_file
from naftiko_runtime.settings import RetryPolicy, UpstreamPolicy
from naftiko_runtime.spec.diagnostics import Severity
from naftiko_runtime.spec.schema import check_shape


@pytest.fixture
def servers(tmp_path):
    with TokenEndpoint() as tokens, Api() as api:
        yield tokens, api, write(tmp_path, api.url, tokens.url + "/oauth/token")


async def test_one_token_fetch_serves_concurrent_calls_and_later_ones(tmp_path):
    """Twenty calls arriving together share ONE token request (single flight); the token is then
    cached for later calls. The grant is RFC 6749 §4.4: a form, the client in Basic (§2.3.1)."""
    with TokenEndpoint(delay=0.3) as tokens, Api() as api:
        path = write(tmp_path, api.url, tokens.url + "/oauth/token")
        with running_gateway([path], ENVIRON) as gateway:
            async with httpx.AsyncClient(timeout=10) as client:
                answers = await asyncio.gather(*(client.get(gateway.url(8080) + "/invoices") for _ in range(20)))
                assert [a.status_code for a in answers] == [200] * 20
                assert len(tokens.requests) == 1
                later = await client.get(gateway.url(8080) + "/invoices")
    assert later.status_code == 200
    assert len(tokens.requests) == 1
    assert api.tokens == ["Bearer tok-1"] * 21
    request = tokens.requests[0]
    assert request.method == "POST" and request.path == "/oauth/token"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert tokens.form() == {"grant_type": "client_credentials", "scope": "invoices:read"}
    assert request.headers["authorization"] == "Basic " + base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()


def test_client_secret_post_sends_the_client_in_the_form(tmp_path):
    """``clientAuthentication: body`` (client_secret_post): no Basic header, the pair in the form;
    ``audience`` joins the form (Auth0-style)."""
    with TokenEndpoint() as tokens, Api() as api:
        extra = "\n      clientAuthentication: body\n      audience: https://api.example.com"
        path = write(tmp_path, api.url, tokens.url + "/t", extra)
        with running_gateway([path], ENVIRON) as gateway:
            assert httpx.get(gateway.url(8080) + "/invoices", timeout=10).status_code == 200
    assert "authorization" not in tokens.requests[0].headers
    assert tokens.form() == {
        "grant_type": "client_credentials",
        "scope": "invoices:read",
        "audience": "https://api.example.com",
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
    }


def test_token_is_fetched_again_shortly_before_it_expires(tmp_path):
    """``expires_in: 12`` is used for 2 s (the 10 s refresh margin): the next call fetches anew."""
    with TokenEndpoint(expires_in=12) as tokens, Api() as api:
        path = write(tmp_path, api.url, tokens.url + "/t")
        with running_gateway([path], ENVIRON) as gateway:
            url = gateway.url(8080) + "/invoices"
            assert httpx.get(url, timeout=10).status_code == 200
            assert httpx.get(url, timeout=10).status_code == 200
            assert len(tokens.requests) == 1
            threading.Event().wait(2.3)
            assert httpx.get(url, timeout=10).status_code == 200
    assert len(tokens.requests) == 2
    assert api.tokens == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]


def test_a_401_refreshes_the_token_once_and_sends_once_more(servers):
    """The upstream refuses the first token: one new token request, one resend, a 200."""
    tokens, api, path = servers
    api.valid = {"tok-2"}
    with running_gateway([path], ENVIRON) as gateway:
        answer = httpx.get(gateway.url(8080) + "/invoices", timeout=10)
        assert answer.status_code == 200
        assert len(tokens.requests) == 2
        assert api.tokens == ["Bearer tok-1", "Bearer tok-2"]
        assert httpx.get(gateway.url(8080) + "/invoices", timeout=10).status_code == 200
    assert len(tokens.requests) == 2, "the refreshed token is cached"


async def test_a_burst_of_401s_makes_one_refresh(servers):
    """Ten calls refused together with the old token: one new token request between them, each
    call resent once (the token is invalidated only while it is still the one in use)."""
    tokens, api, path = servers
    api.valid = {"tok-2"}
    with running_gateway([path], ENVIRON) as gateway:
        async with httpx.AsyncClient(timeout=10) as client:
            answers = await asyncio.gather(*(client.get(gateway.url(8080) + "/invoices") for _ in range(10)))
    assert [a.status_code for a in answers] == [200] * 10
    assert len(tokens.requests) == 2
    assert sorted(api.tokens) == ["Bearer tok-1"] * 10 + ["Bearer tok-2"] * 10


def test_a_second_401_passes_back_as_the_upstream_said(servers):
    """D51: refused with the fresh token too, the upstream's 401 is the answer; no third try."""
    tokens, api, path = servers
    api.valid = set()
    with running_gateway([path], ENVIRON) as gateway:
        answer = httpx.get(gateway.url(8080) + "/invoices", timeout=10)
    assert answer.status_code == 401
    assert answer.json() == {"error": "invalid_token"}
    assert len(tokens.requests) == 2
    assert len(api.requests) == 2


def test_retries_and_the_refresh_compose(servers):
    """Issue 15 policies: a 503 is retried by the namespace's retry policy with the same token;
    the 401 that follows is not retried by it but refreshes the token once; then a 200."""
    tokens, api, path = servers
    script = iter([Canned(503, b"{}"), Canned(401, b"{}")])
    api.responder = lambda request: next(script, None) or api.answer(request)
    policy = UpstreamPolicy(retry=RetryPolicy(attempts=3, backoff=0.01))
    with running_gateway([path], ENVIRON, upstream=policy) as gateway:
        assert httpx.get(gateway.url(8080) + "/invoices", timeout=10).status_code == 200
    assert api.tokens == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]
    assert len(tokens.requests) == 2


async def test_every_way_to_the_namespace_carries_the_token_and_no_answer_shows_it(servers, caplog):
    """D33: the fetched token is applied last: a caller's own Authorization (an operation's header
    input, a forward's trusted header) never replaces it. D55/D56: the upstream echoes the token;
    REST, the forward, the binary stream and MCP all answer it redacted, and logs scrub it."""
    tokens, api, path = servers
    caplog.set_level(logging.DEBUG)
    with running_gateway([path], ENVIRON) as gateway:
        caller = {"Authorization": "Bearer callers-own"}
        rest = httpx.get(gateway.url(8080) + "/invoices", headers=caller, timeout=10)
        forward = httpx.get(gateway.url(8080) + "/raw/invoices", headers=caller, timeout=10)
        binary = httpx.get(gateway.url(8080) + "/pdf", timeout=10)
        async with Client(gateway.url(9090) + "/mcp") as client:
            tool = await client.call_tool("list-invoices", {})
    assert api.tokens == ["Bearer tok-1"] * 4
    assert len(tokens.requests) == 1
    texts = [rest.text, forward.text, binary.text, tool.content[0].text]
    for text in texts:
        assert "[redacted]" in text
        assert "tok-1" not in text and SECRET not in text
    assert caplog.records and "tok-1" not in caplog.text and SECRET not in caplog.text, "never logged, even unfiltered"
    assert "tok-1" in logs.SECRETS.secrets, "and scrubbed from logs all the same"
    handler = logging.StreamHandler()
    handler.addFilter(logs.SECRETS)
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "sent %s", ("Bearer tok-1",), None)
    assert handler.filter(record) and record.getMessage() == "sent Bearer [redacted]"


async def test_token_endpoint_refusal_is_a_502_naming_its_error_never_the_secret(servers):
    """RFC 6749 §5.2 ``invalid_client``: the caller gets a 502 problem naming the namespace and the
    error code (D53); the secret the endpoint echoed is redacted (D55). MCP: an isError result."""
    tokens, _, path = servers
    refusal = {"error": "invalid_client", "error_description": f"client secret {SECRET} is wrong"}
    tokens.reply = Canned(400, json.dumps(refusal).encode())
    with running_gateway([path], ENVIRON) as gateway:
        answer = httpx.get(gateway.url(8080) + "/invoices", timeout=10)
        async with Client(gateway.url(9090) + "/mcp") as client:
            tool = await client.call_tool("list-invoices", {})
    assert answer.status_code == 502
    assert answer.headers["content-type"] == "application/problem+json"
    detail = answer.json()["detail"]
    assert "'billing'" in detail and "invalid_client" in detail and "[redacted]" in detail
    assert SECRET not in answer.text
    assert tool.is_error and "invalid_client" in tool.content[0].text and SECRET not in tool.content[0].text


def test_token_endpoint_that_does_not_answer_in_time_is_a_504(servers):
    tokens, _, path = servers
    tokens.delay = 2.0
    with running_gateway([path], ENVIRON, total_timeout=0.5) as gateway:
        answer = httpx.get(gateway.url(8080) + "/invoices", timeout=10)
    assert answer.status_code == 504
    assert "token endpoint" in answer.json()["detail"]


def test_an_unset_client_secret_counts_as_absent(servers):
    """D13/D33: unset, the block is absent (with the unset-variable warning): the caller's own
    Authorization goes upstream and no token is fetched."""
    tokens, api, path = servers
    with running_gateway([path], {"BILLING_CLIENT_ID": CLIENT_ID}) as gateway:
        httpx.get(gateway.url(8080) + "/invoices", headers={"Authorization": "Bearer mine"}, timeout=10)
    assert tokens.requests == []
    assert api.tokens == ["Bearer mine"]


# -- loading ------------------------------------------------------------------------------------


def test_the_extension_loads_with_a_positioned_warning_and_strict_refuses_it(servers):
    """The official schema does not know the key: a warning naming file:line (D1, D3), an error
    under --strict, so that the file is refused."""
    _, _, path = servers
    line = path.read_text().splitlines().index(f"    {EXTENSION}:") + 1
    report = load_file(path, Settings(), ENVIRON)
    assert report.ok
    [warning] = [d for d in report.diagnostics if EXTENSION in d.message]
    assert warning.severity is Severity.WARNING and warning.line == line
    assert "naftiko-runtime extension, not in the official schema" in warning.message
    strict = load_file(path, Settings(strict=True), ENVIRON)
    assert not strict.ok
    assert any(EXTENSION in d.message and d.line == line for d in strict.errors)


def test_the_extension_in_an_ikanos_beta4_file(tmp_path):
    """D70: the same key on a beta4 consumes entry, with the same warning (not a D72 refusal)."""
    path = tmp_path / "billing.yml"
    path.write_text(
        """\
ikanos: 1.0.0-beta4
info: {display: Billing, description: An API behind client credentials.}
binds:
- namespace: env
  keys: {BILLING_CLIENT_ID: BILLING_CLIENT_ID, BILLING_CLIENT_SECRET: BILLING_CLIENT_SECRET}
capability:
  consumes:
  - type: http
    namespace: billing
    baseUri: https://api.example.com
    x-naftiko-oauth2-client-credentials:
      tokenUrl: https://auth.example.com/oauth/token
      clientId: "{{BILLING_CLIENT_ID}}"
      clientSecret: "{{BILLING_CLIENT_SECRET}}"
    resources:
      invoices:
        path: /invoices
        operations:
          list: {method: GET}
  exposes:
  - type: rest
    namespace: billing-rest
    port: 8080
    resources:
      invoices:
        path: /invoices
        operations:
          list: {method: GET, call: billing.list}
"""
    )
    report = load_file(path, Settings(), ENVIRON)
    assert report.ok, [str(d) for d in report.diagnostics]
    assert [d.line for d in report.warnings if EXTENSION in d.message] == [11]
    call = report.loaded.plans["billing-rest"]
    assert next(iter(call.values())).calls[0].credentials.grant.token_url == "https://auth.example.com/oauth/token"
    assert not load_file(path, Settings(strict=True), ENVIRON).ok


def test_only_our_shape_check_lets_the_key_through(servers):
    """D3: the official alpha2 schema refuses the key (it is not a D2/D3 dialect extension); our
    shape check lets it through for the builder, whose warning is then the only finding about it."""
    jsonschema = pytest.importorskip("jsonschema")
    official_path = SHARED / "spec" / "naftiko-schema-alpha2.json"
    if not official_path.is_file():
        pytest.skip("shared reference folder absent")
    official = jsonschema.Draft202012Validator(json.loads(official_path.read_text(encoding="utf-8")))
    _, _, path = servers
    document = YAML(typ="safe").load(path.read_text())
    document["capability"]["consumes"][0]["resources"][0]["operations"].pop()  # binary: not alpha2
    assert check_shape(document) == []
    assert not official.is_valid(document)
    del document["capability"]["consumes"][0][EXTENSION]
    assert official.is_valid(document)


@pytest.mark.parametrize(
    ("extra", "replace", "message"),
    [
        ("", ("tokenUrl: ", "tokenUrlx: "), "missing required field 'tokenUrl'"),
        ("\n      grantType: password", None, "unknown key 'grantType'"),
        ("", ("https://auth", "http://auth"), "must use https"),
        ("", ("https://auth", "ftp://auth"), "must be an absolute https:// URL"),
        ("\n      clientAuthentication: jwt", None, "clientAuthentication must be one of basic, body"),
        ("", ("{{BILLING_CLIENT_SECRET}}", "{{NOT_A_BIND}}"), "names no bind variable"),
        ("", ("    resources:", "    authentication: {type: bearer, token: x}\n    resources:"), "keep one"),
    ],
)
def test_invalid_extension_fields_are_positioned_errors(tmp_path, extra, replace, message):
    path = write(tmp_path, "https://api.example.com", "https://auth.example.com/token", extra)
    if replace is not None:
        path.write_text(path.read_text().replace(*replace))
    report = load_file(path, Settings(), ENVIRON)
    assert not report.ok
    assert any(message in d.message and d.line > 0 for d in report.errors), [str(d) for d in report.diagnostics]


def test_naftiko_validate_prints_the_warning_and_strict_fails(servers):
    """As a user runs it: a real subprocess; the warning is positioned; --strict exits non-zero."""
    from test_validate_cli import diagnostics, naftiko

    _, _, path = servers
    result = naftiko("validate", str(path), env=ENVIRON)
    assert result.returncode == 0, result.stdout + result.stderr
    assert [m["severity"] for m in diagnostics(result.stdout) if EXTENSION in m["message"]] == ["warning"]
    assert SECRET not in result.stdout + result.stderr
    assert naftiko("validate", "--strict", str(path), env=ENVIRON).returncode != 0


# -- the token endpoint's answer, whatever it is -------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "access_token": st.text(max_size=30) | JSON,
        "token_type": st.sampled_from(["bearer", "Bearer", "BEARER", "mac", ""]) | JSON,
        "expires_in": st.integers(-5, 10**12) | st.sampled_from(["3600", "1e3", "-1"]) | JSON,
        "error": st.text(max_size=20) | st.just(SECRET) | JSON,
        "error_description": st.text(max_size=40).map(lambda text: text + SECRET) | JSON,
    },
)


@given(status=st.sampled_from([200, 201, 400, 401, 500]), body=FIELDS.map(json.dumps).map(str.encode) | st.binary())
def test_any_token_reply_is_a_token_or_a_clear_502(status, body):
    """Whatever the endpoint answers: a usable Bearer token and a positive lifetime, or a 502
    problem saying why (never a 500 from a stray exception, D53), never showing the secret."""
    try:
        token, lifetime = parse_token_reply(status, body, "the endpoint", (SECRET,))
    except Problem as problem:
        assert problem.status == 502 and problem.detail.startswith("the endpoint ")
        assert SECRET not in problem.detail
        return
    assert 200 <= status < 300
    assert token and all("\x21" <= c <= "\x7e" for c in token)
    assert lifetime > 0
