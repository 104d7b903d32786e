"""Consumed OAuth2 client credentials declared the D91 way (``--config``), served: the token fetched
from a real loopback token endpoint reaches a real upstream. The configuration's own checks are
tests/unit/test_configured_oauth2.py."""

from __future__ import annotations

import base64
import threading

import httpx
from oauth2_support import (
    BULKSYNC,
    CLIENT_ID,
    ENVIRON,
    EXTENSION,
    POLYTOMIC_ENV,
    SECRET,
    Api,
    TokenEndpoint,
    grant_config,
    namespaces_of,
    write,
)
from support import CAPABILITIES, running_gateway, served

from naftiko_runtime import Settings
from naftiko_runtime.core.tokens import usable_for
from naftiko_runtime.serving.loading import load_file


def test_polytomic_files_get_their_token_from_the_configured_grant_under_strict(tmp_path):
    """D91: the official Polytomic files, untouched (no extension key), served by ``naftiko serve
    --strict --config``: every call to the configured namespace carries the fetched token (ONE
    token request for several calls, the client in Basic), the caller's own Authorization never
    reaches it (D33); the other namespace keeps its own bearer. The secret, read from the
    environment, is in no answer and no log line (D55), even at DEBUG."""
    with TokenEndpoint() as tokens, Api() as api:
        config = grant_config(tmp_path, tokens.url + "/oauth/token", BULKSYNC)
        env = {**POLYTOMIC_ENV, "BILLING_CLIENT_SECRET": SECRET}
        with served(tmp_path, api.url, "--strict", "--config", str(config), "--log-level", "DEBUG", env=env) as gw:
            caller = {"Authorization": "Bearer callers-own"}
            answers = [
                httpx.get(gw.url(8080) + path, headers=caller, timeout=10) for path in ("/v1/api/bulk/syncs",) * 3
            ]
            answers.append(httpx.get(gw.url(8080) + "/v1/api/bulk/syncs/s1", headers=caller, timeout=10))
            other = httpx.get(gw.url(8080) + "/v1/api/connections/c1/modelsync/source", headers=caller, timeout=10)
            gw.stop()
            stderr = gw.stderr
    assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
    assert len(tokens.requests) == 1
    expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    assert tokens.requests[0].headers["authorization"] == expected
    assert api.tokens == ["Bearer tok-1"] * 4 + ["Bearer static-key"]
    for text in [*(a.text for a in answers), other.text, stderr]:
        assert SECRET not in text and "tok-1" not in text


def test_the_configured_grant_wins_over_the_extension_key(tmp_path):
    """D91, the choice made: the runtime configuration is the operator's, so its grant replaces the
    file's extension key (whose token endpoint is never asked), with a warning at the key."""
    with TokenEndpoint() as file_tokens, TokenEndpoint() as config_tokens, Api() as api:
        path = write(tmp_path, api.url, file_tokens.url + "/from-file")
        config = grant_config(tmp_path, config_tokens.url + "/from-config")
        report = load_file(path, Settings(**namespaces_of(config)), ENVIRON)
        with running_gateway([path], ENVIRON, **namespaces_of(config)) as gateway:
            assert httpx.get(gateway.url(8080) + "/invoices", timeout=10).status_code == 200
    assert file_tokens.requests == []
    assert [r.path for r in config_tokens.requests] == ["/from-config"]
    assert api.tokens == ["Bearer tok-1"]
    line = path.read_text().splitlines().index(f"    {EXTENSION}:") + 1
    [replaced] = [d for d in report.warnings if "replaces this one (D91)" in d.message]
    assert replaced.line == line


def test_an_unset_secret_variable_makes_the_grant_absent_with_a_warning(tmp_path):
    """D13 as for an unset bind: the grant counts as absent (no token is fetched; the file's own
    bearer applies) and the consumed entry carries a warning naming the variable, an error under
    --strict. Variables are read at load, not per request (D91)."""
    with TokenEndpoint() as tokens, Api() as api:
        settings = namespaces_of(grant_config(tmp_path, tokens.url + "/t", BULKSYNC))
        report = load_file(CAPABILITIES[0], Settings(**settings), POLYTOMIC_ENV)
        with running_gateway([CAPABILITIES[0]], POLYTOMIC_ENV, base_uris={BULKSYNC: api.url}, **settings) as gw:
            headers = {"Authorization": "Bearer mine"}
            assert httpx.get(gw.url(8080) + "/v1/api/bulk/syncs", headers=headers, timeout=10).status_code == 200
    assert tokens.requests == []
    assert api.tokens == ["Bearer static-key"]
    [unset] = [d for d in report.warnings if "$BILLING_CLIENT_SECRET" in d.message]
    assert "counts as absent" in unset.message and unset.line > 0
    assert not load_file(CAPABILITIES[0], Settings(strict=True, **settings), POLYTOMIC_ENV).ok


def test_refresh_leeway_replaces_the_token_earlier(tmp_path):
    """``refresh_leeway = 11``: a token of ``expires_in: 12`` is used for 1 s, not the 2 s of the
    default 10 s leeway; the tenth-of-its-lifetime rule is kept for long-lived tokens."""
    assert usable_for(100, 20) == 80 and usable_for(1000, 20) == 900 and usable_for(100, 10) == 90
    with TokenEndpoint(expires_in=12) as tokens, Api() as api:
        path = write(tmp_path, api.url, tokens.url + "/ignored")
        settings = namespaces_of(grant_config(tmp_path, tokens.url + "/t", extra="refresh_leeway = 11\n"))
        with running_gateway([path], ENVIRON, **settings) as gateway:
            url = gateway.url(8080) + "/invoices"
            assert httpx.get(url, timeout=10).status_code == 200
            threading.Event().wait(1.3)
            assert httpx.get(url, timeout=10).status_code == 200
    assert api.tokens == ["Bearer tok-1", "Bearer tok-2"]
