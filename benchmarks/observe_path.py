"""Instructions of the observation path alone, per request, counted to the instruction (issue 22
item 2): what metrics, and metrics with traces, add to a simple plan's request, without a server.

    python benchmarks/observe_path.py [--baseline DIR] [--modes metrics,traces]

``instructions.py`` counts a whole server, where the event loop's timers and wake-ups leak wall
time into the count: its rows move by ~1k instructions a request between runs, as much as many a
cut of the observation path is worth. Here one process runs, N times, what the executor and the
REST fast path ask of ``Telemetry`` for a simple plan's request: the request opened, its one call
opened (with its outgoing request, the trace context written into it), the call finished, the
request finished; every ``HANDOFF`` records folded and, with traces, their spans encoded as the
loop encodes them at a hand-over (D197; before it, into an OTLP body as the export thread did),
without the queue or the POST. The count under
callgrind of N = 2,048 and N = 6,144 differ by 4,096 requests' work exactly: start-up and imports
cancel out, and two runs of the same tree agree to the instruction.

It is a relative measure (the operation and call are plain stand-ins whose attributes are read
from a ``__dict__``; the transport's share, writing the ``traceparent`` into the request's head,
is not in it): compare trees with it, and count a server with ``instructions.py``. Each tree runs
with its own package first on ``sys.path``; a tree without ``_Request.call`` (before D188) opens
the call as the executor then did, ``Telemetry.upstream`` with the request's observation. Needs
valgrind (Debian's package).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

HERE = Path(__file__).resolve().parent
COUNTS = (2048, 6144)
MODES = ("metrics", "traces")


def run(mode: str, requests: int) -> None:
    """In the counted process: ``requests`` observed requests of one simple plan, then every record
    folded (and, with traces, encoded)."""
    from naftiko_runtime.adapters.control.model import Observability
    from naftiko_runtime.core.requests import Outgoing
    from naftiko_runtime.serving.telemetry import Telemetry

    endpoint = "http://127.0.0.1:9/v1/traces" if mode == "traces" else None  # never posted to
    telemetry = Telemetry(Observability(metrics=True, otlp_endpoint=endpoint))
    records = telemetry.records
    assert records is not None
    if telemetry.lean is not None:  # encoded at each hand-over, on this thread: no POST, no timing
        export = telemetry.lean.export
        if hasattr(export, "close"):  # a tree before D197: its export thread stopped
            export.close()
        envelope = export.envelope
        if hasattr(envelope, "spans"):  # the spans' bytes written at the hand-over (D197)
            records.export = lambda held, spans: envelope.spans(held, export.anchor)
        else:  # a tree before D197 (a baseline): the whole request, as its thread made it
            records.export = lambda held, spans: envelope.request([held], export.anchor)
    exposed = SimpleNamespace(namespace="shop-rest", key="GET /items", adapter_kind="rest")
    plan = SimpleNamespace(exposed=exposed, orchestrated=False, paging=None)
    call = SimpleNamespace(namespace="shop", operation="list-items", base_uri="http://upstream.test/v1", label="shop")
    url = "http://upstream.test/v1/items"
    inline = hasattr(telemetry.request(plan), "called")  # ``_Request.call`` (D188), else as before it
    for _ in range(requests):
        record = telemetry.request(plan)
        request = Outgoing("GET", url, {"accept": "application/json"}, None)
        if inline:
            record.call(call, request)
            record.called(200)
        else:
            telemetry.upstream(call, request, record).finish(200)
        record.finish(200)
    telemetry.exposition()
    records.handoff()


def count(tree: Path, mode: str) -> int:
    """Instructions a request of ``mode`` observed by ``tree``'s package (every thread: callgrind's
    one total)."""
    totals = []
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0"}
    for requests in COUNTS:
        with tempfile.TemporaryDirectory(prefix="naftiko-observe-") as folder:
            out = Path(folder) / "callgrind.out"
            command = [sys.executable, str(Path(__file__).resolve()), "--run", mode, str(requests)]
            valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
            subprocess.run([*valgrind, *command], env=env, check=True, capture_output=True, cwd=tree)
            summary = next(line for line in out.read_text().splitlines() if line.startswith("summary:"))
            totals.append(int(summary.split()[1]))
    return (totals[1] - totals[0]) // (COUNTS[1] - COUNTS[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="another checkout counted too")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    parser.add_argument("--run", nargs=2, metavar=("MODE", "N"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.run:
        run(options.run[0], int(options.run[1]))
        return
    trees = [HERE.parent] + ([options.baseline.resolve()] if options.baseline else [])
    print("| tree | mode | instructions a request |")
    print("|---|---|---:|")
    for tree in trees:
        for mode in options.modes.split(","):
            print(f"| {tree} | {mode} | {count(tree, mode):,} |", flush=True)


if __name__ == "__main__":
    main()
