"""The performance harness (issue 5): one command, one table, every figure measured in the same run.

    python benchmarks/run.py            # full: medians of 3 runs of 5 s each, < 10 minutes
    python benchmarks/run.py --quick    # CI: each row once for ~1 s (no warm-up), tiny sizes, < 60 s

Everything runs on 127.0.0.1: a fast upstream, the reference proxies, and ``naftiko serve`` on
capability files generated into a temporary directory. Load comes from ``wrk`` (Debian's) when it
is installed, else from a bounded async client in this process. A row whose tool is missing is
skipped with the reason. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from naftiko_runtime.conformance.drivers import free_port

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import baseline_rows  # noqa: E402
import capgen  # noqa: E402
import edge_servers  # noqa: E402
import idle_conns  # noqa: E402
import startup as startup_row  # noqa: E402
from mcp_peers import PEERS  # noqa: E402
from startup import Startup  # noqa: E402

MCP_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


def mcp_call(tool: str) -> bytes:
    return json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": {}}}
    ).encode()


MCP_CALL = mcp_call("list-items")
FASTMCP_CALL = mcp_call("list_items")  # from_openapi names the tool after the operationId, '-' as '_'
CONNECTIONS = 32


# -- processes ------------------------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


def free_offset(bases: tuple[int, ...]) -> int:
    """A ``--port-offset`` under which every base port is free (for the Polytomic files' 8080/9090),
    tried from a random start: two harness runs at once would otherwise pick the same one."""
    offsets = range(20000, 40000, 7)
    start = random.randrange(len(offsets))
    for offset in (*offsets[start:], *offsets[:start]):
        if all(_port_free(base + offset) for base in bases):
            return offset
    raise RuntimeError("no free port offset")


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants (``--workers`` forks), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rpartition(")")[2].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid``'s process tree so far, every thread included."""
    total = 0
    for member in tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def memory_mb(pid: int, field_name: str) -> float:
    """``VmHWM`` (peak) or ``VmRSS`` summed over the process tree, in MB."""
    total = 0
    for member in tree(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith(field_name + ":"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


@dataclass
class Proc:
    name: str
    argv: list[str]
    log: Path
    env: dict[str, str] | None = None
    popen: subprocess.Popen | None = None
    started_at: float = 0.0

    def start(self) -> Proc:
        self.started_at = time.perf_counter()
        self.popen = subprocess.Popen(
            self.argv,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("wb"),
            env=self.env,
            cwd=ROOT,
            start_new_session=True,
        )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self) -> None:
        """SIGTERM to the process group we created (our own server and its workers), then SIGKILL."""
        if self.popen is None or self.popen.poll() is not None:
            return
        with _suppress():
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with _suppress():
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)

    def tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-1500:]
        except OSError:
            return ""


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        return kind is not None and issubclass(kind, (ProcessLookupError, PermissionError))


def http(
    url: str, body: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 5.0
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers or {}, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_answering(proc: Proc, urls: list[str], timeout: float) -> float:
    """Seconds from the process start until every URL answers HTTP (any status)."""
    pending = list(urls)
    deadline = proc.started_at + timeout
    while pending:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}: {proc.tail()}")
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{proc.name} did not answer within {timeout:g} s: {proc.tail()}")
        try:
            http(pending[0], timeout=1.0)
            pending.pop(0)
            continue
        except (OSError, urllib.error.URLError):
            time.sleep(0.01)
    return time.perf_counter() - proc.started_at


# -- load -----------------------------------------------------------------------------------


@dataclass
class Load:
    url: str
    """The base URL; ``paths`` (if any) are chosen at random per request."""
    method: str = "GET"
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    route_count: int = 0
    """> 0: GET ``/v1/r{i}/items/{id}`` with ``i`` random in ``[0, route_count)``."""


@dataclass
class Sample:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_us: float | None = None
    """CPU time of the server's process tree per request (user + system, all threads), which a
    machine shared with other work disturbs far less than req/s (issue 22)."""


