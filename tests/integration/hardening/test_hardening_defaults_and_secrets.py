"""Issue 6, items 7 and 8: secrets never shown (D55) even at DEBUG; loopback by default and a
warning when exposed beyond it (D34). Both run ``naftiko serve`` as a real subprocess."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import httpx
import pytest
from hardening_support import FaultUpstream, report
from support import CAPABILITIES, served

from naftiko_runtime import Settings, load
from naftiko_runtime.cli import main as naftiko
from naftiko_runtime.settings import TRANSPORTS

KEY = "pk-CANARY-5b1e7d03c9f24a68-DO-NOT-LEAK"
CALLER = "Bearer caller-CANARY-0f9e8d7c6b5a"
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def _listening_addresses(port: int) -> set[str]:
    """Local addresses listening on ``port``, from /proc/net/tcp (hex, little-endian IPv4)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        address, hex_port = fields[1].split(":")
        if int(hex_port, 16) == port and fields[3] == "0A":
            found.add(".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0)))
    return found


def test_default_bind_is_loopback():
    """D34: no --host and no adapter address gives 127.0.0.1 for every listener."""
    listeners = load(CAPABILITIES, Settings(), {}).listeners
    assert {listener.host for listener in listeners.listeners.values()} == {"127.0.0.1"}


def test_served_default_listens_on_loopback_only_and_warns_for_0000(tmp_path):
    with FaultUpstream("json") as upstream:
        with served(tmp_path, upstream.url) as gateway:
            assert _listening_addresses(gateway.port(8080)) == {"127.0.0.1"}
            assert _listening_addresses(gateway.port(9090)) == {"127.0.0.1"}
            assert "not a loopback address" not in gateway.stderr
        with served(tmp_path, upstream.url, "--host", "0.0.0.0") as gateway:
            assert _listening_addresses(gateway.port(8080)) == {"0.0.0.0"}
            warnings = [line for line in gateway.stderr.splitlines() if "not a loopback address" in line]
            assert len(warnings) == 2 and all("WARNING" in line for line in warnings), gateway.stderr
            assert any(f":{gateway.port(8080)}," in line for line in warnings)
    report("safe defaults", "default bind 127.0.0.1 (from /proc/net/tcp); --host 0.0.0.0 logs 1 warning per listener")


def _scenarios(gateway, upstream: FaultUpstream, http: httpx.Client) -> list[str]:
    """Every kind of answer a caller can get; returns the texts the caller saw."""
    seen = []
    rest, mcp = gateway.url(8080), gateway.url(9090) + "/mcp"
    headers = {"Authorization": CALLER, "X-Polytomic-Version": "2024-02-08"}

    def tool(name, arguments):
        message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
        response = http.post(mcp, json=message, headers={**MCP_HEADERS, "Authorization": CALLER}, timeout=20)
        seen.append(response.text)
        return response.json()

    for mode in (
        "json",
        "echo_headers",
        "echo_headers_ok",
        "html_as_json",
        "reset",
        "hang",
        "garbage",
        "redirect:http://127.0.0.2:9/x?key=" + KEY,
    ):
        upstream.set(mode)
        for path in ("/v1/api/syncs", "/v1/api/syncs/s-1", "/v1/api/syncs?limit=ten"):
            response = http.get(rest + path, headers=headers, timeout=20)
            seen.append(str(response.headers) + response.text)
        tool("list-syncs", {})
        tool("get-sync", {"id": "s-1", "Authorization": CALLER})
        tool("list-syncs", {"limit": "ten"})
    seen.append(http.post(rest + "/v1/api/syncs", content=b"{bad", headers=headers).text)
    seen.append(http.get(rest + "/nothing", headers=headers).text)
    seen.append(http.post(mcp, content=b"{bad", headers=MCP_HEADERS).text)
    seen.append(http.post(mcp, json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, headers=MCP_HEADERS).text)
    return seen


@pytest.mark.slow
def test_secrets_never_shown_at_debug(tmp_path, http):
    """D55: the key and the caller's Authorization appear in no log line, no error body, no problem
    detail, no MCP result, and not in ``naftiko routes``/``validate`` output."""
    env = {"POLYTOMIC_API_KEY": KEY}
    with FaultUpstream("json") as upstream:
        for transport in TRANSPORTS:
            with served(
                tmp_path,
                upstream.url,
                "--log-level",
                "DEBUG",
                "--timeout",
                "1",
                "--read-timeout",
                "1",
                "--transport",
                transport,
                env=env,
            ) as gateway:
                seen = _scenarios(gateway, upstream, http)
                assert any(f"Bearer {KEY}" == h.get("authorization") for _, _, h in upstream.received), (
                    "the upstream did receive the key: the scenario is real"
                )
                code = gateway.stop()
                log = gateway.stderr
            assert code == 0
            assert "DEBUG" in log, "logging really ran at DEBUG"
            for text in seen:
                assert KEY not in text, text[:500]
                assert "caller-CANARY" not in text, text[:500]
            for line in log.splitlines():
                assert KEY not in line, line
                assert "caller-CANARY" not in line, line
            report(
                f"secrets ({transport})",
                f"{len(seen)} caller-visible answers and {len(log.splitlines())} "
                "DEBUG log lines, key and caller token in none",
            )
    for command in ("routes", "validate"):
        completed = subprocess.run(
            [sys.executable, "-m", "naftiko_runtime", command, *map(str, CAPABILITIES)],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            timeout=60,
        )
        assert completed.returncode == 0, completed.stderr
        assert KEY not in completed.stdout + completed.stderr


def test_validate_and_routes_in_process_do_not_show_the_key(monkeypatch):
    monkeypatch.setenv("POLYTOMIC_API_KEY", KEY)
    for command in ("routes", "validate"):
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            assert naftiko([command, *map(str, CAPABILITIES)]) == 0
        assert KEY not in out.getvalue() + err.getvalue()
        assert out.getvalue().strip()
