"""Issue 10, item 5: signals.

Before: SIGHUP (a closed terminal, ``kill -HUP`` by a supervisor expecting a reload) killed the
gateway at once, dropping calls in flight. Wanted: SIGHUP reloads the served files gracefully or
is ignored, never kills; SIGTERM and SIGINT drain in-flight calls and exit 0 as now; the
behaviour is documented (``naftiko serve --help``).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest
from edge_support import MCP, REST, json_reply, served


def _slow(seconds: float):
    def respond(seen):
        reply = json_reply()
        reply.delay = seconds
        return reply

    return respond


def _in_flight(url: str, results: list) -> threading.Thread:
    def call() -> None:
        try:
            results.append(httpx.get(url, timeout=15).status_code)
        except httpx.HTTPError as exc:
            results.append(type(exc).__name__)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    return thread


def _until_in_flight(raw_upstream) -> None:
    """Until the upstream holds the call (it answers a second later): the signal then reaches a
    gateway with a call in flight, however long a loaded machine took to send it."""
    deadline = time.monotonic() + 10
    while not raw_upstream.seen:
        assert time.monotonic() < deadline, "the call never reached the upstream"
        time.sleep(0.01)


def test_sighup_does_not_kill_the_gateway(tmp_path, raw_upstream):
    """A call in flight when SIGHUP arrives completes; the gateway keeps serving REST and MCP."""
    raw_upstream.reset(_slow(1.0))
    with served(tmp_path, raw_upstream.url) as gateway:
        results: list = []
        caller = _in_flight(gateway.url(REST) + "/v1/api/syncs", results)
        _until_in_flight(raw_upstream)
        gateway.process.send_signal(signal.SIGHUP)
        caller.join(10)
        time.sleep(0.5)
        assert gateway.alive(), f"SIGHUP killed the gateway (exit {gateway.process.returncode})"
        assert results == [200]
        raw_upstream.reset()
        assert httpx.get(gateway.url(REST) + "/v1/api/syncs", timeout=10).status_code == 200
        tools = httpx.post(
            gateway.url(MCP) + "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"Accept": "application/json, text/event-stream"},
            timeout=10,
        )
        assert tools.status_code == 200 and len(tools.json()["result"]["tools"]) == 23
        gateway.process.send_signal(signal.SIGTERM)
        assert gateway.process.wait(15) == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_drain_in_flight_calls(tmp_path, raw_upstream, sig):
    """Unchanged behaviour, kept: the call in flight gets its answer, then exit 0."""
    raw_upstream.reset(_slow(1.0))
    with served(tmp_path, raw_upstream.url) as gateway:
        results: list = []
        caller = _in_flight(gateway.url(REST) + "/v1/api/syncs", results)
        _until_in_flight(raw_upstream)
        gateway.process.send_signal(sig)
        caller.join(10)
        assert results == [200]
        assert gateway.process.wait(15) == 0


def test_signals_are_documented():
    help_text = subprocess.run(
        [sys.executable, "-m", "naftiko_runtime", "serve", "--help"], capture_output=True, text=True, timeout=30
    ).stdout
    for name in ("SIGHUP", "SIGTERM", "SIGINT"):
        assert name in help_text, f"`naftiko serve --help` does not say what {name} does"
