"""Row 11 (issue 22, item 3; D131): a three-instance fleet behind HAProxy, sharing one Redis, under load,
with the throughput each instance served.

Three ``naftiko serve --config`` processes (``state = "redis://..."`` and a per-client rate limit
no caller reaches, so every request takes its bucket from the shared store, as a fleet's would) sit
behind one HAProxy with two frontends: ``fleet`` balances over all three, ``single`` sends
everything to instance ``a``. Both are loaded in the same run, round robin, so the fleet's
throughput has a baseline measured beside it (same balancer hop, same store). Each instance's count
is HAProxy's own per-server tally of 2xx answers (its stats CSV, read before and after each load),
not a share inferred from the total; non-2xx answers and connection or response errors, from
HAProxy and from the load generator, are the errors.

On one machine the instances, HAProxy, Redis and the load generator compete for the same cores:
the fleet's total is bounded by the machine, not by the fleet. The per-instance counts (each
instance serves about a third, none fails) are the point; the ratio says what the extra hop and the
shared store cost on this machine.
"""

from __future__ import annotations

import csv
import io
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import capgen
import redis
from run import Load, Plan, Proc, Sample, check_json, free_ports, http, naftiko_argv, wait_answering

INSTANCES = ("a", "b", "c")
CONFIG = """\
# Row 11: the fleet's shared state; a per-client limit that no caller reaches, so every request
# spends from a bucket in the store.
state = "{state}"
[rate_limit]
requests = 1000000
identity = "client"
"""
Measure = Callable[[Load, float], Sample]
"""run.py's load: wrk, or its bounded async client where wrk is absent."""
HAPROXY = """\
global
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend fleet
    bind 127.0.0.1:{fleet_port}
    default_backend fleet
frontend single
    bind 127.0.0.1:{single_port}
    default_backend single
frontend stats
    bind 127.0.0.1:{stats_port}
    stats enable
    stats uri /stats
backend fleet
    balance roundrobin
{fleet_servers}
backend single
    server a 127.0.0.1:{single_server_port}
"""
COUNTED = ("hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other", "eresp", "econ")
"""HAProxy's per-server stats columns read: answers by class, and the two error counters."""


@dataclass
class FleetRun:
    """One load of one frontend: the load generator's figures and each server's tally of it."""

    sample: Sample
    served: dict[str, int]
    """2xx answers per instance, HAProxy's count."""
    failed: dict[str, int]
    """Anything else per instance: non-2xx answers, response and connection errors."""

    @property
    def errors(self) -> int:
        return self.sample.errors + sum(self.failed.values())

    def rps(self, name: str) -> float:
        """The load generator's rate, split as HAProxy counted the answers."""
        return self.sample.rps * self.share(name)

    def share(self, name: str) -> float:
        total = sum(self.served.values())
        return self.served.get(name, 0) / total if total else 0.0


@dataclass
class FleetResult:
    instances: tuple[str, ...] = INSTANCES
    fleet: list[FleetRun] = field(default_factory=list)
    single: list[FleetRun] = field(default_factory=list)
    skipped: str | None = None

    @staticmethod
    def median(runs: list[FleetRun], name: str | None = None) -> float:
        """The median req/s of ``runs``: the whole load's, or instance ``name``'s part of it."""
        return statistics.median(run.sample.rps if name is None else run.rps(name) for run in runs)

    def ratio(self) -> float | None:
        if not self.fleet or not self.single:
            return None
        return self.median(self.fleet) / self.median(self.single)

    def balanced(self) -> bool:
        """Every instance served in every run, and no run failed anything."""
        runs = self.fleet + self.single
        return (
            bool(self.fleet)
            and all(all(run.served.get(n, 0) > 0 for n in self.instances) for run in self.fleet)
            and all(run.errors == 0 for run in runs)
        )


