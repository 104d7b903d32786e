"""Instructions a finished record costs the metrics' fold (``Telemetry._fold``, D164, D174, D190),
counted by valgrind's callgrind for a few shapes of batch, this checkout against another:

    python benchmarks/fold_records.py [--baseline DIR] [--folds N]

A batch is ``HANDOFF`` (256) records of requests each with its upstream call inline, as a
pass-through's are, their durations drawn from a fixed seed (0.2 to 3 ms, a loopback
pass-through's). Shapes: ``uniform`` (one route and callee, every answer 200: a loaded route),
``slow`` (the same, 100 times as long: durations spread over the buckets up to 0.3 s, as a slow
upstream's, or the rows of ``instructions.py`` under valgrind), ``runs`` (three routes and two
answers in runs of 1 to 20), ``alternating`` (the worst case: route, status, callee and call status
change at every record), ``lone`` (a third of the records are upstream calls alone, a paged plan's).
Each shape is counted twice, folding the batch ``N`` times and not at all, under the same
interpreter with the same hash seed; the difference over ``N`` x 256 is what a record costs the fold
(its series made once, at the first fold, is in it). Needs valgrind (Debian's package).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

SHAPES = ("uniform", "slow", "runs", "alternating", "lone")
HANDOFF = 256


def _records(shape: str) -> list:
    """The batch of ``shape``, made by the runtime's own ``Telemetry`` (metrics only) and kept out
    of its records, so that only the measured fold consumes them."""
    from naftiko_runtime.adapters.control.model import Observability
    from naftiko_runtime.serving.telemetry import Telemetry

    telemetry = Telemetry(Observability(metrics=True))
    records_kept, telemetry.records = telemetry.records, None
    plans = [
        SimpleNamespace(exposed=SimpleNamespace(namespace="shop-rest", key=f"GET /r{index}", adapter_kind="rest"))
        for index in range(3)
    ]
    calls = [
        SimpleNamespace(namespace="shop", operation=f"op{index}", base_uri="http://api.test", label=f"shop.op{index}")
        for index in range(3)
    ]
    draw = random.Random(22)
    made = []
    run_left, route, status = 0, 0, 200
    for index in range(HANDOFF):
        if shape in ("uniform", "slow"):
            route, status, up_status = 0, 200, 200
        elif shape == "alternating":
            route, status, up_status = index % 2, (200, 404)[index // 2 % 2], (200, 500)[index // 2 % 2]
        else:
            if run_left == 0:
                run_left, route, status = draw.randint(1, 20), draw.randrange(3), draw.choice((200, 200, 404))
            run_left -= 1
            up_status = status
        outgoing = SimpleNamespace(url="http://api.test/orders", method="GET", headers={})
        if shape == "lone" and index % 3 == 2:
            record = telemetry.upstream(calls[route], outgoing)
            record.finish(up_status)
        else:
            record = telemetry.request(plans[route])
            telemetry.upstream(calls[route], outgoing, record).finish(up_status)
            record.finish(status)
            record.started = index * 1_000_000
            record.ended = record.started + draw.randrange(300_000, 3_000_000) * (100 if shape == "slow" else 1)
        record.up_started = index * 1_000_000 + 50_000
        record.up_ended = record.up_started + draw.randrange(200_000, 2_500_000) * (100 if shape == "slow" else 1)
        made.append(record)
    telemetry.records = records_kept
    return [telemetry, made]


def _fold(shape: str, folds: int) -> None:
    telemetry, records = _records(shape)
    for _ in range(folds):
        telemetry._fold(records)


def _count(tree: Path, shape: str, folds: int) -> int:
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0"}
    valgrind = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    run = subprocess.run(
        [*valgrind, sys.executable, __file__, "--run", shape, str(folds)],
        env=env,
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"Collected : (\d+)", run.stderr)
    if found is None:
        raise RuntimeError(run.stderr[-2000:])
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, help="another checkout to count beside this one")
    parser.add_argument("--folds", type=int, default=40)
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--run", nargs=2, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.run:
        _fold(arguments.run[0], int(arguments.run[1]))
        return
    trees = [Path(__file__).resolve().parent.parent]
    if arguments.baseline:
        trees.insert(0, arguments.baseline.resolve())
    for shape in arguments.shapes.split(","):
        for tree in trees:
            folded, unfolded = _count(tree, shape, arguments.folds), _count(tree, shape, 0)
            per_record = (folded - unfolded) / (arguments.folds * HANDOFF)
            print(f"{shape:12} {str(tree):28} {per_record:8.0f} instructions a record", flush=True)


if __name__ == "__main__":
    main()
