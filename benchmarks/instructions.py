"""Instructions per request of rows 2, 3, 3b, 3c and 3d (issue 22 item 2), counted by valgrind's
callgrind: on a machine shared with other work, req/s and even CPU time per request move by 10-40%
between runs, while the count of instructions a server runs for a request moves by about 1%.
It is what the cost of metrics, traces and policies was cut against (``benchmarks/RESULTS.md``).

    python benchmarks/instructions.py [--baseline DIR] [--requests N] [--rows rest,metrics,...]

Each row's server runs under ``valgrind --tool=callgrind`` (about 50x slower) with counting off;
after 300 warm-up requests it is switched on for N requests sent one after another on one kept-alive
connection (``callgrind_control``), then dumped. Printed per row: instructions per request over
every thread and on the event loop's thread alone (3c's export thread is the difference; how many
batches it sends within the N requests varies by one or two, hence a few percent more noise on that
row's total). ``--baseline`` counts the same rows of another checkout too (``git archive`` unpacked),
with the same interpreter. Needs valgrind (Debian's package). Not part of ``run.py``: a row takes
about a minute.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import capgen
from run import POLICIES, free_ports

HERE = Path(__file__).resolve().parent
ROWS = ("aiohttp", "rest", "metrics", "observed", "caller", "policies")
"""Rows 2, 3, 3b, 3c and 3d, by their ``run.py`` keys, and ``caller``: row 3c with every request
bringing a caller's ``traceparent`` (D163). Row 2 (the Starlette + aiohttp proxy) is the
harness's own file, the same whichever tree is counted: it is counted once, under this checkout."""
CALLER = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
WARM_UP = 300


def capability(row: str, upstream: str, port: int, control_port: int) -> str:
    if row in ("metrics", "observed", "caller"):
        return capgen.observed(upstream, port, control_port, traced=row != "metrics")
    return capgen.single(upstream, port, adapter="rest")


def _get(connection: http.client.HTTPConnection, headers: dict[str, str] | None = None) -> None:
    connection.request("GET", "/items", headers=headers or {})
    answer = connection.getresponse()
    answer.read()
    if answer.status != 200:
        raise RuntimeError(f"unexpected answer {answer.status}")


def _connect(port: int, server: subprocess.Popen[bytes]) -> http.client.HTTPConnection:
    for _ in range(600):
        if server.poll() is not None:
            raise RuntimeError(f"the server ended with status {server.returncode}")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            _get(connection)
            return connection
        except OSError:
            connection.close()
            time.sleep(0.5)
    raise RuntimeError("the server did not answer within 5 minutes")


@contextmanager
def served(
    tree: Path, row: str, work: Path, wrap: Sequence[str] = ()
) -> Iterator[tuple[int, subprocess.Popen[bytes], http.client.HTTPConnection]]:
    """``row`` served from ``tree`` (its command after ``wrap``: valgrind, say) in front of the
    benchmark upstream, warmed by ``WARM_UP`` requests on the connection it yields with its port
    and process; both stopped after. Also ``thread_cpu.py``'s."""
    upstream_port, port, control_port = free_ports(3)
    upstream = f"http://127.0.0.1:{upstream_port}"
    file = work / f"{row}.yaml"
    file.write_text(capability(row, upstream, port, control_port))
    options = ["--config", str(work / "policies.toml")] if row == "policies" else []
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0"}
    procs = [subprocess.Popen([sys.executable, str(HERE / "upstream.py"), str(upstream_port)], env=env)]
    serve = [sys.executable, "-m", "naftiko_runtime", "serve", str(file), "--log-level", "WARNING", *options]
    if row == "aiohttp":
        serve = [sys.executable, str(HERE / "aiohttp_proxy.py"), str(port), upstream]
    # Run from the tree served: ``python -m`` puts its working folder before PYTHONPATH, so from
    # another checkout the baseline would have served that checkout's package instead.
    server = subprocess.Popen([*wrap, *serve], env=env, stderr=subprocess.DEVNULL, cwd=tree)
    procs.append(server)
    try:
        connection = _connect(port, server)
        for _ in range(WARM_UP):
            _get(connection, CALLER if row == "caller" else None)
        yield port, server, connection
        connection.close()
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()


def count(tree: Path, row: str, requests: int, work: Path) -> tuple[float, float]:
    """Instructions per request of ``row`` served from ``tree``: every thread, the loop's thread."""
    out = work / f"callgrind-{tree.name}-{row}.out"
    valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--separate-threads=yes"]
    with served(tree, row, work, [*valgrind, f"--callgrind-out-file={out}"]) as (_, server, connection):
        headers = CALLER if row == "caller" else None
        subprocess.run(["callgrind_control", "-i", "on", str(server.pid)], check=True, capture_output=True)
        for _ in range(requests):
            _get(connection, headers)
        subprocess.run(["callgrind_control", "-d", str(server.pid)], check=True, capture_output=True)
    threads = {}
    for dump in out.parent.glob(f"{out.name}.1-*"):
        summary = next(line for line in dump.read_text().splitlines() if line.startswith("summary:"))
        threads[dump.name.rsplit("-", 1)[1]] = int(summary.split()[1])
    return sum(threads.values()) / requests, threads["01"] / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="another checkout whose rows are counted too")
    parser.add_argument("--requests", type=int, default=1000, help="requests counted per row (default 1000)")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated, of {', '.join(ROWS)}")
    parser.add_argument("--keep", type=Path, help="a folder to keep callgrind's outputs in (for callgrind_annotate)")
    options = parser.parse_args()
    rows = [row for row in options.rows.split(",") if row]
    trees = [HERE.parent] + ([options.baseline.resolve()] if options.baseline else [])
    with tempfile.TemporaryDirectory(prefix="naftiko-instructions-") as folder:
        work = options.keep.resolve() if options.keep else Path(folder)
        work.mkdir(parents=True, exist_ok=True)
        (work / "policies.toml").write_text(POLICIES)
        header = "instructions per request, every thread | the event loop's thread | vs row 3 (row 2: 2 / 3)"
        print(f"| tree | row | {header} |")
        print("|---|---|---:|---:|---:|")
        for tree in trees:
            mine = [row for row in rows if row != "aiohttp" or tree == trees[0]]
            counted = {row: count(tree, row, options.requests, work) for row in mine}
            rest = counted.get("rest")
            for row, (every, loop) in counted.items():
                versus = f"{every / rest[0]:.3f}x" if rest and row == "aiohttp" else ""
                versus = versus or (f"{rest[0] / every:.3f}x" if rest else "")
                print(f"| {tree} | {row} | {every / 1000:.1f}k | {loop / 1000:.1f}k | {versus} |", flush=True)


if __name__ == "__main__":
    main()
