"""Issue 6, items 5 and 6, against ``naftiko serve`` as a subprocess: callers of a hanging
upstream do not slow the others down, memory comes back, and SIGTERM loses no request."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest
from hardening_support import FaultUpstream, percentile, report, rss_kib
from support import served

SECONDS = float(os.environ.get("NAFTIKO_LOAD_SECONDS", "10"))
CLIENTS = 200
TIMEOUT = 2.0
FAST, HANGING = "/v1/api/syncs", "/v1/api/syncs/schedules"


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> tuple[int, bool]:
    """One keep-alive GET over a raw connection; returns the status and whether the server keeps it open."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    await reader.readexactly(int(fields.get("content-length", "0")))
    return int(lines[0].split()[1]), fields.get("connection", "").lower() != "close"


async def _client(port: int, path: str, until: float, results: list[tuple[str, int, float]]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.monotonic() < until:
            started = time.monotonic()
            status, _ = await _request(reader, writer, path)
            results.append((path, status, time.monotonic() - started))
    finally:
        writer.close()


async def _phase(port: int, groups: dict[str, int], seconds: float) -> list[tuple[str, int, float]]:
    results: list[tuple[str, int, float]] = []
    until = time.monotonic() + seconds
    await asyncio.gather(*(_client(port, path, until, results) for path, n in groups.items() for _ in range(n)))
    return results


def _summary(results, path) -> tuple[list[float], dict[int, int]]:
    latencies = [seconds for p, _, seconds in results if p == path]
    statuses: dict[int, int] = {}
    for p, status, _ in results:
        if p == path:
            statuses[status] = statuses.get(status, 0) + 1
    return latencies, statuses


def _ms(values: list[float], q: float) -> float:
    return round(percentile(values, q) * 1000, 1)


@pytest.mark.slow
def test_hanging_upstream_does_not_slow_the_others(tmp_path):
    async def scenario() -> None:
        async with FaultUpstream(lambda method, target: "hang" if "schedules" in target else "json") as upstream:
            with served(tmp_path, upstream.url, "--timeout", str(TIMEOUT), "--read-timeout", "30") as gateway:
                port, pid = gateway.port(8080), gateway.process.pid
                await _phase(port, {FAST: CLIENTS // 2, HANGING: CLIENTS // 2}, 3)  # warm-up: pools, arenas
                await asyncio.sleep(TIMEOUT + 0.5)
                rss_before = rss_kib(pid)
                baseline = await _phase(port, {FAST: CLIENTS // 2}, 5)
                loaded = await _phase(port, {FAST: CLIENTS // 2, HANGING: CLIENTS // 2}, SECONDS)
                await asyncio.sleep(TIMEOUT + 1)
                rss_after = rss_kib(pid)
                assert gateway.stop() == 0
        base_latencies, base_statuses = _summary(baseline, FAST)
        fast, fast_statuses = _summary(loaded, FAST)
        hanging, hanging_statuses = _summary(loaded, HANGING)
        report(
            "load: clients / seconds",
            f"{CLIENTS} clients ({CLIENTS // 2} fast, {CLIENTS // 2} hanging) "
            f"for {SECONDS:g} s; upstream timeout {TIMEOUT:g} s",
        )
        report(
            "load: baseline (100 fast clients alone)",
            f"{len(base_latencies)} requests {base_statuses}, "
            f"p50 {_ms(base_latencies, 0.5)} ms, p99 {_ms(base_latencies, 0.99)} ms",
        )
        report(
            "load: fast group beside hanging group",
            f"{len(fast)} requests {fast_statuses}, p50 {_ms(fast, 0.5)} ms, p99 {_ms(fast, 0.99)} ms",
        )
        report(
            "load: hanging group",
            f"{len(hanging)} requests {hanging_statuses}, p50 {_ms(hanging, 0.5)} ms, p99 {_ms(hanging, 0.99)} ms",
        )
        report("load: gateway RSS", f"{rss_before / 1024:.1f} MiB before, {rss_after / 1024:.1f} MiB after")
        assert base_statuses == {200: len(base_latencies)}
        assert fast_statuses == {200: len(fast)}, "nothing errors but the hanging calls"
        assert hanging_statuses == {504: len(hanging)}, "every hanging call is a 504"
        # The total timeout ends every hanging call, never sooner and never at the 30 s read timeout. A
        # caller sees it late only by the CPU queue in front of its 504 (the load saturates both cores),
        # so the median sits on the timeout and the slowest stays far below the read timeout.
        assert min(hanging) > TIMEOUT - 0.1
        assert percentile(hanging, 0.5) < TIMEOUT + 0.5
        assert max(hanging) < 5 * TIMEOUT
        # On two shared cores the 100 fast clients saturate the CPU: latency is concurrency/throughput.
        # The hanging half must not add more than the CPU its own 504s cost.
        assert percentile(fast, 0.5) < 2 * percentile(base_latencies, 0.5) + 0.02
        # The suite runs on every core (issue 20): the other worker's load comes and goes between the
        # baseline and this phase, which moves a p99 by a few hundred ms on 2 cores. Blocking behind
        # the hanging calls would cost the fast group their 2 s timeout, which the median bound above
        # and this one both still catch.
        assert percentile(fast, 0.99) < 3 * percentile(base_latencies, 0.99) + 0.6
        assert rss_after < rss_before * 1.25 + 10 * 1024, (rss_before, rss_after)

    asyncio.run(scenario())


@pytest.mark.slow
def test_sigterm_completes_in_flight_and_refuses_new(tmp_path):
    """D-shutdown: in-flight requests finish, new connections are refused, exit 0, nothing lost."""

    async def scenario() -> None:
        async with FaultUpstream("delay") as upstream:
            upstream.delay = 1.5
            with served(tmp_path, upstream.url, "--timeout", "10") as gateway:
                port = gateway.port(8080)
                outcome = {"sent": 0, "answered": 0, "refused": 0, "lost": 0, "answered_after_signal": 0}
                signalled = asyncio.Event()

                async def client() -> None:
                    while True:
                        try:
                            reader, writer = await asyncio.open_connection("127.0.0.1", port)
                        except ConnectionRefusedError:
                            outcome["refused"] += 1
                            return
                        outcome["sent"] += 1
                        try:
                            status, keep = await asyncio.wait_for(_request(reader, writer, FAST), 20)
                            assert status == 200, status
                            outcome["answered"] += 1
                            outcome["answered_after_signal"] += signalled.is_set()
                        except (asyncio.IncompleteReadError, ConnectionError):
                            outcome["lost"] += 1
                            return
                        finally:
                            writer.close()
                        if signalled.is_set():
                            await asyncio.sleep(0.2)

                tasks = [asyncio.create_task(client()) for _ in range(50)]
                await asyncio.sleep(2.5)  # every client is mid-request (upstream takes 1.5 s)
                in_flight = outcome["sent"] - outcome["answered"]
                started = time.monotonic()
                gateway.process.send_signal(signal.SIGTERM)
                signalled.set()
                await asyncio.sleep(0.5)
                refused_while_draining = False
                try:
                    _, w = await asyncio.open_connection("127.0.0.1", port)
                    w.close()
                except ConnectionRefusedError:
                    refused_while_draining = True
                await asyncio.gather(*tasks)
                code = await asyncio.to_thread(gateway.process.wait, 40)
                drained = time.monotonic() - started
        report(
            "shutdown: requests",
            f"{outcome['sent']} sent, {outcome['answered']} answered, {outcome['lost']} lost; "
            f"{in_flight} in flight at SIGTERM, {outcome['answered_after_signal']} answered after "
            f"it; {outcome['refused']} new connections refused; exit {code} after {drained:.2f} s",
        )
        assert refused_while_draining, "a new connection was accepted while draining"
        assert in_flight > 0 and outcome["answered_after_signal"] >= in_flight
        assert outcome["lost"] == 0 and outcome["sent"] == outcome["answered"]
        assert code == 0

    asyncio.run(scenario())
