"""Where a start's instructions go, module by module (issue 22 item 2, D170).

``start_path.py`` counts a start's path up to binding as one number. This runs the same path under
callgrind with a checkpoint at every module import's start and end, so each import's instructions
(its own, and with what it imported) and the work between imports (loading the files, building the
ports' apps) are counted in one run. The checkpoint is a call of ``os.getppid``, whose C function
callgrind is told to dump its counters before (``--dump-before=os_getppid``); the start itself
never calls it. Run it from the checkout to count (its package comes first on the path), e.g.:

    python benchmarks/start_imports.py --files 21 --top 40
    python benchmarks/start_imports.py --files 21 --group    # by package (naftiko_runtime by folder)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
DRIVER = """
import json, os, runpy, sys
bootstrap = sys.modules["_frozen_importlib"]
load, mark, events = bootstrap._find_and_load, os.getppid, []

def counted(name, import_):
    events.append(name)
    mark()
    try:
        return load(name, import_)
    finally:
        events.append(None)
        mark()

bootstrap._find_and_load = counted
sys.argv = [sys.argv[1], *sys.argv[3:]]
runpy.run_path(sys.argv[0], run_name="__main__")
events.append("(end)")
mark()
with open(os.environ["START_IMPORTS_EVENTS"], "w") as out:
    json.dump(events, out)
"""
OUTSIDE = "(between imports: files loaded, ports built)"


@dataclass
class Counts:
    own: Counter[str] = field(default_factory=Counter)
    """Instructions spent while the module was the innermost import running."""
    whole: Counter[str] = field(default_factory=Counter)
    """Instructions spent while the module's import was running, its imports included."""
    before_first: int = 0
    """The interpreter's start, up to the first counted import."""

    @property
    def total(self) -> int:
        return self.before_first + sum(self.own.values())


def count(files: int, work: Path) -> Counts:
    """One callgrind run of ``start_path.py`` with a dump at every checkpoint."""
    events_path = work / "events.json"
    out = work / "callgrind.out"
    command = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        "--dump-before=os_getppid",
        "--dump-instr=no",
        sys.executable,
        "-c",
        DRIVER,
        str(HERE / "start_path.py"),
        "--",
        "--files",
        str(files),
    ]
    env = {**os.environ, "START_IMPORTS_EVENTS": str(events_path)}
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    events: list[str | None] = json.loads(events_path.read_text())
    dumps = sorted(work.glob("callgrind.out.*"), key=lambda p: int(p.name.rsplit(".", 1)[1]))
    costs = [_total(path) for path in dumps]
    if len(costs) < len(events):
        raise SystemExit(f"{len(costs)} dumps for {len(events)} checkpoints: is os_getppid called elsewhere?")
    counts = Counts(before_first=costs[0])
    stack: list[str] = []
    for event, cost in zip(events[:-1], costs[1 : len(events)], strict=True):
        if event is None:
            stack.pop()
        elif event != "(end)":
            stack.append(event)
        counts.own[stack[-1] if stack else OUTSIDE] += cost
        for name in set(stack):
            counts.whole[name] += cost
    return counts


def _total(dump: Path) -> int:
    with dump.open() as lines:
        for line in lines:
            if line.startswith(("totals:", "summary:")):
                return int(line.split()[1])
    raise SystemExit(f"{dump}: no totals")


def group(name: str) -> str:
    """A package's modules together; the runtime's by its folder (``naftiko_runtime.adapters.a2a``)."""
    parts = name.split(".")
    if parts[0] != "naftiko_runtime":
        return parts[0]
    return ".".join(parts[:3]) if len(parts) > 3 else ".".join(parts[:2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=21)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--group", action="store_true", help="sum modules' own counts by package")
    parser.add_argument("--json", type=Path, help="also write every module's counts here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="start-imports-") as work:
        counts = count(args.files, Path(work))
    print(f"total {counts.total / 1e9:.3f} G instructions; interpreter start {counts.before_first / 1e6:.1f} M")
    if args.group:
        grouped: Counter[str] = Counter()
        for name, own in counts.own.items():
            grouped[name if name == OUTSIDE else group(name)] += own
        for name, own in grouped.most_common(args.top):
            print(f"{own / 1e6:9.1f} M  {name}")
    else:
        print(f"{'whole':>9}   {'own':>9}   module")
        for name, whole in counts.whole.most_common(args.top):
            print(f"{whole / 1e6:9.1f} M {counts.own[name] / 1e6:9.1f} M  {name}")
        print(f"{'':>9}   {counts.own[OUTSIDE] / 1e6:9.1f} M  {OUTSIDE}")
    if args.json:
        args.json.write_text(json.dumps({"own": counts.own, "whole": counts.whole, "start": counts.before_first}))


if __name__ == "__main__":
    main()