def tallies(stats_url: str, backend: str) -> dict[str, dict[str, int]]:
    """Each server of ``backend``: HAProxy's ``COUNTED`` columns, from its stats CSV."""
    status, body = http(stats_url + ";csv")
    if status != 200:
        raise RuntimeError(f"haproxy stats answered {status}")
    rows = csv.DictReader(io.StringIO(body.decode().lstrip("# ")))
    return {
        row["svname"]: {column: int(row[column] or 0) for column in COUNTED}
        for row in rows
        if row["pxname"] == backend and row["svname"] not in ("FRONTEND", "BACKEND")
    }


def measured(measure: Measure, load: Load, seconds: float, stats_url: str, backend: str) -> FleetRun:
    before = tallies(stats_url, backend)
    sample = measure(load, seconds)
    after = tallies(stats_url, backend)
    delta = {name: {c: after[name][c] - before[name][c] for c in COUNTED} for name in after}
    served = {name: d["hrsp_2xx"] for name, d in delta.items()}
    failed = {name: sum(v for c, v in d.items() if c != "hrsp_2xx") for name, d in delta.items()}
    return FleetRun(sample, served, failed)


def missing_tools() -> str | None:
    absent = [tool for tool in ("redis-server", "haproxy") if shutil.which(tool) is None]
    return f"{' and '.join(absent)} not installed (apt-get install redis-server haproxy)" if absent else None


class FleetRow:
    """The row's processes, started with the other rows' servers (they idle while others are
    measured, and their start-up overlaps the others'), then measured after the other rows."""

    def __init__(self, work: Path, env: dict[str, str], upstream_url: str):
        self.work, self.env, self.upstream_url = work, env, upstream_url
        self.result = FleetResult(skipped=missing_tools())
        self.instances: list[Proc] = []
        self.procs: list[Proc] = []
        store_port, fleet_port, single_port, stats_port, *rest_ports = free_ports(4 + len(INSTANCES))
        self.store_port, self.stats_url = store_port, f"http://127.0.0.1:{stats_port}/stats"
        self.rest_ports = dict(zip(INSTANCES, rest_ports, strict=True))
        self.loads = {
            "fleet": Load(f"http://127.0.0.1:{fleet_port}/items"),
            "single": Load(f"http://127.0.0.1:{single_port}/items"),
        }
        self.haproxy_config = HAPROXY.format(
            fleet_port=fleet_port,
            single_port=single_port,
            stats_port=stats_port,
            fleet_servers="\n".join(f"    server {n} 127.0.0.1:{port}" for n, port in self.rest_ports.items()),
            single_server_port=self.rest_ports["a"],
        )

    def start(self) -> list[Proc]:
        """The store, the three instances (each on a port of its own) and HAProxy, not waited for."""
        if self.result.skipped:
            return []
        work = self.work
        store = [shutil.which("redis-server") or "redis-server", "--port", str(self.store_port), "--bind", "127.0.0.1"]
        store += ["--save", "", "--appendonly", "no", "--dir", str(work)]
        self.procs.append(Proc("redis", store, work / "fleet-redis.log", self.env).start())
        config, capability = work / "fleet.toml", work / "fleet.yaml"
        config.write_text(CONFIG.format(state=f"redis://127.0.0.1:{self.store_port}/0"))
        capability.write_text(capgen.single(self.upstream_url, 8080, adapter="rest"))
        for name, port in self.rest_ports.items():
            argv = naftiko_argv([capability], "--config", str(config), "--port-offset", str(port - 8080))
            self.instances.append(Proc(f"fleet-{name}", argv, work / f"fleet-{name}.log", self.env).start())
        (work / "fleet-haproxy.cfg").write_text(self.haproxy_config)
        haproxy = [shutil.which("haproxy") or "haproxy", "-db", "-f", str(work / "fleet-haproxy.cfg")]
        self.haproxy = Proc("haproxy", haproxy, work / "fleet-haproxy.log", self.env).start()
        self.procs += [*self.instances, self.haproxy]
        return self.procs

    def measure(self, plan: Plan, measure: Measure) -> FleetResult:
        """Load both frontends ``plan.runs`` times, round robin; then stop the row's processes."""
        result = self.result
        if result.skipped:
            return result
        try:
            for proc in [*self.instances, self.haproxy]:
                proc.started_at = time.perf_counter()  # the wait's clock: other rows ran since the start
            for proc, port in zip(self.instances, self.rest_ports.values(), strict=True):
                wait_answering(proc, [f"http://127.0.0.1:{port}/items"], plan.startup_timeout)
            wait_answering(self.haproxy, [self.stats_url, *(load.url for load in self.loads.values())], 20)
            for load in self.loads.values():
                check_json(load.url, lambda d: len(d["data"]) == 6, "fleet through haproxy")()
                measure(load, 0.5 if plan.quick else 1.0)  # warm-up: pools, the scripts' SHA in the store
            for run in range(plan.runs):
                for backend, load in self.loads.items():
                    taken = measured(measure, load, plan.seconds, self.stats_url, backend)
                    getattr(result, backend).append(taken)
                    print(
                        f"  run {run + 1}/{plan.runs} fleet/{backend}: {taken.sample.rps:,.0f} req/s", file=sys.stderr
                    )
            self.verify()
        except RuntimeError as exc:
            result.skipped = f"failed: {str(exc)[:300]}"
        finally:
            for proc in reversed(self.procs):
                proc.stop()
        return result

    def verify(self) -> None:
        """Each instance is still its own process (one that failed to bind its port is no instance),
        and every answer spent from a bucket in the store."""
        for proc in self.instances:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited: {proc.tail()}")
        with redis.Redis(port=self.store_port) as client:
            commands = client.info("stats")["total_commands_processed"]
        answered = sum(sum(run.served.values()) for run in self.result.fleet + self.result.single)
        if commands < answered:
            raise RuntimeError(f"the store ran {commands} commands for {answered} answers: not every one used it")


