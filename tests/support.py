"""Real servers on loopback for the tests: a recording upstream and the gateway itself."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from naftiko_runtime import Runtime, Settings, load
from naftiko_runtime.conformance.stub import Received
from naftiko_runtime.extras import EXTRAS
from naftiko_runtime.serving.server import bind_sockets

ROOT = Path(__file__).resolve().parents[1]
CAPABILITIES = sorted((ROOT / "capabilities").glob("*.yaml"))
SHARED = ROOT.parent / "shared"
API_KEY = "pk-test-9f8e7d6c5b4a-SECRET"
NAMESPACES = ("polytomic-subpackage-modelsync", "polytomic-subpackage-bulksync")
"""The consumed namespaces of the Polytomic files, pointed at the recording upstream."""


def needs_extra(name: str) -> pytest.MarkDecorator:
    """Skips a test of an optional feature, naming the pip install, where its extra is absent: the
    no-extras run of .ci/run (issue 19). With ``[test]`` installed every extra is there."""
    extra = next(extra for extra in EXTRAS if extra.name == name)
    return pytest.mark.skipif(not extra.installed(), reason=f"needs {extra.install}")


class Recorded(Received):
    """A request the upstream received: the conformance stub's record, plus its JSON body."""

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Canned:
    status: int = 200
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    delay: float = 0.0


Responder = Callable[[Recorded], Canned]


def echo(request: Recorded) -> Canned:
    """By default the upstream answers a JSON document describing what it received."""
    body = json.dumps({"data": {"method": request.method, "path": request.path, "query": request.query}}).encode()
    return Canned(200, body)


class RecordingUpstream:
    """A real HTTP/1.1 server on 127.0.0.1 that records every request it receives."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.responder: Responder = echo
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def handle_one(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                recorded = Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                upstream.requests.append(recorded)
                canned = upstream.responder(recorded)
                if canned.delay:
                    time.sleep(canned.delay)
                payload = canned.body if canned.body is not None else b""
                try:
                    self.send_response(canned.status)
                    for name, value in canned.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_one

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> RecordingUpstream:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self, responder: Responder = echo) -> None:
        self.requests.clear()
        self.responder = responder

    @property
    def last(self) -> Recorded:
        assert self.requests, "the upstream received no request"
        return self.requests[-1]


@dataclass
class Gateway:
    runtime: Runtime
    offset: int

    def url(self, port: int) -> str:
        return f"http://127.0.0.1:{port + self.offset}"


@contextmanager
def running_gateway(
    files: list[Path], environ: dict[str, str] | None = None, *, reloadable: bool = False, **settings: Any
) -> Iterator[Gateway]:
    """Load ``files`` and serve them in a background thread, on ports moved by a free offset;
    ``reloadable``: ``Runtime.reload`` loads them again (as SIGHUP and the control adapter do)."""
    for _ in range(20):
        config = Settings(port_offset=random.randrange(10000, 40000), **settings)
        loaded = load(files, config, environ if environ is not None else {})
        assert not loaded.rejected, "\n".join(map(str, loaded.diagnostics))
        listeners = list(loaded.listeners.listeners.values())
        try:
            sockets = bind_sockets(listeners)
            break
        except OSError:
            continue
    else:
        raise RuntimeError("no free port offset")
    reloader = (lambda: load(files, config, environ if environ is not None else {})) if reloadable else None
    runtime = Runtime(listeners, config, sockets, reloader)
    thread = threading.Thread(target=lambda: asyncio.run(runtime.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not runtime.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the gateway did not start"
        time.sleep(0.02)
    try:
        yield Gateway(runtime, config.port_offset)
    finally:
        runtime.stop()
        thread.join(timeout=40)


def naftiko(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m naftiko_runtime ARGS`` from the project's folder, as a user runs it: none of this
    process's ``NAFTIKO_*`` settings nor its API key, only ``env`` over the rest."""
    environ = {k: v for k, v in os.environ.items() if k != "POLYTOMIC_API_KEY" and not k.startswith("NAFTIKO_")}
    return subprocess.run(
        [sys.executable, "-m", "naftiko_runtime", *args],
        capture_output=True,
        text=True,
        env=environ | (env or {}),
        cwd=ROOT,
        timeout=60,
    )