def lua_script(load: Load, directory: Path) -> Path | None:
    lines = []
    if load.method != "GET":
        lines.append(f'wrk.method = "{load.method}"')
    if load.body is not None:
        lines.append("wrk.body = " + json.dumps(load.body.decode()))
    for name, value in load.headers.items():
        lines.append(f'wrk.headers["{name}"] = "{value}"')
    if load.route_count:
        lines.append("math.randomseed(42)")
        lines.append("request = function()")
        lines.append(f'  return wrk.format(nil, "/v1/r" .. math.random(0, {load.route_count - 1}) .. "/items/42")')
        lines.append("end")
    if not lines:
        return None
    path = directory / f"load-{abs(hash((load.url, load.route_count)))}.lua"
    path.write_text("\n".join(lines) + "\n")
    return path


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    if not match:
        raise ValueError(f"unreadable wrk latency {text!r}")
    return float(match.group(1)) * UNITS[match.group(2)]


def run_wrk(wrk: str, load: Load, seconds: float, directory: Path) -> Sample:
    script = lua_script(load, directory)
    argv = [wrk, f"-c{CONNECTIONS}", "-t1", f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "5s"]
    if script:
        argv += ["-s", str(script)]
    out = subprocess.run(argv + [load.url], capture_output=True, text=True, timeout=seconds + 30).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    if not (rps and p50 and p99):
        raise RuntimeError(f"unreadable wrk output:\n{out}")
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non2xx:
        errors += int(non2xx.group(1))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    return Sample(float(rps.group(1)), _ms(p50.group(1)), _ms(p99.group(1)), errors)


def run_async_client(load: Load, seconds: float) -> Sample:
    """The fallback load: ``CONNECTIONS`` keep-alive connections in a bounded aiohttp loop."""
    import random

    import aiohttp

    async def main() -> Sample:
        latencies: list[float] = []
        errors = 0
        deadline = time.perf_counter() + seconds
        rng = random.Random(42)
        connector = aiohttp.TCPConnector(limit=CONNECTIONS)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def worker() -> None:
                nonlocal errors
                while time.perf_counter() < deadline:
                    url = load.url
                    if load.route_count:
                        url = load.url.rstrip("/") + f"/v1/r{rng.randrange(load.route_count)}/items/42"
                    began = time.perf_counter()
                    try:
                        async with session.request(load.method, url, data=load.body, headers=load.headers) as r:
                            await r.read()
                            if r.status >= 400:
                                errors += 1
                    except aiohttp.ClientError:
                        errors += 1
                    latencies.append(time.perf_counter() - began)

            began = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
            elapsed = time.perf_counter() - began
        latencies.sort()
        pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
        return Sample(len(latencies) / elapsed, pick(0.50), pick(0.99), errors)

    return asyncio.run(main())


# -- rows -----------------------------------------------------------------------------------

POLICIES = """\
# Row 3d (issue 15): every policy on, none triggered by a healthy upstream.
[upstream.retry]
attempts = 3
[upstream.breaker]
failures = 50
[upstream.bulkhead]
max_concurrent = 200
[rate_limit]
requests = 1000000
identity = "client"
"""


MCP_PACKAGE_PATH = """\
# Row 5b (issue 22, D141): every MCP request through the mcp package's stateless transport, as
# before the short path: the same run measures what the short path saves.
[mcp]
short_path = false
"""


