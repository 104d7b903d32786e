"""CPU a request by thread, under load (issue 22 item 2): where a row's CPU goes when its instruction
count does not explain it.

    python benchmarks/thread_cpu.py [--rows rest,metrics,observed] [--seconds 8] [--tree DIR]

Serves each row as ``instructions.py`` does (``instructions.served``) from a checkout, warms it with
300 requests and 2 s of ``wrk -c32``, then reads ``/proc`` around a ``wrk -c32 -t1`` run: user and system CPU a
request of the whole server and of each of its threads (the event loop, the span export), its
context switches and its page faults a request. Row 3c's counted instructions predict ~10% over row 3 while its CPU a
request is ~25% over (``benchmarks/RESULTS.md``, session 32): this is the probe that split it by
thread. Runs of the same tree move by a few microseconds: repeat and compare like with like.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
from pathlib import Path

import instructions
from run import POLICIES

HERE = Path(__file__).resolve().parent


def _ticks(pid: int) -> dict[str, tuple[int, int, int, int]]:
    """By thread (the main one is the event loop's; Python names no other for the system): user
    and system clock ticks, context switches, and minor page faults (memory the kernel had to map
    again: freed arenas or large buffers allocated anew show here, and in system time, not as a
    system call ``strace`` counts)."""
    threads = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rpartition(")")[2].split()
        status = Path(f"/proc/{pid}/task/{tid}/status").read_text()
        switches = sum(int(n) for n in re.findall(r"ctxt_switches:\s+(\d+)", status))
        name = "the event loop" if int(tid) == pid else f"thread {tid}"
        threads[name] = (int(fields[11]), int(fields[12]), switches, int(fields[7]))
    return threads


def probe(tree: Path, row: str, seconds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="naftiko-thread-cpu-") as folder:
        (Path(folder) / "policies.toml").write_text(POLICIES)
        with instructions.served(tree, row, Path(folder)) as (port, server, _):
            url = f"http://127.0.0.1:{port}/items"
            subprocess.run(["wrk", "-c32", "-t1", "-d2s", url], capture_output=True, check=True)
            before = _ticks(server.pid)
            load = ["wrk", "-c32", "-t1", f"-d{seconds}s", url]
            out = subprocess.run(load, capture_output=True, text=True, check=True).stdout
            after = _ticks(server.pid)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    per = 1e6 / os.sysconf("SC_CLK_TCK") / requests
    total = [0.0, 0.0]
    for thread, (user, system, switches, faults) in after.items():
        user0, system0, switches0, faults0 = before.get(thread, (0, 0, 0, 0))
        if user - user0 or system - system0:
            total[0] += (user - user0) * per
            total[1] += (system - system0) * per
            print(f"| {row} | {thread} | {(user - user0) * per:.1f} | {(system - system0) * per:.1f} | "
                  f"{(switches - switches0) / requests:.3f} | {(faults - faults0) / requests:.3f} |")  # fmt: skip
    print(f"| {row} | every thread, {requests / seconds:,.0f} req/s | {total[0]:.1f} | {total[1]:.1f} | | |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="rest,metrics,observed", help="comma-separated, of instructions.py's rows")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--tree", type=Path, default=HERE.parent, help="the checkout served (default: this one)")
    options = parser.parse_args()
    print("| row | thread | user us a request | system us a request | switches a request | page faults a request |")
    print("|---|---|---:|---:|---:|---:|")
    for row in options.rows.split(","):
        probe(options.tree.resolve(), row, options.seconds)


if __name__ == "__main__":
    main()
