"""Consumed OAuth2 client credentials declared the D91 way: ``[namespaces.NAME.oauth2_client_credentials]``
in the runtime configuration (``--config``), not as an unknown key in the capability file, so that the
file stays valid against the official schema (and under ``--strict``). Here the configuration and
what loading makes of it, in-process; served against a real loopback token endpoint and a real
upstream: tests/integration/test_configured_oauth2_served.py.
"""

from __future__ import annotations

import pytest
from oauth2_support import (
    BULKSYNC,
    CLIENT_ID,
    ENVIRON,
    EXTENSION,
    GRANT_TABLE,
    POLYTOMIC_ENV,
    SECRET,
    grant_config,
    namespaces_of,
    write,
)
from support import CAPABILITIES

from naftiko_runtime import Settings
from naftiko_runtime.serving.config import ConfigError, apply_config
from naftiko_runtime.serving.loading import load, load_file
from naftiko_runtime.spec.diagnostics import Severity


def test_the_extension_warning_points_to_the_configuration(tmp_path):
    """The extension key's warning names the D91 way that keeps the file valid."""
    path = write(tmp_path, "https://api.example.com", "https://auth.example.com/token")
    [warning] = [d for d in load_file(path, Settings(), ENVIRON).warnings if EXTENSION in d.message]
    assert "declare the grant in the runtime configuration (--config, D91)" in warning.message


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
