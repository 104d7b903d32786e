"""Row 8, start-up (issue 22 item 2): exec of ``naftiko serve`` on N Polytomic-like files until
(a) both ports answer HTTP at all ("first byte") and (b) a real call answers on each: a REST
operation of the last file through to the benchmark upstream, and the same file's MCP
``tools/call`` ("ready and serving"). The goals are judged on (b). Also the server's CPU seconds
at (b) (its own and its reaped pool workers', from /proc: steadier than wall time on a shared
machine) and its RSS then.

``run.py`` owns the processes and HTTP helper; they are passed in, so this module imports nothing
from it."""

from __future__ import annotations

import compileall
import json
import os
import re
import shutil
import statistics
import sys
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path
from typing import Any

import capgen

HTTP = Callable[..., tuple[int, bytes]]
SERVED_PACKAGE = Path(__file__).resolve().parent.parent / "naftiko_runtime"
"""What ``python -m naftiko_runtime`` imports: ``run.Proc`` starts it with this checkout as its folder."""
MCP_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


@dataclass
class Startup:
    files: int
    first_byte: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    """Seconds to ready and serving a real call on both ports (what the goals judge)."""
    whole: list[float] = field(default_factory=list)
    """Seconds to every MCP method answering (``tools/list``: the ``mcp`` package loaded, D152)."""
    cpu_seconds: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    skipped: str | None = None
    note: str = ""
    cache: str = "cold"
    """``cold``: a fresh, empty load cache folder; ``warm``: the folder a cold start just filled (D172)."""


@dataclass(frozen=True)
class RealCalls:
    """The last file's REST route and MCP tool, and the namespace pointed at the upstream."""

    namespace: str
    rest_path: str
    mcp_path: str
    tool: str

    @classmethod
    def of(cls, files: list[Path]) -> RealCalls:
        """The last model-sync file's calls: ``polytomic-subpackage-modelsync[-g{k}]`` (``capgen``)."""
        stem = next(path.stem for path in reversed(files) if "modelsync" in path.stem)
        generated = re.fullmatch(r".*-g(\d+)", stem)
        prefix = f"g{generated[1]}" if generated else ""
        return cls(
            namespace=stem,
            rest_path=(f"/{prefix}" if prefix else "") + "/v1/api/syncs",
            mcp_path=f"/mcp/{stem}-mcp",
            tool=(f"{prefix}-" if prefix else "") + "list-syncs",
        )


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and of its children it has waited for (the load's workers)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _listed(http: HTTP, mcp: str) -> bool:
    """``tools/list`` answers with tools: a method only the ``mcp`` package's side serves."""
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}
    try:
        status, body = http(mcp, json.dumps(listing).encode(), MCP_HEADERS, timeout=5.0)
        return status == 200 and bool(json.loads(body)["result"]["tools"])
    except (OSError, urllib.error.URLError, ValueError, KeyError, TypeError):
        return False


def _answers(http: HTTP, url: str) -> bool:
    """Whether the port answers HTTP; a port still unbound while the files load may be taken by
    another program on a shared machine, whose garbage is not an answer (nor a crash of the run)."""
    try:
        http(url, timeout=1.0)
        return True
    except (OSError, urllib.error.URLError, HTTPException):
        return False


def _served(http: HTTP, rest: str, mcp: str, tool: str) -> bool:
    """The REST operation answers 200 with the upstream's JSON, and the MCP tool call a result."""
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": {}}}
    try:
        status, body = http(rest, timeout=2.0)
        if status != 200 or not json.loads(body):
            return False
        status, body = http(mcp, json.dumps(call).encode(), MCP_HEADERS, timeout=2.0)
        answer: Any = json.loads(body)
        return status == 200 and "result" in answer and not answer["result"].get("isError")
    except (OSError, urllib.error.URLError, ValueError, AttributeError):
        return False


@dataclass(frozen=True)
class Harness:
    """What ``run.py`` lends this row: ``launch(name, argv, log, environ)`` starts a ``run.Proc``
    with ``environ`` over the run's environment; ``http``
    as ``run.http``; ``rss(pid)`` in MB over the process tree; ``offset()`` a free ``--port-offset``."""

    launch: Callable[[str, list[str], Path, dict[str, str]], Any]
    http: HTTP
    rss: Callable[[int], float]
    offset: Callable[[], int]
    argv: Callable[..., list[str]]
    """``run.naftiko_argv(files, *extra)``: ``naftiko serve`` of the files."""


def measure(
    counts: tuple[int, ...], runs: int, timeout: float, work: Path, upstream: str, harness: Harness
) -> list[Startup]:
    """Each count's runs, side by side in one run of the harness: each run a cold start (a fresh,
    empty load cache folder, D172) and then a warm one (the same folder, as the cold start left it).
    A checkout without the load cache ignores ``$NAFTIKO_LOAD_CACHE``: both are cold there."""
    compile_bytecode(SERVED_PACKAGE)
    results = []
    for count in counts:
        cold, warm = Startup(count, cache="cold"), Startup(count, cache="warm")
        results += [cold, warm]
        files = capgen.polytomic_set(work / f"startup-{count}", count)
        calls = RealCalls.of(files)
        for run in range(runs):
            folder = work / f"load-cache-{count}-{run}"
            shutil.rmtree(folder, ignore_errors=True)
            for startup in (cold, warm):
                ready = _start(startup, files, calls, run, timeout, work, upstream, harness, folder)
                if ready is None:
                    break
            if ready is None:
                break
            if ready > 30 and run + 1 < runs:
                cold.note = warm.note = f"1 run only: one takes {ready:.0f} s, 3 would break the 10-minute budget"
                break
    return results