def nginx_argv(nginx: str | None, work: Path, port: int, upstream_port: int) -> list[str]:
    """Row 2b: Debian's nginx as a reverse proxy in front of the same upstream, one worker (as one
    naftiko process), keepalive to the upstream: the ceiling of a proxy on this machine."""
    conf = work / "nginx.conf"
    conf.write_text(
        f"""daemon off;
master_process off;
worker_processes 1;
error_log {work}/nginx-error.log;
pid {work}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {work}/nginx-body;
    proxy_temp_path {work}/nginx-proxy;
    fastcgi_temp_path {work}/nginx-fastcgi;
    uwsgi_temp_path {work}/nginx-uwsgi;
    scgi_temp_path {work}/nginx-scgi;
    upstream up {{ server 127.0.0.1:{upstream_port}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""
    )
    return [nginx or "nginx", "-e", str(work / "nginx-error.log"), "-p", str(work), "-c", str(conf)]


@dataclass
class Row:
    key: str
    label: str
    load: Load | None = None
    proc: Proc | None = None
    reference: str | None = None
    """The row this one's ratio is taken against."""
    samples: list[Sample] = field(default_factory=list)
    skipped: str | None = None
    peak_mb: float | None = None
    check: Callable[[], None] | None = None

    def median(self, attribute: str) -> float:
        return statistics.median(getattr(s, attribute) for s in self.samples)


def naftiko_argv(files: list[Path], *extra: str) -> list[str]:
    return [sys.executable, "-m", "naftiko_runtime", "serve", *map(str, files), "--log-level", "WARNING", *extra]


def check_json(
    url: str,
    predicate: Callable[[Any], bool],
    what: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Callable[[], None]:
    def check() -> None:
        status, payload = http(url, body, headers)
        document = json.loads(payload) if payload else None
        if status != 200 or not predicate(document):
            raise RuntimeError(f"{what}: unexpected answer {status} {payload[:300]!r}")

    return check


def mcp_ok(document: Any) -> bool:
    result = (document or {}).get("result") or {}
    text = "".join(c.get("text", "") for c in result.get("content", []))
    return result.get("isError") is False and "Nightly sync" in text


def projected_ok(document: Any) -> bool:
    return (
        isinstance(document, list)
        and len(document) == 6
        and all(sorted(item) == sorted(capgen.PROJECTED_FIELDS) for item in document)
    )


def has_workers_option() -> bool:
    help_text = subprocess.run(
        [sys.executable, "-m", "naftiko_runtime", "serve", "--help"], capture_output=True, text=True, cwd=ROOT
    ).stdout
    return "--workers" in help_text


def find_wrk(setup: bool) -> str | None:
    wrk = shutil.which("wrk")
    if wrk is None and setup and os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk (apt-get install -y wrk) ...", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], capture_output=True, timeout=300)
        wrk = shutil.which("wrk")
    return wrk


# -- the run --------------------------------------------------------------------------------


@dataclass
class Plan:
    quick: bool
    runs: int
    seconds: float
    route_counts: tuple[int, ...]
    startup_files: tuple[int, ...]
    startup_timeout: float
    warmup: float
    """Seconds of load before a row's measured runs (pools, first-call caches); none in ``--quick``,
    whose figures mean nothing: each row's warm-up was a second more of two busy cores (D147)."""


def make_plan(args: argparse.Namespace) -> Plan:
    if args.quick:
        return Plan(True, 1, 1.0, (10, 100), (2, 5), 60.0, 0.0)
    startup_files = tuple(int(n) for n in args.startup_files.split(","))
    return Plan(False, args.runs, args.seconds, (10, 1000, 10000), startup_files, 240.0, 1.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="each row once for ~1 s (no warm-up) with tiny sizes (CI)")
    parser.add_argument("--runs", type=int, default=3, help="runs per row in full mode (median reported)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per load run in full mode")
    parser.add_argument(
        "--setup", action="store_true", help="install what is missing first: wrk (apt-get) and the FastMCP venvs"
    )
    parser.add_argument("--only", default="", help="comma-separated row keys to run (debugging)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--startup-files", default="2,21,1000", help="row 8's file counts in full mode")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, generated files)")
    args = parser.parse_args(argv)
    plan = make_plan(args)
    began = time.perf_counter()
    setup = args.setup or not plan.quick
    wrk = find_wrk(setup)
    wanted = [p for p in PEERS if (p.quick or not plan.quick) and (not args.only or p.key in args.only.split(","))]
    peers = [(peer, *peer.locate(setup)) for peer in wanted]
    bench_python, fastmcp_info = peers[0][1:] if peers else (None, "")
    workers = has_workers_option()
    only = set(filter(None, args.only.split(",")))

    work = Path(tempfile.mkdtemp(prefix="naftiko-bench-"))
    env = {**os.environ, "POLYTOMIC_API_KEY": "bench-key", "PYTHONUNBUFFERED": "1"}
    procs: list[Proc] = []
    rows: list[Row] = []
    startups: list[Startup] = []
    fleet_result = None
    idle: idle_conns.IdleResult | None = None
    try:
        ports = iter(free_ports(30))
        up_port = next(ports)
        upstream_url = f"http://127.0.0.1:{up_port}"
        upstream = Proc(
            "upstream", [sys.executable, str(HERE / "upstream.py"), str(up_port)], work / "upstream.log", env
        )
        procs.append(upstream.start())
        wait_answering(upstream, [upstream_url + "/items"], 20)

        def add(
            key: str,
            label: str,
            *,
            reference: str | None = None,
            proc: Proc | None = None,
            load: Load | None = None,
            check: Callable[[], None] | None = None,
            skipped: str | None = None,
        ) -> None:
            if only and key not in only and key != "upstream":
                return
            rows.append(Row(key, label, load, proc, reference, skipped=skipped, check=check))

        add("upstream", "1. upstream alone (2 kB JSON list)", load=Load(upstream_url + "/items"))

        port = next(ports)
        add(
            "aiohttp",
            "2. Starlette + aiohttp minimal proxy",
            reference="upstream",
            proc=Proc(
                "aiohttp-proxy",
                [sys.executable, str(HERE / "aiohttp_proxy.py"), str(port), upstream_url],
                work / "aiohttp.log",
                env,
            ),
            load=Load(f"http://127.0.0.1:{port}/items"),
            check=check_json(f"http://127.0.0.1:{port}/items", lambda d: len(d["data"]) == 6, "aiohttp proxy"),
        )

        port = next(ports)
        nginx = shutil.which("nginx") or next((c for c in ("/usr/sbin/nginx",) if Path(c).exists()), None)
        add(
            "nginx",
            "2b. nginx reverse proxy (1 worker, upstream keepalive)",
            reference="aiohttp",
            proc=Proc("nginx", nginx_argv(nginx, work, port, up_port), work / "nginx.log", env) if nginx else None,
            load=Load(f"http://127.0.0.1:{port}/items"),
            check=check_json(f"http://127.0.0.1:{port}/items", lambda d: len(d["data"]) == 6, "nginx"),
            skipped=None if nginx else "nginx not installed (apt-get install nginx)",
        )

        policies = work / "policies.toml"
        policies.write_text(POLICIES)
        for key, label, mapping, reference, predicate, *extra in (
            ("rest", "3. naftiko REST pass-through ($.)", "pass", "aiohttp", lambda d: len(d["data"]) == 6),
            (
                "policies",
                "3d. naftiko REST pass-through, every resilience policy on",
                "pass",
                "rest",
                lambda d: len(d["data"]) == 6,
                "--config",
                str(policies),
            ),
            ("project", "4. naftiko REST projecting (5 fields)", "project", "aiohttp", projected_ok),
        ):
            port = next(ports)
            path = work / f"{key}.yaml"
            path.write_text(capgen.single(upstream_url, port, adapter="rest", mapping=mapping))
            add(
                key,
                label,
                reference=reference,
                proc=Proc(f"naftiko-{key}", naftiko_argv([path], *extra), work / f"{key}.log", env),
                load=Load(f"http://127.0.0.1:{port}/items"),
                check=check_json(f"http://127.0.0.1:{port}/items", predicate, label),
            )

        for key, label in edge_servers.ROWS:  # issue 22: the edge's candidates, row 3's file
            port = next(ports)
            path = work / f"{key}.yaml"
            path.write_text(capgen.single(upstream_url, port, adapter="rest"))
            argv = [sys.executable, str(HERE / "edge_servers.py"), key, str(path), str(port)]
            add(
                key,
                label,
                reference="aiohttp",
                proc=Proc(f"edge-{key}", argv, work / f"{key}.log", env),
                load=Load(f"http://127.0.0.1:{port}/items"),
                check=check_json(f"http://127.0.0.1:{port}/items", lambda d: len(d["data"]) == 6, label),
                skipped="full mode only" if plan.quick else edge_servers.missing(key),
            )

        for key, label, traced in (
            ("metrics", "3b. naftiko REST pass-through, Prometheus metrics", False),
            ("observed", "3c. naftiko REST pass-through, metrics + traces (OTLP)", True),
        ):
            port = next(ports)
            path = work / f"{key}.yaml"
            path.write_text(capgen.observed(upstream_url, port, next(ports), traced=traced))
            add(
                key,
                label,
                reference="rest",
                proc=Proc(f"naftiko-{key}", naftiko_argv([path]), work / f"{key}.log", env),
                load=Load(f"http://127.0.0.1:{port}/items"),
                check=check_json(f"http://127.0.0.1:{port}/items", lambda d: len(d["data"]) == 6, label),
            )

        for key, label, like in baseline_rows.ROWS:  # 3b', 3c', 3d': the before of issue 22 item 2
            port = next(ports)
            path = work / f"{key}.yaml"
            path.write_text(baseline_rows.capability(like, upstream_url, port, next(ports)))
            add(
                key,
                label,
                reference="baseline",
                proc=Proc(f"naftiko-{key}", baseline_rows.argv(like, path, policies), work / f"{key}.log", env),
                load=Load(f"http://127.0.0.1:{port}/items"),
                check=check_json(f"http://127.0.0.1:{port}/items", lambda d: len(d["data"]) == 6, label),
                skipped=edge_servers.missing("baseline"),
            )

        port = next(ports)
        path = work / "steps2.yaml"
        path.write_text(capgen.two_steps(upstream_url, port))
        add(
            "steps2",
            "10. naftiko REST two call steps (orchestrated)",
            reference="rest",
            proc=Proc("naftiko-steps2", naftiko_argv([path]), work / "steps2.log", env),
            load=Load(f"http://127.0.0.1:{port}/items"),
            check=check_json(f"http://127.0.0.1:{port}/items", lambda d: len(d["items"]) == 6, "two steps"),
        )

        package_path = work / "mcp-package.toml"
        package_path.write_text(MCP_PACKAGE_PATH)
        for key, label, extra in (
            ("mcp", "5. naftiko MCP tools/call", ()),
            ("mcp-package", "5b. naftiko MCP tools/call, the mcp package's path", ("--config", str(package_path))),
        ):
            port = next(ports)
            path = work / f"{key}.yaml"
            path.write_text(capgen.single(upstream_url, port, adapter="mcp"))
            mcp_url = f"http://127.0.0.1:{port}/mcp"
            add(
                key,
                label,
                reference="fastmcp",
                proc=Proc(f"naftiko-{key}", naftiko_argv([path], *extra), work / f"{key}.log", env),
                load=Load(mcp_url, "POST", MCP_CALL, MCP_HEADERS),
                check=check_json(mcp_url, mcp_ok, label, MCP_CALL, MCP_HEADERS),
            )

        for peer, peer_python, version in peers:  # rows 6 and 6b (benchmarks/mcp_peers.py)
            port = next(ports)
            peer_url = f"http://127.0.0.1:{port}/mcp"
            add(
                peer.key,
                peer.label(version if peer_python else peer.major + "x"),
                proc=Proc(peer.key, peer.argv(peer_python, port, upstream_url), work / f"{peer.key}.log", env)
                if peer_python
                else None,
                load=Load(peer_url, "POST", FASTMCP_CALL, MCP_HEADERS),
                check=check_json(peer_url, mcp_ok, peer.label(version), FASTMCP_CALL, MCP_HEADERS),
                skipped=None if peer_python else version,
            )

        for count in plan.route_counts:
            port = next(ports)
            path = work / f"routes-{count}.yaml"
            path.write_text(capgen.many_routes(upstream_url, port, count))
            base = f"http://127.0.0.1:{port}"
            add(
                f"routes{count}",
                f"7. naftiko {count:,} routes (random paths)",
                reference=None if count == plan.route_counts[0] else f"routes{plan.route_counts[0]}",
                proc=Proc(f"naftiko-routes-{count}", naftiko_argv([path]), work / f"routes-{count}.log", env),
                load=Load(base, route_count=count),
                check=check_json(f"{base}/v1/r{count - 1}/items/42", lambda d: len(d["data"]) == 6, f"{count} routes"),
            )

        port = next(ports)
        path = work / "workers.yaml"
        path.write_text(capgen.single(upstream_url, port, adapter="rest"))
        add(
            "workers2",
            "9. naftiko REST pass-through, --workers 2",
            reference="rest",
            proc=Proc("naftiko-workers2", naftiko_argv([path], "--workers", "2"), work / "workers2.log", env)
            if workers
            else None,
            load=Load(f"http://127.0.0.1:{port}/items"),
            check=check_json(f"http://127.0.0.1:{port}/items", lambda d: len(d["data"]) == 6, "--workers 2"),
            skipped=None if workers else "`naftiko serve --help` has no --workers",
        )

        import fleet  # here, not above: it imports this module's helpers

        fleet_row = fleet.FleetRow(work, env, upstream_url) if not only or "fleet" in only else None
        procs += fleet_row.start() if fleet_row else []
        # Start every server at once (they idle while others are measured), then check each answers.
        for row in rows:
            if row.proc and not row.skipped:
                procs.append(row.proc.start())
        for row in rows:
            if row.proc and not row.skipped:
                try:
                    target = row.load.url if not row.load.route_count else row.load.url + "/v1/r0/items/42"
                    wait_answering(row.proc, [target], plan.startup_timeout)
                    if row.check:
                        row.check()
                except RuntimeError as exc:
                    row.skipped = f"failed to start or answer: {str(exc)[:300]}"
                    row.proc.stop()

        measure = (lambda load, seconds: run_wrk(wrk, load, seconds, work)) if wrk else run_async_client
        live = [row for row in rows if not row.skipped]
        for row in live if plan.warmup else []:  # warm-up: connection pools, first-call caches
            measure(row.load, plan.warmup)
        for run in range(plan.runs):  # round robin, so that drift on a noisy machine hits every row alike
            for row in live:
                pid = row.proc.pid if row.proc else upstream.pid
                cpu = cpu_seconds(pid)
                row.samples.append(measure(row.load, plan.seconds))
                row.samples[-1].cpu_us = (cpu_seconds(pid) - cpu) * 1e6 / max(1.0, row.samples[-1].rps * plan.seconds)
                print(
                    f"  run {run + 1}/{plan.runs} {row.key}: {row.samples[-1].rps:,.0f} req/s",
                    file=sys.stderr,
                    flush=True,
                )
        for row in rows:
            if row.proc and row.proc.alive():
                row.peak_mb = memory_mb(row.proc.pid, "VmHWM")
            elif row.key == "upstream":
                row.peak_mb = memory_mb(upstream.pid, "VmHWM")
        upstream_peak = memory_mb(upstream.pid, "VmHWM")
        for row in rows:
            if row.key == "upstream":
                row.peak_mb = upstream_peak
            if row.proc:
                row.proc.stop()

        if fleet_row:  # before the start-ups, which time a server with nothing else running
            fleet_result = fleet_row.measure(plan, measure)
        if not only or "idle10k" in only:
            idle = measure_idle(plan, work, env, upstream_url, wrk)
        if not only or "startup" in only:
            startups = measure_startups(plan, work, env, upstream_url)
    finally:
        for proc in procs:
            proc.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    elapsed = time.perf_counter() - began
    report = render(rows, startups, plan, wrk, bench_python, fastmcp_info, elapsed, idle)
    print(report + ("\n".join(["", *fleet.render(fleet_result, plan.quick)]) if fleet_result else ""))
    if args.json:
        figures = to_json(rows, startups, plan, elapsed)
        args.json.write_text(
            json.dumps({**figures, "fleet": fleet.to_json(fleet_result) if fleet_result else None}, indent=2)
        )
    broken = [row for row in rows if row.skipped and row.skipped.startswith("failed")]
    broken += [fleet_result] if fleet_result and (fleet_result.skipped or "").startswith("failed") else []
    return 1 if broken else 0


def measure_idle(
    plan: Plan, work: Path, env: dict[str, str], upstream_url: str, wrk: str | None
) -> idle_conns.IdleResult:
    """Row 12 (issue 22): 10,000 idle keep-alive connections on row 3's file (200 in ``--quick``)."""
    result = idle_conns.IdleResult(200 if plan.quick else 10_000)
    if wrk is None:
        result.skipped = "wrk is not installed (the row compares wrk's p99)"
        return result
    procs, loads, ports = [], [], []
    for name in ("held", "twin"):
        port = free_port()
        ports.append(port)
        path = work / f"idle-{name}.yaml"
        path.write_text(capgen.single(upstream_url, port, adapter="rest"))
        argv = naftiko_argv([path], *idle_conns.server_argv_options(result.count))
        procs.append(Proc(f"naftiko-idle-{name}", argv, work / f"idle-{name}.log", env).start())
        loads.append(Load(f"http://127.0.0.1:{port}/items"))

    def one_load(load: Load) -> Callable[[], tuple[float, float]]:
        def run() -> tuple[float, float]:
            sample = run_wrk(wrk, load, plan.seconds, work)
            return sample.rps, sample.p99_ms

        return run

    try:
        for proc, load in zip(procs, loads, strict=True):
            wait_answering(proc, [load.url], plan.startup_timeout)
            if plan.warmup:
                run_wrk(wrk, load, plan.warmup, work)  # warm-up: the upstream pool
        return idle_conns.measure(
            result.count,
            plan.runs,
            ports[0],
            "/items",
            one_load(loads[0]),
            one_load(loads[1]),
            lambda: memory_mb(procs[0].pid, "VmRSS"),
        )
    except (RuntimeError, OSError) as exc:
        result.skipped = f"failed: {str(exc)[:300]}"
        return result
    finally:
        for proc in procs:
            proc.stop()


def measure_startups(plan: Plan, work: Path, env: dict[str, str], upstream: str) -> list[Startup]:
    """Row 8 (``startup.py``): first byte and ready-and-serving of ``naftiko serve`` on N files."""

    harness = startup_row.Harness(
        launch=lambda name, argv, log, extra: Proc(name, argv, log, {**env, **extra}).start(),
        http=http,
        rss=lambda pid: memory_mb(pid, "VmRSS"),
        offset=lambda: free_offset((8080, 9090)),
        argv=naftiko_argv,
    )
    return startup_row.measure(plan.startup_files, plan.runs, plan.startup_timeout, work, upstream, harness)


# -- the table ------------------------------------------------------------------------------


def _ratio(rows: dict[str, Row], row: Row) -> float | None:
    reference = rows.get(row.reference or "")
    if reference is None or not row.samples or not reference.samples or not reference.median("rps"):
        return None
    return row.median("rps") / reference.median("rps")


def render(
    rows: list[Row],
    startups: list[Startup],
    plan: Plan,
    wrk: str | None,
    bench_python: str | None,
    fastmcp_info: str,
    elapsed: float,
    idle: idle_conns.IdleResult | None = None,
) -> str:
    by_key = {row.key: row for row in rows}
    load = (
        f"wrk -c{CONNECTIONS} -t1 -d{round(plan.seconds)}s --latency"
        if wrk
        else f"bounded aiohttp client, {CONNECTIONS} connections, {plan.seconds:g} s (wrk not installed)"
    )
    mode = (
        "quick (1 run each, tiny sizes: figures are not goals)" if plan.quick else f"full (median of {plan.runs} runs)"
    )
    out = [f"naftiko-runtime benchmarks — {mode}; load: {load}; {os.cpu_count()} cores", ""]
    out.append("| row | req/s | p50 ms | p99 ms | peak RSS MB | ratio | vs | errors |")
    out.append("|---|---:|---:|---:|---:|---:|---|---:|")
    for row in rows:
        if row.skipped or not row.samples:
            out.append(f"| {row.label} | skipped: {row.skipped or 'no sample'} | | | | | | |")
            continue
        ratio = _ratio(by_key, row)
        out.append(
            f"| {row.label} | {row.median('rps'):,.0f} | {row.median('p50_ms'):.2f} | {row.median('p99_ms'):.2f} "
            f"| {row.peak_mb or 0:.0f} | {'' if ratio is None else f'{ratio:.2f}x'} "
            f"| {row.reference or ''} | {sum(s.errors for s in row.samples)} |"
        )
    if startups:
        out += startup_row.table(startups)
    out += edge_servers.render_cpu(rows)
    if idle is not None:
        out += idle_conns.render(idle)
    out += ["", "Goals (ratios from this run):"]
    for text, verdict in goals(by_key, startups, plan):
        out.append(f"- [{verdict}] {text}")
    if idle is not None:
        for text, met in idle_conns.goals(idle):
            out.append(f"- [{_verdict(met, plan)}] {text}")
    out.append(f"\nwhole run: {elapsed:.0f} s")
    return "\n".join(out)


def _verdict(ok: bool | None, plan: Plan) -> str:
    if ok is None:
        return "not measured"
    return ("met" if ok else "NOT met") + (" (quick)" if plan.quick else "")


def goals(rows: dict[str, Row], startups: list[Startup], plan: Plan) -> list[tuple[str, str]]:
    def ratio(key: str) -> float | None:
        row = rows.get(key)
        return _ratio(rows, row) if row and row.samples else None

    def verdict(ok: bool | None) -> str:
        return _verdict(ok, plan)

    def fmt(value: float | None, unit: str = "x") -> str:
        return "n/a" if value is None else f"{value:.2f}{unit}"

    results = []
    for key, target, text in (
        ("rest", 2.0, "REST pass-through >= 2x aiohttp proxy (issue 22; issue 5 asked 0.8x)"),
        ("project", 0.75, "REST projecting >= 0.75x aiohttp proxy"),
        ("mcp", 5.0, "MCP tools/call >= 5x FastMCP 4.x from_openapi (issue 22)"),
    ):
        value = ratio(key)
        results.append((f"{text}: {fmt(value)}", verdict(None if value is None else value >= target)))
    value = ratio("policies")
    results.append(
        (
            f"REST pass-through with every resilience policy on within 5% of off: {fmt(value)}",
            verdict(None if value is None else value >= 0.95),
        )
    )
    rest, nginx = rows.get("rest"), rows.get("nginx")
    if rest and nginx and rest.samples and nginx.samples:
        versus = rest.median("rps") / nginx.median("rps")
        results.append((f"REST pass-through vs nginx (the ceiling, no goal): {versus:.2f}x", "measured"))
    big = f"routes{plan.route_counts[-1]}"
    value = ratio(big)
    results.append(
        (
            f"{plan.route_counts[-1]:,} routes >= 0.9x {plan.route_counts[0]} routes: {fmt(value)}",
            verdict(None if value is None else value >= 0.9),
        )
    )
    results += [(text, verdict(ok)) for text, ok in startup_row.goals(startups, fmt)]
    value = ratio("steps2")
    results.append(
        (
            f"two call steps within 2.2x the time of one call (>= 0.45x its req/s): {fmt(value)}",
            verdict(None if value is None else value >= 1 / 2.2),
        )
    )
    for key, text in (("metrics", "metrics"), ("observed", "metrics + traces")):
        value = ratio(key)
        results.append(
            (f"{text} cost < 10% of REST (>= 0.9x): {fmt(value)}", verdict(None if value is None else value >= 0.9))
        )
    value = ratio("workers2")
    results.append((f"--workers 2 >= 1.6x one worker: {fmt(value)}", verdict(None if value is None else value >= 1.6)))
    return results


def to_json(rows: list[Row], startups: list[Startup], plan: Plan, elapsed: float) -> dict[str, Any]:
    return {
        "quick": plan.quick,
        "runs": plan.runs,
        "seconds": plan.seconds,
        "elapsed": elapsed,
        "machine": {"nproc": os.cpu_count(), "uname": " ".join(platform.uname()), "python": sys.version},
        "rows": [
            {
                "key": r.key,
                "label": r.label,
                "skipped": r.skipped,
                "peak_mb": r.peak_mb,
                "reference": r.reference,
                "samples": [vars(s) for s in r.samples],
            }
            for r in rows
        ],
        "startups": [vars(s) for s in startups],
    }


if __name__ == "__main__":
    sys.exit(main())
