"""Issue 14, part 6: two `naftiko serve` instances behind a real haproxy, one of them killed mid-run.

REST calls and MCP sessions run concurrently through the balancer (round robin: any request of a
session may land on either instance, which stateless MCP allows, D60). The upstream tells the
instances apart by a path prefix each one is given (`--base-uri NS=URL/a`, D18), so the test
knows what was in flight on the instance when it is SIGKILLed, and can check that:

- no MCP session fails: a request refused by the dead instance, or left unanswered by it, is
  replayed on the other one (`retry-on conn-failure empty-response`, `option redispatch`, and
  `option http-buffer-request`, without which haproxy 2.6 cannot replay a request it has streamed);
- the only REST calls lost are the ones in flight on the dead instance at the kill: the REST
  backend retries connection failures only, never a request an instance may have acted on.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field

import httpx
import pytest
from mcp import Client
from polytomic_cases import BODY, SYNC_ID
from support import API_KEY, CAPABILITIES, Canned, Recorded
from test_serve_process import start, wait_listening

from naftiko_runtime.conformance.drivers import free_port

HAPROXY = shutil.which("haproxy")
pytestmark = pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed (Debian: apt-get install haproxy)")
NAMESPACES = ("polytomic-subpackage-modelsync", "polytomic-subpackage-bulksync")
UPSTREAM_DELAY = 0.03
"""Each upstream answer takes this long, so that calls are in flight when an instance dies."""
REST_WORKERS, MCP_WORKERS = 6, 4

HAPROXY_CONFIG = """\
global
    maxconn 2000

defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout check 1s
    retries 3
    option redispatch 1
    # Alive is any HTTP answer but a 5xx: `GET /` is a 404 problem (there is no health route yet).
    option httpchk GET /
    http-check expect rstatus ^[234]
    default-server check inter 250ms fall 1 rise 1

frontend rest
    bind 127.0.0.1:{rest_port}
    default_backend rest

frontend mcp
    bind 127.0.0.1:{mcp_port}
    default_backend mcp

backend rest
    balance roundrobin
    # Only requests that never reached an instance are retried: a POST may have been acted on.
    retry-on conn-failure
{rest_servers}