def _start(
    startup: Startup,
    files: list[Path],
    calls: RealCalls,
    run: int,
    timeout: float,
    work: Path,
    upstream: str,
    harness: Harness,
    cache: Path,
) -> float | None:
    """One start measured into ``startup``; its seconds to ready, or ``None`` if it failed."""
    http, count, name = harness.http, startup.files, f"startup-{startup.files}-{startup.cache}"
    shift = harness.offset()
    rest, mcp = f"http://127.0.0.1:{8080 + shift}", f"http://127.0.0.1:{9090 + shift}"
    argv = harness.argv(files, "--port-offset", str(shift), "--base-uri", f"{calls.namespace}={upstream}")
    proc = harness.launch(name, argv, work / f"{name}-{run}.log", {"NAFTIKO_LOAD_CACHE": str(cache)})
    try:
        first, ready = _wait(proc, timeout, http, rest + "/", mcp + calls.mcp_path, calls, rest, mcp)
        startup.first_byte.append(first)
        startup.seconds.append(ready)
        startup.cpu_seconds.append(cpu_seconds(proc.pid))
        startup.rss_mb.append(harness.rss(proc.pid))
        while not _listed(http, mcp + calls.mcp_path):
            if time.perf_counter() > proc.started_at + timeout:
                raise RuntimeError(f"{proc.name}: tools/list did not answer within {timeout:g} s")
            time.sleep(0.01)
        startup.whole.append(time.perf_counter() - proc.started_at)
    except RuntimeError as exc:
        startup.skipped = f"failed: {str(exc)[:300]}"
        return None
    finally:
        proc.stop()
    print(
        f"  start-up {count} files {startup.cache} run {run + 1}: first byte {first:.2f} s, ready {ready:.2f} s",
        file=sys.stderr,
        flush=True,
    )
    return ready


def compile_bytecode(package: Path) -> None:
    """The served package's bytecode written first, as ``pip install`` writes it (D169). A checkout
    run where Python writes none (``PYTHONDONTWRITEBYTECODE``, a read-only tree) compiles every
    module from source on every start: ~0.3 CPU-s of a 21-file start on this machine, which no
    installed server pays and which made the same code read 0.75 or 1.1 s by the environment."""
    compileall.compile_dir(package, quiet=1)


def _wait(
    proc: Any, timeout: float, http: HTTP, rest_any: str, mcp_any: str, calls: RealCalls, rest: str, mcp: str
) -> tuple[float, float]:
    """Seconds from exec to the first byte of both ports, and to both real calls served."""
    deadline = proc.started_at + timeout
    first: float | None = None
    while True:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}: {proc.tail()}")
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{proc.name} was not ready within {timeout:g} s: {proc.tail()}")
        if first is None and _answers(http, rest_any) and _answers(http, mcp_any):
            first = time.perf_counter() - proc.started_at
        if first is not None and _served(http, rest + calls.rest_path, mcp + calls.mcp_path, calls.tool):
            return first, time.perf_counter() - proc.started_at
        time.sleep(0.01)


def table(startups: list[Startup]) -> list[str]:
    out = [
        "",
        "| 8. start-up: files | load cache | first byte s | ready and serving s | every MCP method s "
        "| CPU s at ready | RSS MB "
        "| runs | note |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in startups:
        if s.skipped and not s.seconds:
            out.append(f"| {s.files:,} | {s.cache} | skipped: {s.skipped} | | | | | | |")
            continue
        out.append(
            f"| {s.files:,} | {s.cache} | {statistics.median(s.first_byte):.2f} | {statistics.median(s.seconds):.2f} "
            f"| {statistics.median(s.whole):.2f} | {statistics.median(s.cpu_seconds):.2f} "
            f"| {statistics.median(s.rss_mb):.0f} | {len(s.seconds)} "
            f"| {s.note} |"
        )
    return out


def goals(startups: list[Startup], fmt: Callable[[float | None, str], str]) -> list[tuple[str, bool | None]]:
    """Issue 22: 21 files ready and serving in < 1 s, 1,000 in < 5 s, each cold and warm (D172);
    RSS < 120 MB for 21."""
    by_files = {(s.files, s.cache): s for s in startups if s.seconds}
    results = []
    for files, limit in ((21, 1.0), (1000, 5.0)):
        for cache in ("cold", "warm"):
            s = by_files.get((files, cache))
            seconds = statistics.median(s.seconds) if s else None
            text = f"{files:,} files ready and serving a real call in < {limit:g} s, {cache}: {fmt(seconds, ' s')}"
            results.append((text, None if seconds is None else seconds < limit))
    s = by_files.get((21, "cold"))
    rss = statistics.median(s.rss_mb) if s else None
    results.append((f"RSS < 120 MB for 21 files: {fmt(rss, ' MB')}", None if rss is None else rss < 120))
    return results
