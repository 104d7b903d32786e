"""`naftiko serve` as a user runs it: a real process, its ports, its signals (D5, D30, D34)."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from support import API_KEY, CAPABILITIES, ROOT, answering, die_with_parent

NAMESPACES = ("polytomic-subpackage-modelsync", "polytomic-subpackage-bulksync")


def start(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, int]:
    offset = next(o for o in iter(lambda: random.randrange(10000, 40000), None) if ports_free(8080 + o, 9090 + o))
    process = subprocess.Popen(
        [sys.executable, "-m", "naftiko_runtime", "serve", "--port-offset", str(offset), *args],
        cwd=ROOT,
        env=dict(os.environ, **(env or {})),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=die_with_parent,
    )
    return process, offset


def ports_free(*ports: int) -> bool:
    """The serve binds the file's ports moved by the offset: pick an offset whose ports are free now."""
    for port in ports:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def wait_listening(process: subprocess.Popen, port: int, timeout: float = 60) -> None:
    """Until ``port`` answers HTTP (``support.answering``: an MCP port once the ``mcp`` package is
    loaded, D152); the bound is generous because what follows measures nothing about start-up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        if answering(port):
            return
        time.sleep(0.05)
    pytest.fail("the gateway did not start answering")


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_answers_then_stops_cleanly_on_sigterm(upstream, workers):
    base_uris = [arg for ns in NAMESPACES for arg in ("--base-uri", f"{ns}={upstream.url}")]
    process, offset = start(
        "--workers", str(workers), *base_uris, *map(str, CAPABILITIES), env={"POLYTOMIC_API_KEY": API_KEY}
    )
    try:
        wait_listening(process, 8080 + offset)
        wait_listening(process, 9090 + offset)
        for _ in range(10):
            assert httpx.get(f"http://127.0.0.1:{8080 + offset}/v1/api/syncs", timeout=30).status_code == 200
        assert upstream.last.headers["authorization"] == f"Bearer {API_KEY}"
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "listening on http://127.0.0.1:" in stderr
    assert API_KEY not in stderr


def test_invalid_file_binds_no_port(tmp_path):
    """D5: a serve that fails validation binds no port and exits non-zero."""
    broken = tmp_path / "broken.yml"
    broken.write_text("naftiko: 1.0.0-alpha2\ncapability: [\n")
    process, offset = start(str(CAPABILITIES[0]), str(broken))
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 1
    assert f"{broken}:3:1: error" in stderr and "nothing served" in stderr


def test_keep_going_serves_the_valid_files(tmp_path, upstream):
    """D32b: the rejected file is listed, the valid one is served."""
    broken = tmp_path / "broken.yml"
    broken.write_text("naftiko: 1.0.0-alpha2\ncapability: [\n")
    process, offset = start(
        "--keep-going", "--base-uri", f"{NAMESPACES[0]}={upstream.url}", str(CAPABILITIES[1]), str(broken)
    )
    try:
        wait_listening(process, 8080 + offset)
        assert httpx.get(f"http://127.0.0.1:{8080 + offset}/v1/api/syncs/schedules", timeout=30).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert f"rejected {broken}" in stderr
    assert process.returncode == 0


def test_busy_port_fails_the_whole_serve():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        process, _ = start("--port-offset", str(port - 8080), str(CAPABILITIES[0]))
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in stderr


ORPHANED = """
import sys, time
from test_serve_process import start, wait_listening
process, offset = start(*sys.argv[1:])
wait_listening(process, 8080 + offset)  # served and idle: nothing it writes would break its pipes
print(process.pid, flush=True)
time.sleep(600)
"""


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_gateway_ends_with_the_test_process_that_started_it():
    """A pytest killed from outside (SIGKILL: no ``finally`` runs) leaves no gateway behind holding
    its ports (``support.die_with_parent``)."""
    here = Path(__file__).resolve().parent
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(here), str(here.parent)]))
    starter = subprocess.Popen(
        [sys.executable, "-c", ORPHANED, *map(str, CAPABILITIES)], env=environment, stdout=subprocess.PIPE, text=True
    )
    assert starter.stdout is not None
    gateway = int(starter.stdout.readline())
    assert _running(gateway)
    starter.kill()
    starter.wait()
    deadline = time.monotonic() + 30
    while _running(gateway):
        assert time.monotonic() < deadline, "the gateway outlived the process that started it"
        time.sleep(0.05)
