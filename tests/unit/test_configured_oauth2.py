"""Consumed OAuth2 client credentials declared the D91 way: ``[namespaces.NAME.oauth2_client_credentials]``
in the runtime configuration (``--config``), not as an unknown key in the capability file, so that the
file stays valid against the official schema (and under ``--strict``). Against a real loopback token
endpoint and a real upstream, as ``test_consumed_oauth2`` does for the extension key.
"""

from __future__ import annotations

import base64
import threading
from pathlib import Path

import httpx
import pytest
from support import CAPABILITIES, running_gateway, served
from test_consumed_oauth2 import CLIENT_ID, ENVIRON, EXTENSION, SECRET, Api, TokenEndpoint, write

from naftiko_runtime import Settings
from naftiko_runtime.core.tokens import usable_for
from naftiko_runtime.serving.config import ConfigError, apply_config
from naftiko_runtime.serving.loading import load, load_file
from naftiko_runtime.spec.diagnostics import Severity

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


def test_the_extension_warning_points_to_the_configuration(tmp_path):
    """The extension key's warning names the D91 way that keeps the file valid."""
    path = write(tmp_path, "https://api.example.com", "https://auth.example.com/token")
    [warning] = [d for d in load_file(path, Settings(), ENVIRON).warnings if EXTENSION in d.message]
    assert "declare the grant in the runtime configuration (--config, D91)" in warning.message


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


def test_client_id_from_the_environment_and_client_secret_post(tmp_path):
    """``client_id_env`` and ``client_authentication = "body"`` (YAML): the form carries both, read
    at load. The secret comes from no bind, yet it is among the secrets scrubbed from logs (D55)."""
    config = tmp_path / "naftiko.yaml"
    config.write_text(
        f"namespaces:\n  {BULKSYNC}:\n    oauth2_client_credentials:\n"
        "      token_url: https://auth.example.com/token\n      client_id_env: BILLING_CLIENT_ID\n"
        "      client_secret_env: BILLING_CLIENT_SECRET\n      client_authentication: body\n"
    )
    settings = Settings(**namespaces_of(config))
    environ = {**ENVIRON, **POLYTOMIC_ENV}
    report = load_file(CAPABILITIES[0], settings, environ)
    grant = next(iter(report.loaded.plans[f"{BULKSYNC}-rest"].values())).calls[0].credentials.grant
    assert grant.token_url == "https://auth.example.com/token" and grant.basic is None
    assert dict(grant.form) == {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET}
    assert SECRET in load([CAPABILITIES[0]], settings, environ).secrets


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


@pytest.mark.parametrize(
    ("lines", "where", "message"),
    [
        ('token_url = "https://a.example.com/t"\nclient_id = "c"\nclient_secret_env = "S"\ncolour = 1\n',
         "5:1: {key}.colour", "unknown key; known: token_url"),
        ('client_id = "c"\nclient_secret_env = "S"\n', "1:1: {key}", "token_url is missing"),
        ('token_url = "http://auth.example.com/t"\nclient_id = "c"\nclient_secret_env = "S"\n',
         "2:1: {key}.token_url", "must use https: the client secret is sent to it"),
        ('token_url = "ftp://auth.example.com/t"\nclient_id = "c"\nclient_secret_env = "S"\n',
         "2:1: {key}.token_url", "must be an absolute https:// URL"),
        ('token_url = "https://a.example.com/t"\nclient_id = "c"\n  client_secret = "hunter2"\n',
         "4:3: {key}.client_secret", "a secret is never written in the file: name its environment variable with "
         "client_secret_env"),
        ('token_url = "https://a.example.com/t"\nclient_secret_env = "S"\n', "1:1: {key}",
         "set the client id: one of client_id, client_id_env"),
        ('token_url = "https://a.example.com/t"\nclient_id = "c"\nclient_id_env = "C"\nclient_secret_env = "S"\n',
         "1:1: {key}", "set the client id: one of client_id, client_id_env"),
        ('token_url = "https://a.example.com/t"\nclient_id = "c"\nclient_secret_env = "S"\n'
         'client_authentication = "jwt"\n', "5:1: {key}.client_authentication", "must be one of basic, body"),
        ('token_url = "https://a.example.com/t"\nclient_id = "c"\nclient_secret_env = "S"\nrefresh_leeway = -1\n',
         "5:1: {key}.refresh_leeway", "must be a positive number of seconds"),
    ],
)  # fmt: skip
def test_grant_errors_are_positioned(tmp_path, lines, where, message):
    """D91's configuration is checked before anything is served, each error ``file:line:column:
    key: message``; a literal ``client_secret`` is refused (the secret only from the environment)."""
    path = tmp_path / "naftiko.toml"
    path.write_text(GRANT_TABLE.format(namespace="billing") + "\n" + lines)
    with pytest.raises(ConfigError) as raised:
        apply_config(path, Settings(), set())
    place = f"{path}:{where.format(key='namespaces.billing.oauth2_client_credentials')}: "
    assert any(line.startswith(place) and message in line for line in str(raised.value).splitlines()), raised.value
    assert "hunter2" not in str(raised.value)


def test_a_grant_is_per_namespace_only(tmp_path):
    """A client secret sent to every upstream is never meant: ``[upstream]`` holds no grant."""
    path = tmp_path / "naftiko.yaml"
    path.write_text("upstream:\n  oauth2_client_credentials:\n    token_url: https://a.example.com/t\n")
    with pytest.raises(ConfigError, match=r":2:3: upstream.oauth2_client_credentials: unknown key"):
        apply_config(path, Settings(), set())


def test_the_polytomic_files_are_strictly_valid_with_a_grant(tmp_path):
    """The point of D91: with the grant in the configuration, the files load without any warning."""
    settings = Settings(strict=True, **namespaces_of(grant_config(tmp_path, "https://auth.example.com/t", BULKSYNC)))
    report = load_file(CAPABILITIES[0], settings, {**POLYTOMIC_ENV, "BILLING_CLIENT_SECRET": SECRET})
    assert report.ok and not report.warnings, [str(d) for d in report.diagnostics]
    assert all(d.severity is not Severity.WARNING for d in report.diagnostics)
