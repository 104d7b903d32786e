"""SIGHUP reloads the served files without dropping a call (issue 10, item 5; `naftiko serve --help`).

A real `naftiko serve` process: its file changes on disk, SIGHUP arrives while callers keep calling,
and the new routes and tools answer, the removed ones are 404, no call fails. An invalid change or
one that moves a port is refused with a log line and the previous files keep serving (an invalid
file its last good version: tests/integration/test_watch.py).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import threading
import time

import httpx
import pytest
from support import free_port_offset, wait_status
from test_serve_process import start, wait_listening

ITEMS = """
naftiko: 1.0.0-alpha2
info: {{label: Reload, description: reloaded by SIGHUP}}
capability:
  consumes:
    - type: http
      namespace: items
      baseUri: {upstream}
      resources:
        - name: items
          path: /items
          operations:
            - {{name: list, method: GET}}
            - {{name: count, method: GET, inputParameters: [{{name: kind, in: query, value: count}}]}}
  exposes:
    - type: rest
      namespace: items-rest
      port: {rest_port}
      resources:
        - path: {path}
          operations:
            - {{method: GET, call: items.list}}
    - type: mcp
      namespace: items-mcp
      port: {mcp_port}
      tools:
        - {{name: {tool}, description: Items., call: items.list}}
"""
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


def write(path, upstream, path_value="/items", tool="list-items", rest_port=8080, mcp_port=9090) -> None:
    path.write_text(
        ITEMS.format(upstream=upstream.url, path=path_value, tool=tool, rest_port=rest_port, mcp_port=mcp_port)
    )


def tools(url: str) -> list[str]:
    response = httpx.post(
        url + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers=MCP_HEADERS, timeout=10
    )
    return [tool["name"] for tool in response.json()["result"]["tools"]]


def wait_for(condition, seconds: float = 30, failure: str = "the reload did not take effect") -> None:
    """Polls ``condition``: these tests check that a reload takes effect and fails no call, not how
    soon (test_watch.py bounds that); two workers reloading on a loaded machine took over 10 s."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, failure
        time.sleep(0.05)


@pytest.fixture(params=[1, 2], ids=["one-process", "two-workers"])
def served(request, tmp_path, upstream):
    """With workers, the parent passes SIGHUP on and each worker reloads on its own."""
    capability = tmp_path / "items.yaml"
    write(capability, upstream)
    process, offset = start("--workers", str(request.param), str(capability))
    try:
        wait_listening(process, 8080 + offset)
        wait_listening(process, 9090 + offset)
        # The ports accept from the moment they are bound; SIGHUP is handled once the servers run.
        wait_status(f"http://127.0.0.1:{8080 + offset}/items")
        yield process, offset, capability
    finally:  # a failed start or stop leaves no gateway behind, holding its ports (issue 20)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_sighup_serves_the_changed_file_without_failing_a_call(served, upstream):
    process, offset, capability = served
    rest, mcp = f"http://127.0.0.1:{8080 + offset}", f"http://127.0.0.1:{9090 + offset}"
    assert httpx.get(rest + "/items", timeout=10).status_code == 200 and tools(mcp) == ["list-items"]
    statuses: list[object] = []
    stop = threading.Event()

    def caller() -> None:
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                for path in ("/items", "/things"):
                    try:
                        statuses.append((path, client.get(rest + path).status_code))
                    except httpx.HTTPError as exc:
                        statuses.append((path, type(exc).__name__))

    threads = [threading.Thread(target=caller) for _ in range(4)]
    for thread in threads:
        thread.start()
    # Not a fixed pause: on a loaded machine (or beside other xdist workers) the callers may take
    # longer than any pause to make their first call (issue 20).
    wait_for(lambda: ("/items", 200) in statuses, failure="no call was answered before the reload")
    write(capability, upstream, path_value="/things", tool="list-things")
    process.send_signal(signal.SIGHUP)
    wait_for(lambda: all(httpx.get(rest + "/things", timeout=10).status_code == 200 for _ in range(8)))
    time.sleep(0.5)
    stop.set()
    for thread in threads:
        thread.join(10)
    assert process.poll() is None
    assert tools(mcp) == ["list-things"]
    assert httpx.get(rest + "/items", timeout=10).status_code == 404
    outcomes = {outcome for _, outcome in statuses}
    assert outcomes <= {200, 404}, f"a call failed across the reload: {outcomes}"
    assert ("/items", 200) in statuses and ("/things", 200) in statuses, "callers saw both generations"


def test_an_invalid_change_keeps_the_previous_files(served, upstream):
    process, offset, capability = served
    rest = f"http://127.0.0.1:{8080 + offset}"
    capability.write_text(capability.read_text().replace("call: items.list}", "call: items.nowhere}", 1))
    process.send_signal(signal.SIGHUP)
    time.sleep(1.5)
    assert process.poll() is None
    assert httpx.get(rest + "/items", timeout=10).status_code == 200
    write(capability, upstream, rest_port=8081)
    process.send_signal(signal.SIGHUP)
    time.sleep(1.5)
    assert httpx.get(rest + "/items", timeout=10).status_code == 200
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=15)
    assert "does not resolve to a consumed operation" in stderr
    # Per file (issue 14, item 4): the invalid file keeps serving its last good version.
    assert "items.yaml is invalid; still serving its last good version" in stderr
    assert "reload refused: it would change the ports served" in stderr


def test_a_reload_asked_before_the_loop_serves_is_made_once_it_does(tmp_path, upstream):
    """A SIGHUP that reaches a worker between its fork and its event loop (``EARLY_RELOAD``) is
    remembered and made when the loop starts: the worker serves the new files, not the old ones
    until the next SIGHUP (two workers, one of them still starting, lost it)."""
    from naftiko_runtime import Runtime, Settings
    from naftiko_runtime.serving.reloading import FileSet
    from naftiko_runtime.serving.server import EARLY_RELOAD, bind_sockets

    capability = tmp_path / "items.yaml"
    offset = free_port_offset(8080, 9090)
    ports = {"rest_port": 8080 + offset, "mcp_port": 9090 + offset}
    write(capability, upstream, **ports)
    files = FileSet([capability], Settings())
    listeners = list(files().listeners.listeners.values())
    write(capability, upstream, path_value="/things", tool="list-things", **ports)
    EARLY_RELOAD.remember(signal.SIGHUP, None)
    runtime = Runtime(listeners, Settings(), bind_sockets(listeners), files)
    thread = threading.Thread(target=lambda: asyncio.run(runtime.serve()), daemon=True)
    thread.start()
    try:
        wait_for(lambda: httpx.get(f"http://127.0.0.1:{8080 + offset}/things", timeout=5).status_code == 200)
        assert httpx.get(f"http://127.0.0.1:{8080 + offset}/items", timeout=5).status_code == 404
        assert not EARLY_RELOAD.pending
    finally:
        runtime.stop()
        thread.join(30)
