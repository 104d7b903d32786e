"""Issue 15: the runtime configuration file (TOML or YAML), merged into ``Settings`` with every
error positioned as file:line:column, and the command line winning over it."""

from __future__ import annotations

import pytest

from naftiko_runtime.cli import parser, settings_from
from naftiko_runtime.serving.config import ConfigError, apply_config
from naftiko_runtime.settings import Settings, Timeouts

TOML = """\
[upstream]
connect_timeout = 2
[upstream.retry]
attempts = 3
[namespaces."ns-a"]
total_timeout = 7
[namespaces."ns-a".bulkhead]
max_concurrent = 8
[namespaces."ns-a".operations.slow]
read_timeout = 20
[rate_limit]
requests = 50
identity = "api-key"
"""


def test_toml_policies_merge_per_namespace(tmp_path):
    path = tmp_path / "naftiko.toml"
    path.write_text(TOML)
    settings = apply_config(path, Settings(), set())
    assert settings.connect_timeout == 2
    a = settings.policy_for("ns-a")
    assert a.retry.attempts == 3 and a.bulkhead.max_concurrent == 8, "a namespace inherits [upstream]"
    assert settings.policy_for("other").bulkhead.max_concurrent == 0
    assert settings.timeouts_for("ns-a", "slow") == Timeouts(2, 20, 7)
    assert settings.timeouts_for("ns-a", "fast") == Timeouts(2, 30, 7)
    assert settings.rate_limit.requests == 50 and settings.rate_limit.identity == "api-key"


def test_toml_errors_are_positioned(tmp_path):
    path = tmp_path / "naftiko.toml"
    path.write_text('[upstream.retry]\nattempts = 0\n\n[namespaces."ns-a".breaker]\n  failrues = 3\n')
    with pytest.raises(ConfigError) as raised:
        apply_config(path, Settings(), set())
    lines = str(raised.value).splitlines()
    assert lines[0].startswith(f"{path}:2:1: upstream.retry.attempts: must be at least 1"), lines
    assert lines[1].startswith(f"{path}:5:3: namespaces.ns-a.breaker.failrues: unknown key"), lines


def test_yaml_errors_are_positioned(tmp_path):
    path = tmp_path / "naftiko.yaml"
    path.write_text("upstream:\n  bulkhead:\n    queue_timeout: -1\nrate_limit:\n  identity: nobody\n")
    with pytest.raises(ConfigError) as raised:
        apply_config(path, Settings(), set())
    lines = str(raised.value).splitlines()
    assert lines[0].startswith(f"{path}:3:5: upstream.bulkhead.queue_timeout: must be a positive"), lines
    assert lines[1].startswith(f"{path}:5:3: rate_limit.identity: must be one of"), lines


def test_the_command_line_wins_over_the_file(tmp_path):
    path = tmp_path / "naftiko.toml"
    path.write_text(TOML)
    args = parser().parse_args(["serve", "x.yaml", "--config", str(path), "--connect-timeout", "9", "--retries", "0"])
    settings = settings_from(args)
    assert settings.connect_timeout == 9
    assert settings.policy_for("ns-a").retry.attempts == 1
    assert settings.policy_for("ns-a").bulkhead.max_concurrent == 8


def test_the_environment_sits_between_the_command_line_and_the_file(tmp_path, monkeypatch):
    """Issue 15: CLI > environment > ``--config`` file > defaults, timeouts and policies alike."""
    path = tmp_path / "naftiko.toml"
    path.write_text(TOML)
    monkeypatch.setenv("NAFTIKO_CONNECT_TIMEOUT", "4")
    monkeypatch.setenv("NAFTIKO_TIMEOUT", "11")
    monkeypatch.setenv("NAFTIKO_BULKHEAD", "3")
    monkeypatch.setenv("NAFTIKO_RATE_LIMIT", "20")
    args = parser().parse_args(["serve", "x.yaml", "--config", str(path), "--timeout", "12"])
    settings = settings_from(args)
    assert settings.connect_timeout == 4, "the environment wins over the file's 2"
    assert settings.total_timeout == 12, "the command line wins over the environment"
    assert settings.timeouts_for("ns-b", "x").total == 12
    assert settings.policy_for("ns-a").bulkhead.max_concurrent == 3, "over the file's 8, in every namespace"
    assert settings.policy_for("ns-a").retry.attempts == 3, "unset in the environment: the file's"
    assert settings.rate_limit.requests == 20


@pytest.mark.parametrize(
    ("variable", "value"),
    [("NAFTIKO_RETRIES", "three"), ("NAFTIKO_RETRIES", "-1"), ("NAFTIKO_RETRIES", ""), ("NAFTIKO_TIMEOUT", "0"),
     ("NAFTIKO_TIMEOUT", "nan"), ("NAFTIKO_CONNECT_TIMEOUT", "5s")],
)  # fmt: skip
def test_a_bad_environment_value_is_named(monkeypatch, variable, value, capsys):
    from naftiko_runtime.cli import main

    monkeypatch.setenv(variable, value)
    assert main(["serve", "x.yaml"]) == 2, "refused before loading anything"
    err = capsys.readouterr().err
    assert f"${variable}: " in err and value in err
