"""Real servers on loopback for the tests: a recording upstream and the gateway itself."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from naftiko_runtime import Runtime, Settings, load
from naftiko_runtime.conformance.stub import Received
from naftiko_runtime.serving.server import bind_sockets

ROOT = Path(__file__).resolve().parents[1]
CAPABILITIES = sorted((ROOT / "capabilities").glob("*.yaml"))
SHARED = ROOT.parent / "shared"
API_KEY = "pk-test-9f8e7d6c5b4a-SECRET"
NAMESPACES = ("polytomic-subpackage-modelsync", "polytomic-subpackage-bulksync")
"""The consumed namespaces of the Polytomic files, pointed at the recording upstream."""


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
def running_gateway(files: list[Path], environ: dict[str, str] | None = None, **settings: Any) -> Iterator[Gateway]:
    """Load ``files`` and serve them in a background thread, on ports moved by a free offset."""
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
    runtime = Runtime(listeners, config, sockets)
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