backend mcp
    balance roundrobin
    # MCP requests are replayed when an instance dies before answering. Safe for every MCP message
    # but tools/call of a non-idempotent tool, which then runs at least once (it may run twice).
    # A replay needs the whole request in haproxy's buffer before it is forwarded.
    retry-on conn-failure empty-response
    option http-buffer-request
{mcp_servers}
"""


def haproxy_config(rest_port: int, mcp_port: int, offsets: dict[str, int]) -> str:
    def servers(port: int) -> str:
        return "\n".join(f"    server {name} 127.0.0.1:{port + offset}" for name, offset in offsets.items())

    return HAPROXY_CONFIG.format(
        rest_port=rest_port, mcp_port=mcp_port, rest_servers=servers(8080), mcp_servers=servers(9090)
    )


class InFlight:
    """The upstream's view: which instance (``a``/``b``) sent what, and what is being answered now."""

    MCP_PATHS = ("/api/syncs", f"/api/syncs/{SYNC_ID}/status")
    """The MCP sessions call list-syncs and get-sync-status; the REST load calls get-sync and create."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active: dict[tuple[str, str], int] = {}
        self.served: dict[str, int] = {"a": 0, "b": 0}

    @classmethod
    def origin(cls, request: Recorded) -> tuple[str, str]:
        instance, _, path = request.path[1:].partition("/")
        kind = "mcp" if request.method == "GET" and "/" + path in cls.MCP_PATHS else "rest"
        return instance, kind

    def __call__(self, request: Recorded) -> Canned:
        key = self.origin(request)
        with self.lock:
            self.active[key] = self.active.get(key, 0) + 1
            self.served[key[0]] += 1
        try:
            time.sleep(UPSTREAM_DELAY)
        finally:
            with self.lock:
                self.active[key] -= 1
        return Canned(200, b'{"data": {}}')

    def now(self, instance: str, kind: str) -> int:
        with self.lock:
            return self.active.get((instance, kind), 0)


@dataclass
class Tally:
    rest: list[tuple[float, float, bool]] = field(default_factory=list)
    """(start, end, succeeded) of every REST call."""
    mcp_sessions: int = 0
    mcp_failures: list[str] = field(default_factory=list)


async def rest_worker(url: str, tally: Tally, stop: asyncio.Event, n: int) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=10, headers={"Authorization": "Bearer caller"}) as client:
        i = 0
        while not stop.is_set():
            i += 1
            started = time.monotonic()
            try:
                if (i + n) % 3:
                    response = await client.get(f"/v1/api/syncs/{SYNC_ID}")
                else:
                    response = await client.post("/v1/api/syncs", json=BODY)
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            tally.rest.append((started, time.monotonic(), ok))


async def mcp_worker(url: str, tally: Tally, stop: asyncio.Event) -> None:
    """One MCP session after another: initialize, tools/list, two tools/call."""
    while not stop.is_set():
        try:
            async with Client(url) as client:
                tools = (await client.list_tools()).tools
                assert len(tools) == 23, len(tools)
                for name, arguments in (("list-syncs", {"limit": 5}), ("get-sync-status", {"id": SYNC_ID})):
                    result = await client.call_tool(name, arguments)
                    assert result.is_error is False, result.content
            tally.mcp_sessions += 1
        except Exception as exc:
            tally.mcp_sessions += 1
            tally.mcp_failures.append(repr(exc))


def wait_both_up(haproxy: subprocess.Popen, *ports: int, timeout: float = 30) -> None:
    """haproxy answers 503 until its first health checks pass: wait for answers from the instances."""
    deadline = time.monotonic() + timeout
    for port in ports:
        answered = 0
        while answered < 4:  # round robin: two answers from each instance in a row
            assert haproxy.poll() is None and time.monotonic() < deadline, "haproxy never saw both instances up"
            try:  # an instance's first answer is slow (over 1 s here): a timeout is "not yet"
                status = httpx.get(f"http://127.0.0.1:{port}/", timeout=10).status_code
            except httpx.TimeoutException:
                status = None
            answered = answered + 1 if status == 404 else 0
            time.sleep(0.02 if status == 404 else 0.1)


@pytest.fixture
def cluster(tmp_path, upstream):
    """Instances ``a`` and ``b`` of the Polytomic files, and haproxy in front of both."""
    processes: dict[str, subprocess.Popen] = {}
    offsets: dict[str, int] = {}
    haproxy = None
    try:
        for name in ("a", "b"):
            base_uris = [f"--base-uri={ns}={upstream.url}/{name}" for ns in NAMESPACES]
            processes[name], offsets[name] = start(
                *base_uris, *map(str, CAPABILITIES), env={"POLYTOMIC_API_KEY": API_KEY}
            )
        for name, process in processes.items():
            wait_listening(process, 8080 + offsets[name])
            wait_listening(process, 9090 + offsets[name])
        rest_port, mcp_port = free_port(), free_port()
        config = tmp_path / "haproxy.cfg"
        config.write_text(haproxy_config(rest_port, mcp_port, offsets), encoding="utf-8")
        haproxy = subprocess.Popen(
            [HAPROXY, "-db", "-f", str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        wait_listening(haproxy, rest_port)
        wait_listening(haproxy, mcp_port)
        wait_both_up(haproxy, rest_port, mcp_port)
        yield processes, f"http://127.0.0.1:{rest_port}", f"http://127.0.0.1:{mcp_port}/mcp"
    finally:
        for process in [*processes.values(), haproxy]:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


async def test_killing_one_instance_loses_only_its_in_flight_rest_calls_and_no_mcp_session(
    cluster, upstream, record_property
):
    processes, rest_url, mcp_url = cluster
    in_flight = InFlight()
    upstream.reset(in_flight)
    tally, stop = Tally(), asyncio.Event()
    workers = [asyncio.create_task(rest_worker(rest_url, tally, stop, n)) for n in range(REST_WORKERS)]
    workers += [asyncio.create_task(mcp_worker(mcp_url, tally, stop)) for _ in range(MCP_WORKERS)]
    try:
        deadline = time.monotonic() + 20
        # Warm up through both instances, then kill `a` while it has REST and MCP calls in flight.
        while min(in_flight.served.values()) < 50 or not (in_flight.now("a", "rest") and in_flight.now("a", "mcp")):
            assert time.monotonic() < deadline, f"no moment with both kinds in flight on a: {in_flight.served}"
            assert not any(w.done() for w in workers), [w.exception() for w in workers if w.done()]
            await asyncio.sleep(0.001)
        os.kill(processes["a"].pid, signal.SIGKILL)
        killed_at = time.monotonic()
        rest_on_a, mcp_on_a = in_flight.now("a", "rest"), in_flight.now("a", "mcp")
        # The kernel closes the instance's sockets when it exits, shortly after the signal.
        await asyncio.to_thread(processes["a"].wait, 10)
        dead_at = time.monotonic()
        await asyncio.sleep(2.0)  # long enough for haproxy to mark `a` down and for many sessions on `b`
    finally:
        stop.set()
        await asyncio.gather(*workers, return_exceptions=True)

    lost = [(start, end) for start, end, ok in tally.rest if not ok]
    in_flight_at_death = [(start, end) for start, end, _ in tally.rest if start < dead_at and end > killed_at]
    after_death = [ok for start, _, ok in tally.rest if start > dead_at]
    report = {
        "rest_calls": len(tally.rest),
        "rest_lost": len(lost),
        "rest_in_flight_upstream_on_killed": rest_on_a,
        "rest_in_flight_anywhere_at_kill": len(in_flight_at_death),
        "rest_calls_after_death": len(after_death),
        "mcp_sessions": tally.mcp_sessions,
        "mcp_sessions_failed": len(tally.mcp_failures),
        "mcp_calls_in_flight_upstream_on_killed": mcp_on_a,
        "death_ms": round((dead_at - killed_at) * 1000, 1),
    }
    for key, value in report.items():
        record_property(key, value)
    print("\nscale-out:", report)

    assert tally.mcp_failures == [], tally.mcp_failures[:3]
    assert tally.mcp_sessions >= 10
    # Lost: every call the dead instance was answering, and nothing that was not in flight when it died.
    assert len(lost) >= rest_on_a, report
    assert set(lost) <= set(in_flight_at_death), "a call that was not in flight when the instance died was lost"
    assert len(after_death) > 10 and all(after_death)
