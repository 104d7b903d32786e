"""Issue 10: REST pass-through throughput of the HTTP edge options, every row in the same run.

    python benchmarks/edge_options.py [--seconds 5] [--rounds 3] [--baseline DIR]

Each row serves the Polytomic REST port (GET /v1/api/syncs -> benchmarks/upstream.py, ~2 kB JSON)
and is loaded by ``wrk -c32 -t1``; rows are measured in turn, round after round, and the median
is kept. Rows:

- the ASGI server options for bounded heads, all with this branch's aiohttp transport: uvicorn
  httptools (no limits, HEAD's server), uvicorn h11 with ``h11_max_incomplete_event_size`` 32 KiB,
  the HTTP guard over httptools (``naftiko serve`` now), hypercorn and granian when installed;
- the transports under the guard: this branch's aiohttp transport and ``--transport httpx``;
- ``naftiko serve`` of this checkout (the guard and the new transport) and, with ``--baseline DIR``
  (a checkout of HEAD before issue 10), that checkout's ``naftiko serve`` (httptools without limits,
  httpx-aiohttp).

A row whose server is not installed is skipped with the reason. Not part of the product.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NAMESPACES = ("polytomic-subpackage-modelsync", "polytomic-subpackage-bulksync")
PATH = "/v1/api/syncs"
SERVERS = ("httptools", "h11", "guard", "hypercorn", "granian")


def serve(variant: str, transport: str, offset: int, upstream: str) -> None:
    """Run in a child process: the REST listener of the Polytomic files under one server."""
    sys.path.insert(0, str(ROOT))
    import uvicorn
    import uvloop

    from naftiko_runtime import Settings, load
    from naftiko_runtime.core.execution import Executor
    from naftiko_runtime.core.upstream import UpstreamClients
    from naftiko_runtime.serving.http_guard import GuardLimits, guarded_protocol
    from naftiko_runtime.serving.ports import build_app

    settings = Settings(port_offset=offset, base_uris={ns: upstream for ns in NAMESPACES}, transport=transport)
    listener = load(sorted((ROOT / "capabilities").glob("*.yaml")), settings).listeners.listeners[8080 + offset]
    clients = UpstreamClients(settings)
    clients.open({call.namespace for plan in listener.plans for call in plan.calls})
    app, _ = build_app(listener, Executor(clients), settings)
    port = 8080 + offset
    if variant == "hypercorn":
        from hypercorn.asyncio import serve as hypercorn_serve
        from hypercorn.config import Config

        config = Config()
        config.bind = [f"127.0.0.1:{port}"]
        config.h11_max_incomplete_size = 32 * 1024
        config.read_timeout = 10
        config.accesslog = config.errorlog = None
        uvloop.run(hypercorn_serve(app, config))
        return
    if variant == "granian":
        from granian.constants import HTTPModes, Interfaces
        from granian.http import HTTP1Settings
        from granian.server.embed import Server

        limits = HTTP1Settings(header_read_timeout=10_000, max_buffer_size=32 * 1024)
        server = Server(
            app,
            address="127.0.0.1",
            port=port,
            interface=Interfaces.ASGI,
            http=HTTPModes.http1,
            websockets=False,
            backlog=2048,
            http1_settings=limits,
            log_enabled=False,
        )
        uvloop.run(server.serve())
        return
    guarded = guarded_protocol(GuardLimits.from_settings(settings))
    http = {"httptools": "httptools", "h11": "h11", "guard": guarded}[variant]
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        http=http,
        ws="none",
        loop="uvloop",
        lifespan="off",
        access_log=False,
        log_config=None,
        h11_max_incomplete_event_size=32 * 1024 if variant == "h11" else None,
    )
    uvicorn.Server(config).run()


_TAKEN: set[int] = set()


def _free_offset() -> int:
    """An offset whose REST port is free now and was not handed out before (servers start late)."""
    for offset in range(21000, 24000, 11):
        if offset in _TAKEN:
            continue
        _TAKEN.add(offset)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", 8080 + offset))
                return offset
            except OSError:
                continue
    raise RuntimeError("no free port")


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            return sock.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def _wrk(port: int, seconds: float) -> float:
    out = subprocess.run(
        ["wrk", "-c32", "-t1", f"-d{round(seconds)}s", f"http://127.0.0.1:{port}{PATH}"],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
    ).stdout
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if errors:
        raise RuntimeError(f"errors under load on port {port}:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="a checkout of HEAD before issue 10")
    parser.add_argument("--servers", nargs="+", choices=SERVERS, default=SERVERS, help="server rows to measure")
    parser.add_argument("--no-transport-rows", action="store_true", help="skip the --transport httpx row")
    parser.add_argument(
        "--serve", nargs=4, metavar=("VARIANT", "TRANSPORT", "OFFSET", "UPSTREAM"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.serve:
        variant, transport, offset, upstream = args.serve
        serve(variant, transport, int(offset), upstream)
        return 0
    if not shutil.which("wrk"):
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 1
    logs = Path(tempfile.mkdtemp(prefix="edge-options-"))
    processes: list[subprocess.Popen] = []

    def start(argv: list[str], cwd: Path = ROOT) -> None:
        processes.append(
            subprocess.Popen(
                argv,
                cwd=cwd,
                stdout=subprocess.DEVNULL,
                start_new_session=True,
                stderr=(logs / f"{len(processes)}.log").open("wb"),
            )
        )

    try:
        upstream_port = _free_offset() + 8080
        start([sys.executable, str(HERE / "upstream.py"), str(upstream_port)])
        upstream = f"http://127.0.0.1:{upstream_port}"
        _wait(upstream_port, processes[-1])
        rows: dict[str, int] = {}
        skipped: dict[str, str] = {}
        candidates = [(f"server: {variant}", variant, "aiohttp") for variant in SERVERS if variant in args.servers]
        if not args.no_transport_rows:
            candidates.append(("transport: httpx (under the guard)", "guard", "httpx"))
        for label, variant, transport in candidates:
            module = {"hypercorn": "hypercorn", "granian": "granian"}.get(variant)
            if module and not _importable(module):
                skipped[label] = f"{module} is not installed"
                continue
            offset = _free_offset()
            start([sys.executable, __file__, "--serve", variant, transport, str(offset), upstream])
            rows[label] = 8080 + offset
            _wait(rows[label], processes[-1])
        checkouts = {"naftiko serve (guard, own aiohttp transport)": ROOT}
        if args.baseline:
            checkouts["HEAD naftiko serve (httptools, httpx-aiohttp)"] = args.baseline
        for label, checkout in checkouts.items():
            offset = _free_offset()
            start(
                [
                    sys.executable,
                    "-m",
                    "naftiko_runtime",
                    "serve",
                    *map(str, sorted((checkout / "capabilities").glob("*.yaml"))),
                    "--port-offset",
                    str(offset),
                    *[f"--base-uri={ns}={upstream}" for ns in NAMESPACES],
                ],
                cwd=checkout,
            )
            rows[label] = 8080 + offset
            _wait(8080 + offset, processes[-1])
        samples: dict[str, list[float]] = {label: [] for label in rows}
        for _ in range(args.rounds):
            for label, port in rows.items():
                _wrk(port, 1)  # warm-up: pools, caches
                samples[label].append(_wrk(port, args.seconds))
        reference = statistics.median(next(iter(samples.values())))
        print(
            f"REST pass-through GET {PATH}, wrk -c32 -t1 -d{args.seconds:g}s, median of {args.rounds} rounds, "
            f"{os.cpu_count()} CPUs"
        )
        print(f"{'row':48} {'req/s':>8} {'vs first':>13}   samples")
        for label, values in samples.items():
            median = statistics.median(values)
            print(f"{label:48} {median:8.0f} {median / reference:12.3f}x   {', '.join(f'{v:.0f}' for v in values)}")
        for label, reason in skipped.items():
            print(f"{label:48} skipped: {reason}")
        return 0
    finally:
        for process in processes:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _importable(module: str) -> bool:
    return subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True).returncode == 0


def _wait(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while not _answers(port):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the server on port {port} did not answer (exit {process.poll()})")
        time.sleep(0.1)


if __name__ == "__main__":
    sys.exit(main())