# -- `naftiko serve` as a subprocess, as a user runs it ------------------------------------------

PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)
"""Loaded here, in the test process: the forked child only calls into it."""


def die_with_parent() -> None:
    """``preexec_fn`` of a gateway a test starts: Linux sends it SIGTERM when the test's process
    dies, so a pytest killed from outside (which never reaches a ``finally``) leaves no gateway
    holding its ports. Kept across ``exec``; the fork's child runs nothing else of Python's."""
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


NAMESPACES = ("polytomic-subpackage-modelsync", "polytomic-subpackage-bulksync")
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class ServedGateway:
    process: subprocess.Popen[bytes]
    offset: int
    stderr_path: Path

    def port(self, base: int) -> int:
        return base + self.offset

    def url(self, base: int) -> str:
        return f"http://127.0.0.1:{base + self.offset}"

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)

    def alive(self) -> bool:
        return self.process.poll() is None

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise LookupError("VmRSS")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the gateway process so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
        return True
    return False


MCP_PROBE = b'{"jsonrpc":"2.0","id":0,"method":"tools/list"}'
ANSWER_PROBE = (
    b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Accept: application/json, text/event-stream\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
    % (len(MCP_PROBE), MCP_PROBE)
)


def answering(port: int) -> bool:
    """A port is bound before the app is loaded (and SIGTERM then kills the process): ready means
    an HTTP answer, whatever it says, to an MCP ``tools/list``. On an MCP port it comes once the
    ``mcp`` package is loaded in the background (D152); any other port answers it at once (404)."""
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
        sock.settimeout(0.5)
        sock.sendall(ANSWER_PROBE)
        return sock.recv(16).startswith(b"HTTP/1.1 ")
    return False


def wait_status(url: str, status: int = 200, seconds: float = 60) -> None:
    """Until ``url`` answers ``status``: a start-up wait. A refused, reset or timed-out request means
    "not yet" (a worker process still loading on a loaded machine), not a failure; the bound is
    generous because the test that follows measures nothing about start-up."""
    deadline = time.monotonic() + seconds
    while True:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=5).status_code == status:
                return
        assert time.monotonic() < deadline, f"{url} did not answer {status} within {seconds:g} s"
        time.sleep(0.05)


def free_port_offset(*ports: int) -> int:
    """An offset that moves ``ports`` (a file's ports) onto ports nothing listens on now; below Linux's
    ephemeral range (32768-60999), so no outgoing connection can hold them."""
    for _ in range(20):
        offset = random.randrange(2000, 23000)
        if not any(_listening(p + offset) for p in ports):
            return offset
    raise RuntimeError(f"no free offset for ports {ports}")


@contextmanager
def served(
    tmp_path: Path,
    upstream_url: str,
    *extra: str,
    env: dict[str, str] | None = None,
    files: list[Path] | None = None,
    ports: tuple[int, ...] = (8080, 9090),
) -> Iterator[ServedGateway]:
    """``python -m naftiko_runtime serve`` of ``files`` (the Polytomic files) on a free port offset,
    both Polytomic namespaces sent to ``upstream_url``, stderr captured to a file; stopped with
    SIGTERM (then SIGKILL) whatever the test did."""
    offset = free_port_offset(*ports)
    arguments = [
        sys.executable,
        "-m",
        "naftiko_runtime",
        "serve",
        *map(str, files or CAPABILITIES),
        "--port-offset",
        str(offset),
        *extra,
    ]
    for namespace in NAMESPACES:
        arguments += ["--base-uri", f"{namespace}={upstream_url}"]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("NAFTIKO_")}
    environment.update(env or {})
    stderr_path = tmp_path / f"gateway-{offset}.stderr"
    with open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(
            arguments, stdout=subprocess.DEVNULL, stderr=stderr, env=environment, preexec_fn=die_with_parent
        )
    gateway = ServedGateway(process, offset, stderr_path)
    try:
        deadline = time.monotonic() + 60
        while not all(answering(p + offset) for p in ports):
            assert process.poll() is None, f"the gateway exited {process.returncode}:\n{gateway.stderr}"
            assert time.monotonic() < deadline, f"the gateway did not start:\n{gateway.stderr}"
            time.sleep(0.05)
        yield gateway
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(40)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