def render(result: FleetResult, quick: bool) -> list[str]:
    """The row's table: the fleet, each instance's part of it, the single instance beside it, and
    the verdict (every instance served, nothing failed: the split is the point, not the speed)."""
    title = "11. fleet: 3 x naftiko serve --state redis:// behind HAProxy"
    if result.skipped:
        return ["", f"{title}: skipped: {result.skipped}"]
    fleet, single = result.fleet, result.single
    out = ["", "| 11. fleet (HAProxy, shared Redis) | req/s | 2xx counted | share | p99 ms | errors |"]
    out.append("|---|---:|---:|---:|---:|---:|")
    p99 = statistics.median(run.sample.p99_ms for run in fleet)
    counted = sum(sum(run.served.values()) for run in fleet)
    errors = sum(run.errors for run in fleet)
    out.append(
        f"| fleet of {len(result.instances)}, total | {result.median(fleet):,.0f} | {counted:,} | 100% "
        f"| {p99:.2f} | {errors} |"
    )
    for name in result.instances:
        share = statistics.median(run.share(name) for run in fleet)
        served = sum(run.served.get(name, 0) for run in fleet)
        failed = sum(run.failed.get(name, 0) for run in fleet)
        out.append(f"| instance {name} | {result.median(fleet, name):,.0f} | {served:,} | {share:.1%} | | {failed} |")
    p99 = statistics.median(run.sample.p99_ms for run in single)
    served = sum(sum(run.served.values()) for run in single)
    out.append(
        f"| one instance (a), same hop and store | {result.median(single):,.0f} | {served:,} | | {p99:.2f} "
        f"| {sum(run.errors for run in single)} |"
    )
    ratio = result.ratio()
    verdict = ("met" if result.balanced() else "NOT met") + (" (quick)" if quick else "")
    out.append(
        f"- [{verdict}] fleet: each of {len(result.instances)} instances served a share, no errors; "
        f"fleet / one instance on this machine's shared cores: {'n/a' if ratio is None else f'{ratio:.2f}x'}"
    )
    return out


def to_json(result: FleetResult) -> dict[str, Any]:
    def runs(taken: list[FleetRun]) -> list[dict[str, Any]]:
        return [{**vars(run.sample), "served": run.served, "failed": run.failed} for run in taken]

    return {
        "instances": list(result.instances),
        "skipped": result.skipped,
        "fleet": runs(result.fleet),
        "single": runs(result.single),
    }
